/**
 * The hybrid pool on a real 7-node 4+2 cluster (issue 10, first part):
 * - `cairn node role` and `cairn node zone`, run on PCs, make node-1 and
 *   node-2 anchors and put the nodes in 3 zones; every node's status shows
 *   it; unknown names and roles are refused with a clear line;
 * - status capacity matches the quotas (raw, usable at 4+2);
 * - after puts through every node, every stripe has k = 4 shards on the
 *   anchors (2 each), its other shards on distinct PCs, and at most
 *   ceil(6/3) = 2 shards in any zone; every object is healthy (health counts
 *   the two shards an anchor holds as two);
 * - with every PC SIGSTOPped, every object reads back byte-identical through
 *   an anchor; with a whole zone stopped, every object still reads;
 * - with every PC full, capacity at full redundancy drops to what the PCs
 *   have left and a put says the pool is full and names the full nodes.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { liveVersions, stripeHolders } from '../helpers/holders.ts'

process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'

const K = 4
const M = 2
const NODES = 7
const OBJECTS = 24
const KIB = 1024
const ANCHORS = ['node-1', 'node-2']
const PCS = ['node-3', 'node-4', 'node-5', 'node-6', 'node-7']
/** Zones: each anchor in a zone with one PC, three PCs in the third zone. */
const ZONES: Record<string, string> = { 'node-1': 'floor-1', 'node-3': 'floor-1', 'node-2': 'floor-2', 'node-4': 'floor-2', 'node-5': 'floor-3', 'node-6': 'floor-3', 'node-7': 'floor-3' }
const CONVERGE_MS = 60_000
const TEST_TIMEOUT_MS = 600_000

interface NodeView { name: string, id: string, role: string, zone: string, online: boolean, quotaBytes: number, state: string }
interface Status { nodes: NodeView[], capacity: { rawBytes: number, usableBytes: number, freeAtFullRedundancyBytes: number } }
interface Stored { key: string, sha: string }

