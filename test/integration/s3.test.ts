/**
 * Goal: every node's S3 endpoint works with a real S3 client
 * (@aws-sdk/client-s3 and its presigner) on a real 3-node cluster: buckets,
 * objects with metadata, ranges and conditions, listings with prefixes,
 * delimiters and pages, batch deletes, copies, presigned GET and PUT, and
 * writes through one node read through another; and every bad request (a
 * wrong signature, an unknown key, a missing grant, a body altered under its
 * signed hash, a skewed clock, an expired presigned URL, a key with `../`,
 * a bad bucket name) gets S3's error and changes nothing.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketLocationCommand,
  GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'

const TEST_TIMEOUT_MS = 300_000

interface Key { accessKeyId: string, secretAccessKey: string }

function client (endpoint: string, key: Key, extra: Record<string, unknown> = {}): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: key, maxAttempts: 1, ...extra })
}

async function s3Error (promise: Promise<unknown>, what = 'the request'): Promise<{ code: string, status: number }> {
  try {
    await promise
  } catch (err) {
    if (err instanceof S3ServiceException) return { code: err.name, status: err.$metadata.httpStatusCode ?? 0 }
    throw err
  }
  throw new Error(`${what} succeeded`)
}

describe('S3 API: 3 nodes, 2+1, @aws-sdk/client-s3', { timeout: 1_800_000 }, () => {
  let c: TestCluster
  let admin: Key
  let reader: Key
  let s3a: S3Client
  let s3b: S3Client
  const endpoint = async (name: string): Promise<string> => ((await c.apiStatus(name)) as unknown as { s3: string }).s3

  before(async () => {
    c = await startCluster({ nodes: 3, k: 2, m: 1 })
    const on = ['--node', c.node('node-1').dir]
    admin = parseJsonOutput<Key>(await c.cli(['key', 'create', 'admin', '--admin', '--json', ...on]), 'key create admin')
    reader = parseJsonOutput<Key>(await c.cli(['key', 'create', 'reader', '--json', ...on]), 'key create reader')
    s3a = client(await endpoint('node-1'), admin)
    s3b = client(await endpoint('node-2'), admin)
  }, { timeout: 200_000 })

  after(async () => { await c?.stop() })

  it('status and cluster.json name every node\'s S3 endpoint', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const n of c.nodes) assert.match(await endpoint(n.name), /^http:\/\/127\.0\.0\.1:\d+$/)
    const keys = parseJsonOutput<Array<{ name: string, accessKeyId: string }>>(await c.cli(['key', 'ls', '--json', '--node', c.node('node-3').dir]), 'key ls')
    assert.deepEqual(keys.map((k) => k.name).sort(), ['admin', 'reader'])
    assert.equal(JSON.stringify(keys).includes(admin.secretAccessKey), false, 'key ls shows a secret')
  })

  it('buckets: create, exists, list, location, bad names, delete only when empty', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'photos' }))
    assert.equal((await s3Error(s3a.send(new CreateBucketCommand({ Bucket: 'photos' })))).code, 'BucketAlreadyOwnedByYou')
    assert.equal((await s3Error(s3a.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })))).code, 'InvalidBucketName')
    await s3b.send(new HeadBucketCommand({ Bucket: 'photos' }))
    const list = await s3b.send(new ListBucketsCommand({}))
    assert.ok(list.Buckets?.some((b) => b.Name === 'photos'))
    assert.equal(list.Owner?.DisplayName, 'admin')
    const location = await s3a.send(new GetBucketLocationCommand({ Bucket: 'photos' }))
    assert.ok(location.LocationConstraint === undefined || String(location.LocationConstraint) === '')
    assert.equal((await s3Error(s3a.send(new HeadBucketCommand({ Bucket: 'nothing-here' })))).status, 404)
    await s3a.send(new CreateBucketCommand({ Bucket: 'scratch' }))
    await s3a.send(new PutObjectCommand({ Bucket: 'scratch', Key: 'x', Body: 'x' }))
    assert.equal((await s3Error(s3a.send(new DeleteBucketCommand({ Bucket: 'scratch' })))).code, 'BucketNotEmpty')
    await s3a.send(new DeleteObjectCommand({ Bucket: 'scratch', Key: 'x' }))
    await s3a.send(new DeleteBucketCommand({ Bucket: 'scratch' }))
    assert.equal((await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'scratch', Key: 'y', Body: 'y' })))).code, 'NoSuchBucket')
  })

  it('objects: put through one node, get through another, with metadata, ETag, ranges and conditions', { timeout: TEST_TIMEOUT_MS }, async () => {
    const body = randomBytes(5 * 1024 * 1024 + 123)
    const md5 = createHash('md5').update(body).digest('hex')
    const put = await s3a.send(new PutObjectCommand({
      Bucket: 'photos', Key: 'dir/a.bin', Body: body, ContentType: 'image/x-test', ContentDisposition: 'attachment; filename="a.bin"',
      CacheControl: 'max-age=60', ContentEncoding: 'identity', Expires: new Date('2030-01-01T00:00:00Z'), Metadata: { owner: 'me', note: 'two words' }
    }))
    assert.equal(put.ETag, `"${md5}"`)
    const got = await s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin' }))
    assert.ok(Buffer.from(await (got.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()).equals(body))
    assert.equal(got.ETag, `"${md5}"`)
    assert.equal(got.ContentType, 'image/x-test')
    assert.equal(got.ContentDisposition, 'attachment; filename="a.bin"')
    assert.equal(got.CacheControl, 'max-age=60')
    assert.equal(got.ContentLength, body.length)
    assert.deepEqual(got.Metadata, { owner: 'me', note: 'two words' })
    const head = await s3b.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin' }))
    assert.equal(head.ContentLength, body.length)
    const range = async (r: string): Promise<Buffer> => {
      const res = await s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin', Range: r }))
      return Buffer.from(await (res.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
    }
    assert.ok((await range('bytes=10-19')).equals(body.subarray(10, 20)))
    assert.ok((await range('bytes=-5')).equals(body.subarray(body.length - 5)))
    assert.ok((await range(`bytes=${4 * 1024 * 1024 - 3}-`)).equals(body.subarray(4 * 1024 * 1024 - 3)))
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin', Range: `bytes=${body.length}-` })))).code, 'InvalidRange')
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin', IfNoneMatch: `"${md5}"` })))).status, 304)
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin', IfMatch: '"0000"' })))).code, 'PreconditionFailed')
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin', IfModifiedSince: new Date(Date.now() + 60_000) })))).status, 304)
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'nope' })))).code, 'NoSuchKey')
    // A streamed body of known length (aws-chunked with a trailing checksum in recent SDKs).
    const streamed = randomBytes(300_000)
    await s3a.send(new PutObjectCommand({ Bucket: 'photos', Key: 'streamed', Body: Readable.from([streamed.subarray(0, 100_000), streamed.subarray(100_000)]), ContentLength: streamed.length }))
    const back = await s3b.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streamed' }))
    assert.ok(Buffer.from(await (back.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray()).equals(streamed))
  })

  it('copy: to a new key keeps metadata; onto itself with REPLACE changes it', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.bin', CopySource: 'photos/dir/a.bin' }))
    const head = await s3b.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy.bin' }))
    assert.deepEqual(head.Metadata, { owner: 'me', note: 'two words' })
    assert.equal(head.ContentType, 'image/x-test')
    await s3a.send(new CopyObjectCommand({ Bucket: 'photos', Key: 'copy.bin', CopySource: 'photos/copy.bin', MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { fresh: 'yes' } }))
    const replaced = await s3b.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'copy.bin' }))
    assert.deepEqual(replaced.Metadata, { fresh: 'yes' })
    assert.equal(replaced.ContentType, 'text/plain')
    assert.equal(replaced.ETag, head.ETag)
  })

  it('listing: prefixes, delimiters, pages with continuation tokens and markers, in byte order', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new CreateBucketCommand({ Bucket: 'listing' }))
    const keys = ['a/1', 'a/2', 'a/b/3', 'b', 'c/4', 'c/5', 'é', 'Z', 'a b']
    for (const key of keys) await s3a.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }))
    const all = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing' }))
    assert.deepEqual(all.Contents?.map((o) => o.Key), [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))))
    const folded = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }))
    assert.deepEqual(folded.CommonPrefixes?.map((p) => p.Prefix), ['a/', 'c/'])
    assert.deepEqual(folded.Contents?.map((o) => o.Key), ['Z', 'a b', 'b', 'é'])
    const inA = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'a/', Delimiter: '/' }))
    assert.deepEqual(inA.Contents?.map((o) => o.Key), ['a/1', 'a/2'])
    assert.deepEqual(inA.CommonPrefixes?.map((p) => p.Prefix), ['a/b/'])
    const paged: string[] = []
    let token: string | undefined
    for (let page = 0; page < 20; page++) {
      const res = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 2, Delimiter: '/', ...(token === undefined ? {} : { ContinuationToken: token }) }))
      paged.push(...(res.Contents ?? []).map((o) => o.Key as string), ...(res.CommonPrefixes ?? []).map((p) => p.Prefix as string))
      assert.ok((res.KeyCount ?? 0) <= 2)
      if (res.IsTruncated !== true) break
      token = res.NextContinuationToken
    }
    assert.deepEqual(paged.sort(), ['Z', 'a b', 'a/', 'b', 'c/', 'é'].sort())
    const after = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'b' }))
    assert.deepEqual(after.Contents?.map((o) => o.Key), ['c/4', 'c/5', 'é'])
    const v1 = await s3b.send(new ListObjectsCommand({ Bucket: 'listing', Marker: 'a/b/3', MaxKeys: 2 }))
    assert.deepEqual(v1.Contents?.map((o) => o.Key), ['b', 'c/4'])
    assert.equal(v1.IsTruncated, true)
    const encoded = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'a ', EncodingType: 'url' }))
    // With encoding-type=url the keys come back percent-encoded, as S3 sends them.
    assert.deepEqual(encoded.Contents?.map((o) => o.Key), ['a%20b'])
  })

  it('deletes: one object, and a batch in quiet mode', { timeout: TEST_TIMEOUT_MS }, async () => {
    await s3a.send(new DeleteObjectCommand({ Bucket: 'listing', Key: 'b' }))
    assert.equal((await s3Error(s3b.send(new GetObjectCommand({ Bucket: 'listing', Key: 'b' })))).code, 'NoSuchKey')
    const batch = await s3a.send(new DeleteObjectsCommand({ Bucket: 'listing', Delete: { Objects: [{ Key: 'c/4' }, { Key: 'c/5' }, { Key: 'never-there' }], Quiet: true } }))
    assert.equal(batch.Errors, undefined)
    assert.equal(batch.Deleted, undefined)
    const left = await s3b.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'c/' }))
    assert.equal(left.KeyCount, 0)
  })

  it('presigned GET and PUT work; an expired one is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
    const putUrl = await getSignedUrl(s3a, new PutObjectCommand({ Bucket: 'photos', Key: 'presigned.txt' }), { expiresIn: 300 })
    const put = await fetch(putUrl, { method: 'PUT', body: 'hello presigned' })
    assert.equal(put.status, 200, await put.text())
    const getUrl = await getSignedUrl(s3b, new GetObjectCommand({ Bucket: 'photos', Key: 'presigned.txt' }), { expiresIn: 300 })
    const got = await fetch(getUrl)
    assert.equal(await got.text(), 'hello presigned')
    const old = await getSignedUrl(s3b, new GetObjectCommand({ Bucket: 'photos', Key: 'presigned.txt' }), { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) })
    const expired = await fetch(old)
    assert.equal(expired.status, 403)
    assert.match(await expired.text(), /<Code>AccessDenied<\/Code><Message>Request has expired/)
  })

  it('bad requests get S3 errors and change nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
    const endpoint1 = await endpoint('node-1')
    const wrong = client(endpoint1, { accessKeyId: admin.accessKeyId, secretAccessKey: 'not-the-secret' })
    assert.equal((await s3Error(wrong.send(new PutObjectCommand({ Bucket: 'photos', Key: 'bad', Body: 'x' })), 'wrong secret')).code, 'SignatureDoesNotMatch')
    const unknown = client(endpoint1, { accessKeyId: 'CRNUNKNOWNKEY0000000', secretAccessKey: 'x' })
    assert.equal((await s3Error(unknown.send(new ListBucketsCommand({})), 'unknown key')).code, 'InvalidAccessKeyId')
    // A fresh client each time: the SDK corrects its clock offset after one skew error.
    const skewed = (): S3Client => client(endpoint1, admin, { systemClockOffset: -3600_000 })
    assert.equal((await s3Error(skewed().send(new HeadObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin' })), 'skewed head')).status, 403)
    assert.equal((await s3Error(skewed().send(new ListObjectsV2Command({ Bucket: 'photos' })), 'skewed list')).code, 'RequestTimeTooSkewed')
    assert.equal((await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'photos', Key: 'a/../etc', Body: 'x' })), 'dot-dot key')).code, 'InvalidArgument')
    // A body altered after it was signed.
    const tamper = client(endpoint1, admin)
    tamper.middlewareStack.add((next) => async (args) => {
      const request = args.request as { body?: unknown }
      if (typeof request.body === 'string' || request.body instanceof Uint8Array) request.body = Buffer.from('tampered!!')
      return await next(args)
    }, { step: 'deserialize', priority: 'high' })
    const tampered = await s3Error(tamper.send(new PutObjectCommand({ Bucket: 'photos', Key: 'tampered', Body: Buffer.from('original!!') })), 'tampered body')
    assert.ok(['XAmzContentSHA256Mismatch', 'BadDigest', 'SignatureDoesNotMatch'].includes(tampered.code), tampered.code)
    // A batch delete whose body was altered after signing deletes nothing.
    await s3a.send(new PutObjectCommand({ Bucket: 'photos', Key: 'keep-me-abc', Body: 'x' }))
    const tamperDelete = client(endpoint1, admin)
    tamperDelete.middlewareStack.add((next) => async (args) => {
      const request = args.request as { body?: unknown }
      if (typeof request.body === 'string') request.body = request.body.replace('never-there', 'keep-me-abc')
      return await next(args)
    }, { step: 'deserialize', priority: 'high' })
    const batch = await s3Error(tamperDelete.send(new DeleteObjectsCommand({ Bucket: 'photos', Delete: { Objects: [{ Key: 'never-there' }] } })), 'tampered batch delete')
    assert.ok(['XAmzContentSHA256Mismatch', 'BadDigest', 'SignatureDoesNotMatch', 'InvalidDigest'].includes(batch.code), batch.code)
    await s3b.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'keep-me-abc' }))
    // A checksum that does not match the body is refused.
    assert.equal((await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'photos', Key: 'crc32c', Body: 'x', ChecksumCRC32C: 'AAAAAA==' })), 'crc32c put')).code, 'BadDigest')
    // The reader key has no grant yet.
    const readerClient = client(endpoint1, reader)
    assert.equal((await s3Error(readerClient.send(new GetObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin' })), 'reader before grant')).code, 'AccessDenied')
    assertSucceeded(await c.cli(['key', 'allow', 'reader', 'photos', 'read', '--node', c.node('node-2').dir]), 'key allow')
    await readerClient.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'dir/a.bin' }))
    assert.equal((await s3Error(readerClient.send(new PutObjectCommand({ Bucket: 'photos', Key: 'by-reader', Body: 'x' })), 'reader put')).code, 'AccessDenied')
    assert.equal((await s3Error(readerClient.send(new CreateBucketCommand({ Bucket: 'readers-own' })), 'reader create bucket')).code, 'AccessDenied')
    // A header section over the limit (S3 allows 8 KiB of headers) is S3's RequestHeaderSectionTooLarge.
    const huge = await s3Error(s3a.send(new PutObjectCommand({ Bucket: 'photos', Key: 'huge-header', Body: 'x', Metadata: { big: 'h'.repeat(20_000) } })), 'oversized header')
    assert.equal(huge.code, 'RequestHeaderSectionTooLarge')
    // Nothing of the refused writes exists.
    const names = (await s3b.send(new ListObjectsV2Command({ Bucket: 'photos' }))).Contents?.map((o) => o.Key) ?? []
    for (const k of ['bad', 'a/../etc', 'tampered', 'by-reader', 'crc32c', 'huge-header']) assert.equal(names.includes(k), false, `${k} was stored`)
  })
})
