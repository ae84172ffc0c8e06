/**
 * Zones on a real 9-node 4+2 cluster of 3 zones of 3 nodes (issue 10):
 * - `cairn node zone`, run on one node, puts every node in its zone, and
 *   every node's status shows it;
 * - objects put through every node (one of several stripes) keep at most
 *   ceil(6/3) = 2 shards of each stripe in any zone, with no placement note;
 * - with each whole zone SIGSTOPped in turn (a floor without power), every
 *   object reads back byte-identical through a node of another zone.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { liveVersions, stripeHolders } from '../helpers/holders.ts'

const K = 4
const M = 2
const NODES = 9
const KIB = 1024
const MIB = 1024 * KIB
const OBJECTS = 15
const ZONES: Record<string, string> = {
  'node-1': 'floor-1', 'node-2': 'floor-1', 'node-3': 'floor-1',
  'node-4': 'floor-2', 'node-5': 'floor-2', 'node-6': 'floor-2',
  'node-7': 'floor-3', 'node-8': 'floor-3', 'node-9': 'floor-3'
}
const FLOORS = ['floor-1', 'floor-2', 'floor-3']
const CONVERGE_MS = 90_000
const TEST_TIMEOUT_MS = 600_000

interface NodeView { name: string, id: string, zone: string, online: boolean }
interface Stored { key: string, sha: string }

describe('zones: 3 zones of 3 nodes, 4+2, a whole zone off', { timeout: 1_800_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dir = (name: string): string => c.node(name).dir
  const nodesSeenBy = async (name: string): Promise<NodeView[]> => ((await fetchStatus(dir(name))) as unknown as { nodes: NodeView[] }).nodes
  const stopped = new Set<number>()
  const resume = (): void => { for (const pid of stopped) { try { process.kill(pid, 'SIGCONT') } catch { /* gone */ } } stopped.clear() }

  before(async () => {
    c = await startCluster({ nodes: NODES, k: K, m: M })
  })
  after(async () => {
    resume()
    await c?.stop()
  })

  it('puts every node in its zone, seen by every node', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const [name, zone] of Object.entries(ZONES)) assertSucceeded(await c.cli(['node', 'zone', name, zone, '--node', dir('node-4')]), `cairn node zone ${name} ${zone}`)
    await waitFor(async () => {
      for (const viewer of c.nodes) {
        const seen = await nodesSeenBy(viewer.name)
        if (seen.length !== NODES || seen.some((v) => v.zone !== ZONES[v.name])) return false
      }
      return true
    }, CONVERGE_MS, 'every node to see every zone')
  })

  it('keeps at most 2 shards of a stripe in any zone', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (let i = 0; i < OBJECTS; i++) {
      // Most objects are one stripe; every fifth spans several.
      const bytes = randomBytes(i % 5 === 4 ? randomInt(5, 10) * MIB : randomInt(20, 400) * KIB)
      const writer = c.nodes[i % NODES]?.name as string
      const a = await api(dir(writer), 'PUT', `/object?${q('zones', `obj-${i}`)}`, bytes)
      assert.equal(a.status, 200, a.body.toString('utf8').slice(0, 300))
      assert.equal((a.json as { placementNotes?: string[] }).placementNotes, undefined, `put through ${writer} could not honour the zones`)
      stored.push({ key: `obj-${i}`, sha: sha(bytes) })
    }
    const nameOf = new Map((await nodesSeenBy('node-1')).map((n) => [n.id, n.name]))
    await waitFor(async () => liveVersions(dir('node-1')) >= OBJECTS, CONVERGE_MS, "node-1's replica to hold every put")
    const stripes = stripeHolders(dir('node-1'))
    assert.ok(stripes.length > OBJECTS, `${stripes.length} stripes, some objects span several`)
    for (const holders of stripes) {
      const names = holders.map((id) => nameOf.get(id) as string)
      assert.equal(new Set(names).size, K + M, `6 distinct holders: ${names.join(',')}`)
      for (const floor of FLOORS) {
        const here = names.filter((n) => ZONES[n] === floor).length
        assert.ok(here <= 2, `${floor} holds ${here} shards of the stripe on ${names.join(',')}`)
      }
    }
    await waitFor(async () => {
      const h = await healStatus(dir('node-5'))
      return h.objects.total === OBJECTS && h.objects.healthy === OBJECTS
    }, CONVERGE_MS, 'every object healthy')
  })

  for (const floor of FLOORS) {
    it(`reads every object with ${floor} stopped`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const down = Object.keys(ZONES).filter((n) => ZONES[n] === floor)
      const reader = Object.keys(ZONES).find((n) => ZONES[n] !== floor) as string
      for (const n of down) { process.kill(c.node(n).pid, 'SIGSTOP'); stopped.add(c.node(n).pid) }
      try {
        await waitFor(async () => (await nodesSeenBy(reader)).filter((n) => n.online).length === NODES - down.length, CONVERGE_MS, `${reader} to see ${floor} offline`)
        for (const o of stored) {
          const got = await api(dir(reader), 'GET', `/object?${q('zones', o.key)}`)
          assert.equal(got.status, 200, `${o.key} through ${reader} with ${floor} down: ${got.body.toString('utf8').slice(0, 200)}`)
          assert.equal(sha(got.body), o.sha, `${o.key} byte-identical with ${floor} down`)
        }
      } finally {
        resume()
      }
      await c.waitOnline()
    })
  }
})
