/**
 * Goal: the inline limit shrinks with the cluster so that the bytes every
 * node replicates for one small object stay bounded (16 KiB up to 8 members,
 * 128 KiB / N beyond, never under 512 B), the `inlineMaxBytes` setting
 * overrides it, and the put path honours the cluster's limit: an object at
 * or under it is stored inline (no shard written, no happiness needed), one
 * byte more is erasure coded, and both read back byte-identical.
 * In-process: real engine, metadata store and codec; six in-memory "nodes".
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { INLINE_BUDGET_BYTES, INLINE_CEILING_BYTES, INLINE_FLOOR_BYTES, inlineLimitBytes } from '../../src/cluster/inline-limit.ts'
import { ClusterSettings } from '../../src/cluster/cluster-settings.ts'
import { Engine } from '../../src/engine/engine.ts'
import type { ClusterView } from '../../src/engine/types.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { VersionBody } from '../../src/meta/types.ts'
import { CairnError } from '../../src/util/errors.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import { memoryDisks, memoryShards } from '../helpers/memory-shards.ts'

describe('inline limit rule', () => {
  it('is 16 KiB up to 8 members, then 128 KiB / N, with a 512 B floor', () => {
    for (const n of [1, 3, 6, 8]) assert.equal(inlineLimitBytes(n), 16 * 1024, `N=${n}`)
    assert.equal(inlineLimitBytes(9), Math.floor(131072 / 9))
    assert.equal(inlineLimitBytes(48), 2730)
    assert.equal(inlineLimitBytes(256), 512)
    assert.equal(inlineLimitBytes(300), 512)
    assert.equal(inlineLimitBytes(10_000), INLINE_FLOOR_BYTES)
    assert.equal(inlineLimitBytes(0), INLINE_CEILING_BYTES, 'an empty roster (a node before its first record) counts as one member')
  })

  it('bounds the replicated inline bytes per object, and never grows with N', () => {
    let previous = Infinity
    for (let n = 1; n <= 1000; n++) {
      const limit = inlineLimitBytes(n)
      assert.ok(limit <= previous, `non-increasing at N=${n}`)
      previous = limit
      // Above the floor, N copies of the largest inline object stay within the budget.
      if (limit > INLINE_FLOOR_BYTES) assert.ok(n * limit <= INLINE_BUDGET_BYTES, `N=${n}: ${n} × ${limit}`)
    }
  })

  it('the setting overrides it, capped at 16 KiB; 0 means derived', () => {
    assert.equal(inlineLimitBytes(300, 4096), 4096)
    assert.equal(inlineLimitBytes(3, 1), 1)
    assert.equal(inlineLimitBytes(3, 99_999), INLINE_CEILING_BYTES)
    assert.equal(inlineLimitBytes(48, 0), 2730)
  })

  it('ClusterSettings resolves it from the member count and shows the resolved value', async () => {
    const meta = MetaStore.open(':memory:')
    const clock = new HybridClock()
    let members = 6
    const settings = new ClusterSettings({ records: () => meta.live('setting'), commit: async (r) => { meta.apply(r) }, now: () => clock.now(), selfId: 'n1', code: { k: 4, m: 2 }, memberCount: () => members })
    assert.equal(settings.inlineMaxBytes(), 16384)
    members = 48
    assert.equal(settings.inlineMaxBytes(), 2730)
    assert.equal(settings.toJson().inlineMaxBytes, 2730)
    await settings.set('inlineMaxBytes', '1024')
    assert.equal(settings.inlineMaxBytes(), 1024)
    await assert.rejects(settings.set('inlineMaxBytes', '20000'), (err: unknown) => err instanceof CairnError && err.code === 'BAD_INPUT')
  })
})

const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']

function harness (limit: () => number, online: () => string[]): { engine: Engine, meta: MetaStore, disks: Map<string, Map<string, Buffer>> } {
  const disks = memoryDisks(NODE_IDS)
  const cluster: ClusterView = {
    selfId: 'n1',
    selfName: 'node-1',
    k: 4,
    m: 2,
    onlineNodes: () => online().map((id) => ({ id, weight: 1 })),
    nodeName: (id) => id,
    isOnline: (id) => online().includes(id),
    happiness: () => 5,
    inlineMaxBytes: limit
  }
  const shards = memoryShards(disks)
  const meta = MetaStore.open(':memory:')
  const engine = new Engine({ cluster, shards, meta, committer: { commit: async (records) => { meta.apply(records) } }, clock: new HybridClock(), masterKey: randomBytes(32) })
  return { engine, meta, disks }
}

async function * once (data: Buffer): AsyncGenerator<Buffer> { yield data }

async function readAll (engine: Engine, key: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of engine.open('bkt', key).body) parts.push(c)
  return Buffer.concat(parts)
}

const shardCount = (disks: Map<string, Map<string, Buffer>>): number => [...disks.values()].reduce((n, d) => n + d.size, 0)

describe('the put path follows the cluster inline limit', () => {
  it('at the limit inline, one byte over erasure coded; both read back', async () => {
    const limit = inlineLimitBytes(48) // as in a 48-member cluster
    const { engine, meta, disks } = harness(() => limit, () => NODE_IDS)
    const atLimit = randomBytes(limit)
    const over = randomBytes(limit + 1)
    const a = await engine.put('bkt', 'at-limit', once(atLimit), undefined, { sizeHint: atLimit.length })
    assert.equal(shardCount(disks), 0, 'an object at the limit writes no shard')
    assert.ok((meta.get('version', a.id)?.body as VersionBody).manifest?.inline !== undefined)
    const b = await engine.put('bkt', 'over', once(over), undefined, { sizeHint: over.length })
    const manifest = (meta.get('version', b.id)?.body as VersionBody).manifest
    assert.equal(manifest?.inline, undefined, 'one byte over the limit is not inline')
    assert.equal(manifest?.stripes.length, 1)
    assert.equal(shardCount(disks), 6, 'one stripe of 4+2 shards on the six nodes')
    assert.deepEqual(await readAll(engine, 'at-limit'), atLimit)
    assert.deepEqual(await readAll(engine, 'over'), over)
  })

  it('needs happiness only above the limit (the declared size decides before any data is read)', async () => {
    let limit = 16 * 1024
    const { engine } = harness(() => limit, () => ['n1', 'n2', 'n3'])
    const small = randomBytes(4096)
    await engine.put('bkt', 'small', once(small), undefined, { sizeHint: small.length })
    limit = 1024
    assert.throws(() => { engine.checkWritable('bkt', 'small-2', small.length) }, (err: unknown) => err instanceof CairnError && err.code === 'NOT_ENOUGH_NODES')
    await assert.rejects(engine.put('bkt', 'small-2', once(small)), (err: unknown) => err instanceof CairnError && err.code === 'NOT_ENOUGH_NODES')
    assert.deepEqual(await readAll(engine, 'small'), small)
  })
})
