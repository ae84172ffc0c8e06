/**
 * Goal: anti-entropy makes two replicas equal, and the bytes it exchanges
 * grow with their difference, not with the size of the table. The transport
 * here is a direct function call (the wire is covered by integration tests).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetaStore } from '../../src/meta/store.ts'
import { Replicator } from '../../src/meta/replicator.ts'
import type { MetaTransport } from '../../src/meta/replicator.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

function pair (): { a: MetaStore, b: MetaStore, ra: Replicator, rb: Replicator } {
  const a = MetaStore.open(':memory:')
  const b = MetaStore.open(':memory:')
  const stores = { a, b }
  const replicators: Record<string, Replicator> = {}
  const transport = (self: 'a' | 'b'): MetaTransport => ({
    onlinePeers: () => [self === 'a' ? 'b' : 'a'],
    call: async (peer, header, body) => {
      const res = await (replicators[peer] as Replicator).handle(header, body)
      return { header: res.header, body: res.body ?? new Uint8Array(0) }
    }
  })
  replicators.a = new Replicator(stores.a, transport('a'))
  replicators.b = new Replicator(stores.b, transport('b'))
  return { a, b, ra: replicators.a, rb: replicators.b }
}

function versions (count: number, origin: string, clock: HybridClock, prefix: string): MetaRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const hlc = clock.now()
    return { v: 1, table: 'version', pk: `${hlc}-${origin}`, hlc, origin, tombstone: false, body: { bucket: 'data', key: `${prefix}${i}`, size: i, timeMs: 1, nodeName: origin, deleteMarker: false, sha256: '' } }
  })
}

describe('anti-entropy', () => {
  it('reconciles two replicas in both directions', async () => {
    const { a, b, ra } = pair()
    const clock = new HybridClock()
    a.apply(versions(300, 'A', clock, 'a/'))
    b.apply(versions(200, 'B', clock, 'b/'))
    const { pulled, pushed } = await ra.syncWith('b', { push: true })
    assert.equal(pulled, 200)
    assert.equal(pushed, 300)
    assert.deepEqual(a.merkleLeaves(), b.merkleLeaves())
    assert.equal(a.list('data', '', 10_000).length, 500)
    assert.deepEqual(a.list('data', '', 10_000), b.list('data', '', 10_000))
    // A second round finds nothing to do.
    assert.deepEqual(await ra.syncWith('b'), { pulled: 0, pushed: 0 })
  })

  it('pulls only by default: the other side catches up with its own round', async () => {
    const { a, b, ra, rb } = pair()
    const clock = new HybridClock()
    a.apply(versions(30, 'A', clock, 'a/'))
    b.apply(versions(20, 'B', clock, 'b/'))
    assert.deepEqual(await ra.syncWith('b'), { pulled: 20, pushed: 0 })
    assert.equal(b.list('data', '', 100).length, 20)
    assert.deepEqual(await rb.syncWith('a'), { pulled: 30, pushed: 0 })
    assert.deepEqual(a.merkleLeaves(), b.merkleLeaves())
  })

  it('exchanges bytes in proportion to the difference, not the table size', async () => {
    const { a, b, ra } = pair()
    const clock = new HybridClock()
    const shared = versions(20_000, 'S', clock, 'shared/')
    a.apply(shared)
    b.apply(shared)
    b.apply(versions(10, 'B', clock, 'new/'))
    await ra.syncWith('b')
    const bytes = ra.stats.syncBytesSent + ra.stats.syncBytesReceived
    const tableBytes = shared.reduce((n, r) => n + JSON.stringify(r).length, 0)
    console.log(`anti-entropy for 10 new of 20,010 records: ${bytes} bytes exchanged; the table is ${tableBytes} bytes`)
    assert.equal(a.list('data', 'new/', 100).length, 10)
    assert.ok(bytes < tableBytes / 20, `exchanged ${bytes} bytes for a ${tableBytes}-byte table`)
  })

  it('commit pushes to the peer before it resolves', async () => {
    const { a, b, ra } = pair()
    const clock = new HybridClock()
    await ra.commit(versions(3, 'A', clock, 'x/'))
    assert.equal(b.list('data', '', 100).length, 3)
    assert.equal(a.list('data', '', 100).length, 3)
  })
})
