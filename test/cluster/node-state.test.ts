/**
 * Goal: the asleep-or-gone rule tells a PC that is off as usual (asleep)
 * from one that missed its return (suspect) and from one gone for longer
 * than deadAfter after its expected return (dead), from the node's own
 * history; and the availability used for planning starts conservative.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { absenceQuantileMs, expectedAvailability, expectedBackMs, nodeState, profileFractionAt } from '../../src/cluster/node-state.ts'
import type { NodeState } from '../../src/cluster/node-state.ts'
import { addSpan, emptyHistory } from '../../src/cluster/presence-history.ts'
import type { PresenceHistory } from '../../src/cluster/presence-history.ts'
import { DAY, HOUR, MONDAY, live, officePc } from './presence-fixtures.ts'

const DEAD_AFTER = 72 * HOUR
/** Office PC seen Mon–Thu, off each night; switched off Thursday 18:00. */
const nightly = officePc(4)
const thursdayEvening = MONDAY + 3 * DAY + 18 * HOUR
const fridayMorning = MONDAY + 4 * DAY + 8 * HOUR
/** On around the clock for two days with two short absences (a reboot, a lunch-time shutdown), then switched off Wednesday 11:00. */
const alwaysOn = live(live(live(live(emptyHistory(MONDAY, 0), 20 * HOUR, true), 2 * HOUR, false), 20 * HOUR, true), 3 * HOUR, false)
const alwaysOnLeft = MONDAY + 2 * DAY + 11 * HOUR
const alwaysOnHistory = addSpan(alwaysOn, alwaysOnLeft, true)

interface Case { name: string, history: PresenceHistory | undefined, lastSeenMs: number, nowMs: number, state: NodeState, expectedBackMs?: number }

const cases: Case[] = [
  { name: 'a night-off PC at night is asleep', history: nightly, lastSeenMs: thursdayEvening, nowMs: thursdayEvening + 5 * HOUR, state: 'asleep', expectedBackMs: fridayMorning },
  { name: 'it is asleep until its usual return', history: nightly, lastSeenMs: thursdayEvening, nowMs: fridayMorning - 1, state: 'asleep' },
  { name: 'away past its usual return it is suspect', history: nightly, lastSeenMs: thursdayEvening, nowMs: fridayMorning + 2 * HOUR, state: 'suspect', expectedBackMs: fridayMorning },
  { name: 'a suspect PC is not excused by the next night', history: nightly, lastSeenMs: thursdayEvening, nowMs: fridayMorning + 16 * HOUR, state: 'suspect' },
  { name: 'suspect until deadAfter after its expected return', history: nightly, lastSeenMs: thursdayEvening, nowMs: fridayMorning + DEAD_AFTER - 1, state: 'suspect' },
  { name: 'dead once deadAfter has passed since its expected return', history: nightly, lastSeenMs: thursdayEvening, nowMs: fridayMorning + DEAD_AFTER, state: 'dead' },
  { name: 'an absence shorter than the 99th percentile of past absences is asleep', history: alwaysOnHistory, lastSeenMs: alwaysOnLeft, nowMs: alwaysOnLeft + 2 * HOUR, state: 'asleep', expectedBackMs: alwaysOnLeft + 3 * HOUR },
  { name: 'longer than every past absence it is suspect', history: alwaysOnHistory, lastSeenMs: alwaysOnLeft, nowMs: alwaysOnLeft + 3 * HOUR + 1, state: 'suspect' },
  { name: 'a node without history is suspect at once', history: undefined, lastSeenMs: MONDAY, nowMs: MONDAY + 1000, state: 'suspect', expectedBackMs: MONDAY },
  { name: 'a node without history is dead deadAfter after it was last seen', history: undefined, lastSeenMs: MONDAY, nowMs: MONDAY + DEAD_AFTER, state: 'dead' },
  { name: 'a history with nothing observed counts as none', history: emptyHistory(MONDAY, 0), lastSeenMs: MONDAY, nowMs: MONDAY + DEAD_AFTER - 1, state: 'suspect' }
]

