/**
 * The metadata replica end to end (issue 4): a node that was away catches up
 * by anti-entropy alone, versions and delete markers behave the same on every
 * node, and a node killed in the middle of a stream of puts loses none of the
 * puts it acknowledged.
 *
 * One 6-node cluster serves all three tests, on loopback only. It uses 3+2
 * coding, not 4+2: with 4+2 a 6-node cluster refuses every put (even an
 * inline one) while one node is down, and the first test writes while node-6
 * is down.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { fetchStatus, sha256File, startCluster } from '../helpers/cluster.ts'
import type { StatusDocument, TestCluster } from '../helpers/cluster.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { sleep, waitFor } from '../helpers/process.ts'
import { tableJsonBytes } from '../helpers/meta-size.ts'

const NODE_COUNT = 6
const DATA_SHARDS = 3
const PARITY_SHARDS = 2
/** Small objects are stored inline in the metadata (limit 16 KiB). */
const SMALL_OBJECT_COUNT = 1000
const SMALL_OBJECT_BYTES = 1024
/** Large objects are erasure coded into shards. */
const LARGE_OBJECT_COUNT = 20
const LARGE_OBJECT_BYTES = 2 * 1024 * 1024
/** The acceptance bound: the restarted node lists everything within this time. */
const CONVERGENCE_LIMIT_MS = 30_000
/** Small objects read back through the CLI on the restarted node. */
const SMALL_SAMPLE_COUNT = 50
/** Requests in flight when loading objects over HTTP. */
const SMALL_PUTS_IN_FLIGHT = 24
const LARGE_PUTS_IN_FLIGHT = 4
/** CLI reads in flight (each is a Node process; the machine has 2 cores). */
const CLI_READS_IN_FLIGHT = 4
/** Time limit of one HTTP request made by the test. */
const HTTP_TIMEOUT_MS = 60_000
/** Longest wait for records to reach every other node (pushes and 15 s anti-entropy). */
const REPLICATION_WAIT_MS = 45_000
/** Bounds of the crash loop: it stops at whichever comes first. */
const CRASH_LOOP_MAX_PUTS = 5000
const CRASH_LOOP_MAX_MS = 30_000
const CRASH_PUTS_IN_FLIGHT = 8
/** The kill lands this long after the loop starts, chosen at random in the range. */
const CRASH_DELAY_MIN_MS = 300
const CRASH_DELAY_MAX_MS = 2500
const TEST_TIMEOUT_MS = 240_000
/** Log kept in a failure message. */
const LOG_TAIL_CHARS = 6000

/** The parts of the status document this file reads besides the harness's. */
interface MetaStatus extends StatusDocument {
  meta: { objects: number, versions: number, records: number }
  replication: { syncs: number, syncBytesSent: number, syncBytesReceived: number, recordsPulled: number, recordsSentBySync: number, pushes: number, recordsPushed: number }
}

interface ListedObject { key: string, size: number, version: string, time: string }
interface ListedVersion { id: string, size: number, node: string, current: boolean, deleteMarker: boolean, sha256: string }

/** URL and token of a node's API, read fresh (a restarted node rewrites api.json). */
async function apiOf (dir: string): Promise<{ url: string, token: string }> {
  return JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
}

