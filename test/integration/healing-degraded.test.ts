/**
 * Writes while a PC is off, and no repair for a short absence (issue 9), on
 * a real 6-node 4+2 cluster (happiness k+1 = 5 by default):
 * - with one node hung (SIGSTOP), puts still succeed: each stores 5 shards on
 *   the 5 nodes that answer and reports the 6th as not placed; status counts
 *   the objects as degraded; once the node answers again the healer places
 *   the missing shards on it and every object becomes healthy; a reader
 *   running through all of it never sees a failed get or a wrong byte;
 * - a node killed for less than deadAfter and restarted moves zero repair
 *   bytes (its shards count as live while it is away).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import { parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'

process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'
process.env.CAIRN_ORPHAN_GRACE_MS = '3000'
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'

const KIB = 1024
/** Longest wait for the cluster to converge (heartbeats, scans, pushes on a loaded machine). */
const SETTLE_MS = 120_000
const TEST_TIMEOUT_MS = 600_000

interface Stored { key: string, sha: string, version: string }

describe('healing: degraded writes and short absences, 6 nodes, 4+2', { timeout: 1_500_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dirs = (): string[] => c.nodes.map((n) => n.dir)

  before(async () => { c = await startCluster({ nodes: 6, k: 4, m: 2 }) })
  after(async () => { await c?.stop() })

  const put = async (dir: string, key: string, bytes: Buffer): Promise<{ id: string, unplacedShards?: number }> => {
    const a = await api(dir, 'PUT', `/object?${q('heal', key)}`, bytes)
    assert.equal(a.status, 200, `put ${key}: ${a.body.toString('utf8').slice(0, 300)}`)
    const info = a.json as { id: string, unplacedShards?: number }
    stored.push({ key, sha: sha(bytes), version: info.id })
    return info
  }

  /** Wait until every listed node counts `total` objects, all healthy. */
  const waitHealthy = async (names: string[], total: number): Promise<void> => {
    await waitFor(async () => {
      const all = await Promise.all(names.map(async (n) => await healStatus(c.node(n).dir)))
      return all.every((s) => s.objects.total === total && s.objects.healthy === total)
    }, SETTLE_MS, `every object healthy on ${names.join(', ')}`)
  }

  it('puts succeed degraded while a node is hung; when it answers again every object becomes healthy and no get fails', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (let i = 0; i < 6; i++) await put(dirs()[i % 6] as string, `before-${i}`, randomBytes((40 + 60 * i) * KIB))
    await waitHealthy(['node-1'], 6)

    const hung = c.node('node-6')
    process.kill(hung.pid, 'SIGSTOP')
    try {
      await waitFor(async () => (await healStatus(c.node('node-1').dir)).nodes.find((n) => n.name === 'node-6')?.online === false, SETTLE_MS, 'node-6 seen offline')
      // A reader goes round every object through the nodes that answer, from now until all is healthy.
      const reads = { ok: 0, failed: [] as string[], wrong: [] as string[] }
      let reading = true
      const reader = (async () => {
        for (let round = 0; reading && round < 10_000; round++) {
          for (const s of [...stored]) {
            const dir = dirs()[round % 5] as string
            const a = await api(dir, 'GET', `/object?${q('heal', s.key)}&version=${s.version}`).catch((err: Error) => ({ status: 0, body: Buffer.from(err.message), json: undefined }))
            if (a.status !== 200) reads.failed.push(`${s.key}: ${a.status} ${a.body.toString('utf8').slice(0, 200)}`)
            else if (sha(a.body) !== s.sha) reads.wrong.push(s.key)
            else reads.ok++
          }
        }
      })()
      try {
        const degraded: string[] = []
        for (let i = 0; i < 8; i++) {
          const info = await put(dirs()[i % 5] as string, `during-${i}`, randomBytes(i === 7 ? 9 * 1024 * KIB : (30 + 50 * i) * KIB))
          assert.ok((info.unplacedShards ?? 0) >= 1, `a put with 5 of 6 nodes online reports the shards it could not place (${JSON.stringify(info)})`)
          degraded.push(`during-${i}`)
        }
        await waitFor(async () => (await healStatus(c.node('node-1').dir)).objects.degraded === degraded.length, SETTLE_MS, 'status counts the degraded objects')
        const health = parseJsonOutput<{ state: string, stripes: Array<{ shards: Array<{ holders: unknown[] }> }> }>(await c.cli(['health', 'heal/during-0', '--node', c.node('node-1').dir, '--json']), 'cairn health')
        assert.equal(health.state, 'degraded')
        assert.ok(health.stripes.every((s) => s.shards.filter((sh) => sh.holders.length === 0).length === 1), 'each stripe has exactly one shard not placed yet')
      } finally {
        process.kill(hung.pid, 'SIGCONT')
      }
      await waitHealthy(c.nodes.map((n) => n.name), stored.length)
      const rebuilt = (await Promise.all(dirs().map(async (d) => (await healStatus(d)).repair.repairedShards))).reduce((a, b) => a + b, 0)
      assert.ok(rebuilt >= 8, `the healers placed the missing shards (${rebuilt} rebuilt; 8 puts of one or more stripes each)`)
      reading = false
      await reader
      assert.deepEqual(reads.wrong, [], 'no get returned wrong bytes')
      assert.deepEqual(reads.failed, [], 'no get failed')
      assert.ok(reads.ok >= stored.length, `the reader read every object at least once (${reads.ok} reads)`)
      const health = parseJsonOutput<{ state: string, stripes: Array<{ shards: Array<{ holders: Array<{ name: string, live: boolean }> }> }> }>(await c.cli(['health', 'heal/during-0', '--node', c.node('node-2').dir, '--json']), 'cairn health')
      assert.equal(health.state, 'healthy')
      assert.ok(health.stripes.every((s) => s.shards.every((sh) => sh.holders.length === 1 && sh.holders[0]?.live === true)), 'every shard has one live holder')
      assert.ok(health.stripes.every((s) => new Set(s.shards.map((sh) => sh.holders[0]?.name)).size === 6), 'the six shards of a stripe are on six distinct nodes')
    } finally {
      try { process.kill(hung.pid, 'SIGCONT') } catch { /* gone */ }
    }
  })

  it('a node away for less than deadAfter moves zero repair bytes', { timeout: TEST_TIMEOUT_MS }, async () => {
    const others = c.nodes.filter((n) => n.name !== 'node-3').map((n) => n.name)
    const repairBytes = async (names: string[]): Promise<number[]> => await Promise.all(names.map(async (n) => {
      const s = await healStatus(c.node(n).dir)
      return s.repair.repairReadBytes + s.repair.repairWrittenBytes
    }))
    const before = await repairBytes(others)
    const scansBefore = await Promise.all(others.map(async (n) => (await healStatus(c.node(n).dir)).repair.lastScanMs))
    await c.kill('node-3')
    await waitFor(async () => (await healStatus(c.node('node-1').dir)).nodes.find((n) => n.name === 'node-3')?.online === false, SETTLE_MS, 'node-3 seen offline')
    const seenOffMs = Date.now()
    // Several healer scans on every node while it is away: its shards are still live.
    await waitFor(async () => {
      const all = await Promise.all(others.map(async (n) => await healStatus(c.node(n).dir)))
      return all.every((s, i) => s.repair.lastScanMs > Math.max(seenOffMs + 3000, scansBefore[i] as number))
    }, SETTLE_MS, 'healer scans while node-3 is away')
    for (const n of others) {
      const s = await healStatus(c.node(n).dir)
      assert.equal(s.objects.healthy, stored.length, `${n} still counts every object healthy while node-3 is away (not dead)`)
      assert.notEqual(s.nodes.find((x) => x.name === 'node-3')?.state, 'dead')
    }
    await c.restart('node-3')
    await c.waitOnline()
    await waitHealthy(c.nodes.map((n) => n.name), stored.length)
    assert.deepEqual(await repairBytes(others), before, 'no node read or wrote a byte for repair')
    assert.deepEqual(await repairBytes(['node-3']), [0])
  })
})
