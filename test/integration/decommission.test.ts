/**
 * Decommission on a real 7-node 4+2 cluster (issue 10, "machines that
 * leave"). Goal: `cairn node decommission node-7 --wait` moves every shard
 * off node-7 while it is up, and no object is below full redundancy at any
 * moment of the move:
 * - continuous puts and gets run through the other nodes during the move
 *   (slowed by the repairRate setting so it lasts), status sampled all along
 *   counts every object healthy (no degraded, no unavailable), and every get
 *   answers the right bytes;
 * - node-7 is SIGKILLed mid-move and restarted: the move goes on (shards it
 *   cannot serve meanwhile are rebuilt from the others) and still finishes;
 * - afterwards node-7's store holds no shard file, every node shows it
 *   `decommissioned`, new puts never land on it, every shard is on the disk
 *   of each holder the metadata names, and every object reads back
 *   byte-identical;
 * - bad input is refused with a clear error: an unknown name, a member
 *   already decommissioned, and a decommission that would leave fewer than
 *   k+m members.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import type { HealStatus } from '../helpers/api.ts'
import { assertFailedClearly, assertSucceeded } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { listShardFiles } from '../helpers/shards.ts'
import { missingNamedShards } from '../helpers/holders.ts'

process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'
process.env.CAIRN_ORPHAN_GRACE_MS = '10000'
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'

const KIB = 1024
const OBJECTS = 60
const K = 4
const M = 2
const LEAVING = 'node-7'
const STAYING = ['node-1', 'node-2', 'node-3', 'node-4', 'node-5', 'node-6']
/** Bounds: the whole move on a loaded machine, the collection of the old copies, settling before the move. */
const MOVE_LIMIT_MS = 300_000
const COLLECT_LIMIT_MS = 120_000
const SETTLE_MS = 180_000
/** Most put/get rounds of the background load (it also stops when the move is done). */
const MAX_LOAD_ROUNDS = 2_000
const SAMPLE_EVERY_MS = 500

interface Stored { key: string, sha: string, version: string }

