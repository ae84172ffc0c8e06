/**
 * Goal: nothing leaks and nothing live is lost (issue 8, items 6 and 7), on
 * a real 6-node 4+2 cluster with a grace period of seconds:
 * - the writer SIGKILLed in the middle of a put leaves shards on its peers;
 *   once the grace period has passed no orphan byte remains on any node, and
 *   every other object still has all of its shards and reads back;
 * - two versions that name the same shard file on one node: retention
 *   removes one, the other keeps every shard;
 * - an upload that keeps moving bytes outlasts the server's idle timeout,
 *   one that stalls is cut by it and commits nothing.
 * Expected shards are read from a node's metadata replica (meta.db), so the
 * check is exact: the shard files on each node's disk are the ones that live
 * versions place there, no more and no fewer.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CAIRN_BIN, randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { run, waitFor } from '../helpers/process.ts'
import { listShardFiles, shardHashOf } from '../helpers/shards.ts'

const MIB = 1024 * 1024
const GRACE_MS = 3000
const IDLE_TIMEOUT_MS = 4000
process.env.CAIRN_ORPHAN_GRACE_MS = String(GRACE_MS)
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'
process.env.CAIRN_HTTP_IDLE_TIMEOUT_MS = String(IDLE_TIMEOUT_MS)
/** Limit for collection to settle: two grace periods, scans and anti-entropy on a loaded machine. */
const SETTLE_TIMEOUT_MS = 90_000
const TEST_TIMEOUT_MS = 600_000
/** At most this many versions are written to find two that share a shard file on one node. */
const MAX_SHARING_ATTEMPTS = 12

interface ShardRef { hash: string, nodes: string[] }
interface LiveVersion { id: string, key: string, shards: ShardRef[] }

/** Every live erasure-coded version in the replica of `nodeDir`, with its shard placements. */
function liveVersions (nodeDir: string): LiveVersion[] {
  const db = new DatabaseSync(join(nodeDir, 'meta.db'), { readOnly: true })
  try {
    const rows = db.prepare("SELECT pk, body FROM records WHERE tbl = 'version' AND tombstone = 0").all() as Array<{ pk: string, body: string }>
    return rows.map((r) => {
      const body = JSON.parse(r.body) as { key: string, manifest?: { stripes?: Array<{ shards: ShardRef[] }> } }
      return { id: r.pk, key: body.key, shards: (body.manifest?.stripes ?? []).flatMap((s) => s.shards) }
    })
  } finally {
    db.close()
  }
}

