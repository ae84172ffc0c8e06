/**
 * Goal: S3 multipart upload works end to end on a real 4-node 2+1 cluster
 * with @aws-sdk/client-s3, and leaves no shard behind:
 * - an upload created through one node, its parts sent through another,
 *   completed through a third and read through a fourth round-trips byte
 *   for byte with S3's ETag (MD5 of the part MD5s, "-N"), also for ranges
 *   across part boundaries;
 * - UploadPartCopy (with x-amz-copy-source-range) copies bytes of an object;
 * - every Complete error (InvalidPartOrder, InvalidPart, EntityTooSmall,
 *   MalformedXML) and NoSuchUpload / InvalidArgument come back as S3 codes
 *   and leave the upload intact;
 * - ListParts and ListMultipartUploads page with their markers;
 * - after an abort, a re-upload of a part number, a Complete that leaves a
 *   part out, and an upload left open past `multipartExpiry`, the disks hold
 *   exactly the shards that live versions and open parts name (read from a
 *   node's meta.db), once the grace period has passed;
 * - @aws-sdk/lib-storage's managed `Upload` of a streamed body of unknown
 *   length (5 MiB parts, 4 in flight) through one node reads back byte for
 *   byte through another with the "-N" ETag, and an `Upload` aborted
 *   mid-way leaves no open upload (and, by the shard check after it, no
 *   shard) behind.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, S3ServiceException, UploadPartCommand, UploadPartCopyCommand
} from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { listShardFiles, shardHashOf } from '../helpers/shards.ts'
import { md5, multipartEtag, s3Client, s3Error } from '../helpers/s3.ts'
import type { S3Key } from '../helpers/s3.ts'

const MIB = 1024 * 1024
const GRACE_MS = 3000
process.env.CAIRN_ORPHAN_GRACE_MS = String(GRACE_MS)
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'
process.env.CAIRN_MULTIPART_SWEEP_INTERVAL_MS = '1000'
/** Limit for collection to settle: two grace periods, scans and anti-entropy on a loaded machine. */
const SETTLE_TIMEOUT_MS = 90_000
const TEST_TIMEOUT_MS = 300_000
const BUCKET = 'multi'
/** lib-storage settings under test: S3's minimum part size, and parts in flight. */
const UPLOAD_PART_BYTES = 5 * MIB
const UPLOAD_QUEUE_SIZE = 4
/** Chunk size of the streamed bodies given to lib-storage. */
const STREAM_CHUNK_BYTES = 256 * 1024

/** `bytes` as a stream of STREAM_CHUNK_BYTES chunks, waiting for `gate` (if given) once `pauseAt` bytes are out. */
async function * chunks (bytes: Buffer, pauseAt = Infinity, gate?: Promise<void>): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += STREAM_CHUNK_BYTES) {
    if (at >= pauseAt) await gate
    yield bytes.subarray(at, at + STREAM_CHUNK_BYTES)
  }
}

interface ShardRef { hash: string, nodes: string[] }
interface PartManifestJson { manifest?: { stripes?: Array<{ shards: ShardRef[] }> } }

/**
 * Every shard hash (by holder node id) that the replica in `nodeDir` says
 * must exist: stripes of live versions (inline stripe lists and inline
 * part lists), and of the current part records of open uploads.
 */
function expectedShards (nodeDir: string): Array<{ hash: string, node: string }> {
  const db = new DatabaseSync(join(nodeDir, 'meta.db'), { readOnly: true })
  try {
    const out: Array<{ hash: string, node: string }> = []
    const add = (stripes: Array<{ shards: ShardRef[] }> | undefined): void => { for (const s of stripes ?? []) for (const ref of s.shards) for (const node of ref.nodes) out.push({ hash: ref.hash, node }) }
    for (const r of db.prepare("SELECT body FROM records WHERE tbl = 'version' AND tombstone = 0").all() as Array<{ body: string }>) {
      const m = (JSON.parse(r.body) as { manifest?: { stripes?: Array<{ shards: ShardRef[] }>, parts?: PartManifestJson[] } }).manifest
      add(m?.stripes)
      for (const p of m?.parts ?? []) add(p.manifest?.stripes)
    }
    const open = new Set((db.prepare("SELECT pk FROM records WHERE tbl = 'upload' AND tombstone = 0").all() as Array<{ pk: string }>).map((r) => r.pk))
    const newest = new Map<string, PartManifestJson>()
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'mpart' AND tombstone = 0 ORDER BY pk").all() as Array<{ pk: string, body: string }>) {
      const [upload, number] = r.pk.split('/')
      if (open.has(upload as string)) newest.set(`${upload}/${number}`, JSON.parse(r.body) as PartManifestJson)
    }
    for (const p of newest.values()) add(p.manifest?.stripes)
    return out
  } finally {
    db.close()
  }
}

