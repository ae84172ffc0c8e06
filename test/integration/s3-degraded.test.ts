/**
 * Goal: with one node of the cluster stopped, S3 keeps working through the
 * others (issue 11, on issue 9's degraded writes). On a real 4-node 2+1
 * cluster (happiness k+1 = 3, so one hung node leaves enough online):
 * - with node-4 SIGSTOPped, an object written before still reads back byte
 *   for byte; single PUTs (one stripe and several) and a multipart upload
 *   (created, sent and completed through three different nodes) succeed
 *   through the nodes that answer, and read back byte-exact through a node
 *   other than the writer, with S3's ETags; listing shows them;
 * - after SIGCONT, node-4 catches up, and everything written while it was
 *   stopped reads back byte-exact through node-4's own S3 endpoint.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand
} from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { healStatus } from '../helpers/api.ts'
import { parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { bodyBytes, md5, multipartEtag, s3Client, s3Endpoint } from '../helpers/s3.ts'
import type { S3Key } from '../helpers/s3.ts'

const KIB = 1024
const MIB = 1024 * KIB
const BUCKET = 'degraded'
/** Longest wait for liveness to notice the stopped node, and for node-4 to catch up after SIGCONT (heartbeats, anti-entropy on a loaded machine). */
const SETTLE_MS = 120_000
const TEST_TIMEOUT_MS = 600_000

describe('S3 with a node stopped: 4 nodes, 2+1, @aws-sdk/client-s3', { timeout: 1_200_000 }, () => {
  let c: TestCluster
  const s3 = new Map<string, S3Client>()
  const via = (name: string): S3Client => s3.get(name) as S3Client
  const written = new Map<string, Buffer>()

  const get = async (node: string, key: string): Promise<Buffer> => await bodyBytes((await via(node).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body)

  before(async () => {
    c = await startCluster({ nodes: 4, k: 2, m: 1 })
    const admin = parseJsonOutput<S3Key>(await c.cli(['key', 'create', 'admin', '--admin', '--json', '--node', c.node('node-1').dir]), 'key create admin')
    for (const n of c.nodes) s3.set(n.name, s3Client(await s3Endpoint(c, n.name), admin))
    await via('node-1').send(new CreateBucketCommand({ Bucket: BUCKET }))
  }, { timeout: 200_000 })

  after(async () => { await c?.stop() })

  it('PUT, multipart and GET work through the other nodes while node-4 is stopped; node-4 reads it all back after SIGCONT', { timeout: TEST_TIMEOUT_MS }, async () => {
    const earlier = randomBytes(3 * MIB + 17)
    await via('node-4').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'before', Body: earlier }))
    // Wait until the other nodes hold the record, so the stopped node is not the only one that knows it.
    await waitFor(async () => (await healStatus(c.node('node-1').dir)).objects.total === 1, SETTLE_MS, 'node-1 to see the object written through node-4')

    const hung = c.node('node-4')
    let multipartTag = ''
    process.kill(hung.pid, 'SIGSTOP')
    try {
      await waitFor(async () => (await Promise.all(['node-1', 'node-2', 'node-3'].map(async (n) => await healStatus(c.node(n).dir))))
        .every((s) => s.nodes.find((x) => x.name === 'node-4')?.online === false), SETTLE_MS, 'node-1..3 to see node-4 offline')

      assert.ok((await get('node-2', 'before')).equals(earlier), 'an object written before the stop reads back through node-2')

      // Single PUTs: one stripe and several stripes, each through a different node, read through the next one.
      for (const [i, size] of [100 * KIB, 9 * MIB + 5].entries()) {
        const body = randomBytes(size)
        const key = `single/${i}`
        const writer = ['node-1', 'node-2', 'node-3'][i] as string
        const put = await via(writer).send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))
        assert.equal(put.ETag, `"${md5(body)}"`)
        written.set(key, body)
        assert.ok((await get(['node-2', 'node-3', 'node-1'][i] as string, key)).equals(body), `${key} reads back through another node`)
      }

      // Multipart: created through node-1, parts through node-2, completed through node-3, read through node-1.
      const parts = [randomBytes(5 * MIB), randomBytes(5 * MIB), randomBytes(MIB + 3)]
      const key = 'multi/object'
      const { UploadId } = await via('node-1').send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
      const etags: string[] = []
      for (const [i, part] of parts.entries()) {
        etags.push((await via('node-2').send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: part }))).ETag as string)
      }
      const done = await via('node-3').send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }))
      assert.equal(done.ETag, multipartEtag(parts))
      const whole = Buffer.concat(parts)
      written.set(key, whole)
      multipartTag = multipartEtag(parts)
      assert.ok((await get('node-1', key)).equals(whole), 'the multipart object reads back through node-1')
      assert.equal((await via('node-2').send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength, whole.length)

      const listed = await via('node-3').send(new ListObjectsV2Command({ Bucket: BUCKET }))
      assert.deepEqual(listed.Contents?.map((o) => o.Key), ['before', 'multi/object', 'single/0', 'single/1'])
    } finally {
      process.kill(hung.pid, 'SIGCONT')
    }

    // node-4 catches up: its replica lists every key, then it serves each object byte for byte.
    await waitFor(async () => {
      try {
        return ((await via('node-4').send(new ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount ?? 0) === written.size + 1
      } catch { return false }
    }, SETTLE_MS, 'node-4 to list every key written while it was stopped')
    for (const [key, body] of written) assert.ok((await get('node-4', key)).equals(body), `${key} reads back through node-4 after SIGCONT`)
    assert.equal((await via('node-4').send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'multi/object' }))).ETag, multipartTag, 'node-4 answers the multipart ETag')
  })
})
