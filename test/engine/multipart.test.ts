/**
 * Goal: the engine side of multipart upload keeps its promises, in-process
 * (real engine, metadata store and codec; six "nodes" are in-memory shard
 * maps):
 * - every upload of a part has its own data key and nonce base, so a part
 *   number uploaded twice never reuses a key+nonce over other bytes;
 * - Complete does not copy data: the version's parts are the uploaded parts'
 *   manifests; a long part list goes out of the record into a blob and still
 *   reads back, from any offset, also with m nodes lost; the healer's stripe
 *   walk (engine.stripesOf) reaches every stripe;
 * - the owner state the shard collector sees for part shards follows the
 *   rules of meta/store.ts versionState (open, replaced, completed with or
 *   without the part, version removed, aborted);
 * - a part whose body fails mid-way commits nothing and leaves no shard; a
 *   Complete whose commit fails leaves the upload open and intact;
 * - the record of a 10,000-part version fits the record limit.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, it } from 'node:test'
import { Engine } from '../../src/engine/engine.ts'
import { MAX_PART_NUMBER } from '../../src/engine/multipart.ts'
import type { ClusterView } from '../../src/engine/types.ts'
import { checkRecordSize, maxRecordBytes, parseRecord } from '../../src/meta/codec.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { Manifest, MetaRecord, PartBody, VersionBody } from '../../src/meta/types.ts'
import { CairnError } from '../../src/util/errors.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import { memoryDisks, memoryShards } from '../helpers/memory-shards.ts'

const PART_LIST_INLINE_MAX_BYTES_VARIABLE = 'CAIRN_PART_LIST_INLINE_MAX_BYTES'
const MANIFEST_SEGMENT_BYTES_VARIABLE = 'CAIRN_MANIFEST_SEGMENT_BYTES'
const MIB = 1024 * 1024
const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']

interface Harness { engine: Engine, meta: MetaStore, disks: Map<string, Map<string, Buffer>>, failCommits: { on: boolean } }

function harness (): Harness {
  const disks = memoryDisks(NODE_IDS)
  const cluster: ClusterView = { selfId: 'n1', selfName: 'node-1', k: 4, m: 2, onlineNodes: () => NODE_IDS.map((id) => ({ id, weight: 1 })), nodeName: (id) => id, isOnline: () => true }
  const shards = memoryShards(disks)
  const meta = MetaStore.open(':memory:')
  const failCommits = { on: false }
  const committer = {
    commit: async (records: MetaRecord[]) => {
      if (failCommits.on) throw new CairnError('NOT_ENOUGH_NODES', 'quorum missed (test)')
      meta.apply(records)
    }
  }
  const engine = new Engine({ cluster, shards, meta, committer, clock: new HybridClock(), masterKey: randomBytes(32) })
  return { engine, meta, disks, failCommits }
}

async function * chunks (data: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += MIB) yield data.subarray(i, i + MIB)
}

async function collect (source: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const c of source) out.push(c)
  return Buffer.concat(out)
}

function sha (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

function shardCount (h: Harness): number {
  return [...h.disks.values()].reduce((sum, d) => sum + d.size, 0)
}

/** Part records of an upload (live ones), oldest first. */
function partRecords (meta: MetaStore, uploadId: string): MetaRecord[] {
  return meta.liveWithPrefix('mpart', `${uploadId}/`, 100)
}

afterEach(() => {
  delete process.env[PART_LIST_INLINE_MAX_BYTES_VARIABLE]
  delete process.env[MANIFEST_SEGMENT_BYTES_VARIABLE]
})

