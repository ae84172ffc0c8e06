/**
 * Goal: push gossip keeps the writer's cost per write logarithmic in the
 * number of nodes while every replica still gets every record: the writer
 * pushes a commit to gossipTargetCount peers, each receiver forwards only
 * the records new to it (so at most once per node), anti-entropy delivers
 * the rare record gossip missed, small clusters and gossipFanout 0 push to
 * every peer as before, and the quorum and undo of a commit behave as they
 * did when every write went to every peer. The mesh is in memory
 * (test/helpers/meta-mesh.ts); test/integration/gossip.test.ts runs real
 * processes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { gossipOrder, gossipTargetCount } from '../../src/meta/gossip.ts'
import { MAX_GOSSIP_HOPS } from '../../src/meta/gossip.ts'
import { COMMIT_QUORUM_TIMEOUT_MS, GOSSIP_HEDGE_MS } from '../../src/meta/replicator.ts'
import type { MetaRecord } from '../../src/meta/types.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import { metaMesh, seededRandom } from '../helpers/meta-mesh.ts'
import type { MetaMesh } from '../helpers/meta-mesh.ts'

/** Nodes of the large mesh, and records its writer commits. */
const MESH_NODES = 40
const MESH_RECORDS = 50

function version (clock: HybridClock, key: string, origin = 'n0'): MetaRecord {
  const hlc = clock.now()
  return { v: 1, table: 'version', pk: `${hlc}-${origin}`, hlc, origin, tombstone: false, body: { bucket: 'b', key, size: 1, timeMs: 1, nodeName: origin, deleteMarker: false, sha256: '' } }
}

function holding (mesh: MetaMesh, pk: string): string[] {
  return mesh.names.filter((n) => mesh.stores[n]?.get('version', pk)?.tombstone === false)
}

describe('gossipTargetCount', () => {
  it('is every peer in a small cluster or with gossip off, and logarithmic above', () => {
    for (let n = 0; n <= 5; n++) assert.equal(gossipTargetCount(n, 3), n, `${n} peers`)
    assert.equal(gossipTargetCount(6, 3), 4, 'two peers left out: forwarding pays')
    assert.equal(gossipTargetCount(11, 3), 5)
    assert.equal(gossipTargetCount(39, 3), 7)
    assert.equal(gossipTargetCount(47, 3), 7)
    assert.equal(gossipTargetCount(999, 3), 11)
    assert.equal(gossipTargetCount(47, 0), 47, 'gossipFanout 0: every peer')
    assert.equal(gossipTargetCount(47, 10), 10, 'the setting is a floor')
    assert.equal(gossipTargetCount(5, 10), 5)
  })

  it('orders the preferred peers first, each peer once', () => {
    const order = gossipOrder(['a', 'b', 'c', 'd', 'e'], new Set(['d', 'b']), seededRandom(1))
    assert.deepEqual(new Set(order.slice(0, 2)), new Set(['b', 'd']))
    assert.deepEqual([...order].sort(), ['a', 'b', 'c', 'd', 'e'])
  })
})

