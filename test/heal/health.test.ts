/**
 * Goal: the healer's pure decisions hold: which shards count (not on dead
 * nodes, not reported lost), what makes an object healthy, degraded or
 * unavailable, when a stripe is repaired (never for a transient absence),
 * that location records replace a shard's holders, that rebuilt shards have
 * their original bytes, and that the collector drops a shard a live version
 * placed elsewhere once it is older than the grace period.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { needsRepair, objectState, stripeHealth } from '../../src/heal/health.ts'
import type { HealthFacts } from '../../src/heal/health.ts'
import { holderLookup, holdersOf, withHolders } from '../../src/meta/locations.ts'
import { rebuildShards } from '../../src/erasure/rebuild.ts'
import { encodeStripe } from '../../src/engine/stripe.ts'
import { classifyShard } from '../../src/heal/collector.ts'
import type { StripeManifest } from '../../src/meta/types.ts'
import { RateLimiter } from '../../src/util/rate-limiter.ts'

const hash = (i: number): string => i.toString(16).padStart(64, '0')
const stripe = (holders: string[][]): StripeManifest => ({ cipherBytes: 100, shardSizeBytes: 32, shards: holders.map((nodes, i) => ({ hash: hash(i), nodes })) })

function facts (opts: { dead?: string[], offline?: string[], lost?: Array<[string, number]> } = {}, location?: Parameters<typeof holderLookup>[0]): HealthFacts {
  return {
    holders: holderLookup(location),
    isDead: (n) => opts.dead?.includes(n) === true,
    isOnline: (n) => opts.offline?.includes(n) !== true && opts.dead?.includes(n) !== true,
    isLost: (n, h) => opts.lost?.some(([node, i]) => node === n && hash(i) === h) === true
  }
}

describe('object health', () => {
  const s = stripe([['a'], ['b'], ['c'], ['d'], ['e'], ['f']])

  it('a sleeping holder keeps its shard live: no repair, still readable', () => {
    const h = stripeHealth(s, facts({ offline: ['f', 'e'] }))
    assert.deepEqual(h, { live: 6, online: 4, missing: [], unplaced: [] })
    assert.equal(objectState([h], 4, 2), 'healthy')
    assert.equal(needsRepair(h, 4, 6), false)
  })

  it('a dead holder or a lost shard is missing, and repaired below the threshold', () => {
    const h = stripeHealth(s, facts({ dead: ['b'], lost: [['c', 2]] }))
    assert.deepEqual(h.missing, [1, 2])
    assert.equal(h.live, 4)
    assert.equal(objectState([h], 4, 2), 'degraded')
    assert.equal(needsRepair(h, 4, 6), true)
    assert.equal(needsRepair(h, 4, 4), false, 'at the threshold nothing is done (lazy)')
  })

  it('fewer than k reachable is unavailable, and a repair waits', () => {
    const h = stripeHealth(s, facts({ dead: ['a'], offline: ['b', 'c'] }))
    assert.equal(objectState([h], 4, 2), 'unavailable')
    assert.equal(needsRepair(h, 4, 6), false)
  })

  it('a shard never placed is repaired whatever the threshold', () => {
    const h = stripeHealth(stripe([['a'], ['b'], ['c'], ['d'], ['e'], []]), facts())
    assert.deepEqual(h.unplaced, [5])
    assert.equal(needsRepair(h, 4, 4), true)
  })

  it('a location record replaces the holders of the shards it names', () => {
    const loc = withHolders(undefined, new Map([[hash(1), ['x']], [hash(5), ['y']]]))
    assert.deepEqual(holdersOf(s.shards[1] as never, loc), ['x'])
    assert.deepEqual(holdersOf(s.shards[0] as never, loc), ['a'])
    const h = stripeHealth(s, facts({ dead: ['b'] }, loc))
    assert.equal(h.live, 6, 'the shard the dead node held is live on its new holder')
    const again = withHolders(loc, new Map([[hash(1), ['z']]]))
    assert.deepEqual(again.nodes.sort(), ['y', 'z'], 'node ids no entry uses are dropped')
  })
})

describe('rebuilding shards', () => {
  it('gives back the exact bytes of the missing shards, data and parity', async () => {
    const enc = await encodeStripe(randomBytes(100_000), { k: 4, m: 2, dataKey: randomBytes(32), nonceBase: randomBytes(8), stripeIndex: 3 })
    const slots = enc.shards.map((b, i) => (i === 1 || i === 5 ? null : b))
    const all = await rebuildShards(slots, { k: 4, m: 2, codec: enc.codec, shardSizeBytes: enc.shardSizeBytes })
    assert.deepEqual(all.map((b) => b.equals(enc.shards[all.indexOf(b)] as Buffer)), [true, true, true, true, true, true])
  })
})

describe('collector and moved shards', () => {
  it('a live version that placed the shard elsewhere keeps it only for the grace period', () => {
    const owner = { versionId: 'v', writer: 'w', local: 'live' as const, listed: false }
    assert.equal(classifyShard([{ ...owner, storedMs: 9_000 }], 10_000, 3000), 'young')
    assert.equal(classifyShard([{ ...owner, storedMs: 1_000 }], 10_000, 3000), 'orphan')
    assert.equal(classifyShard([{ ...owner, listed: true, storedMs: 1_000 }], 10_000, 3000), 'live')
  })
})

describe('rate limiter', () => {
  it('makes a loop average at most the rate', async () => {
    let now = 0
    const limiter = new RateLimiter(() => 1000, () => now)
    const started = Date.now()
    await limiter.take(500)
    now += 500
    await limiter.take(500)
    assert.equal(limiter.waitedMs, 0, 'within the rate: no wait')
    await limiter.take(1100)
    assert.ok(limiter.waitedMs >= 590 && limiter.waitedMs <= 610, `over the rate: waited ${limiter.waitedMs} ms for 600 bytes of debt`)
    assert.ok(Date.now() - started < 5000)
  })

  it('says beforehand whether a take would wait (the mover commits its copies before waiting)', () => {
    let now = 0
    const limiter = new RateLimiter(() => 1000, () => now)
    assert.equal(limiter.wouldWait(1000), false)
    assert.equal(limiter.wouldWait(1001), true)
    void limiter.take(800)
    assert.equal(limiter.wouldWait(300), true)
    now += 100
    assert.equal(limiter.wouldWait(300), false, '100 ms at 1000 B/s refilled 100 bytes')
    assert.equal(limiter.waitedMs, 0, 'asking does not take')
  })
})