/** PUT bytes as bucket/key through the node's HTTP API; resolves to the version id. */
async function httpPut (dir: string, bucket: string, key: string, body: Buffer): Promise<string> {
  const api = await apiOf(dir)
  const res = await fetch(`${api.url}/api/v1/object?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/octet-stream' },
    body,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS)
  })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`PUT ${bucket}/${key} on ${dir}: HTTP ${res.status} ${text.slice(0, 300)}`)
  return (JSON.parse(text) as { id: string }).id
}

/** GET bucket/key (current version) through the node's HTTP API. */
async function httpGet (dir: string, bucket: string, key: string): Promise<Buffer> {
  const api = await apiOf(dir)
  const res = await fetch(`${api.url}/api/v1/object?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`, {
    headers: { authorization: `Bearer ${api.token}` },
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS)
  })
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) throw new Error(`GET ${bucket}/${key} on ${dir}: HTTP ${res.status} ${body.toString('utf8').slice(0, 300)}`)
  return body
}

/** Run `fn` over `items` with at most `inFlight` calls at once; rejects with the first failure. */
async function inPool<T> (items: readonly T[], inFlight: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    // Bounded: each round takes one of the items.
    while (next < items.length) {
      const index = next++
      await fn(items[index] as T, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, worker))
}

function sha256 (bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function metaStatus (dir: string): Promise<MetaStatus> {
  return await fetchStatus(dir) as MetaStatus
}


/** PRAGMA integrity_check of a replica, opened read-only. */
function integrityCheck (dbPath: string): string {
  const db = new DatabaseSync(dbPath, { readOnly: true })
  try {
    return (db.prepare('PRAGMA integrity_check').all() as Array<Record<string, string>>).map((r) => Object.values(r).join(' ')).join('; ')
  } finally {
    db.close()
  }
}

/** Run `wait`; on failure add the tail of the node's log to the error, for diagnosis. */
async function withLogOnFailure (dir: string, wait: Promise<void>): Promise<void> {
  try {
    await wait
  } catch (err) {
    const log = await readFile(join(dir, 'node.log'), 'utf8').catch(() => '(no node.log)')
    throw new Error(`${(err as Error).message}\n--- tail of ${dir}/node.log ---\n${log.slice(-LOG_TAIL_CHARS)}`)
  }
}

function formatKiB (bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

describe('metadata replica: convergence, versions, crash safety', { timeout: 900_000 }, () => {
  let c: TestCluster | undefined
  let work: string | undefined

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cairn-it-meta-'))
    c = await startCluster({ nodes: NODE_COUNT, k: DATA_SHARDS, m: PARITY_SHARDS })
  })

  after(async () => {
    await c?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  }, { timeout: 120_000 })

  it('a node killed while 1,000 small and 20 large objects are written lists and reads them all within 30 s of its restart', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(c !== undefined && work !== undefined)
    const cluster = c
    const writers = cluster.nodes.filter((n) => n.name !== 'node-6')
    const absent = cluster.node('node-6')
    const bucket = 'converge'

    await cluster.kill('node-6')
    await cluster.waitOnline(NODE_COUNT - 1, writers.map((n) => n.name))

    const expected = new Map<string, { sha: string, size: number }>()
    const smallKeys = Array.from({ length: SMALL_OBJECT_COUNT }, (_, i) => `small-${String(i).padStart(4, '0')}`)
    const loadStarted = Date.now()
    await inPool(smallKeys, SMALL_PUTS_IN_FLIGHT, async (key, i) => {
      const body = randomBytes(SMALL_OBJECT_BYTES)
      await httpPut((writers[i % writers.length] as { dir: string }).dir, bucket, key, body)
      expected.set(key, { sha: sha256(body), size: body.length })
    })
    const smallLoadedMs = Date.now() - loadStarted
    const largeKeys = Array.from({ length: LARGE_OBJECT_COUNT }, (_, i) => `large-${String(i).padStart(2, '0')}`)
    await inPool(largeKeys, LARGE_PUTS_IN_FLIGHT, async (key, i) => {
      const body = randomBytes(LARGE_OBJECT_BYTES)
      await httpPut((writers[i % writers.length] as { dir: string }).dir, bucket, key, body)
      expected.set(key, { sha: sha256(body), size: body.length })
    })
    console.log(`# loaded ${SMALL_OBJECT_COUNT} small objects in ${smallLoadedMs} ms and ${LARGE_OBJECT_COUNT} large ones in ${Date.now() - loadStarted - smallLoadedMs} ms while node-6 was down`)

    const peersBefore = await Promise.all(writers.map(async (n) => (await metaStatus(n.dir)).replication))
    const restartStarted = Date.now()
    await cluster.restart('node-6')
    const upMs = Date.now() - restartStarted
    let listed: ListedObject[] = []
    await withLogOnFailure(absent.dir, waitFor(async () => {
      listed = parseJsonOutput<ListedObject[]>(await cluster.cli(['ls', bucket, '--json', '--node', absent.dir], { timeoutMs: 20_000 }), 'ls on node-6')
      return listed.length >= expected.size
    }, Math.max(1, CONVERGENCE_LIMIT_MS - upMs), `node-6 to list ${expected.size} objects (it lists ${listed.length})`))
    const convergedMs = Date.now() - restartStarted
    console.log(`# node-6 answered status ${upMs} ms after its restart began and listed all ${expected.size} objects after ${convergedMs} ms`)
    assert.ok(convergedMs <= CONVERGENCE_LIMIT_MS, `node-6 converged in ${convergedMs} ms`)
    assert.deepEqual(listed.map((o) => o.key).sort(), [...expected.keys()].sort(), 'node-6 lists exactly the written keys')
    for (const o of listed) assert.equal(o.size, expected.get(o.key)?.size, `size of ${o.key} on node-6`)
    const reference = parseJsonOutput<ListedObject[]>(await cluster.cli(['ls', bucket, '--json', '--node', cluster.node('node-1').dir]), 'ls on node-1')
    assert.deepEqual(listed, reference, 'node-6 lists the same versions as node-1')

    // Reading a large object needs connections to its shard holders; a get
    // does not dial a holder that is not connected yet, so wait for the mesh.
    await withLogOnFailure(absent.dir, cluster.waitOnline())
    console.log(`# node-6 saw all ${NODE_COUNT} nodes online ${Date.now() - restartStarted} ms after its restart began`)
    const sample = [...largeKeys, ...smallKeys.filter((_, i) => i % Math.floor(SMALL_OBJECT_COUNT / SMALL_SAMPLE_COUNT) === 0)]
    assert.ok(sample.length >= LARGE_OBJECT_COUNT + SMALL_SAMPLE_COUNT)
    await inPool(sample, CLI_READS_IN_FLIGHT, async (key) => {
      const out = join(work as string, `node-6-${key}`)
      assertSucceeded(await cluster.cli(['get', `${bucket}/${key}`, out, '--node', absent.dir, '--quiet']), `get ${key} on node-6`)
      assert.equal(await sha256File(out), expected.get(key)?.sha, `content of ${key} read on node-6`)
      await rm(out, { force: true })
    })

    // Anti-entropy traffic: node-6 counts the rounds it started; the peers
    // count the rounds they started (with node-6 on connect, and with each
    // other every 15 s, which costs a root hash when nothing differs).
    const own = (await metaStatus(absent.dir)).replication
    const peersAfter = await Promise.all(writers.map(async (n) => (await metaStatus(n.dir)).replication))
    const ownBytes = own.syncBytesSent + own.syncBytesReceived
    const peerBytes = peersAfter.reduce((sum, r, i) => sum + r.syncBytesSent + r.syncBytesReceived - ((peersBefore[i]?.syncBytesSent ?? 0) + (peersBefore[i]?.syncBytesReceived ?? 0)), 0)
    const table = tableJsonBytes(join(absent.dir, 'meta.db'))
    const dbFiles = await Promise.all(['meta.db', 'meta.db-wal'].map(async (f) => await stat(join(absent.dir, f)).then((s) => s.size, () => 0)))
    console.log('# anti-entropy of node-6 after its absence')
    console.log(`#   whole table: ${table.records} records, ${formatKiB(table.jsonBytes)} as JSON (meta.db + wal on disk: ${formatKiB(dbFiles.reduce((a, b) => a + b, 0))})`)
    console.log(`#   rounds node-6 started: ${own.syncs}, pulled ${own.recordsPulled} records, sent ${formatKiB(own.syncBytesSent)} + received ${formatKiB(own.syncBytesReceived)} = ${formatKiB(ownBytes)} (${(ownBytes / table.jsonBytes).toFixed(2)} x the table)`)
    console.log(`#   rounds the 5 peers started meanwhile: ${formatKiB(peerBytes)} (${(peerBytes / table.jsonBytes).toFixed(2)} x the table); both directions together ${((ownBytes + peerBytes) / table.jsonBytes).toFixed(2)} x the table`)
    assert.ok(own.recordsPulled + peersAfter.reduce((s, r, i) => s + r.recordsSentBySync - (peersBefore[i]?.recordsSentBySync ?? 0), 0) >= expected.size, 'the missing records reached node-6 by anti-entropy')
  })

  it('versions and delete markers: put, put, rm hides the key but keeps 3 versions everywhere; retention keeps 2', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(c !== undefined && work !== undefined)
    const cluster = c
    const dirOf = (name: string): string => cluster.node(name).dir
    const bucket = 'history'
    const path = `${bucket}/doc`
    await cluster.waitOnline()
    // v1 is erasure coded, v2 inline, so both data paths go through versioning.
    const v1 = join(work, 'v1.bin')
    const v2 = join(work, 'v2.bin')
    const v4 = join(work, 'v4.bin')
    await writeFile(v1, randomBytes(100 * 1024))
    await writeFile(v2, randomBytes(1024))
    await writeFile(v4, randomBytes(2048))
    const put1 = parseJsonOutput<ListedVersion>(await cluster.cli(['put', v1, path, '--node', dirOf('node-1'), '--json']), 'put v1')
    const put2 = parseJsonOutput<ListedVersion>(await cluster.cli(['put', v2, path, '--node', dirOf('node-2'), '--json']), 'put v2')
    const removed = parseJsonOutput<ListedVersion>(await cluster.cli(['rm', path, '--node', dirOf('node-3'), '--json']), 'rm')
    assert.equal(removed.deleteMarker, true, 'rm answers with a delete marker')
    assert.ok(put1.id < put2.id && put2.id < removed.id, `version ids increase: ${put1.id} ${put2.id} ${removed.id}`)

    for (const n of cluster.nodes) {
      let versions: ListedVersion[] = []
      await waitFor(async () => {
        versions = parseJsonOutput<ListedVersion[]>(await cluster.cli(['versions', path, '--json', '--node', n.dir]), `versions on ${n.name}`)
        return versions.length === 3
      }, REPLICATION_WAIT_MS, `${n.name} to list 3 versions of ${path} (it lists ${versions.length})`)
      assert.deepEqual(versions.map((v) => v.id), [removed.id, put2.id, put1.id], `${n.name} lists the versions newest first`)
      assert.deepEqual(versions.map((v) => [v.current, v.deleteMarker]), [[true, true], [false, false], [false, false]], `${n.name}: the delete marker is current`)
      const listed = parseJsonOutput<ListedObject[]>(await cluster.cli(['ls', bucket, '--json', '--node', n.dir]), `ls on ${n.name}`)
      assert.deepEqual(listed.map((o) => o.key), [], `${n.name} no longer lists the deleted key`)
    }
    assertFailedClearly(await cluster.cli(['get', path, join(work, 'gone'), '--node', dirOf('node-4')]), 'get of a deleted key', /does not exist|delete marker/)

    const old = join(work, 'v1.out')
    assertSucceeded(await cluster.cli(['get', path, old, '--version', put1.id, '--node', dirOf('node-5'), '--quiet']), 'get --version v1')
    assert.equal(await sha256File(old), await sha256File(v1), 'get --version returns the bytes of v1')

    assertSucceeded(await cluster.cli(['retention', bucket, '--keep-versions', '2', '--node', dirOf('node-1')]), 'retention --keep-versions 2')
    const put4 = parseJsonOutput<ListedVersion>(await cluster.cli(['put', v4, path, '--node', dirOf('node-4'), '--json']), 'put v4')
    for (const n of cluster.nodes) {
      let versions: ListedVersion[] = []
      await waitFor(async () => {
        versions = parseJsonOutput<ListedVersion[]>(await cluster.cli(['versions', path, '--json', '--node', n.dir]), `versions on ${n.name}`)
        return versions.length === 2
      }, REPLICATION_WAIT_MS, `${n.name} to keep 2 versions of ${path} (it lists ${versions.map((v) => v.id).join(', ')})`)
      assert.deepEqual(versions.map((v) => v.id), [put4.id, removed.id], `${n.name} keeps the newest 2 versions`)
      assert.equal(versions[0]?.current, true)
    }
    const now = join(work, 'v4.out')
    assertSucceeded(await cluster.cli(['get', path, now, '--node', dirOf('node-6'), '--quiet']), 'get after retention')
    assert.equal(await sha256File(now), await sha256File(v4), 'the current version is v4')
    assertFailedClearly(await cluster.cli(['get', path, join(work, 'expired'), '--version', put1.id, '--node', dirOf('node-2')]), 'get of an expired version', /does not exist/)
  })

  it('a node SIGKILLed twice in the middle of a stream of puts keeps every put it acknowledged', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(c !== undefined)
    const cluster = c
    const victim = cluster.node('node-2')
    const bucket = 'crash'
    await cluster.waitOnline()
    const acknowledged = new Map<string, { sha: string, version: string }>()
    const failures: string[] = []
    const failuresWhileUp: string[] = []

    for (let round = 1; round <= 2; round++) {
      const ackedEarlier = acknowledged.size
      const delayMs = CRASH_DELAY_MIN_MS + Math.floor(Math.random() * (CRASH_DELAY_MAX_MS - CRASH_DELAY_MIN_MS))
      const started = Date.now()
      let dead = false
      let killing = false
      let seq = 0
      const worker = async (): Promise<void> => {
        // Bounded by CRASH_LOOP_MAX_PUTS and CRASH_LOOP_MAX_MS.
        while (!dead && seq < CRASH_LOOP_MAX_PUTS && Date.now() - started < CRASH_LOOP_MAX_MS) {
          const key = `r${round}-${String(seq++).padStart(5, '0')}`
          const body = randomBytes(256 + Math.floor(Math.random() * 768))
          try {
            const version = await httpPut(victim.dir, bucket, key, body)
            acknowledged.set(key, { sha: sha256(body), version })
          } catch (err) {
            failures.push(`${key}: ${(err as Error).message}`)
            if (!killing) failuresWhileUp.push(`${key}: ${(err as Error).message}`)
            if (dead) return
            await sleep(50)
          }
        }
      }
      const loop = Promise.all(Array.from({ length: CRASH_PUTS_IN_FLIGHT }, worker))
      await sleep(delayMs)
      const before = acknowledged.size - ackedEarlier
      killing = true
      await cluster.kill('node-2')
      dead = true
      await loop
      console.log(`# round ${round}: SIGKILL ${delayMs} ms into the loop; ${before} puts acknowledged before the kill, ${acknowledged.size - ackedEarlier} in the round, ${seq} attempted`)
      assert.ok(acknowledged.size > ackedEarlier, 'some puts were acknowledged before the kill')
      await cluster.restart('node-2')
      // The next round writes through node-2 with 3+2 coding: it needs 5 nodes online.
      await withLogOnFailure(victim.dir, cluster.waitOnline())
    }
    assert.deepEqual(failuresWhileUp, [], 'no put failed while node-2 was up')

    const status = parseJsonOutput<MetaStatus>(await cluster.cli(['status', '--json', '--node', victim.dir]), 'status of node-2 after two crashes')
    assert.ok(status.meta.objects >= acknowledged.size, `node-2 counts ${status.meta.objects} objects`)
    assert.equal(integrityCheck(join(victim.dir, 'meta.db')), 'ok', 'node-2\'s SQLite replica passes integrity_check')

    for (const n of cluster.nodes) {
      let listed: ListedObject[] = []
      let missing: string[] = []
      await waitFor(async () => {
        listed = parseJsonOutput<ListedObject[]>(await cluster.cli(['ls', bucket, '--json', '--node', n.dir]), `ls on ${n.name}`)
        const versions = new Map(listed.map((o) => [o.key, o.version]))
        missing = [...acknowledged].filter(([key, a]) => versions.get(key) !== a.version).map(([key]) => key)
        return missing.length === 0
      }, REPLICATION_WAIT_MS, `${n.name} to list every acknowledged put (missing ${missing.length}: ${missing.slice(0, 5).join(', ')})`)
    }
    const readers = [victim, ...cluster.nodes.filter((n) => n.name !== victim.name)]
    await inPool([...acknowledged], SMALL_PUTS_IN_FLIGHT, async ([key, a], i) => {
      // Every key is read on node-2 and on one other node in turn.
      for (const reader of [victim, readers[1 + (i % (readers.length - 1))] as { dir: string, name: string }]) {
        assert.equal(sha256(await httpGet(reader.dir, bucket, key)), a.sha, `content of ${key} read on ${reader.name}`)
      }
    })
    console.log(`# ${acknowledged.size} acknowledged puts all listed on the 6 nodes and readable on node-2 and a peer; ${failures.length} puts failed around the kills`)
  })
})