describe('multipart upload in the engine', () => {
  it('gives every part upload its own key and nonce base; Complete refers to the parts; a long part list goes to a blob and reads from any offset, also with two nodes lost', async () => {
    process.env[PART_LIST_INLINE_MAX_BYTES_VARIABLE] = '3000'
    process.env[MANIFEST_SEGMENT_BYTES_VARIABLE] = '4000'
    const h = harness()
    await h.engine.createBucket('bkt', undefined)
    const { uploadId } = await h.engine.multipart.create('bkt', 'k', {}, 'key')
    const parts = [randomBytes(5 * MIB), randomBytes(5 * MIB + 3), randomBytes(5 * MIB), randomBytes(777)]
    await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 1, chunks(randomBytes(5 * MIB)))
    const etags: string[] = []
    for (const [i, p] of parts.entries()) etags.push((await h.engine.multipart.uploadPart('bkt', 'k', uploadId, i + 1, chunks(p))).etag)
    const records = partRecords(h.meta, uploadId)
    assert.equal(records.length, 5)
    const manifests = records.map((r) => (r.body as PartBody).manifest as Manifest)
    assert.equal(new Set(manifests.map((m) => m.wrappedKey)).size, 5, 'two part uploads share a data key')
    assert.equal(new Set(manifests.map((m) => m.nonceBase)).size, 5, 'two part uploads share a nonce base')
    assert.ok(manifests.every((m) => m.inline === undefined), 'a part was stored inline')
    const before = shardCount(h)

    const done = await h.engine.multipart.complete('bkt', 'k', uploadId, etags.map((etag, i) => ({ number: i + 1, etag })))
    const manifest = (h.meta.get('version', done.versionId)?.body as VersionBody).manifest as Manifest
    assert.equal(manifest.form, 'parts')
    assert.equal(manifest.parts, undefined)
    assert.equal(manifest.partList?.partCount, 4)
    assert.ok((manifest.partList?.manifest.stripes.length ?? 0) >= 2, 'the part list is cut into several segments')
    const used = new Set(records.slice(1).map((r) => r.pk))
    assert.deepEqual(new Set(manifest.upload?.partKeys.map((k) => `${uploadId}/${k}`)), used, 'the version names the newest part records')
    // Only the part list blob was written: the data was not rewritten.
    assert.equal(shardCount(h) - before, (manifest.partList?.manifest.stripes.length ?? 0) * 6)

    const whole = Buffer.concat(parts)
    const reader = h.engine.open('bkt', 'k')
    assert.equal(sha(await collect(reader.body)), sha(whole))
    for (const offset of [0, 5 * MIB - 1, 5 * MIB, 4 * MIB + 17, 10 * MIB + 2, whole.length - 1]) {
      assert.ok((await collect(h.engine.open('bkt', 'k').from(offset))).equals(whole.subarray(offset)), `read from ${offset}`)
    }
    let dataStripes = 0
    let listStripes = 0
    for await (const s of h.engine.stripesOf(done.versionId)) { if (s.list) listStripes++; else dataStripes++ }
    assert.equal(dataStripes, 2 + 2 + 2 + 1, 'the healer walk misses data stripes')
    assert.equal(listStripes, manifest.partList?.manifest.stripes.length)
    h.disks.get('n2')?.clear()
    h.disks.get('n6')?.clear()
    assert.equal(sha(await collect(h.engine.open('bkt', 'k').body)), sha(whole))
    assert.equal(done.size, whole.length)
    assert.match(done.etag, /^[0-9a-f]{32}-4$/)
  })

  it('part shards are live while they can be used and dead once they cannot (the collector\'s view)', async () => {
    const h = harness()
    await h.engine.createBucket('bkt', undefined)
    const small = randomBytes(1000)
    const { uploadId } = await h.engine.multipart.create('bkt', 'k', {}, 'key')
    const first = await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 1, chunks(randomBytes(5 * MIB)))
    const [old] = partRecords(h.meta, uploadId).map((r) => r.pk) as [string]
    assert.equal(h.meta.versionState(old), 'live', 'a part of an open upload')
    const again = await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 1, chunks(randomBytes(5 * MIB)))
    assert.notEqual(again.etag, first.etag)
    await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 2, chunks(small))
    const e3 = await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 3, chunks(small))
    const [, current, second, third] = partRecords(h.meta, uploadId).map((r) => r.pk) as [string, string, string, string]
    assert.equal(h.meta.versionState(old), 'tombstone', 'a replaced part')
    assert.equal(h.meta.versionState(current), 'live')
    assert.equal(h.meta.versionState(`${uploadId}/00009/0194aaaaaaaa-0000-aaaaaaaa`), 'unknown')

    const done = await h.engine.multipart.complete('bkt', 'k', uploadId, [{ number: 1, etag: again.etag }, { number: 3, etag: e3.etag }])
    assert.equal(h.meta.versionState(current), 'live', 'a part of the completed version')
    assert.equal(h.meta.versionState(third), 'live', 'a part of the completed version')
    assert.equal(h.meta.versionState(second), 'tombstone', 'a part left out of Complete')
    assert.equal(h.meta.versionState(old), 'tombstone')
    assert.equal(partRecords(h.meta, uploadId).length, 0, 'Complete leaves part records')
    assert.equal(h.engine.listsHolder(current, 'f'.repeat(64), 'n1'), undefined, 'a part shard is judged by its version')
    // A retried Complete answers the same version.
    assert.equal((await h.engine.multipart.complete('bkt', 'k', uploadId, [{ number: 1, etag: again.etag }, { number: 3, etag: e3.etag }])).versionId, done.versionId)
    // The version removed (as retention does): its parts die with it.
    const record = h.meta.get('version', done.versionId) as MetaRecord
    const clock = new HybridClock()
    clock.observe(record.hlc)
    h.meta.apply([{ ...record, hlc: clock.now(), tombstone: true }])
    assert.equal(h.meta.versionState(current), 'tombstone')

    const other = await h.engine.multipart.create('bkt', 'k2', {}, 'key')
    await h.engine.multipart.uploadPart('bkt', 'k2', other.uploadId, 1, chunks(small))
    const [part] = partRecords(h.meta, other.uploadId).map((r) => r.pk) as [string]
    await h.engine.multipart.abort('bkt', 'k2', other.uploadId)
    assert.equal(h.meta.versionState(part), 'tombstone', 'a part of an aborted upload')
    await assert.rejects(h.engine.multipart.abort('bkt', 'k2', other.uploadId), (err: unknown) => err instanceof CairnError && err.code === 'NO_SUCH_UPLOAD')
  })

  it('a part whose body fails mid-way commits nothing and leaves no shard; a failed Complete leaves the upload intact', async () => {
    const h = harness()
    await h.engine.createBucket('bkt', undefined)
    const { uploadId } = await h.engine.multipart.create('bkt', 'k', {}, 'key')
    async function * broken (): AsyncGenerator<Buffer> {
      yield randomBytes(9 * MIB)
      throw new Error('client went away')
    }
    await assert.rejects(h.engine.multipart.uploadPart('bkt', 'k', uploadId, 1, broken()), /client went away/)
    assert.equal(partRecords(h.meta, uploadId).length, 0)
    assert.equal(shardCount(h), 0, 'a failed part left shards')
    const part = await h.engine.multipart.uploadPart('bkt', 'k', uploadId, 1, chunks(randomBytes(100)))
    h.failCommits.on = true
    await assert.rejects(h.engine.multipart.complete('bkt', 'k', uploadId, [{ number: 1, etag: part.etag }]), (err: unknown) => err instanceof CairnError && err.code === 'NOT_ENOUGH_NODES')
    h.failCommits.on = false
    assert.equal(h.meta.live('version').length, 0)
    assert.deepEqual(h.engine.multipart.parts(uploadId, 0, 10).parts.map((p) => p.etag), [part.etag], 'a failed Complete changed the upload')
    await h.engine.multipart.complete('bkt', 'k', uploadId, [{ number: 1, etag: part.etag }])
    assert.equal(h.meta.live('version').length, 1)
  })

  it(`the record of a ${MAX_PART_NUMBER}-part version fits the record limit and passes the codec`, () => {
    const uploadId = '0194aaaaaaaa-0000-aaaaaaaa'
    const blob: Manifest = { form: 'stripes', k: 4, m: 2, codec: 'native', stripeSizeBytes: 4 * MIB, wrappedKey: 'x'.repeat(80), nonceBase: 'y'.repeat(12), stripes: [] }
    // A 10,000-part list of 4 MiB stripes at 4+2 is ~20 MB: about five 4 MiB segments.
    for (let i = 0; i < 5; i++) blob.stripes.push({ cipherBytes: 4 * MIB + 16, shardSizeBytes: MIB + 8, shards: Array.from({ length: 6 }, () => ({ hash: 'a'.repeat(64), nodes: ['12D3KooW' + 'b'.repeat(44)] })) })
    const partKeys = Array.from({ length: MAX_PART_NUMBER }, (_, i) => `${String(i + 1).padStart(5, '0')}/0194bbbbbbbb-${(i % 65536).toString(16).padStart(4, '0')}-cccccccc`)
    const manifest: Manifest = { form: 'parts', k: 4, m: 2, codec: 'native', stripeSizeBytes: 4 * MIB, wrappedKey: '', nonceBase: '', stripes: [], upload: { uploadId, partKeys }, partList: { partCount: MAX_PART_NUMBER, manifest: blob } }
    const body: VersionBody = { bucket: 'b', key: 'k'.repeat(1024), size: MAX_PART_NUMBER * 5 * MIB, timeMs: 1, nodeName: 'node-1', deleteMarker: false, sha256: '', manifest, meta: { etag: `${'d'.repeat(32)}-${MAX_PART_NUMBER}`, user: { note: 'n'.repeat(2000) } } }
    const record: MetaRecord = { v: 1, table: 'version', pk: '0194cccccccc-0000-dddddddd', hlc: '0194cccccccc-0000', origin: 'n1', tombstone: false, body }
    const bytes = Buffer.byteLength(JSON.stringify(record))
    assert.ok(bytes < maxRecordBytes() / 2, `a ${MAX_PART_NUMBER}-part record is ${bytes} bytes`)
    checkRecordSize(record, 'b/k')
    parseRecord(JSON.parse(JSON.stringify(record)))
    const bad = structuredClone(record)
    ;((bad.body as VersionBody).manifest as Manifest).upload = { uploadId, partKeys: ['../evil'] }
    assert.throws(() => parseRecord(bad), (err: unknown) => err instanceof CairnError && err.code === 'PROTOCOL')
  })
})