describe('shard collection and long uploads: 6 nodes, 4+2, grace 3 s', { timeout: 3_000_000 }, () => {
  let c: TestCluster
  let work: string
  const dirOf = (name: string): string => c.node(name).dir

  /** node id → node name, from a status document. */
  async function idsToNames (): Promise<Map<string, string>> {
    const status = await c.apiStatus('node-2')
    return new Map(status.nodes.map((n) => [n.id, n.name]))
  }

  /** Shard files each node should hold according to the live versions, and what it holds. */
  async function diskVsManifests (): Promise<{ missing: string[], extra: string[] }> {
    const names = await idsToNames()
    const expected = new Map<string, Set<string>>(c.nodes.map((n) => [n.name, new Set()]))
    for (const v of liveVersions(dirOf('node-2'))) {
      for (const s of v.shards) for (const id of s.nodes) expected.get(names.get(id) ?? '?')?.add(s.hash)
    }
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

  async function orphanBytesEverywhere (): Promise<number> {
    let total = 0
    for (const n of c.nodes) {
      const status = await c.apiStatus(n.name) as unknown as { nodes: Array<{ self: boolean, orphanBytes?: number }> }
      total += status.nodes.find((x) => x.self)?.orphanBytes ?? NaN
    }
    return total
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cairn-it-collect-'))
    c = await startCluster({ nodes: 6, k: 4, m: 2 })
  }, { timeout: 200_000 })

  after(async () => {
    await c?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('a writer SIGKILLed mid-put leaves no orphan bytes after the grace period; every other object keeps all its shards', { timeout: TEST_TIMEOUT_MS }, async () => {
    const small = join(work, 'small')
    const medium = join(work, 'medium')
    await randomFile(small, 5 * MIB)
    await randomFile(medium, 12 * MIB)
    assertSucceeded(await c.cli(['put', small, 'keep/small', '--node', dirOf('node-2'), '--quiet']), 'put small')
    assertSucceeded(await c.cli(['put', medium, 'keep/medium', '--node', dirOf('node-3'), '--quiet']), 'put medium')
    const before = (await Promise.all(c.nodes.map(async (n) => (await listShardFiles(n.dir)).length))).reduce((a, b) => a + b, 0)

    const big = join(work, 'big')
    await randomFile(big, 96 * MIB)
    const putting = run(process.execPath, [CAIRN_BIN, 'put', big, 'lost/big', '--node', dirOf('node-1'), '--quiet'], { timeoutMs: 300_000 })
    // Kill the writer once at least two stripes' worth of its shards have landed on the cluster.
    await waitFor(async () => {
      const now = (await Promise.all(c.nodes.map(async (n) => (await listShardFiles(n.dir)).length))).reduce((a, b) => a + b, 0)
      return now >= before + 12
    }, 120_000, 'shards of the interrupted put to land')
    await c.kill('node-1')
    const outcome = await putting
    assert.notEqual(outcome.code, 0, 'the interrupted put reported success')
    const leftBehind = await diskVsManifests()
    assert.ok(leftBehind.extra.length > 0, 'the interrupted put left no shard behind: the test did not interrupt it')

    await c.restart('node-1')
    await waitFor(async () => {
      const d = await diskVsManifests()
      return d.extra.length === 0 && await orphanBytesEverywhere() === 0
    }, SETTLE_TIMEOUT_MS, 'every orphan shard to be collected and every node to report 0 orphan bytes')
    const settled = await diskVsManifests()
    assert.deepEqual(settled.missing, [], 'a shard of a live version was deleted')
    for (const [key, file] of [['keep/small', small], ['keep/medium', medium]] as const) {
      const out = join(work, `${key.replace('/', '-')}.out`)
      assertSucceeded(await c.cli(['get', key, out, '--node', dirOf('node-4'), '--quiet']), `get ${key}`)
      assert.equal(await sha256File(out), await sha256File(file))
    }
  })

  it('retention removes one of two versions that share a shard file on one node; the other keeps every shard', { timeout: TEST_TIMEOUT_MS }, async () => {
    // 4 MiB + 1 byte: the tail stripe is 17 bytes of ciphertext, so its last
    // data shard is all zeros, the same file for every such version.
    const file = join(work, 'tail')
    await randomFile(file, 4 * MIB + 1)
    const names = await idsToNames()
    let shared: string | undefined
    for (let attempt = 0; attempt < MAX_SHARING_ATTEMPTS && shared === undefined; attempt++) {
      assertSucceeded(await c.cli(['put', file, 'share/k', '--node', dirOf('node-2'), '--quiet']), 'put share/k')
      const versions = liveVersions(dirOf('node-2')).filter((v) => v.key === 'k').sort((a, b) => (a.id < b.id ? 1 : -1))
      const [newest, ...older] = versions
      const mine = new Set((newest?.shards ?? []).flatMap((s) => s.nodes.map((n) => `${n}/${s.hash}`)))
      shared = older.flatMap((v) => v.shards.flatMap((s) => s.nodes.map((n) => `${n}/${s.hash}`))).find((x) => mine.has(x))
    }
    assert.ok(shared !== undefined, `no two of ${MAX_SHARING_ATTEMPTS} versions shared a shard file on one node`)
    const [sharedNode, sharedHash] = shared.split('/') as [string, string]
    assertSucceeded(await c.cli(['retention', 'share', '--keep-versions', '1', '--node', dirOf('node-2')]), 'retention --keep-versions 1')
    await waitFor(async () => {
      const versions = parseJsonOutput<unknown[]>(await c.cli(['versions', 'share/k', '--json', '--node', dirOf('node-2')]), 'versions')
      if (versions.length !== 1) return false
      const d = await diskVsManifests()
      return d.extra.length === 0
    }, SETTLE_TIMEOUT_MS, 'the removed versions\' own shards to be collected')
    const d = await diskVsManifests()
    assert.deepEqual(d.missing, [], 'a shard of the kept version was deleted')
    const holder = c.nodes.find((n) => n.name === names.get(sharedNode))
    assert.ok(holder !== undefined)
    const onDisk = (await listShardFiles(holder.dir)).map(shardHashOf)
    assert.ok(onDisk.includes(sharedHash), 'the shared shard file is gone')
    const out = join(work, 'tail.out')
    assertSucceeded(await c.cli(['get', 'share/k', out, '--node', dirOf('node-5'), '--quiet']), 'get share/k')
    assert.equal(await sha256File(out), await sha256File(file))
  })

  it('an upload that keeps moving bytes outlasts the idle timeout; one that stalls is cut by it and commits nothing', { timeout: TEST_TIMEOUT_MS }, async () => {
    const api = JSON.parse(await readFile(join(dirOf('node-3'), 'api.json'), 'utf8')) as { url: string, token: string }
    const url = new URL(api.url)
    const chunk = Buffer.alloc(16 * 1024, 7)
    const put = async (key: string, chunks: number, stallAfter: number): Promise<{ status: number | string, ms: number }> => {
      const started = Date.now()
      return await new Promise((resolve) => {
        const req = request({ host: url.hostname, port: url.port, method: 'PUT', path: `/api/v1/object?bucket=slow&key=${key}`, headers: { authorization: `Bearer ${api.token}`, 'content-length': chunk.length * chunks } }, (res) => {
          res.resume()
          res.on('end', () => { resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }) })
        })
        req.on('error', (err) => { resolve({ status: (err as NodeJS.ErrnoException).code ?? 'error', ms: Date.now() - started }) })
        let sent = 0
        const tick = setInterval(() => {
          if (sent >= stallAfter) { clearInterval(tick); return }
          req.write(chunk)
          sent++
          if (sent === chunks) { clearInterval(tick); req.end() }
        }, IDLE_TIMEOUT_MS / 8)
      })
    }
    // 24 chunks at one every 0.5 s: about 12 s, three idle timeouts, never idle for one.
    const steady = await put('steady', 24, Infinity)
    assert.equal(steady.status, 200, `the steady upload failed: ${steady.status}`)
    assert.ok(steady.ms > 2 * IDLE_TIMEOUT_MS, `the steady upload took only ${steady.ms} ms`)
    const stalled = await put('stalled', 24, 4)
    assert.notEqual(stalled.status, 200, 'the stalled upload was committed')
    assert.ok(stalled.ms < 60_000, `the stalled upload was cut only after ${stalled.ms} ms`)
    const versions = await c.cli(['versions', 'slow/stalled', '--json', '--node', dirOf('node-1')])
    assert.notEqual(versions.code, 0, 'the stalled upload left a version')
  })
})
