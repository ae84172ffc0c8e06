/**
 * Goal: with push gossip (issue 12) a writer in a 12-node cluster of real
 * processes sends fewer push messages per write than the 11 it sent when
 * every write went to every peer, the other nodes forward what was new to
 * them, and every node still lists every write within a bounded wait
 * (gossip, and anti-entropy every 15 s for what gossip missed).
 *
 * 20 small puts (4 KiB, stored inline in the metadata) go through node-1
 * one after the other; the status `replication` counters of node-1 before
 * and after give its own push messages (pushes − forwards) per write.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { api, q } from '../helpers/api.ts'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import type { StatusDocument, TestCluster } from '../helpers/cluster.ts'
import { waitFor } from '../helpers/process.ts'

const NODES = 12
const PUTS = 20
/** Inline objects (the inline limit is 16 KiB). */
const OBJECT_BYTES = 4096
/** Longest wait for every node to list every put: pushes and forwards, then a 15 s anti-entropy round for a miss, on a loaded machine. */
const CONVERGE_MS = 60_000
const TEST_TIMEOUT_MS = 180_000

interface Replication { pushes: number, forwards: number, recordsForwarded: number, pushesReceived: number }
interface GossipStatus extends StatusDocument { replication: Replication }

async function replication (dir: string): Promise<Replication> {
  return ((await fetchStatus(dir)) as GossipStatus).replication
}

describe(`push gossip: ${NODES} nodes`, { timeout: 600_000 }, () => {
  let c: TestCluster | undefined

  before(async () => {
    c = await startCluster({ nodes: NODES, k: 4, m: 2 })
    await c.waitOnline()
  })
  after(async () => { await c?.stop() }, { timeout: 120_000 })

  it(`${PUTS} puts through node-1 reach every node, node-1 sending fewer than ${NODES - 1} push messages per write`, { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(c !== undefined)
    const cluster = c
    const writer = cluster.node('node-1').dir
    const before = await Promise.all(cluster.nodes.map(async (n) => await replication(n.dir)))
    const keys = Array.from({ length: PUTS }, (_, i) => `obj-${String(i).padStart(2, '0')}`)
    for (const key of keys) {
      const res = await api(writer, 'PUT', `/object?${q('gossip', key)}`, randomBytes(OBJECT_BYTES))
      assert.equal(res.status, 200, `put ${key}: ${res.body.toString('utf8').slice(0, 300)}`)
    }
    const started = Date.now()
    let lagging: string[] = []
    await waitFor(async () => {
      const listed = await Promise.all(cluster.nodes.map(async (n) => {
        const res = await api(n.dir, 'GET', `/list?${q('gossip')}&limit=1000`)
        return res.status === 200 ? (res.json as Array<{ key: string }>).length : 0
      }))
      lagging = cluster.nodes.filter((_, i) => (listed[i] as number) < PUTS).map((n) => n.name)
      return lagging.length === 0
    }, CONVERGE_MS, `every node to list ${PUTS} objects (lagging: ${lagging.join(', ')})`)
    const convergedMs = Date.now() - started
    const afterAll = await Promise.all(cluster.nodes.map(async (n) => await replication(n.dir)))
    const w0 = before[0] as Replication
    const w1 = afterAll[0] as Replication
    // Node-1's own messages include its background writes (presence, capacity) over the same time, so this is an upper bound.
    const ownPerWrite = ((w1.pushes - w1.forwards) - (w0.pushes - w0.forwards)) / PUTS
    const forwardsElsewhere = afterAll.slice(1).reduce((n, r, i) => n + r.forwards - (before[i + 1] as Replication).forwards, 0)
    const receivedPerNode = afterAll.slice(1).reduce((n, r, i) => n + r.pushesReceived - (before[i + 1] as Replication).pushesReceived, 0) / (NODES - 1) / PUTS
    console.log(`# ${NODES} nodes: node-1 sent ${ownPerWrite.toFixed(2)} own push messages per write, the others ${forwardsElsewhere} forwards in all, ${receivedPerNode.toFixed(2)} messages received per node per write; every node listed all ${PUTS} ${convergedMs} ms after the last put`)
    assert.ok(ownPerWrite < NODES - 1, `node-1 sent ${ownPerWrite} push messages per write`)
    assert.ok(forwardsElsewhere > 0, 'other nodes forwarded records')
  })
})
