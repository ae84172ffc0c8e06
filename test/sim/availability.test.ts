/**
 * Goal: measured availability becomes the planner's input: overall fraction
 * and a weekly profile where unobserved hours take the overall value.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hourOfWeek, summarizeAvailability } from '../../src/cluster/availability.ts'

describe('availability history', () => {
  it('is undefined before any observation', () => {
    assert.deepEqual(summarizeAvailability([]), { availability: undefined, profile: undefined, observedHours: 0 })
  })
  it('weights hours by observed time and fills unobserved hours with the overall fraction', () => {
    const m = summarizeAvailability([{ hour: 9, onlineMs: 3600e3, observedMs: 3600e3 }, { hour: 22, onlineMs: 0, observedMs: 1800e3 }])
    assert.equal(m.availability, 3600 / 5400)
    assert.equal(m.profile?.[9], 1)
    assert.equal(m.profile?.[22], 0)
    assert.equal(m.profile?.[100], 3600 / 5400)
    assert.equal(m.observedHours, 1.5)
  })
  it('numbers hours of the week from Monday 00:00 local time', () => {
    assert.equal(hourOfWeek(new Date(2026, 10, 23, 0, 30)), 0) // a Monday
    assert.equal(hourOfWeek(new Date(2026, 10, 29, 23, 59)), 167) // the Sunday after
  })
})
