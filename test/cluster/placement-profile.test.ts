/**
 * Goal: placement reads a node's published presence history as a UTC weekly
 * profile: nothing while less than a day is observed, the node's own hours
 * shifted by its UTC offset, each hour blended with the mean, and the same
 * profile from the same report wherever it is computed.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MIN_PLACEMENT_OBSERVED_MS, placementMeasure } from '../../src/cluster/placement-profile.ts'
import { emptyHistory, fromNodePresence, toNodePresence } from '../../src/cluster/presence-history.ts'
import { HOUR, MONDAY, live, officePc } from './presence-fixtures.ts'

describe('placementMeasure', () => {
  it('says nothing while less than a day has been observed', () => {
    const young = live(emptyHistory(MONDAY, 0), MIN_PLACEMENT_OBSERVED_MS - HOUR, true)
    assert.equal(placementMeasure(young), undefined)
    assert.notEqual(placementMeasure(live(young, 2 * HOUR, true)), undefined)
  })

  it('gives an office PC high working hours and low nights, in UTC hours', () => {
    const m = placementMeasure(officePc(21)) // Monday 08:00-18:00 UTC, three weeks (each hour seen twice or more)
    assert.ok(m !== undefined)
    assert.ok((m.profile[9] as number) > 0.8, `Monday 09:00 ${m.profile[9]}`)
    assert.ok((m.profile[2] as number) < 0.2, `Monday 02:00 ${m.profile[2]}`)
    assert.ok(m.availability > 0.3 && m.availability < 0.5, `mean ${m.availability}`)
  })

  it('shifts a node\'s local hours by its UTC offset', () => {
    // The same schedule in local time at UTC+2: local Monday 09:00 is UTC 07:00.
    let h = emptyHistory(MONDAY + 8 * HOUR - 2 * HOUR, 120)
    for (let day = 0; day < 21; day++) { h = live(h, 10 * HOUR, true); h = live(h, 14 * HOUR, false) }
    const m = placementMeasure(h)
    assert.ok(m !== undefined)
    assert.ok((m.profile[7] as number) > 0.8, `UTC Monday 07:00 ${m.profile[7]}`)
    assert.ok((m.profile[17] as number) < 0.2, `UTC Monday 17:00 (local 19:00) ${m.profile[17]}`)
  })

  it('blends an hour seen once with the mean, and gives the same answer from the wire form', () => {
    const h = officePc(1 + 2)
    const m = placementMeasure(h)
    const wire = placementMeasure(fromNodePresence(toNodePresence(h)))
    assert.ok(m !== undefined && wire !== undefined)
    assert.deepEqual(wire.profile.map((v) => v.toFixed(6)), m.profile.map((v) => v.toFixed(6)))
    for (const v of m.profile) assert.ok(v > 0 && v < 1)
  })
})