describe('S3 multipart upload: 4 nodes, 2+1, @aws-sdk/client-s3', { timeout: 2_400_000 }, () => {
  let c: TestCluster
  let admin: S3Key
  const s3: S3Client[] = []
  const endpoint = async (name: string): Promise<string> => ((await c.apiStatus(name)) as unknown as { s3: string }).s3

  /** Shards on disk that no live version or open part names, and named ones that are missing. */
  async function diskVsMetadata (): Promise<{ missing: string[], extra: string[] }> {
    const status = await c.apiStatus('node-4')
    const names = new Map(status.nodes.map((n) => [n.id, n.name]))
    const expected = new Map<string, Set<string>>(c.nodes.map((n) => [n.name, new Set()]))
    for (const s of expectedShards(c.node('node-4').dir)) expected.get(names.get(s.node) ?? '?')?.add(s.hash)
    const missing: string[] = []
    const extra: string[] = []
    for (const n of c.nodes) {
      const onDisk = new Set((await listShardFiles(n.dir)).map(shardHashOf))
      const want = expected.get(n.name) ?? new Set()
      for (const h of want) if (!onDisk.has(h)) missing.push(`${n.name}:${h.slice(0, 12)}`)
      for (const h of onDisk) if (!want.has(h)) extra.push(`${n.name}:${h.slice(0, 12)}`)
    }
    return { missing, extra }
  }

  async function settled (what: string): Promise<void> {
    await waitFor(async () => (await diskVsMetadata()).extra.length === 0, SETTLE_TIMEOUT_MS, `no stray shard on any disk ${what}`)
    assert.deepEqual((await diskVsMetadata()).missing, [], `a shard of a live version or open part is missing ${what}`)
  }

  async function read (client: S3Client, key: string, range?: string): Promise<Buffer> {
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...(range === undefined ? {} : { Range: range }) }))
    return Buffer.from(await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
  }

  async function upload (client: S3Client, key: string, uploadId: string, number: number, body: Buffer): Promise<string> {
    return (await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: number, Body: body }))).ETag as string
  }

  async function create (client: S3Client, key: string): Promise<string> {
    return (await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ContentType: 'application/x-test' }))).UploadId as string
  }

  before(async () => {
    c = await startCluster({ nodes: 4, k: 2, m: 1 })
    admin = parseJsonOutput<S3Key>(await c.cli(['key', 'create', 'admin', '--admin', '--json', '--node', c.node('node-1').dir]), 'key create admin')
    for (const n of c.nodes) s3.push(s3Client(await endpoint(n.name), admin))
    await (s3[0] as S3Client).send(new CreateBucketCommand({ Bucket: BUCKET }))
  }, { timeout: 200_000 })

  after(async () => { await c?.stop() })

  it('created on node-1, parts through node-2, completed through node-3, read through node-4: bytes, ETag, ranges across parts', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b, cc, d] = s3 as [S3Client, S3Client, S3Client, S3Client]
    const parts = [randomBytes(5 * MIB), randomBytes(5 * MIB), randomBytes(5 * MIB), randomBytes(1 * MIB)]
    const uploadId = await create(a, 'big/object.bin')
    const etags: string[] = []
    for (const [i, part] of parts.entries()) etags.push(await upload(b, 'big/object.bin', uploadId, i + 1, part))
    assert.deepEqual(etags, parts.map((p) => `"${md5(p)}"`), 'part ETags are the parts\' MD5s')
    const done = await cc.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'big/object.bin', UploadId: uploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }))
    assert.equal(done.ETag, multipartEtag(parts))
    assert.equal(done.Key, 'big/object.bin')
    const whole = Buffer.concat(parts)
    const got = await read(d, 'big/object.bin')
    assert.equal(got.length, whole.length)
    assert.ok(got.equals(whole), 'the object read back differs from the parts')
    const head = await d.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big/object.bin' }))
    assert.equal(head.ETag, multipartEtag(parts))
    assert.equal(head.ContentLength, whole.length)
    assert.equal(head.ContentType, 'application/x-test')
    // Across the boundary of parts 1 and 2, across three parts, and a suffix in the last part.
    for (const [start, end] of [[5 * MIB - 100, 5 * MIB + 99], [4 * MIB, 11 * MIB], [whole.length - 10, whole.length - 1]] as Array<[number, number]>) {
      assert.ok((await read(d, 'big/object.bin', `bytes=${start}-${end}`)).equals(whole.subarray(start, end + 1)), `range ${start}-${end}`)
    }
    assert.equal((await s3Error(a.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'big/object.bin', UploadId: uploadId })))).code, 'NoSuchUpload', 'a completed upload is still listed')
    await settled('after a complete')
  })

  it('UploadPartCopy copies whole objects and byte ranges', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b] = s3 as [S3Client, S3Client]
    const source = randomBytes(7 * MIB)
    await a.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/source', Body: source }))
    const uploadId = await create(b, 'copy/target')
    const first = await b.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: 'copy/target', UploadId: uploadId, PartNumber: 1, CopySource: `${BUCKET}/copy/source`, CopySourceRange: `bytes=${MIB}-${6 * MIB - 1}` }))
    assert.equal(first.CopyPartResult?.ETag, `"${md5(source.subarray(MIB, 6 * MIB))}"`)
    const second = await a.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: 'copy/target', UploadId: uploadId, PartNumber: 2, CopySource: `${BUCKET}/copy/source` }))
    assert.equal((await s3Error(a.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: 'copy/target', UploadId: uploadId, PartNumber: 3, CopySource: `${BUCKET}/copy/source`, CopySourceRange: `bytes=0-${8 * MIB}` })))).code, 'InvalidRange')
    await b.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'copy/target', UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.CopyPartResult?.ETag as string }, { PartNumber: 2, ETag: second.CopyPartResult?.ETag as string }] } }))
    assert.ok((await read(s3[3] as S3Client, 'copy/target')).equals(Buffer.concat([source.subarray(MIB, 6 * MIB), source])))
  })

  it('Complete refuses bad part lists with S3\'s codes and leaves the upload intact; unknown ids are NoSuchUpload', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b] = s3 as [S3Client, S3Client]
    const key = 'errors/object'
    const uploadId = await create(a, key)
    const small = randomBytes(MIB)
    const big = randomBytes(5 * MIB)
    const e1 = await upload(b, key, uploadId, 1, small)
    const e2 = await upload(a, key, uploadId, 2, big)
    const e3 = await upload(b, key, uploadId, 3, small)
    const complete = async (parts: Array<{ PartNumber: number, ETag: string }>): Promise<unknown> => await a.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }))
    assert.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 1, ETag: e1 }])), { code: 'InvalidPartOrder', status: 400 })
    assert.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 2, ETag: e2 }])), { code: 'InvalidPartOrder', status: 400 })
    assert.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 9, ETag: e3 }])), { code: 'InvalidPart', status: 400 })
    assert.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e1.replace(/[0-9a-f]/, (x) => (x === '0' ? '1' : '0')) }])), { code: 'InvalidPart', status: 400 })
    assert.deepEqual(await s3Error(complete([{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }])), { code: 'EntityTooSmall', status: 400 })
    assert.deepEqual(await s3Error(complete([])), { code: 'MalformedXML', status: 400 })
    const url = await getSignedUrl(a, new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }), { expiresIn: 300 })
    const malformed = await fetch(url, { method: 'POST', body: '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>' })
    assert.equal(malformed.status, 400)
    assert.match(await malformed.text(), /<Code>MalformedXML<\/Code>/)
    assert.equal((await s3Error(upload(a, key, uploadId, 0, small))).code, 'InvalidArgument')
    assert.equal((await s3Error(upload(a, key, uploadId, 10001, small))).code, 'InvalidArgument')
    const listed = await b.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }))
    assert.deepEqual(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]), [[1, e1, MIB], [2, e2, 5 * MIB], [3, e3, MIB]], 'a refused Complete changed the upload')
    assert.equal((await s3Error(a.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })))).code, 'NoSuchKey', 'a refused Complete created the object')
    // The last part may be small; a part left out is not an error.
    await complete([{ PartNumber: 2, ETag: e2 }, { PartNumber: 3, ETag: e3 }])
    assert.ok((await read(s3[2] as S3Client, key)).equals(Buffer.concat([big, small])))
    for (const bad of ['0194aaaaaaaa-0000-deadbeef', 'no-such-upload']) {
      assert.deepEqual(await s3Error(a.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: bad }))), { code: 'NoSuchUpload', status: 404 })
      assert.equal((await s3Error(a.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: bad })))).code, 'NoSuchUpload')
      assert.equal((await s3Error(upload(b, key, bad, 1, small))).code, 'NoSuchUpload')
    }
    assert.equal((await s3Error(a.send(new CreateMultipartUploadCommand({ Bucket: 'no-such-bucket', Key: 'x' })))).code, 'NoSuchBucket')
  })

  it('ListParts and ListMultipartUploads page with their markers, prefix and delimiter', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b] = s3 as [S3Client, S3Client]
    const id = await create(a, 'list/parts')
    for (let n = 1; n <= 5; n++) await upload(b, 'list/parts', id, n, Buffer.from(`part ${n}`))
    const pages: number[][] = []
    let marker: string | undefined
    for (let page = 0; page < 5; page++) {
      const res = await b.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'list/parts', UploadId: id, MaxParts: 2, ...(marker === undefined ? {} : { PartNumberMarker: marker }) }))
      pages.push((res.Parts ?? []).map((p) => p.PartNumber as number))
      if (res.IsTruncated !== true) break
      marker = String(res.NextPartNumberMarker)
    }
    assert.deepEqual(pages, [[1, 2], [3, 4], [5]])

    const ids = new Map<string, string[]>()
    for (const key of ['up/a/1', 'up/a/2', 'up/b', 'up/c', 'up/c']) ids.set(key, [...(ids.get(key) ?? []), await create(a, key)])
    const seen: string[] = []
    let keyMarker: string | undefined
    let idMarker: string | undefined
    for (let page = 0; page < 10; page++) {
      const res = await b.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'up/', MaxUploads: 2, ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker, UploadIdMarker: idMarker }) }))
      assert.ok((res.Uploads?.length ?? 0) <= 2)
      for (const u of res.Uploads ?? []) seen.push(`${u.Key as string} ${u.UploadId as string}`)
      if (res.IsTruncated !== true) break
      keyMarker = res.NextKeyMarker
      idMarker = res.NextUploadIdMarker
    }
    const expected = [...ids.entries()].flatMap(([key, list]) => list.map((u) => `${key} ${u}`))
    assert.deepEqual(seen, expected, 'pages of uploads in key then upload-id order, each once')
    const folded = await b.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'up/', Delimiter: '/' }))
    assert.deepEqual(folded.CommonPrefixes?.map((p) => p.Prefix), ['up/a/'])
    assert.deepEqual(folded.Uploads?.map((u) => u.Key), ['up/b', 'up/c', 'up/c'])
    for (const [key, list] of ids) for (const u of list) await a.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: u }))
    await a.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'list/parts', UploadId: id }))
    assert.equal((await b.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'up/' }))).Uploads?.length ?? 0, 0)
  })

  it('lib-storage Upload: a streamed body in 5 MiB parts, 4 in flight, through node-1, reads back through node-3 with the -N ETag', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, , cc] = s3 as [S3Client, S3Client, S3Client]
    const body = randomBytes(20 * MIB + 4321)
    const upload = new Upload({ client: a, params: { Bucket: BUCKET, Key: 'managed/object.bin', Body: Readable.from(chunks(body)), ContentType: 'application/x-managed' }, partSize: UPLOAD_PART_BYTES, queueSize: UPLOAD_QUEUE_SIZE })
    const done = await upload.done()
    const parts = Array.from({ length: Math.ceil(body.length / UPLOAD_PART_BYTES) }, (_, i) => body.subarray(i * UPLOAD_PART_BYTES, (i + 1) * UPLOAD_PART_BYTES))
    assert.equal(parts.length, 5)
    assert.equal(done.ETag, multipartEtag(parts))
    const got = await read(cc, 'managed/object.bin')
    assert.equal(got.length, body.length)
    assert.ok(got.equals(body), 'the managed upload read back differs')
    const head = await cc.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'managed/object.bin' }))
    assert.equal(head.ETag, multipartEtag(parts))
    assert.equal(head.ContentType, 'application/x-managed')
  })

  it('lib-storage Upload aborted mid-way leaves no open upload', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b] = s3 as [S3Client, S3Client]
    const key = 'managed/aborted.bin'
    const body = randomBytes(30 * MIB)
    let release = (): void => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    // The body stalls after two parts' worth until the upload is aborted, so the abort lands mid-way.
    const upload = new Upload({ client: a, params: { Bucket: BUCKET, Key: key, Body: Readable.from(chunks(body, 2 * UPLOAD_PART_BYTES, gate)) }, partSize: UPLOAD_PART_BYTES, queueSize: UPLOAD_QUEUE_SIZE })
    const firstPart = new Promise<void>((resolve) => { upload.on('httpUploadProgress', () => { resolve() }) })
    const finished = upload.done().then(() => 'completed', (err: Error) => err.name)
    try {
      await firstPart
      const open = await b.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }))
      assert.equal(open.Uploads?.length, 1, 'the managed upload is open after its first part')
      await upload.abort()
    } finally {
      release()
    }
    assert.equal(await finished, 'AbortError')
    // lib-storage sends AbortMultipartUpload once its part uploaders have stopped.
    await waitFor(async () => ((await b.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }))).Uploads?.length ?? 0) === 0, SETTLE_TIMEOUT_MS, 'the aborted managed upload to leave ListMultipartUploads')
    assert.equal((await s3Error(a.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })))).status, 404, 'an aborted upload made an object')
  })

  it('abort, a re-uploaded part number and a Complete that leaves a part out leave no shard behind', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b, cc, d] = s3 as [S3Client, S3Client, S3Client, S3Client]
    const before = (await Promise.all(c.nodes.map(async (n) => (await listShardFiles(n.dir)).length))).reduce((x, y) => x + y, 0)
    const aborted = await create(a, 'gone/aborted')
    await upload(b, 'gone/aborted', aborted, 1, randomBytes(5 * MIB))
    await upload(cc, 'gone/aborted', aborted, 2, randomBytes(2 * MIB))
    const during = (await Promise.all(c.nodes.map(async (n) => (await listShardFiles(n.dir)).length))).reduce((x, y) => x + y, 0)
    assert.ok(during > before, 'the parts stored no shard')
    await d.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'gone/aborted', UploadId: aborted }))
    assert.equal((await s3Error(b.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'gone/aborted', UploadId: aborted })))).code, 'NoSuchUpload')

    const key = 'gone/partial'
    const id = await create(a, key)
    const first = randomBytes(5 * MIB)
    const replaced = randomBytes(5 * MIB)
    const dropped = randomBytes(5 * MIB)
    const last = randomBytes(3 * MIB)
    await upload(a, key, id, 1, randomBytes(5 * MIB))
    const e1 = await upload(b, key, id, 1, first) // the same part number again, through another node: this one counts
    await upload(cc, key, id, 2, replaced)
    await upload(cc, key, id, 3, dropped)
    const e4 = await upload(d, key, id, 4, last)
    const listed = await a.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: id }))
    assert.deepEqual(listed.Parts?.map((p) => [p.PartNumber, p.ETag]).slice(0, 1), [[1, e1]], 'ListParts shows the newest upload of part 1')
    await b.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: id, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 4, ETag: e4 }] } }))
    assert.ok((await read(d, key)).equals(Buffer.concat([first, last])))
    await settled('after an abort, a re-upload and a complete without parts 2 and 3')
    assert.ok((await read(a, key)).equals(Buffer.concat([first, last])), 'collection damaged the completed object')
  })

  it('an upload left open past multipartExpiry is aborted and its shards collected', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [a, b] = s3 as [S3Client, S3Client]
    const id = await create(a, 'expire/me')
    await upload(b, 'expire/me', id, 1, randomBytes(2 * MIB))
    assertSucceeded(await c.cli(['config', 'set', 'multipartExpiry', '2s', '--node', c.node('node-1').dir]), 'config set multipartExpiry')
    try {
      await waitFor(async () => {
        try { await b.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'expire/me', UploadId: id })); return false } catch (err) { return err instanceof S3ServiceException && err.name === 'NoSuchUpload' }
      }, 60_000, 'the abandoned upload to be aborted')
    } finally {
      assertSucceeded(await c.cli(['config', 'set', 'multipartExpiry', '7d', '--node', c.node('node-1').dir]), 'config set multipartExpiry back')
    }
    await settled('after an upload expired')
  })
})
