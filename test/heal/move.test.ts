/**
 * Goal: moving a shard (heal/move.ts) copies it from its old holder when
 * that one serves it, from another source or by rebuilding it from k other
 * shards when it does not, never stores bytes that do not match the shard's
 * hash, and answers holder lists with the old holder replaced by the new one
 * (the location record the caller commits).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { encodeStripe } from '../../src/engine/stripe.ts'
import { sha256Hex } from '../../src/crypto/index.ts'
import { moveShards } from '../../src/heal/move.ts'
import type { StripeMoveContext } from '../../src/heal/move.ts'
import type { StripeManifest } from '../../src/meta/types.ts'

/** A 4+2 stripe with shard i on node `n<i>`, and a fake network of shard stores. */
async function setup (): Promise<{ stripe: StripeManifest, stores: Map<string, Map<string, Uint8Array>>, ctx: StripeMoveContext, gets: string[] }> {
  const enc = await encodeStripe(randomBytes(50_000), { k: 4, m: 2, dataKey: randomBytes(32), nonceBase: randomBytes(8), stripeIndex: 0 })
  const stripe: StripeManifest = { cipherBytes: enc.cipherBytes, shardSizeBytes: enc.shardSizeBytes, shards: enc.shards.map((b, i) => ({ hash: sha256Hex(b), nodes: [`n${i}`] })) }
  const stores = new Map<string, Map<string, Uint8Array>>()
  enc.shards.forEach((b, i) => stores.set(`n${i}`, new Map([[sha256Hex(b), Uint8Array.from(b)]])))
  stores.set('t', new Map())
  const gets: string[] = []
  const ctx: StripeMoveContext = {
    selfId: 'n0',
    k: 4,
    m: 2,
    codec: enc.codec,
    versionId: 'v1',
    shards: {
      put: async (node, hash, bytes) => { assert.equal(sha256Hex(bytes), hash); stores.get(node)?.set(hash, bytes) },
      get: async (node, hash) => {
        gets.push(node)
        const b = stores.get(node)?.get(hash)
        if (b === undefined) throw new Error('no such shard')
        return b
      }
    },
    facts: { holders: (ref) => ref.nodes, isDead: () => false, isOnline: (n) => n !== 'off', isLost: () => false },
    throttle: async () => {}
  }
  return { stripe, stores, ctx, gets }
}

describe('moving shards', () => {
  it('copies from the old holder and names the new one instead', async () => {
    const { stripe, stores, ctx, gets } = await setup()
    const hash = stripe.shards[2]?.hash as string
    const r = await moveShards(stripe, 'v1/0', [{ index: 2, hash, from: 'n2', to: 't' }], ctx)
    assert.deepEqual(gets, ['n2'], 'one read, from the leaving holder')
    assert.ok(stores.get('t')?.has(hash))
    assert.deepEqual([...r.moves], [[hash, ['t']]])
    assert.equal(r.movedShards, 1)
    assert.ok(stores.get('n2')?.has(hash), 'the old copy stays until its collector removes it')
  })

  it('rebuilds the shard from k others when the old holder cannot serve it, and refuses damaged bytes', async () => {
    const { stripe, stores, ctx } = await setup()
    const hash = stripe.shards[5]?.hash as string
    stores.get('n5')?.clear()
    const r = await moveShards(stripe, 'v1/0', [{ index: 5, hash, from: 'n5', to: 't' }], ctx)
    assert.equal(r.failures.length, 0, r.failures.join('; '))
    assert.ok(stores.get('t')?.has(hash), 'rebuilt and stored')
    // A holder that answers wrong bytes is not believed: the shard is rebuilt instead.
    const other = stripe.shards[1]?.hash as string
    stores.get('n1')?.set(other, randomBytes(10))
    const r2 = await moveShards(stripe, 'v1/0', [{ index: 1, hash: other, from: 'n1', to: 't' }], ctx)
    assert.equal(sha256Hex(stores.get('t')?.get(other) as Uint8Array), other)
    assert.equal(r2.movedShards, 1)
  })

  it('a shard that cannot be read anywhere is not moved and the failure is reported', async () => {
    const { stripe, stores, ctx } = await setup()
    for (const i of [0, 1, 2]) stores.get(`n${i}`)?.clear()
    const hash = stripe.shards[0]?.hash as string
    const r = await moveShards(stripe, 'v1/0', [{ index: 0, hash, from: 'n0', to: 't' }], ctx)
    assert.equal(r.movedShards, 0)
    assert.equal(r.moves.size, 0, 'no location change for it')
    assert.match(r.failures[0] ?? '', /NOT_ENOUGH_SHARDS|could read only/)
    assert.equal(stores.get('t')?.size, 0)
  })
})
