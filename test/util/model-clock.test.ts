/**
 * Goal: every process maps wall time to the same model time, so nodes and
 * tests agree on the hour; a compressed clock runs `3600000 / hourMs` times
 * faster; the wall clock is the default; a malformed setting is refused.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HOUR_MS, MODEL_EPOCH_MS, modelClock, modelClockFromEnv } from '../../src/util/model-clock.ts'
import { CairnError } from '../../src/util/errors.ts'

describe('model clock', () => {
  it('is the wall clock by default', () => {
    const clock = modelClockFromEnv({})
    assert.equal(clock.compressed, false)
    assert.equal(clock.fromWall(123_456), 123_456)
    assert.equal(clock.realDurationMs(HOUR_MS), HOUR_MS)
    assert.equal(clock.utcOffsetMin(), -new Date().getTimezoneOffset())
  })

  it('compressed, one model hour lasts hourMs real milliseconds, the same in every process', () => {
    const a = modelClockFromEnv({ CAIRN_TEST_HOUR_MS: '500' })
    const b = modelClock(500)
    const wall = Date.UTC(2026, 5, 1, 12)
    assert.equal(a.fromWall(wall), b.fromWall(wall))
    assert.equal(a.fromWall(wall + 500) - a.fromWall(wall), HOUR_MS)
    assert.equal(a.fromWall(MODEL_EPOCH_MS), MODEL_EPOCH_MS)
    assert.equal(a.realDurationMs(24 * HOUR_MS), 12_000)
    assert.equal(a.utcOffsetMin(), 0, 'local time means nothing on a compressed clock')
    assert.ok(Number.isSafeInteger(modelClock(100).fromWall(Date.UTC(2032, 0, 1))), 'safe integers for years at the fastest speed')
  })

  it('refuses a malformed or out-of-range hour', () => {
    for (const text of ['abc', '0', '50', String(2 * HOUR_MS)]) {
      assert.throws(() => modelClockFromEnv({ CAIRN_TEST_HOUR_MS: text }), (err: unknown) => err instanceof CairnError && err.code === 'CONFIG')
    }
  })
})
