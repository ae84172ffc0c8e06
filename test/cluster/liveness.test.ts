/**
 * Goal: a peer that stops answering heartbeats stops counting as online
 * after the liveness timeout, even with its connection still up, and counts
 * again as soon as it answers.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Liveness } from '../../src/cluster/liveness.ts'

describe('liveness', () => {
  it('treats a silent peer as not online after the timeout', () => {
    const live = new Liveness(3000)
    assert.equal(live.responsive('p', 1000), true, 'a peer first seen gets the benefit of the doubt')
    live.heard('p', 2000)
    assert.equal(live.responsive('p', 5000), true)
    assert.equal(live.responsive('p', 5001), false, 'silent for longer than the timeout')
    live.heard('p', 6000)
    assert.equal(live.responsive('p', 6001), true, 'an answer brings it back')
    live.forget('p')
    assert.equal(live.responsive('p', 100_000), true, 'a reconnected peer starts afresh')
    assert.equal(live.responsive('p', 103_001), false, 'and must answer within the timeout')
    assert.equal(live.lastHeard('p'), 6000, 'the last real answer is remembered across a disconnect')
    assert.equal(live.lastHeard('q'), undefined)
  })
})
