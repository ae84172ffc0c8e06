/**
 * The commit path across real processes (issue 8, items 1 and 8, and the
 * `cairn config` interface). Goals:
 * - a put, rm or retention change that reports failure changes nothing a
 *   client can see, on any node, also after the peers that stalled the push
 *   apply it late and after anti-entropy rounds; a put that reports success
 *   is readable through every node;
 * - a put through a node that does not know the bucket yet does not reset
 *   the bucket's retention for the cluster;
 * - cluster settings set on one node reach every node, and bad ones are
 *   refused clearly;
 * - a hung node (SIGSTOP) is no longer online once it misses heartbeats, so
 *   puts are placed and acknowledged without it;
 * - a version named by its id (API and S3 GET, HEAD, DELETE) answers through
 *   a node its records have not reached yet: the node fetches it first.
 * Faults come from the node's test-only fault switch (src/daemon/faults.ts):
 * peers hold metadata pushes unanswered ("stall") until released, then
 * apply them, or refuse them ("drop"), or stop anti-entropy ("sync off").
 * One 6-node 3+2 cluster on loopback serves every test.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import { api, q, sha } from '../helpers/api.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { GAP_MS } from '../../src/daemon/wake.ts'
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { bodyBytes, s3Client, s3Endpoint, s3Error } from '../helpers/s3.ts'
import type { S3Key } from '../helpers/s3.ts'

const NODE_COUNT = 6
/** Erasure coded, not inline (the inline limit is 16 KiB). */
const OBJECT_BYTES = 200 * 1024
/** Time limit of one HTTP request made by the test (a failing commit takes ~10 s). */
const HTTP_TIMEOUT_MS = 60_000
/** Longest wait for every node to show the same state (pushes, then 15 s anti-entropy rounds). */
const CONVERGE_MS = 60_000
const TEST_TIMEOUT_MS = 300_000


