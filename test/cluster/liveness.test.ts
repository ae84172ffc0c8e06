/**
 * Goal: a peer that stops answering heartbeats stops counting as online
 * after the liveness timeout, even with its connection still up, and counts
 * again as soon as it answers.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HEARTBEAT_MAX_INTERVAL_MS, Liveness, heartbeatIntervalMs, livenessTimeoutMs } from '../../src/cluster/liveness.ts'

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

  it('spaces heartbeats out as the cluster grows, with a bounded timeout', () => {
    assert.equal(heartbeatIntervalMs(0), 1000)
    assert.equal(heartbeatIntervalMs(5), 1000, 'small clusters keep the 1 s heartbeat')
    assert.equal(heartbeatIntervalMs(10), 1000)
    assert.equal(heartbeatIntervalMs(23), 2300)
    assert.equal(heartbeatIntervalMs(47), 4700)
    assert.equal(heartbeatIntervalMs(500), HEARTBEAT_MAX_INTERVAL_MS)
    assert.equal(livenessTimeoutMs(5), 3000, 'detection in small clusters is unchanged')
    assert.equal(livenessTimeoutMs(23), 6900)
    assert.equal(livenessTimeoutMs(1000), 3 * HEARTBEAT_MAX_INTERVAL_MS)
    // Heartbeats per second one node sends and answers stay about constant.
    for (const peers of [10, 23, 47]) assert.ok(peers / (heartbeatIntervalMs(peers) / 1000) <= 10)
  })

  it('follows a longer timeout in a larger cluster', () => {
    const live = new Liveness(3000)
    live.heard('p', 1000)
    live.setTimeoutMs(6900)
    assert.equal(live.timeout, 6900)
    assert.equal(live.responsive('p', 7900), true, 'a longer timeout in a larger cluster')
    assert.equal(live.responsive('p', 7901), false)
  })
})
