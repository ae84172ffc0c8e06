/**
 * Tests of the pure repair policy shared by the daemon and the simulator.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { bruteReadable } from '../helpers/brute.ts'
import { chooseRepairTargets, decideRepair, deriveRepairThreshold, isNodeDead, readabilityWithLive, repairTransferBytes } from '../../src/heal/policy.ts'
import { CairnError } from '../../src/util/errors.ts'


test('a node is dead only after deadAfter without a heartbeat', () => {
  // Goal: a PC asleep for a night is not dead; one silent past the limit is.
  assert.equal(isNodeDead(0, 10 * 3600e3, 72 * 3600e3), false)
  assert.equal(isNodeDead(0, 72 * 3600e3, 72 * 3600e3), true)
})

test('repair is lazy: nothing above the threshold, rebuild all below it', () => {
  // Goal: the decision follows the documented rules for every live count.
  const base = { k: 4, m: 4, repairThreshold: 6 }
  assert.deepEqual(decideRepair({ ...base, liveShards: 8 }), { action: 'none' })
  assert.deepEqual(decideRepair({ ...base, liveShards: 6 }), { action: 'none' })
  assert.deepEqual(decideRepair({ ...base, liveShards: 5, onlineShards: 5 }), { action: 'repair', rebuildShards: 3, readShards: 4 })
  assert.equal(decideRepair({ ...base, liveShards: 5, onlineShards: 3 }).action, 'wait')
  assert.deepEqual(decideRepair({ ...base, liveShards: 3 }), { action: 'lost' })
})

test('repair targets skip current holders and keep placement order', () => {
  // Goal: only missing shards move, onto the best-ranked free nodes.
  assert.deepEqual(chooseRepairTargets(['a', 'b', 'c', 'd'], ['b', 'x'], 2), ['a', 'c'])
  assert.deepEqual(chooseRepairTargets([1, 2], [1, 2], 3), [])
  assert.equal(repairTransferBytes(100, 4, 2), 600)
  assert.equal(repairTransferBytes(100, 4, 0), 0)
})

test('bad repair inputs are programmer errors', () => {
  // Goal: a threshold outside [k, k+m] crashes instead of deciding nonsense.
  assert.throws(() => decideRepair({ liveShards: 4, k: 4, m: 2, repairThreshold: 7 }))
})

test('readability with L live shards is the binomial tail, or the worst L nodes with per-node values', () => {
  // Goal: exact against enumeration; per-node values take the least-available nodes; by-hour values average.
  assert.ok(Math.abs(readabilityWithLive(8, 4, 0.5) - 163 / 256) < 1e-14)
  assert.equal(readabilityWithLive(3, 4, 0.9), 0)
  assert.ok(Math.abs(readabilityWithLive(2, 1, [0.5, 0.9, 0.1]) - 0.55) < 1e-15)
  assert.ok(Math.abs(readabilityWithLive(6, 4, { byHour: [1, 0] }) - 0.5) < 1e-15)
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 10 }), (ps, kRaw, liveRaw) => {
    const live = Math.min(liveRaw, ps.length)
    const k = Math.min(kRaw, ps.length)
    const worst = [...ps].sort((a, b) => a - b).slice(0, live)
    return Math.abs(readabilityWithLive(live, k, ps) - bruteReadable(worst, k)) < 1e-12
  }), { numRuns: 200 })
})

test('the derived threshold is the fewest live shards that meet the target, within [k+1, k+m]', () => {
  // Goal: the documented rule holds for every code and availability: minimal, meets the target, clamped.
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.double({ min: 0.05, max: 0.999, noNaN: true }), fc.constantFrom(0.99, 0.999, 0.9999, 0.99999), (k, m, a, target) => {
    const t = deriveRepairThreshold({ k, m, availability: a, target })
    assert.ok(t >= k + 1 && t <= k + m)
    // Below k + m the threshold meets the target; k + m is also the answer when nothing meets it.
    if (t < k + m) assert.ok(readabilityWithLive(t, k, a) >= target)
    // Minimal: one shard fewer would miss the target (k + 1 is the floor).
    if (t > k + 1) assert.ok(readabilityWithLive(t - 1, k, a) < target)
  }), { numRuns: 300 })
  // Hand values: 4+2 at 0.95 needs all 6 (P(>= 4 of 5) = 0.977 < 0.9999); nearly always-on nodes still keep one spare;
  // a code that misses the target even with all shards repairs at the first loss; no parity, nothing to spare.
  assert.equal(deriveRepairThreshold({ k: 4, m: 2, availability: 0.95, target: 0.9999 }), 6)
  assert.equal(deriveRepairThreshold({ k: 4, m: 4, availability: 0.99999, target: 0.9999 }), 5)
  assert.equal(deriveRepairThreshold({ k: 4, m: 8, availability: 0.5, target: 0.9999 }), 12)
  assert.equal(deriveRepairThreshold({ k: 4, m: 0, availability: 0.9, target: 0.9999 }), 4)
})

test('with per-node availability the threshold holds for every placement', () => {
  // Goal: any L of the cluster's nodes, not only the least available, meet the target at the derived L.
  fc.assert(fc.property(fc.array(fc.double({ min: 0.3, max: 1, noNaN: true }), { minLength: 6, maxLength: 12 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1e6 }), (ps, k, seed) => {
    const m = ps.length - k - 2
    const t = deriveRepairThreshold({ k, m, availability: ps, target: 0.99 })
    if (readabilityWithLive(t, k, ps) < 0.99) return // even k + m misses: nothing to promise
    const holders = ps.map((p, i) => ({ p, order: (i * 2654435761 + seed) >>> 0 })).sort((a, b) => a.order - b.order).slice(0, t).map((h) => h.p)
    assert.ok(bruteReadable(holders, k) >= 0.99 - 1e-12)
  }), { numRuns: 200 })
})

test('bad threshold inputs are clear CairnErrors', () => {
  // Goal: users' numbers (from flags, files or settings) get BAD_INPUT with a hint, never a wrong threshold.
  const isBadInput = (err: unknown): boolean => err instanceof CairnError && err.code === 'BAD_INPUT' && err.hint !== undefined
  assert.throws(() => deriveRepairThreshold({ k: 4, m: 2, availability: 1.5, target: 0.9999 }), isBadInput)
  assert.throws(() => deriveRepairThreshold({ k: 4, m: 2, availability: 0.9, target: 0 }), isBadInput)
  assert.throws(() => deriveRepairThreshold({ k: 0, m: 2, availability: 0.9, target: 0.9 }), isBadInput)
  assert.throws(() => deriveRepairThreshold({ k: 4, m: 2.5, availability: 0.9, target: 0.9 }), isBadInput)
  assert.throws(() => deriveRepairThreshold({ k: 4, m: 2, availability: [0.9, 0.9, 0.9], target: 0.9 }), isBadInput)
  assert.throws(() => deriveRepairThreshold({ k: 4, m: 2, availability: { byHour: [] }, target: 0.9 }), isBadInput)
  assert.throws(() => readabilityWithLive(2, 1, [0.5, Number.NaN]), isBadInput)
})
