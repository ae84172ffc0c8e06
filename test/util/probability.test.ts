/**
 * Tests of the exact availability arithmetic: against brute force on small
 * cases, and precision far in the tail.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { bruteUnreadable } from '../helpers/brute.ts'
import { binomialUnreadableLog10, logFactorials, poissonBinomialDistribution, poissonBinomialUnreadable, uniformPlacementUnreadable } from '../../src/util/probability.ts'


test('binomial tail matches a hand value and brute force', () => {
  // Goal: P(Bin(8, 0.5) <= 3) = 93/256 exactly.
  assert.ok(Math.abs(10 ** binomialUnreadableLog10(8, 4, 0.5) - 93 / 256) < 1e-14)
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.double({ min: 0.01, max: 0.99, noNaN: true }), (k, m, p) => {
    const exact = bruteUnreadable(Array(k + m).fill(p), k)
    return Math.abs(10 ** binomialUnreadableLog10(k + m, k, p) - exact) <= 1e-12
  }), { numRuns: 200 })
})

test('tail nines stay right far beyond 1e-16', () => {
  // Goal: 40 nodes at 0.999 with k=4: P(unreadable) ~ C(40,3) 0.999^3 0.001^37, about 1e-107.
  const expected = Math.log10(9880) + 3 * Math.log10(0.999) - 111
  assert.ok(Math.abs(binomialUnreadableLog10(40, 4, 0.999) - expected) < 1e-3)
})

test('Poisson-binomial tail equals brute force', () => {
  // Goal: the truncated DP is exact for per-node probabilities.
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 10 }), (ps, kRaw) => {
    const k = Math.min(kRaw, ps.length)
    return Math.abs(poissonBinomialUnreadable(ps, k) - bruteUnreadable(ps, k)) < 1e-12
  }), { numRuns: 200 })
})

test('the all-placements average equals enumeration of every placement', () => {
  // Goal: the hypergeometric mixture is the exact mean over all n-subsets.
  const ps = [0.1, 0.9, 0.5, 0.3, 0.75, 0.6, 0.2]
  const n = 4
  const k = 2
  let sum = 0
  let count = 0
  for (let mask = 0; mask < 1 << ps.length; mask++) {
    const chosen = ps.filter((_, i) => (mask >> i) & 1)
    if (chosen.length !== n) continue
    sum += bruteUnreadable(chosen, k)
    count++
  }
  const exact = uniformPlacementUnreadable(poissonBinomialDistribution(ps), logFactorials(ps.length + 1), n, k)
  assert.ok(Math.abs(exact - sum / count) < 1e-12)
})

test('groupedUnreadable: a node holding several shards takes them offline together', async () => {
  // Goal: the planner's model of an anchor with several shards of a stripe is exact.
  const { groupedUnreadable, poissonBinomialUnreadable } = await import('../../src/util/probability.ts')
  // One shard each: the plain Poisson-binomial tail.
  assert.ok(Math.abs(groupedUnreadable([0.3, 0.6, 0.9], [1, 1, 1], 2) - poissonBinomialUnreadable([0.3, 0.6, 0.9], 2)) < 1e-15)
  // Two anchors with two shards each, k = 4: readable only when both are up.
  assert.ok(Math.abs(groupedUnreadable([0.99, 0.99], [2, 2], 4) - (1 - 0.99 * 0.99)) < 1e-15)
  // Anchor (2 shards) + two PCs, k = 3: readable when anchor and a PC are up, or... only those.
  const a = 0.9
  const p = 0.5
  assert.ok(Math.abs(groupedUnreadable([a, p, p], [2, 1, 1], 3) - (1 - a * (1 - (1 - p) ** 2))) < 1e-15)
})