describe('commit: all or nothing across processes', { timeout: 1_200_000 }, () => {
  let c: TestCluster | undefined
  const previousFaults = process.env.CAIRN_TEST_FAULTS

  before(async () => {
    // Every node starts with the fault switch present and no fault on.
    process.env.CAIRN_TEST_FAULTS = ''
    c = await startCluster({ nodes: NODE_COUNT, k: 3, m: 2 })
  })

  after(async () => {
    if (previousFaults === undefined) delete process.env.CAIRN_TEST_FAULTS
    else process.env.CAIRN_TEST_FAULTS = previousFaults
    await c?.stop()
  }, { timeout: 120_000 })

  // A test that fails mid-way must not leave faults on for the next one.
  afterEach(async () => { if (c !== undefined) await setFaults(dirs(), { push: 'none', sync: 'on' }) })

  const cluster = (): TestCluster => { assert.ok(c !== undefined); return c }
  const dirs = (): string[] => cluster().nodes.map((n) => n.dir)
  const peers = (): string[] => dirs().slice(1)

  async function setFaults (targets: readonly string[], state: Record<string, string>): Promise<void> {
    for (const dir of targets) {
      const r = await api(dir, 'POST', '/test/faults', JSON.stringify(state))
      assert.equal(r.status, 200, `fault switch of ${dir}: ${r.body.toString('utf8')}`)
    }
  }

  /** Wait until every node serves bucket/key with the bytes of `want` as its current version. */
  async function readableEverywhere (bucket: string, key: string, want: Buffer, what: string): Promise<void> {
    let seen = ''
    await waitFor(async () => {
      const reads = await Promise.all(dirs().map(async (dir) => await api(dir, 'GET', `/object?${q(bucket, key)}`)))
      seen = reads.map((r, i) => `node-${i + 1}: ${r.status} ${r.status === 200 ? sha(r.body).slice(0, 8) : r.body.toString('utf8').slice(0, 80)}`).join('; ')
      return reads.every((r) => r.status === 200 && sha(r.body) === sha(want))
    }, CONVERGE_MS, `${what} (want ${sha(want).slice(0, 8)}; seen ${seen})`)
  }

  /** Wait until every node has finished at least `rounds` more anti-entropy rounds. */
  async function antiEntropyRounds (rounds: number): Promise<void> {
    const syncs = async (): Promise<number[]> => await Promise.all(dirs().map(async (dir) => ((await fetchStatus(dir)) as unknown as { replication: { syncs: number } }).replication.syncs))
    const start = await syncs()
    await waitFor(async () => (await syncs()).every((n, i) => n >= (start[i] as number) + rounds), CONVERGE_MS, `${rounds} anti-entropy round(s) on every node`)
  }

  it('a failed put leaves the previous version current and readable on every node; a successful put is readable everywhere', { timeout: TEST_TIMEOUT_MS }, async () => {
    const writer = dirs()[0] as string
    const v1 = randomBytes(OBJECT_BYTES)
    const ok = await api(writer, 'PUT', `/object?${q('atomic', 'doc')}`, v1)
    assert.equal(ok.status, 200, ok.body.toString('utf8'))
    await readableEverywhere('atomic', 'doc', v1, 'the acknowledged put to be readable through every node')

    await setFaults(peers(), { push: 'stall' })
    const v2 = randomBytes(OBJECT_BYTES)
    const failed = await api(writer, 'PUT', `/object?${q('atomic', 'doc')}`, v2)
    assert.ok(failed.status >= 500, `the put without a quorum fails (HTTP ${failed.status} ${failed.body.toString('utf8').slice(0, 200)})`)
    const here = await api(writer, 'GET', `/object?${q('atomic', 'doc')}`)
    assert.equal(here.status, 200, 'the writer serves the previous version at once')
    assert.equal(sha(here.body), sha(v1))

    // The stalled peers now apply the failed put late; the undo must win everywhere.
    await setFaults(peers(), { push: 'none' })
    await readableEverywhere('atomic', 'doc', v1, 'the previous version to be current on every node after the late pushes')
    await antiEntropyRounds(1)
    await readableEverywhere('atomic', 'doc', v1, 'the previous version to stay current after anti-entropy')
  })

  it('a failed rm leaves the object readable on every node', { timeout: TEST_TIMEOUT_MS }, async () => {
    const writer = cluster().nodes[0] as { dir: string }
    const v = randomBytes(OBJECT_BYTES)
    assert.equal((await api(writer.dir, 'PUT', `/object?${q('atomic', 'rm-me')}`, v)).status, 200)
    await readableEverywhere('atomic', 'rm-me', v, 'the object before rm')
    await setFaults(peers(), { push: 'stall' })
    const rm = await cluster().cli(['rm', 'atomic/rm-me', '--node', writer.dir], { timeoutMs: HTTP_TIMEOUT_MS })
    assertFailedClearly(rm, 'rm without a quorum', /quorum|replicated|writeQuorum/)
    await setFaults(peers(), { push: 'none' })
    await readableEverywhere('atomic', 'rm-me', v, 'the object to stay readable after the failed rm')
    await antiEntropyRounds(1)
    await readableEverywhere('atomic', 'rm-me', v, 'the object to stay readable after anti-entropy')
  })

  it('a failed retention change leaves the policy and every version in place', { timeout: TEST_TIMEOUT_MS }, async () => {
    const writer = cluster().nodes[0] as { dir: string }
    const old = randomBytes(OBJECT_BYTES)
    const cur = randomBytes(OBJECT_BYTES)
    assert.equal((await api(writer.dir, 'PUT', `/object?${q('kept', 'doc')}`, old)).status, 200)
    assert.equal((await api(writer.dir, 'PUT', `/object?${q('kept', 'doc')}`, cur)).status, 200)
    await readableEverywhere('kept', 'doc', cur, 'the current version')
    await setFaults(peers(), { push: 'stall' })
    const set = await cluster().cli(['retention', 'kept', '--keep-versions', '1', '--node', writer.dir], { timeoutMs: HTTP_TIMEOUT_MS })
    assertFailedClearly(set, 'retention without a quorum', /quorum|replicated|writeQuorum/)
    await setFaults(peers(), { push: 'none' })
    await antiEntropyRounds(1)
    for (const dir of dirs()) {
      const policy = await api(dir, 'GET', `/retention?${q('kept')}`)
      assert.deepEqual(policy.json, {}, `no retention policy on ${dir}`)
      const versions = (await api(dir, 'GET', `/versions?${q('kept', 'doc')}`)).json as Array<{ id: string }>
      assert.equal(versions.length, 2, `both versions listed on ${dir}`)
      const first = await api(dir, 'GET', `/object?${q('kept', 'doc')}&version=${encodeURIComponent((versions[1] as { id: string }).id)}`)
      assert.equal(sha(first.body), sha(old), `the old version reads on ${dir}`)
    }
  })

  it('a put through a node that does not know the bucket keeps the retention set elsewhere', { timeout: TEST_TIMEOUT_MS }, async () => {
    const all = dirs()
    const outsider = all[5] as string
    await setFaults([outsider], { push: 'drop', sync: 'off' })
    assert.equal((await api(all[0] as string, 'PUT', `/object?${q('policy', 'a')}`, randomBytes(1024))).status, 200)
    const set = await api(all[0] as string, 'PUT', `/retention?${q('policy')}`, JSON.stringify({ keepVersions: 3 }))
    assert.equal(set.status, 200, set.body.toString('utf8'))
    assert.equal((await api(outsider, 'GET', `/retention?${q('policy')}`)).status, 404, 'the outsider does not know the bucket')
    // It takes pushes again but has not caught up: it writes into the bucket it does not know.
    await setFaults([outsider], { push: 'none', sync: 'off' })
    const put = await api(outsider, 'PUT', `/object?${q('policy', 'b')}`, randomBytes(1024))
    assert.equal(put.status, 200, put.body.toString('utf8'))
    await setFaults([outsider], { sync: 'on' })
    let seen = ''
    await waitFor(async () => {
      const policies = await Promise.all(all.map(async (dir) => (await api(dir, 'GET', `/retention?${q('policy')}`)).json))
      seen = JSON.stringify(policies)
      return policies.every((p) => JSON.stringify(p) === JSON.stringify({ keepVersions: 3 }))
    }, CONVERGE_MS, 'every node, the outsider included, to keep keepVersions 3').catch((err: Error) => { throw new Error(`${err.message}; seen ${seen}`) })
    await antiEntropyRounds(1)
    for (const dir of all) assert.deepEqual((await api(dir, 'GET', `/retention?${q('policy')}`)).json, { keepVersions: 3 }, `retention after anti-entropy on ${dir}`)
  })

  it('a version just written through one node reads at once, by its id, through a node its records have not reached', { timeout: TEST_TIMEOUT_MS }, async () => {
    const all = dirs()
    const outsider = all[5] as string
    await setFaults([outsider], { push: 'drop', sync: 'off' })
    const bytes = randomBytes(OBJECT_BYTES)
    const put = await api(all[0] as string, 'PUT', `/object?${q('fresh', 'doc')}`, bytes)
    assert.equal(put.status, 200, put.body.toString('utf8'))
    const id = (put.json as { id: string }).id
    // The outsider has not received the version: it takes no pushes and runs no anti-entropy.
    const latest = await api(outsider, 'GET', `/object?${q('fresh', 'doc')}`)
    assert.equal(latest.status, 404, `the outsider does not know the key yet (${latest.body.toString('utf8').slice(0, 120)})`)
    // Named by its id, the version is fetched from its writer and read.
    const named = await api(outsider, 'GET', `/object?${q('fresh', 'doc')}&version=${encodeURIComponent(id)}`)
    assert.equal(named.status, 200, named.body.toString('utf8').slice(0, 200))
    assert.equal(sha(named.body), sha(bytes), 'the right bytes')
    // A well-formed id that no node wrote is still a clear 404.
    const unknown = await api(outsider, 'GET', `/object?${q('fresh', 'doc')}&version=${'0'.repeat(12)}-0000-deadbeef`)
    assert.equal(unknown.status, 404)
    assert.match(unknown.body.toString('utf8'), /NO_SUCH_VERSION/)
  })

  it('through S3 too: GET, HEAD and DELETE with a versionId just written through another node answer from the outsider', { timeout: TEST_TIMEOUT_MS }, async () => {
    const all = dirs()
    const outsider = all[5] as string
    const key = parseJsonOutput<S3Key>(await cluster().cli(['key', 'create', 'recall-admin', '--admin', '--json', '--node', all[0] as string]), 'key create')
    const writer = s3Client(await s3Endpoint(cluster(), 'node-1'), key)
    const reader = s3Client(await s3Endpoint(cluster(), 'node-6'), key)
    // The outsider knows the key before it stops taking records.
    await waitFor(async () => await reader.send(new ListBucketsCommand({})).then(() => true, () => false), CONVERGE_MS, 'the access key on node-6')
    await writer.send(new CreateBucketCommand({ Bucket: 'recall' }))
    await writer.send(new PutBucketVersioningCommand({ Bucket: 'recall', VersioningConfiguration: { Status: 'Enabled' } }))
    await setFaults([outsider], { push: 'drop', sync: 'off' })
    try {
      const bytes = randomBytes(OBJECT_BYTES)
      const put = await writer.send(new PutObjectCommand({ Bucket: 'recall', Key: 'doc', Body: bytes }))
      const versionId = put.VersionId as string
      assert.ok(versionId !== undefined && versionId !== 'null', `a version id (${String(versionId)})`)
      assert.equal((await s3Error(reader.send(new GetObjectCommand({ Bucket: 'recall', Key: 'doc' })), 'the current version on node-6')).status, 404, 'node-6 has not received the put')
      const got = await reader.send(new GetObjectCommand({ Bucket: 'recall', Key: 'doc', VersionId: versionId }))
      assert.equal(sha(await bodyBytes(got.Body)), sha(bytes), 'GET by versionId through node-6 answers the right bytes')
      assert.equal(got.VersionId, versionId)
      assert.equal((await reader.send(new HeadObjectCommand({ Bucket: 'recall', Key: 'doc', VersionId: versionId }))).ContentLength, OBJECT_BYTES)
      // Deleting it by id through node-6 removes it, instead of answering success for a version node-6 did not know.
      await reader.send(new DeleteObjectCommand({ Bucket: 'recall', Key: 'doc', VersionId: versionId }))
      await waitFor(async () => (await s3Error(writer.send(new GetObjectCommand({ Bucket: 'recall', Key: 'doc', VersionId: versionId })), 'the removed version').then((e) => e.status === 404, () => false)), CONVERGE_MS, 'the version removed through node-6 to be gone on node-1')
    } finally {
      writer.destroy()
      reader.destroy()
    }
  })

  it('cairn config sets a cluster-wide setting, prints every setting as JSON, and refuses bad ones clearly', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [first, , , , , last] = cluster().nodes
    assert.ok(first !== undefined && last !== undefined)
    assertSucceeded(await cluster().cli(['config', 'set', 'maxClockSkew', '30s', '--node', first.dir]), 'config set maxClockSkew')
    let got: Record<string, unknown> = {}
    await waitFor(async () => {
      got = parseJsonOutput<Record<string, unknown>>(await cluster().cli(['config', 'get', '--node', last.dir, '--json']), 'config get --json')
      return got.maxClockSkew === '30s'
    }, CONVERGE_MS, 'the setting to reach node-6')
    assert.deepEqual(got, { writeQuorum: 1, gossipFanout: 3, maxClockSkew: '30s', orphanGrace: '1h', deadAfter: '3d', happiness: 4, inlineMaxBytes: 16384, target: 0.9999, repairThreshold: 'auto', repairRate: '20MB/s', scrubShare: 0.1, multipartExpiry: '7d', scrubInterval: '7d', auditInterval: '10m', auditMinScore: 0.9, auditMinAudits: 10 }, 'every cluster setting, happiness resolved to k+1 for 3+2, the inline limit to 16 KiB for 6 members')
    assertFailedClearly(await cluster().cli(['config', 'set', 'happiness', '2', '--node', first.dir]), 'happiness below k', /outside 3\.\.5/)
    assertFailedClearly(await cluster().cli(['config', 'set', 'writeQuorom', '2', '--node', first.dir]), 'unknown key', /unknown setting/, /writeQuorum, maxClockSkew, orphanGrace/)
    assertFailedClearly(await cluster().cli(['config', 'set', 'orphanGrace', 'soon', '--node', first.dir]), 'bad duration', /not a valid duration/)
    const table = await cluster().cli(['config', 'get', '--node', first.dir])
    assertSucceeded(table, 'config get')
    assert.match(table.stdout, /maxClockSkew\s+30s\s+5m/)
  })

  it('a hung node (SIGSTOP) stops counting as online within seconds, puts go on without it, and it catches up as soon as it runs again', { timeout: TEST_TIMEOUT_MS }, async () => {
    const hung = cluster().node('node-6')
    const writer = dirs()[0] as string
    const hungLog = join(hung.dir, 'node.log')
    const logBefore = readFileSync(hungLog, 'utf8').length
    const body = randomBytes(OBJECT_BYTES)
    process.kill(hung.pid, 'SIGSTOP')
    const stoppedAt = Date.now()
    try {
      // Its TCP connections stay up; only the missing heartbeat answers tell.
      await waitFor(async () => (await fetchStatus(writer)).nodes.find((n) => n.name === 'node-6')?.online === false, CONVERGE_MS, 'node-1 to see the hung node-6 as not online')
      const put = await api(writer, 'PUT', `/object?${q('atomic', 'while-hung')}`, body)
      assert.equal(put.status, 200, put.body.toString('utf8'))
      const got = await api(dirs()[2] as string, 'GET', `/object?${q('atomic', 'while-hung')}`)
      assert.equal(sha(got.body), sha(body), 'readable through another node while node-6 hangs')
      // Away long enough to count as an absence (wake.ts GAP_MS): a PC that slept.
      const awayMs = GAP_MS + 2000 - (Date.now() - stoppedAt)
      if (awayMs > 0) await new Promise((resolve) => setTimeout(resolve, awayMs))
    } finally {
      process.kill(hung.pid, 'SIGCONT')
    }
    // It notices its absence and catches up at once, not at its next periodic round.
    await waitFor(async () => /resumed after \d+\.\d s away/.test(readFileSync(hungLog, 'utf8').slice(logBefore)), CONVERGE_MS, 'node-6 to notice it was away')
    // Its own replica answers a read of the key's current version: 404 until the record reached it.
    await waitFor(async () => {
      const r = await api(hung.dir, 'GET', `/object?${q('atomic', 'while-hung')}`)
      return r.status === 200 && sha(r.body) === sha(body)
    }, CONVERGE_MS, 'node-6 to hold the version written while it was away')
    await cluster().waitOnline()
  })
})