describe('hybrid pool: anchors, zones and capacity, 7 nodes, 4+2', { timeout: 1_500_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dir = (name: string): string => c.node(name).dir
  const status = async (name: string): Promise<Status> => await fetchStatus(dir(name)) as unknown as Status
  const stopped = new Set<number>()
  const hang = (names: readonly string[]): void => { for (const n of names) { process.kill(c.node(n).pid, 'SIGSTOP'); stopped.add(c.node(n).pid) } }
  const resume = (): void => { for (const pid of stopped) { try { process.kill(pid, 'SIGCONT') } catch { /* gone */ } } stopped.clear() }

  before(async () => {
    c = await startCluster({ nodes: NODES, k: K, m: M })
  })
  after(async () => {
    resume()
    await c?.stop()
  })

  it('sets roles and zones from a PC, seen by every node; refuses bad input', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const [i, name] of ANCHORS.entries()) {
      const r = await c.cli(['node', 'role', name, 'anchor', '--node', dir(PCS[i] as string), '--json'])
      assertSucceeded(r, `cairn node role ${name} anchor`)
      assert.equal(parseJsonOutput<{ role: string }>(r, 'node role').role, 'anchor')
    }
    for (const [name, zone] of Object.entries(ZONES)) assertSucceeded(await c.cli(['node', 'zone', name, zone, '--node', dir('node-5')]), `cairn node zone ${name} ${zone}`)
    assertFailedClearly(await c.cli(['node', 'role', 'node-99', 'anchor', '--node', dir('node-3')]), 'role of an unknown node', /no member named "node-99"/, /node-1/)
    assertFailedClearly(await c.cli(['node', 'role', 'node-3', 'server', '--node', dir('node-3')]), 'unknown role', /unknown role "server"/, /anchor, pc/)
    // Every node's status shows every role and zone.
    await waitFor(async () => {
      for (const n of c.nodes) {
        const s = await status(n.name)
        for (const v of s.nodes) {
          if (v.role !== (ANCHORS.includes(v.name) ? 'anchor' : 'pc') || v.zone !== ZONES[v.name]) return false
        }
      }
      return true
    }, CONVERGE_MS, 'every node to see both anchors and all zones')
    const human = await c.cli(['status', '--node', dir('node-7')])
    assertSucceeded(human, 'cairn status')
    assert.match(human.stdout, /node-1\s+anchor\s+floor-1/)
    assert.match(human.stdout, /capacity: .* raw, .* usable after 4\+2 coding, .* more can be written at full redundancy/)
  })

  it('reports capacity from the quotas', { timeout: TEST_TIMEOUT_MS }, async () => {
    const s = await status('node-1')
    const raw = s.nodes.reduce((sum, n) => sum + n.quotaBytes, 0)
    assert.equal(s.capacity.rawBytes, raw)
    assert.equal(s.capacity.usableBytes, Math.floor(raw * K / (K + M)))
    // Nothing stored yet: anchors take 2 shards per stripe each, PCs one; free is bounded by the emptier side and at most usable.
    assert.ok(s.capacity.freeAtFullRedundancyBytes > 0 && s.capacity.freeAtFullRedundancyBytes <= s.capacity.usableBytes, JSON.stringify(s.capacity))
  })

  it('places k shards of every stripe on the anchors, evenly, within the zone limit', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (let i = 0; i < OBJECTS; i++) {
      const bytes = randomBytes(randomInt(20, 200) * KIB)
      const writer = c.nodes[i % NODES]?.name as string
      const a = await api(dir(writer), 'PUT', `/object?${q('hybrid', `obj-${i}`)}`, bytes)
      assert.equal(a.status, 200, a.body.toString('utf8').slice(0, 300))
      assert.equal((a.json as { placementNotes?: string[] }).placementNotes, undefined, `put through ${writer} broke a placement rule`)
      stored.push({ key: `obj-${i}`, sha: sha(bytes) })
    }
    const s = await status('node-1')
    const byId = new Map(s.nodes.map((n) => [n.id, n]))
    await waitFor(async () => liveVersions(dir('node-1')) >= OBJECTS, CONVERGE_MS, "node-1's replica to hold every put")
    const stripes = stripeHolders(dir('node-1'))
    assert.ok(stripes.length >= OBJECTS)
    for (const holders of stripes) {
      assert.equal(holders.length, K + M)
      const names = holders.map((id) => byId.get(id)?.name as string)
      assert.equal(names.filter((n) => n === 'node-1').length, 2, `node-1 holds 2 shards of ${names.join(',')}`)
      assert.equal(names.filter((n) => n === 'node-2').length, 2, `node-2 holds 2 shards of ${names.join(',')}`)
      const pcs = names.filter((n) => PCS.includes(n))
      assert.equal(new Set(pcs).size, pcs.length, 'no PC holds two shards of a stripe')
      const perZone = new Map<string, number>()
      for (const n of names) perZone.set(ZONES[n] as string, (perZone.get(ZONES[n] as string) ?? 0) + 1)
      for (const [zone, count] of perZone) assert.ok(count <= 2, `zone ${zone} holds ${count} shards of ${names.join(',')}`)
    }
    await waitFor(async () => {
      const h = await healStatus(dir('node-3'))
      return h.objects.total === OBJECTS && h.objects.healthy === OBJECTS
    }, CONVERGE_MS, 'every object healthy (an anchor\'s two shards count as two)')
    const after = await status('node-1')
    assert.ok(after.capacity.freeAtFullRedundancyBytes < s.capacity.rawBytes)
  })

  it('reads every object through an anchor with every PC stopped', { timeout: TEST_TIMEOUT_MS }, async () => {
    hang(PCS)
    try {
      await waitFor(async () => (await status('node-1')).nodes.filter((n) => n.online).length === ANCHORS.length, CONVERGE_MS, 'node-1 to see every PC offline')
      for (const [i, o] of stored.entries()) {
        const anchor = ANCHORS[i % ANCHORS.length] as string
        const got = await api(dir(anchor), 'GET', `/object?${q('hybrid', o.key)}`)
        assert.equal(got.status, 200, `${o.key} through ${anchor}: ${got.body.toString('utf8').slice(0, 200)}`)
        assert.equal(sha(got.body), o.sha, `${o.key} byte-identical through ${anchor}`)
      }
    } finally {
      resume()
    }
    await c.waitOnline()
  })

  it('reads every object with a whole zone stopped', { timeout: TEST_TIMEOUT_MS }, async () => {
    const zone = Object.keys(ZONES).filter((n) => ZONES[n] === 'floor-1')
    hang(zone)
    try {
      await waitFor(async () => (await status('node-5')).nodes.filter((n) => n.online).length === NODES - zone.length, CONVERGE_MS, 'node-5 to see floor-1 offline')
      for (const o of stored) {
        const got = await api(dir('node-5'), 'GET', `/object?${q('hybrid', o.key)}`)
        assert.equal(got.status, 200, `${o.key} with floor-1 down: ${got.body.toString('utf8').slice(0, 200)}`)
        assert.equal(sha(got.body), o.sha)
      }
    } finally {
      resume()
    }
    await c.waitOnline()
  })

  it('refuses a put when nodes are full, naming them', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Every PC restarted with a quota below what it already holds: only the 4
    // shards on anchors can find a node, a put needs 5 (happiness k+1).
    const full = PCS
    for (const name of full) {
      await c.kill(name)
      const path = join(dir(name), 'node.json')
      const config = JSON.parse(await readFile(path, 'utf8')) as { quotaBytes: number }
      config.quotaBytes = 1024
      await writeFile(path, JSON.stringify(config, null, 2))
      await c.restart(name)
    }
    await c.waitOnline()
    // Capacity sees the new quotas (refreshed every 10 s from each node): the
    // PCs bound it, at most k × their 1 KiB (two PCs in the anchors' zones hold nothing).
    const bytes = randomBytes(100 * KIB)
    await waitFor(async () => (await status('node-1')).capacity.rawBytes === 2 * 10 * 1024 ** 3 + PCS.length * 1024, CONVERGE_MS, 'capacity to count the new quotas')
    const capacity = (await status('node-1')).capacity
    assert.ok(capacity.freeAtFullRedundancyBytes <= K * 1024, JSON.stringify(capacity))
    const a = await api(dir('node-3'), 'PUT', `/object?${q('hybrid', 'too-much')}`, bytes)
    assert.equal(a.status, 507, a.body.toString('utf8').slice(0, 300))
    const message = (a.json as { error: { code: string, message: string } }).error
    assert.equal(message.code, 'QUOTA_EXCEEDED')
    assert.match(message.message, /the pool is full/)
    for (const name of full) assert.match(message.message, new RegExp(name))
  })
})
