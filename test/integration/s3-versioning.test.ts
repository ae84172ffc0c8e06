/**
 * Goal: S3 versioning, object tagging and the additional checksums work
 * with @aws-sdk/client-s3 on a real 3-node cluster, written through one
 * node and read through another, and the versions S3 shows are the ones
 * `cairn versions` shows:
 * - a bucket made by CreateBucket is unversioned: a put replaces its one
 *   `null` version, a delete removes it; Enabled keeps every version, a
 *   delete writes a marker (404 with x-amz-delete-marker, 405 for the
 *   marker's own id), a versionId DELETE removes one version for good;
 *   Suspended writes `null` versions while Enabled-period versions stay;
 *   ListObjectVersions pages in S3's order; bad configurations are refused;
 *   a version removed by id or replaced as the null version leaves no shard
 *   file on any node (the collector runs with a grace period of seconds).
 * - tags set on put, replaced and deleted without a new version, per
 *   version, copied or replaced on copy, S3's limits refused.
 * - CRC32C, CRC64NVME (and CRC32, SHA1, SHA256) in a header or a trailer
 *   are verified (a wrong one is BadDigest and stores nothing) and come back
 *   with ChecksumMode ENABLED, which the SDK checks against the body.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import {
  CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, DeleteObjectTaggingCommand, GetBucketVersioningCommand,
  GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand,
  PutObjectTaggingCommand, S3Client, S3ServiceException
} from '@aws-sdk/client-s3'
import type { ChecksumAlgorithm, ListObjectVersionsCommandOutput } from '@aws-sdk/client-s3'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { addedFiles, listShardFiles } from '../helpers/shards.ts'

const TEST_TIMEOUT_MS = 300_000
/** Longest wait for a write made through one node to be listed by another. */
const REPLICATION_TIMEOUT_MS = 20_000
/** Orphan grace and collection interval of the nodes: removed versions' shards go within seconds. */
const GRACE_MS = 3000
/** Longest wait for every node's collector to delete the shards of a removed version. */
const COLLECT_TIMEOUT_MS = 90_000
/** An object large enough to be erasure coded (not inlined in its record). */
const SHARDED_BYTES = 300_000
process.env.CAIRN_ORPHAN_GRACE_MS = String(GRACE_MS)
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'

interface Key { accessKeyId: string, secretAccessKey: string }
interface CliVersion { id: string, deleteMarker: boolean, current: boolean, nullVersion?: boolean }

function client (endpoint: string, key: Key): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: key, maxAttempts: 1 })
}

async function s3Error (promise: Promise<unknown>, what: string): Promise<{ code: string, status: number, headers: Record<string, string> }> {
  try {
    await promise
  } catch (err) {
    if (err instanceof S3ServiceException) return { code: err.name, status: err.$metadata.httpStatusCode ?? 0, headers: (err.$response?.headers ?? {}) as Record<string, string> }
    throw err
  }
  throw new Error(`${what} succeeded`)
}

async function text (body: unknown): Promise<string> {
  return await (body as { transformToString: () => Promise<string> }).transformToString()
}

/** Versions and delete markers of a listing in document order: [key, versionId, isLatest, 'V' | 'D']. */
function entries (out: ListObjectVersionsCommandOutput): Array<[string, string, boolean, string]> {
  const all = [...(out.Versions ?? []).map((v) => ({ v, kind: 'V' })), ...(out.DeleteMarkers ?? []).map((v) => ({ v, kind: 'D' }))]
  // The SDK splits the two element kinds; S3's order is keys ascending, then versions newest first (ids are HLC-ordered, null aside).
  return all.map(({ v, kind }) => [v.Key as string, v.VersionId as string, v.IsLatest === true, kind] as [string, string, boolean, string])
}