describe('decommission: 7 nodes, 4+2, node-7 leaves under load', { timeout: 1_200_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dir = (name: string): string => c.node(name).dir

  const putOne = async (through: string, key: string): Promise<string | undefined> => {
    const bytes = randomBytes(randomInt(50, 400) * KIB)
    const a = await api(dir(through), 'PUT', `/object?${q('decom', key)}`, bytes)
    if (a.status !== 200) return `put ${key} through ${through}: ${a.status} ${a.body.toString('utf8').slice(0, 200)}`
    stored.push({ key, sha: sha(bytes), version: (a.json as { id: string }).id })
    return undefined
  }

  const readAll = async (through: string): Promise<string[]> => {
    const bad: string[] = []
    for (const s of stored) {
      const a = await api(dir(through), 'GET', `/object?${q('decom', s.key)}&version=${s.version}`)
      if (a.status !== 200 || sha(a.body) !== s.sha) bad.push(`${s.key}: ${a.status} ${a.status === 200 ? 'wrong bytes' : a.body.toString('utf8').slice(0, 160)}`)
    }
    return bad
  }

  before(async () => {
    c = await startCluster({ nodes: 7, k: K, m: M })
    for (let i = 0; i < OBJECTS; i++) {
      const problem = await putOne(`node-${(i % 7) + 1}`, `obj-${String(i).padStart(3, '0')}`)
      assert.equal(problem, undefined)
    }
    // Every node counts every object healthy before the move starts.
    await waitFor(async () => (await Promise.all(c.nodes.map(async (n) => await healStatus(n.dir)))).every((s) => s.objects.total === OBJECTS && s.objects.healthy === OBJECTS), SETTLE_MS, 'every object healthy before the decommission')
    assert.ok((await listShardFiles(dir(LEAVING))).length > 0, 'node-7 holds shards before its decommission')
  })
  after(async () => { await c?.stop() })

  it('moves every shard off node-7 while puts and gets go on; every object healthy throughout', { timeout: 900_000 }, async () => {
    const heldBefore = (await listShardFiles(dir(LEAVING))).length
    let moving = true
    const loadProblems: string[] = []
    let loadRounds = 0
    // Continuous puts and gets through the nodes that stay.
    const load = (async () => {
      for (let i = 0; moving && i < MAX_LOAD_ROUNDS; i++) {
        const through = STAYING[i % STAYING.length] as string
        const problem = await putOne(through, `load-${String(i).padStart(4, '0')}`)
        if (problem !== undefined) loadProblems.push(problem)
        const pick = stored[randomInt(stored.length)] as Stored
        const a = await api(dir(STAYING[(i + 3) % STAYING.length] as string), 'GET', `/object?${q('decom', pick.key)}&version=${pick.version}`)
        if (a.status !== 200 || sha(a.body) !== pick.sha) loadProblems.push(`get ${pick.key}: ${a.status} ${a.status === 200 ? 'wrong bytes' : a.body.toString('utf8').slice(0, 160)}`)
        loadRounds++
      }
    })()
    // Status sampled all along the move, on every node in turn.
    const samples: Array<{ node: string, atMs: number, objects: HealStatus['objects'], offline: string[] }> = []
    const sampler = (async () => {
      for (let i = 0; moving && i < MOVE_LIMIT_MS / SAMPLE_EVERY_MS; i++) {
        const name = c.nodes[i % c.nodes.length]?.name as string
        const s = await healStatus(dir(name)).catch(() => undefined)
        // Which members the sampled node saw offline, for the diagnosis of an unhealthy sample.
        if (s !== undefined) samples.push({ node: name, atMs: Date.now(), objects: s.objects, offline: s.nodes.filter((x) => !x.online).map((x) => x.name) })
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS))
      }
    })()
    // Slow enough that the move spans many samples and a restart of the leaving node.
    assertSucceeded(await c.cli(['config', 'set', 'repairRate', '32KiB/s', '--node', dir('node-1')]), 'config set repairRate')
    const started = Date.now()
    const decommission = c.cli(['node', 'decommission', LEAVING, '--node', dir('node-1'), '--wait', '--json'], { timeoutMs: MOVE_LIMIT_MS })
    // Mid-move (some shards moved, some left), the leaving node dies and comes back.
    const progress = async (): Promise<{ shardsLeft: number } | undefined> => ((await api(dir('node-1'), 'GET', '/status')).json as { moves?: { decommission: Array<{ name: string, shardsLeft: number, state: string }> } }).moves?.decommission.find((x) => x.name === LEAVING && x.state === 'decommissioning')
    let first = 0
    await waitFor(async () => { const p = await progress(); if (p !== undefined && first === 0) first = p.shardsLeft; return p !== undefined && p.shardsLeft > 0 && p.shardsLeft < first }, MOVE_LIMIT_MS, 'the move under way')
    const leftAtKill = (await progress())?.shardsLeft ?? 0
    await c.kill(LEAVING)
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    await c.restart(LEAVING)
    const r = await decommission
    const tookMs = Date.now() - started
    moving = false
    await Promise.all([load, sampler])
    assertSucceeded(await c.cli(['config', 'set', 'repairRate', '20MB/s', '--node', dir('node-1')]), 'config set repairRate back')
    console.log(`# node-7 SIGKILLed and restarted with ${leftAtKill} of ${first} shard copies left to move`)
    assertSucceeded(r, 'node decommission --wait')
    assert.equal((JSON.parse(r.stdout) as { state: string }).state, 'decommissioned')
    assert.match(r.stderr, /decommission node-7: \d+ shard\(s\)/, 'progress lines on stderr')
    console.log(`# decommission of ${LEAVING} (${heldBefore} shard files) took ${tookMs} ms; ${loadRounds} put+get rounds meanwhile, ${samples.length} status samples`)
    assert.deepEqual(loadProblems, [], 'every put and get during the move succeeded with the right bytes')
    assert.ok(samples.length >= 3, `status was sampled during the move (${samples.length} samples)`)
    const unhealthy = samples.filter((s) => s.objects.degraded !== 0 || s.objects.unavailable !== 0)
    assert.deepEqual(unhealthy, [], 'no sample saw a degraded or unavailable object')
  })

  it('afterwards node-7 holds no shard, every node shows it decommissioned, new puts avoid it, every object reads back', { timeout: 600_000 }, async () => {
    await waitFor(async () => (await listShardFiles(dir(LEAVING))).length === 0, COLLECT_LIMIT_MS, 'node-7 store empty after the collectors ran')
    for (const n of c.nodes) {
      const r = await c.cli(['status', '--node', n.dir, '--json'])
      assertSucceeded(r, `status of ${n.name}`)
      const s = JSON.parse(r.stdout) as { nodes: Array<{ name: string, state: string, role: string, zone: string, quotaBytes: number }> }
      const leaving = s.nodes.find((x) => x.name === LEAVING)
      assert.equal(leaving?.state, 'decommissioned', `${n.name} sees node-7 decommissioned`)
      assert.equal(typeof leaving?.quotaBytes, 'number', 'the other fields are kept')
    }
    for (let i = 0; i < 6; i++) assert.equal(await putOne(STAYING[i] as string, `after-${i}`), undefined)
    assert.deepEqual(await listShardFiles(dir(LEAVING)), [], 'no put after the decommission stored a shard on node-7')
    const dirs = new Map(c.nodes.map((n) => [n.name, n.dir]))
    for (const through of ['node-1', LEAVING]) assert.deepEqual(missingNamedShards(dir(through), dirs), [], `every shard ${through}'s metadata names is on its holder's disk`)
    assert.deepEqual(await readAll('node-2'), [], 'every object reads back byte-identical')
    assert.deepEqual(await readAll(LEAVING), [], 'and through the decommissioned node too (it is still a member)')
    await waitFor(async () => {
      const s = await healStatus(dir('node-3'))
      return s.objects.total === stored.length && s.objects.healthy === stored.length
    }, SETTLE_MS, 'every object healthy after the decommission')
  })

  it('refuses an unknown name, a member already decommissioned, and leaving fewer than k+m members', { timeout: 120_000 }, async () => {
    assertFailedClearly(await c.cli(['node', 'decommission', 'nope', '--node', dir('node-1')]), 'unknown member', /no member named "nope"/)
    assertFailedClearly(await c.cli(['node', 'decommission', LEAVING, '--node', dir('node-2')]), 'already decommissioned', /already decommissioned/)
    assertFailedClearly(await c.cli(['node', 'decommission', 'node-6', '--node', dir('node-1'), '--wait']), 'too few members left', /would leave 5 member\(s\)/, /add a node first/)
    const s = await healStatus(dir('node-6'))
    assert.equal(s.nodes.find((x) => x.name === 'node-6')?.state, 'online', 'the refused decommission changed nothing')
  })
})