describe('node state', () => {
  for (const c of cases) {
    it(c.name, () => {
      const result = nodeState({ online: false, lastSeenMs: c.lastSeenMs, history: c.history, nowMs: c.nowMs, deadAfterMs: DEAD_AFTER })
      assert.equal(result.state, c.state)
      if (c.expectedBackMs !== undefined) assert.equal(result.expectedBackMs, c.expectedBackMs)
      assert.equal(result.deadAtMs, (result.expectedBackMs as number) + DEAD_AFTER)
    })
  }

  it('an online node is online whatever its history', () => {
    assert.deepEqual(nodeState({ online: true, lastSeenMs: 0, history: undefined, nowMs: 1e12, deadAfterMs: DEAD_AFTER }), { state: 'online', expectedBackMs: null, deadAtMs: null })
  })

  it('with less than a week observed, the hour of the day decides; with more, the hour of the week', () => {
    // Without the absences, only the profile excuses the night.
    const young = { ...nightly, absencesMs: [] }
    assert.equal(expectedBackMs(young, thursdayEvening), fridayMorning, 'pooled over the days seen: off from 18:00 to 08:00')
    const friday = MONDAY + 4 * DAY + 18 * HOUR
    const twoWeeks = { ...officePc(12, true), absencesMs: [] }
    assert.equal(twoWeeks.atMs, MONDAY + 11 * DAY + 18 * HOUR, 'the fixture ends on the second Friday')
    assert.equal(expectedBackMs(twoWeeks, friday), MONDAY + 7 * DAY + 8 * HOUR, 'by the week profile, off over the weekend')
    const pooled = { ...twoWeeks, weekOnlineMs: twoWeeks.weekOnlineMs.map(() => 0), weekObservedMs: twoWeeks.weekObservedMs.map(() => 0) }
    pooled.weekOnlineMs[8] = pooled.weekObservedMs[8] = HOUR
    assert.equal(profileFractionAt(pooled, 8 + 24 * 5), 1, 'a Saturday hour borrows Monday 08:00 while less than a week is observed')
  })

  it('an hour observed for only a few minutes says nothing', () => {
    const t = MONDAY + 3 * HOUR
    const brief = addSpan(addSpan(emptyHistory(t, 0), t + 5 * 60_000, false), t + HOUR, true)
    assert.equal(profileFractionAt(brief, 3), 55 / 60)
    assert.equal(profileFractionAt(addSpan(emptyHistory(t, 0), t + 5 * 60_000, false), 3), undefined)
  })

  it('the 99th percentile of at most 64 absences is the longest', () => {
    assert.equal(absenceQuantileMs([]), 0)
    assert.equal(absenceQuantileMs([3, 1, 2]), 3)
    assert.equal(absenceQuantileMs(Array.from({ length: 200 }, (_, i) => i + 1)), 198)
  })

  it('a profile off at every hour predicts no return; only the absences count', () => {
    const t = MONDAY
    const never = addSpan(emptyHistory(t, 0), t + 2 * 7 * DAY, false)
    assert.equal(expectedBackMs(never, t + 15 * DAY), t + 15 * DAY)
  })

  it('expected availability blends the measurement with a prior of 0.5 weighted as one week', () => {
    assert.equal(expectedAvailability(undefined), 0.5)
    const day = addSpan(emptyHistory(MONDAY, 0), MONDAY + DAY, true)
    assert.equal(expectedAvailability(day), (1 + 3.5) / 8)
    const weeks = addSpan(emptyHistory(MONDAY, 0), MONDAY + 20 * 7 * DAY, true)
    assert.ok(Math.abs(expectedAvailability(weeks) - (8 + 0.5) / 9) < 1e-12, 'the profile remembers about 8 weeks')
  })
})
