/**
 * Goal: a version's record stays small whatever the object size. Above the
 * (here lowered) threshold the stripe list goes out of the record into a
 * segmented blob in the pool, and the object reads back byte-identical, also
 * with m nodes lost; a record over the write limit is refused before
 * anything is committed. In-process: real engine, metadata store and codec;
 * the six "nodes" are in-memory shard maps.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { Engine } from '../../src/engine/engine.ts'
import type { ClusterView } from '../../src/engine/types.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { VersionBody } from '../../src/meta/types.ts'
import { CairnError } from '../../src/util/errors.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import { memoryDisks, memoryShards } from '../helpers/memory-shards.ts'

/** The test knobs, spelt out (src/engine/stripe-list.ts and src/meta/codec.ts name them). */
const MANIFEST_INLINE_MAX_BYTES_VARIABLE = 'CAIRN_MANIFEST_INLINE_MAX_BYTES'
const MANIFEST_SEGMENT_BYTES_VARIABLE = 'CAIRN_MANIFEST_SEGMENT_BYTES'
const MAX_RECORD_BYTES_VARIABLE = 'CAIRN_MAX_RECORD_BYTES'

const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']

function harness (): { engine: Engine, meta: MetaStore, disks: Map<string, Map<string, Buffer>> } {
  const disks = memoryDisks(NODE_IDS)
  const cluster: ClusterView = {
    selfId: 'n1',
    selfName: 'node-1',
    k: 4,
    m: 2,
    onlineNodes: () => NODE_IDS.map((id) => ({ id, weight: 1 })),
    nodeName: (id) => id,
    isOnline: () => true
  }
  const shards = memoryShards(disks)
  const meta = MetaStore.open(':memory:')
  const engine = new Engine({ cluster, shards, meta, committer: { commit: async (records) => { meta.apply(records) } }, clock: new HybridClock(), masterKey: randomBytes(32) })
  return { engine, meta, disks }
}

async function * chunks (data: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20))
}

async function readAll (engine: Engine, bucket: string, key: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of engine.open(bucket, key).body) parts.push(c)
  return Buffer.concat(parts)
}

function sha (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

afterEach(() => {
  delete process.env[MANIFEST_INLINE_MAX_BYTES_VARIABLE]
  delete process.env[MANIFEST_SEGMENT_BYTES_VARIABLE]
  delete process.env[MAX_RECORD_BYTES_VARIABLE]
})

describe('out-of-record manifests', () => {
  it('stores a long stripe list as a segmented blob, reads it back, also with two nodes lost', async () => {
    process.env[MANIFEST_INLINE_MAX_BYTES_VARIABLE] = '2000'
    process.env[MANIFEST_SEGMENT_BYTES_VARIABLE] = '1500'
    const { engine, meta, disks } = harness()
    const data = randomBytes(10 * 4 * 1024 * 1024 + 12345) // 11 stripes
    const info = await engine.put('big', 'obj', chunks(data))
    const record = meta.get('version', info.id)
    const body = record?.body as VersionBody
    const manifest = body.manifest
    assert.equal(manifest?.form, 'segments')
    assert.deepEqual(manifest?.stripes, [])
    assert.equal(manifest?.stripeList?.stripeCount, 11)
    assert.ok((manifest?.stripeList?.manifest.stripes.length ?? 0) >= 3, 'the list is cut into several segments')
    assert.ok(JSON.stringify(record).length < 5000, `record is ${JSON.stringify(record).length} bytes`)
    assert.equal(sha(await readAll(engine, 'big', 'obj')), sha(data))
    // Lose every shard on two nodes (m = 2): data and stripe list still read.
    disks.get('n2')?.clear()
    disks.get('n5')?.clear()
    assert.equal(sha(await readAll(engine, 'big', 'obj')), sha(data))
  })

  it('refuses to read a version whose stripe list disagrees with its record, with a clear error', async () => {
    process.env[MANIFEST_INLINE_MAX_BYTES_VARIABLE] = '1000'
    const { engine, meta } = harness()
    const info = await engine.put('big', 'damaged', chunks(randomBytes(3 * 4 * 1024 * 1024 + 1)))
    const record = meta.get('version', info.id)
    assert.ok(record !== undefined)
    const body = structuredClone(record.body) as VersionBody
    assert.equal(body.manifest?.stripeList?.stripeCount, 4)
    if (body.manifest?.stripeList !== undefined) body.manifest.stripeList.stripeCount = 5
    const clock = new HybridClock()
    clock.observe(record.hlc)
    meta.apply([{ ...record, hlc: clock.now(), body }])
    await assert.rejects(readAll(engine, 'big', 'damaged'), (err: unknown) => err instanceof CairnError && err.code === 'BAD_INPUT' && /stripe list has 4 stripes, the record says 5/.test(err.message))
  })

  it('keeps small stripe lists in the record, unchanged', async () => {
    const { engine, meta } = harness()
    const data = randomBytes(2 * 4 * 1024 * 1024 + 7)
    const info = await engine.put('big', 'small', chunks(data))
    const manifest = (meta.get('version', info.id)?.body as VersionBody).manifest
    assert.equal(manifest?.form, undefined)
    assert.equal(manifest?.stripes.length, 3)
    assert.equal(manifest?.stripeList, undefined)
    assert.equal(sha(await readAll(engine, 'big', 'small')), sha(data))
  })
})

describe('record size limit', () => {
  it('refuses a version whose record exceeds the limit, before anything is committed, and removes its shards', async () => {
    process.env[MAX_RECORD_BYTES_VARIABLE] = '1500'
    const { engine, meta, disks } = harness()
    await assert.rejects(engine.put('big', 'too-large', chunks(randomBytes(3 * 4 * 1024 * 1024))), (err: unknown) => {
      assert.ok(err instanceof CairnError)
      assert.equal(err.code, 'TOO_LARGE')
      assert.match(err.message, /metadata record of big\/too-large would be \d+ bytes; the limit is 1500 bytes/)
      return true
    })
    assert.equal(meta.live('version').length, 0)
    assert.equal(meta.get('bucket', 'big'), undefined)
    for (const [id, disk] of disks) assert.equal(disk.size, 0, `shards left on ${id}`)
  })
})