describe('S3 versioning, tagging and checksums: 3 nodes, 2+1, @aws-sdk/client-s3', { timeout: 1_800_000 }, () => {
  let c: TestCluster
  let s3a: S3Client
  let s3b: S3Client
  const endpoint = async (name: string): Promise<string> => ((await c.apiStatus(name)) as unknown as { s3: string }).s3
  const cliVersions = async (path: string, node = 'node-3'): Promise<CliVersion[]> => {
    const r = await c.cli(['versions', path, '--json', '--node', c.node(node).dir])
    return r.code === 0 ? parseJsonOutput<CliVersion[]>(r, 'versions') : []
  }
  const waitVersions = async (path: string, count: number): Promise<CliVersion[]> => {
    let last: CliVersion[] = []
    await waitFor(async () => { last = await cliVersions(path); return last.length === count }, REPLICATION_TIMEOUT_MS, `${count} versions of ${path} on node-3`)
    return last
  }

  before(async () => {
    c = await startCluster({ nodes: 3, k: 2, m: 1 })
    const admin = parseJsonOutput<Key>(await c.cli(['key', 'create', 'admin', '--admin', '--json', '--node', c.node('node-1').dir]), 'key create admin')
    s3a = client(await endpoint('node-1'), admin)
    s3b = client(await endpoint('node-2'), admin)
  }, { timeout: 200_000 })

  after(async () => { await c?.stop() })

  it('an unversioned bucket keeps one null version per key: a put replaces it, a delete removes it', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'plain' }))
    assert.equal((await s3b.send(new GetBucketVersioningCommand({ Bucket: 'plain' }))).Status, undefined)
    const first = await s3a.send(new PutObjectCommand({ Bucket: 'plain', Key: 'k', Body: 'one' }))
    assert.equal(first.VersionId, undefined, 'an unversioned bucket sends no x-amz-version-id')
    await s3a.send(new PutObjectCommand({ Bucket: 'plain', Key: 'k', Body: 'two' }))
    const cli = await waitVersions('plain/k', 1)
    assert.equal(cli[0]?.nullVersion, true)
    const listed = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'plain' }))
    assert.deepEqual(entries(listed), [['k', 'null', true, 'V']])
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'plain', Key: 'k', VersionId: 'null' }))).Body), 'two')
    // Cairn's id of the null version addresses it too.
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'plain', Key: 'k', VersionId: cli[0]?.id }))).Body), 'two')
    const del = await s3a.send(new DeleteObjectCommand({ Bucket: 'plain', Key: 'k' }))
    assert.equal(del.DeleteMarker, undefined)
    await waitVersions('plain/k', 0)
    assert.equal((await s3b.send(new ListObjectVersionsCommand({ Bucket: 'plain' }))).Versions, undefined)
  })

  it('Enabled: every put is a version, deletes write markers, a versionId DELETE removes one version for good', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'history' }))
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'history', VersioningConfiguration: { Status: 'Enabled' } }))
    await waitFor(async () => (await s3b.send(new GetBucketVersioningCommand({ Bucket: 'history' }))).Status === 'Enabled', REPLICATION_TIMEOUT_MS, 'Enabled on node-2')
    const v1 = (await s3a.send(new PutObjectCommand({ Bucket: 'history', Key: 'doc', Body: 'v1' }))).VersionId as string
    const v2 = (await s3a.send(new PutObjectCommand({ Bucket: 'history', Key: 'doc', Body: 'v2' }))).VersionId as string
    assert.ok(v1 !== undefined && v2 !== undefined && v1 !== v2 && v1 !== 'null')
    // The same versions through `cairn versions`, newest first.
    assert.deepEqual((await waitVersions('history/doc', 2)).map((v) => v.id), [v2, v1])
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: v1 }))).Body), 'v1')
    assert.equal((await s3b.send(new HeadObjectCommand({ Bucket: 'history', Key: 'doc' }))).VersionId, v2)
    const del = await s3a.send(new DeleteObjectCommand({ Bucket: 'history', Key: 'doc' }))
    assert.equal(del.DeleteMarker, true)
    const marker = del.VersionId as string
    await waitVersions('history/doc', 3)
    const gone = await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc' })), 'get of a deleted key')
    assert.equal(gone.code, 'NoSuchKey')
    assert.equal(gone.headers['x-amz-delete-marker'], 'true')
    assert.equal(gone.headers['x-amz-version-id'], marker)
    const ofMarker = await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: marker })), 'get of a delete marker')
    assert.equal(ofMarker.status, 405)
    assert.equal(ofMarker.code, 'MethodNotAllowed')
    assert.equal(ofMarker.headers['x-amz-delete-marker'], 'true')
    assert.equal((await s3Error(s3b.send(new HeadObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: marker })), 'head of a delete marker')).status, 405)
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: '000000000000-0000-00000000' })), 'get of an unknown version')).code, 'NoSuchVersion')
    const listed = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'history' }))
    assert.deepEqual(listed.DeleteMarkers?.map((d) => [d.VersionId, d.IsLatest]), [[marker, true]])
    assert.deepEqual(listed.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size]), [[v2, false, 2], [v1, false, 2]])
    // Removing the marker brings v2 back; removing v1 erases it from every node.
    const unmark = await s3a.send(new DeleteObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: marker }))
    assert.equal(unmark.DeleteMarker, true)
    assert.equal(unmark.VersionId, marker)
    const drop = await s3a.send(new DeleteObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: v1 }))
    assert.equal(drop.VersionId, v1)
    assert.equal(drop.DeleteMarker, undefined)
    assert.deepEqual((await waitVersions('history/doc', 1)).map((v) => v.id), [v2])
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc' }))).Body), 'v2')
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: v1 })), 'get of a removed version')).code, 'NoSuchVersion')
    // A version made with `cairn put` is an S3 version too.
    const file = `${c.dir}/cli-version.txt`
    await writeFile(file, 'from the cli')
    const put = await c.cli(['put', file, 'history/doc', '--json', '--node', c.node('node-3').dir])
    const cliId = parseJsonOutput<{ id: string }>(put, 'cairn put').id
    await waitFor(async () => (await s3b.send(new HeadObjectCommand({ Bucket: 'history', Key: 'doc' }))).VersionId === cliId, REPLICATION_TIMEOUT_MS, 'the cli version on node-2')
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc', VersionId: cliId }))).Body), 'from the cli')
  })

  it('Suspended: puts and deletes write the null version, versions from the Enabled period stay', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'paused' }))
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'paused', VersioningConfiguration: { Status: 'Enabled' } }))
    const kept = (await s3a.send(new PutObjectCommand({ Bucket: 'paused', Key: 'k', Body: 'enabled' }))).VersionId as string
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'paused', VersioningConfiguration: { Status: 'Suspended' } }))
    assert.equal((await s3a.send(new GetBucketVersioningCommand({ Bucket: 'paused' }))).Status, 'Suspended')
    assert.equal((await s3a.send(new PutObjectCommand({ Bucket: 'paused', Key: 'k', Body: 'null-1' }))).VersionId, 'null')
    await s3a.send(new PutObjectCommand({ Bucket: 'paused', Key: 'k', Body: 'null-2' }))
    const cli = await waitVersions('paused/k', 2)
    assert.deepEqual(cli.map((v) => [v.nullVersion === true, v.id === kept]), [[true, false], [false, true]])
    assert.equal(await text((await s3b.send(new GetObjectCommand({ Bucket: 'paused', Key: 'k', VersionId: 'null' }))).Body), 'null-2')
    const del = await s3a.send(new DeleteObjectCommand({ Bucket: 'paused', Key: 'k' }))
    assert.deepEqual([del.DeleteMarker, del.VersionId], [true, 'null'])
    await waitFor(async () => (await cliVersions('paused/k')).some((v) => v.deleteMarker), REPLICATION_TIMEOUT_MS, 'the null delete marker on node-3')
    const listed = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'paused' }))
    assert.deepEqual(entries(listed), [['k', kept, false, 'V'], ['k', 'null', true, 'D']])
    // PutBucketVersioning refuses what S3 refuses, and there is no way back to unversioned.
    const bad = await s3Error(s3a.send(new PutBucketVersioningCommand({ Bucket: 'paused', VersioningConfiguration: { Status: 'Off' as 'Enabled' } })), 'a bad status')
    assert.equal(bad.code, 'MalformedXML')
    assert.equal((await s3a.send(new GetBucketVersioningCommand({ Bucket: 'paused' }))).Status, 'Suspended')
  })

  it('ListObjectVersions pages with prefix, delimiter, key and version markers; DeleteObjects removes listed versions', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'pages' }))
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'pages', VersioningConfiguration: { Status: 'Enabled' } }))
    const made: Array<[string, string]> = []
    for (const key of ['a/1', 'a/2', 'b', 'é', 'Z']) {
      for (let i = 0; i < 2; i++) made.push([key, (await s3a.send(new PutObjectCommand({ Bucket: 'pages', Key: key, Body: `${key}${i}` }))).VersionId as string])
    }
    await waitVersions('pages/Z', 2)
    const byteOrder = [...new Set(made.map(([k]) => k))].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    const expected = byteOrder.flatMap((k) => made.filter(([key]) => key === k).map(([, id]) => `${k}@${id}`).reverse())
    const seen: string[] = []
    let keyMarker: string | undefined
    let versionMarker: string | undefined
    for (let page = 0; page < 20; page++) {
      const out = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'pages', MaxKeys: 3, KeyMarker: keyMarker, VersionIdMarker: versionMarker }))
      seen.push(...(out.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`))
      if (out.IsTruncated !== true) break
      keyMarker = out.NextKeyMarker
      versionMarker = out.NextVersionIdMarker
    }
    assert.deepEqual(seen, expected)
    const folded = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'pages', Delimiter: '/' }))
    assert.deepEqual(folded.CommonPrefixes?.map((p) => p.Prefix), ['a/'])
    assert.deepEqual(folded.Versions?.map((v) => v.Key), ['Z', 'Z', 'b', 'b', 'é', 'é'])
    const inA = await s3b.send(new ListObjectVersionsCommand({ Bucket: 'pages', Prefix: 'a/' }))
    assert.deepEqual(inA.Versions?.map((v) => [v.Key, v.IsLatest]), [['a/1', true], ['a/1', false], ['a/2', true], ['a/2', false]])
    // DeleteObjects: one version by id, and a marker for another key.
    const oldB = made.find(([k]) => k === 'b')?.[1] as string
    const batch = await s3a.send(new DeleteObjectsCommand({ Bucket: 'pages', Delete: { Objects: [{ Key: 'b', VersionId: oldB }, { Key: 'Z' }] } }))
    assert.deepEqual(batch.Deleted?.map((d) => [d.Key, d.VersionId, d.DeleteMarker]).sort(), [['Z', undefined, true], ['b', oldB, undefined]])
    assert.equal(batch.Errors, undefined)
    assert.equal((await waitVersions('pages/b', 1))[0]?.id === oldB, false)
  })

  it('a version removed by id, or replaced as the null version, leaves no shard file on any node', { timeout: TEST_TIMEOUT_MS }, async () => {
    const shardFiles = async (): Promise<string[]> => (await Promise.all(c.nodes.map(async (n) => await listShardFiles(n.dir)))).flat()
    const putAndShards = async (bucket: string, body: Buffer): Promise<{ id: string | undefined, files: string[] }> => {
      const before = await shardFiles()
      const id = (await s3a.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: body }))).VersionId
      const files = addedFiles(before, await shardFiles())
      assert.ok(files.length >= 3, `the put wrote ${files.length} shard files`)
      return { id, files }
    }
    const allGone = async (files: string[], what: string): Promise<void> => {
      await waitFor(async () => { const now = new Set(await shardFiles()); return files.every((f) => !now.has(f)) }, COLLECT_TIMEOUT_MS, `the shards of ${what} to be collected`)
    }
    await s3a.send(new CreateBucketCommand({ Bucket: 'collect' }))
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'collect', VersioningConfiguration: { Status: 'Enabled' } }))
    const old = await putAndShards('collect', randomBytes(SHARDED_BYTES))
    const kept = randomBytes(SHARDED_BYTES)
    const live = await putAndShards('collect', kept)
    await s3a.send(new DeleteObjectCommand({ Bucket: 'collect', Key: 'big', VersionId: old.id }))
    await allGone(old.files, 'a version deleted by id')
    const left = new Set(await shardFiles())
    assert.ok(live.files.every((f) => left.has(f)), 'a shard of the live version was deleted')
    const got = await s3b.send(new GetObjectCommand({ Bucket: 'collect', Key: 'big' }))
    assert.ok(Buffer.from(await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()).equals(kept))
    // An unversioned bucket: the second put replaces the first, whose shards go.
    await s3a.send(new CreateBucketCommand({ Bucket: 'collect-plain' }))
    const replaced = await putAndShards('collect-plain', randomBytes(SHARDED_BYTES))
    await putAndShards('collect-plain', randomBytes(SHARDED_BYTES))
    await allGone(replaced.files, 'a replaced null version')
  })

  it('tags: on put, replaced and deleted without a new version, per version, on copy, within S3 limits', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'tags' }))
    await s3a.send(new PutBucketVersioningCommand({ Bucket: 'tags', VersioningConfiguration: { Status: 'Enabled' } }))
    const v1 = (await s3a.send(new PutObjectCommand({ Bucket: 'tags', Key: 'k', Body: 'x', Tagging: 'project=cairn&note=two%20words' }))).VersionId as string
    const got = await s3b.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k' }))
    assert.deepEqual(got.TagSet, [{ Key: 'project', Value: 'cairn' }, { Key: 'note', Value: 'two words' }])
    assert.equal(got.VersionId, v1)
    assert.equal((await s3b.send(new GetObjectCommand({ Bucket: 'tags', Key: 'k' }))).TagCount, 2)
    await s3a.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'k', Tagging: { TagSet: [{ Key: 'state', Value: 'final' }] } }))
    assert.equal((await waitVersions('tags/k', 1)).length, 1, 'tagging made a version')
    await waitFor(async () => (await s3b.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k' }))).TagSet?.[0]?.Key === 'state', REPLICATION_TIMEOUT_MS, 'new tags on node-2')
    // A second version has its own tags; the first keeps its.
    await s3a.send(new PutObjectCommand({ Bucket: 'tags', Key: 'k', Body: 'y' }))
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k' }))).TagSet, [])
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k', VersionId: v1 }))).TagSet, [{ Key: 'state', Value: 'final' }])
    await s3a.send(new DeleteObjectTaggingCommand({ Bucket: 'tags', Key: 'k', VersionId: v1 }))
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k', VersionId: v1 }))).TagSet, [])
    // Copy: the source's tags by default, the header's with REPLACE.
    await s3a.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'k', Tagging: { TagSet: [{ Key: 'from', Value: 'source' }] } }))
    await s3a.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'copied', CopySource: 'tags/k' }))
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'copied' }))).TagSet, [{ Key: 'from', Value: 'source' }])
    await s3a.send(new CopyObjectCommand({ Bucket: 'tags', Key: 'replaced', CopySource: 'tags/k', TaggingDirective: 'REPLACE', Tagging: 'fresh=1' }))
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'replaced' }))).TagSet, [{ Key: 'fresh', Value: '1' }])
    // S3's limits, and nothing stored by a refused request.
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))
    assert.equal((await s3Error(s3a.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'k', Tagging: { TagSet: eleven } })), '11 tags')).code, 'InvalidTag')
    assert.equal((await s3Error(s3a.send(new PutObjectTaggingCommand({ Bucket: 'tags', Key: 'k', Tagging: { TagSet: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] } })), 'duplicate keys')).code, 'InvalidTag')
    assert.equal((await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'tags', Key: 'refused', Body: 'x', Tagging: `${'k'.repeat(129)}=v` })), 'long key on put')).code, 'InvalidTag')
    assert.deepEqual((await s3a.send(new GetObjectTaggingCommand({ Bucket: 'tags', Key: 'k' }))).TagSet, [{ Key: 'from', Value: 'source' }])
    assert.equal((await s3Error(s3a.send(new HeadObjectCommand({ Bucket: 'tags', Key: 'refused' })), 'refused put')).status, 404)
  })

  it('checksums: every algorithm verified on upload, header or trailer, and returned with ChecksumMode ENABLED', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'sums' }))
    const body = randomBytes(200_000)
    const field = { CRC32: 'ChecksumCRC32', CRC32C: 'ChecksumCRC32C', CRC64NVME: 'ChecksumCRC64NVME', SHA1: 'ChecksumSHA1', SHA256: 'ChecksumSHA256' } as const
    for (const algorithm of Object.keys(field) as Array<keyof typeof field>) {
      // A Buffer goes with the checksum in a header, a stream with it in the aws-chunked trailer.
      const inHeader = await s3a.send(new PutObjectCommand({ Bucket: 'sums', Key: `h-${algorithm}`, Body: body, ChecksumAlgorithm: algorithm as ChecksumAlgorithm }))
      const sent = inHeader[field[algorithm]]
      assert.ok(sent !== undefined && sent !== '', `${algorithm}: the put response echoes the checksum`)
      await s3a.send(new PutObjectCommand({ Bucket: 'sums', Key: `t-${algorithm}`, Body: Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]), ContentLength: body.length, ChecksumAlgorithm: algorithm as ChecksumAlgorithm }))
      for (const key of [`h-${algorithm}`, `t-${algorithm}`]) {
        const head = await s3b.send(new HeadObjectCommand({ Bucket: 'sums', Key: key, ChecksumMode: 'ENABLED' }))
        assert.equal(head[field[algorithm]], sent, `${key}: HEAD returns the stored checksum`)
        // The SDK validates the body against the returned checksum and fails the read on a mismatch.
        const got = await s3b.send(new GetObjectCommand({ Bucket: 'sums', Key: key, ChecksumMode: 'ENABLED' }))
        assert.equal(got[field[algorithm]], sent)
        assert.ok(Buffer.from(await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()).equals(body))
      }
    }
    const crc32c = Buffer.from('e3069283', 'hex').toString('base64')
    await s3a.send(new PutObjectCommand({ Bucket: 'sums', Key: 'known', Body: '123456789', ChecksumCRC32C: crc32c }))
    assert.equal((await s3b.send(new HeadObjectCommand({ Bucket: 'sums', Key: 'known', ChecksumMode: 'ENABLED' }))).ChecksumCRC32C, crc32c)
    for (const [name, value] of [['ChecksumCRC32C', 'AAAAAA=='], ['ChecksumCRC64NVME', 'AAAAAAAAAAA=']] as const) {
      const wrong = await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'sums', Key: `wrong-${name}`, Body: '123456789', [name]: value })), `wrong ${name}`)
      assert.equal(wrong.code, 'BadDigest')
      assert.equal((await s3Error(s3b.send(new HeadObjectCommand({ Bucket: 'sums', Key: `wrong-${name}` })), 'refused put')).status, 404)
    }
  })
})