describe('push gossip', () => {
  it(`spreads ${MESH_RECORDS} commits over ${MESH_NODES} nodes at a logarithmic cost to the writer, each record forwarded once per node`, async () => {
    const mesh = metaMesh(MESH_NODES, (name) => ({ random: seededRandom(name.length * 7919 + Number(name.slice(1))) }))
    const clock = new HybridClock()
    const writer = mesh.replicators.n0
    assert.ok(writer !== undefined)
    const fanout = gossipTargetCount(MESH_NODES - 1, 3)
    const records: MetaRecord[] = []
    for (let i = 0; i < MESH_RECORDS; i++) {
      const record = version(clock, `k${i}`)
      records.push(record)
      const before = mesh.pushes.length
      await writer.commit([record])
      await mesh.quiesce()
      const own = mesh.pushes.slice(before).filter((p) => p.from === 'n0')
      assert.ok(own.length <= fanout, `the writer sent ${own.length} messages for commit ${i}, fanout ${fanout}`)
    }
    assert.equal(writer.stats.forwards, 0, 'the writer forwards nothing: its own records are never new to it')
    assert.ok(writer.stats.pushes <= MESH_RECORDS * fanout)
    // Each node forwards a record at most once: to at most `fanout` peers, never twice to one.
    const copies = new Map<string, Set<string>>()
    for (const p of mesh.pushes.filter((m) => m.from !== 'n0')) {
      for (const pk of p.pks) {
        const id = `${p.from} ${pk}`
        const targets = copies.get(id) ?? new Set<string>()
        assert.ok(!targets.has(p.to), `${p.from} forwarded ${pk} to ${p.to} twice`)
        targets.add(p.to)
        copies.set(id, targets)
        assert.ok(targets.size <= fanout, `${p.from} forwarded ${pk} to ${targets.size} peers`)
      }
      assert.ok(p.to !== 'n0', 'nobody forwards to the origin')
    }
    const forwards = mesh.names.reduce((n, name) => n + (mesh.replicators[name]?.stats.forwards ?? 0), 0)
    assert.ok(forwards > 0)
    const delivered = records.reduce((n, r) => n + holding(mesh, r.pk).length, 0)
    const pairs = MESH_NODES * MESH_RECORDS
    console.log(`gossip over ${MESH_NODES} nodes: writer ${writer.stats.pushes} messages for ${MESH_RECORDS} commits (fanout ${fanout}), ${forwards} forwards in all, ${pairs - delivered} of ${pairs} node-record pairs left to anti-entropy`)
    // exp(-fanout) of the pairs are expected missed (~0.1%); 1% would mean the forwarding is broken.
    assert.ok(delivered >= pairs * 0.99, `gossip delivered ${delivered} of ${pairs}`)
    // One anti-entropy round of each node with the writer delivers the rest.
    for (const name of mesh.names.slice(1)) await mesh.replicators[name]?.syncWith('n0')
    for (const r of records) assert.equal(holding(mesh, r.pk).length, MESH_NODES, `every node holds ${r.pk}`)
  })

  it('concurrent commits share messages per peer and still spread, each record forwarded once per node', async () => {
    const mesh = metaMesh(MESH_NODES, (name) => ({ random: seededRandom(Number(name.slice(1)) * 31 + 5) }))
    const clock = new HybridClock()
    const fanout = gossipTargetCount(MESH_NODES - 1, 3)
    const records = Array.from({ length: MESH_RECORDS }, (_, i) => version(clock, `c${i}`))
    await Promise.all(records.map(async (r) => { await mesh.replicators.n0?.commit([r]) }))
    await mesh.quiesce()
    const writer = mesh.replicators.n0
    assert.ok(writer !== undefined && writer.stats.pushes <= MESH_RECORDS * fanout, `the writer sent ${writer?.stats.pushes} messages`)
    for (const name of mesh.names.slice(1)) {
      const forwarded = mesh.replicators[name]?.stats.recordsForwarded ?? 0
      assert.ok(forwarded <= MESH_RECORDS * fanout, `${name} forwarded ${forwarded} record copies`)
    }
    const delivered = records.reduce((n, r) => n + holding(mesh, r.pk).length, 0)
    console.log(`concurrent: writer ${writer.stats.pushes} messages for ${MESH_RECORDS} commits, ${MESH_NODES * MESH_RECORDS - delivered} pairs left to anti-entropy`)
    assert.ok(delivered >= MESH_NODES * MESH_RECORDS * 0.99)
  })

  it('a small cluster pushes every write to every peer and forwards nothing, as before gossip', async () => {
    const mesh = metaMesh(5)
    const clock = new HybridClock()
    for (let i = 0; i < 5; i++) await mesh.replicators.n0?.commit([version(clock, `k${i}`)])
    await mesh.quiesce()
    assert.equal(mesh.pushes.filter((p) => p.from === 'n0').length, 4 * 5)
    assert.ok(mesh.pushes.every((p) => p.from === 'n0' && !p.forward))
  })

  it('gossipFanout 0 pushes every write to every peer and nobody forwards', async () => {
    const mesh = metaMesh(20, () => ({ gossipFanout: () => 0 }))
    const clock = new HybridClock()
    const record = version(clock, 'k')
    await mesh.replicators.n0?.commit([record])
    await mesh.quiesce()
    assert.equal(mesh.pushes.length, 19)
    assert.ok(mesh.pushes.every((p) => p.from === 'n0' && !p.forward))
    assert.equal(holding(mesh, record.pk).length, 20)
  })

  it('replaces a chosen peer that fails, so the commit reaches its quorum as when it pushed to every peer', async () => {
    const random = (): number => 0
    const mesh = metaMesh(20, () => ({ random, writeQuorum: () => 3 }))
    const peers = mesh.names.slice(1)
    const fanout = gossipTargetCount(peers.length, 3)
    // The writer's first choices, made to fail: the same order the writer computes with this random source.
    for (const p of gossipOrder(peers, new Set(), random).slice(0, fanout)) mesh.mode[p] = 'fail'
    const record = version(new HybridClock(), 'k')
    await mesh.replicators.n0?.commit([record])
    await mesh.quiesce()
    assert.ok(holding(mesh, record.pk).length >= 4, 'the writer and at least 3 peers hold it')
  })

  it('pushes to more peers while chosen ones hang, so a hung peer does not hold up the commit', async () => {
    const random = (): number => 0
    const mesh = metaMesh(20, () => ({ random }))
    const peers = mesh.names.slice(1)
    const fanout = gossipTargetCount(peers.length, 3)
    for (const p of gossipOrder(peers, new Set(), random).slice(0, fanout)) mesh.mode[p] = 'hang'
    const record = version(new HybridClock(), 'k')
    const t = performance.now()
    await mesh.replicators.n0?.commit([record])
    const ms = performance.now() - t
    assert.ok(ms < COMMIT_QUORUM_TIMEOUT_MS, `the commit took ${ms} ms`)
    assert.ok(ms >= GOSSIP_HEDGE_MS * 0.9, 'it waited one hedge interval for the first choices')
    mesh.release()
    await mesh.quiesce()
  })

  it('a commit that misses its quorum is undone on the peers it reached, and the undo spreads as the record did', async () => {
    const clock = new HybridClock()
    const mesh = metaMesh(20, () => ({ writeQuorum: () => 3, now: () => clock.now() }))
    // Two peers answer; the rest refuse, so 3 acknowledgements never come.
    for (const p of mesh.names.slice(3)) mesh.mode[p] = 'fail'
    const record = version(clock, 'k')
    await assert.rejects(mesh.replicators.n0?.commit([record]) as Promise<void>, /could not be replicated/)
    await mesh.quiesce()
    for (const name of ['n0', 'n1', 'n2']) assert.equal(mesh.stores[name]?.get('version', record.pk)?.tombstone, true, `${name} holds the undo`)
    assert.equal(mesh.replicators.n0?.stats.undoneCommits, 1)
  })

  it('answers a push before forwarding it, forwards with hop + 1, and never beyond MAX_GOSSIP_HOPS', async () => {
    const mesh = metaMesh(20)
    const clock = new HybridClock()
    const receiver = mesh.replicators.n1
    assert.ok(receiver !== undefined)
    const push = async (record: MetaRecord, hop: number): Promise<void> => {
      const body = new TextEncoder().encode(JSON.stringify([record]))
      const res = await receiver.handle({ op: 'push', forward: true, hop }, body, 'n0')
      assert.equal(res.header.applied, 1)
    }
    const first = version(clock, 'a')
    await push(first, 3)
    assert.equal(mesh.pushes.length, 0, 'nothing forwarded before the answer')
    await mesh.quiesce()
    const forwarded = mesh.pushes.filter((p) => p.from === 'n1')
    assert.equal(forwarded.length, gossipTargetCount(19, 3))
    assert.ok(forwarded.every((p) => p.hop === 4 && p.forward && p.to !== 'n0'))
    const before = mesh.pushes.length
    await push(version(clock, 'b'), MAX_GOSSIP_HOPS)
    await mesh.quiesce()
    assert.equal(mesh.pushes.length, before, 'a record at the last hop is not forwarded')
    await receiver.handle({ op: 'push', forward: true, hop: 0 }, new TextEncoder().encode(JSON.stringify([first])), 'n0')
    await mesh.quiesce()
    assert.equal(mesh.pushes.length, before, 'a record already held is not forwarded again')
  })

  it('forwards nothing of a push it refused for clock skew', async () => {
    // n3's clock is an hour behind: the writer's records are too far ahead for it.
    const mesh = metaMesh(20, (name) => ({ random: seededRandom(Number(name.slice(1)) + 1), ...(name === 'n3' ? { wallClock: () => Date.now() - 3_600_000 } : {}) }))
    const record = version(new HybridClock(), 'k')
    await mesh.replicators.n0?.commit([record])
    await mesh.quiesce()
    assert.equal(mesh.stores.n3?.get('version', record.pk), undefined)
    assert.equal(mesh.replicators.n3?.stats.forwards, 0)
    assert.ok(mesh.pushes.some((p) => p.to === 'n3'), 'n3 was offered the record')
  })
})
