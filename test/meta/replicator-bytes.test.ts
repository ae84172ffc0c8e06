/**
 * Goal: anti-entropy never sends a message larger than the RPC frame limit,
 * whatever the size of the records or of the difference: a replica catches up
 * on a table whose differences are many frames large. The transport here is a
 * direct function call that refuses, like the wire, any body over
 * MAX_BODY_BYTES.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_BODY_BYTES } from '../../src/net/constants.ts'
import { batchByBytes } from '../../src/meta/batch.ts'
import { MetaStore, leafOf } from '../../src/meta/store.ts'
import { Replicator } from '../../src/meta/replicator.ts'
import type { MetaTransport } from '../../src/meta/replicator.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

/** Bodies of every message, to check none crossed the frame limit. */
interface Wire { largestBody: number, messages: number }

function pair (): { a: MetaStore, b: MetaStore, ra: Replicator, wire: Wire } {
  const a = MetaStore.open(':memory:')
  const b = MetaStore.open(':memory:')
  const wire: Wire = { largestBody: 0, messages: 0 }
  const replicators: Record<string, Replicator> = {}
  const frame = (body: Uint8Array, what: string): void => {
    wire.largestBody = Math.max(wire.largestBody, body.length)
    wire.messages++
    if (body.length > MAX_BODY_BYTES) throw new Error(`${what} body of ${body.length} bytes exceeds the ${MAX_BODY_BYTES}-byte frame limit`)
  }
  const transport = (self: 'a' | 'b'): MetaTransport => ({
    onlinePeers: () => [self === 'a' ? 'b' : 'a'],
    call: async (peer, header, body) => {
      frame(body, `${String(header.op)} request`)
      const res = await (replicators[peer] as Replicator).handle(header, body)
      const out = res.body ?? new Uint8Array(0)
      frame(out, `${String(header.op)} answer`)
      return { header: res.header, body: out }
    }
  })
  replicators.a = new Replicator(a, transport('a'))
  replicators.b = new Replicator(b, transport('b'))
  return { a, b, ra: replicators.a, wire }
}

function bigVersions (count: number, bodyBytes: number, clock: HybridClock): MetaRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const hlc = clock.now()
    return { v: 1, table: 'version', pk: `${hlc}-big`, hlc, origin: 'B', tombstone: false, body: { bucket: 'data', key: `big/${i}`, size: i, timeMs: 1, nodeName: 'x'.repeat(bodyBytes), deleteMarker: false, sha256: '' } }
  })
}

describe('anti-entropy in frames', () => {
  it('catches up on large records whose difference is many frames, in both directions', async () => {
    const { a, b, ra, wire } = pair()
    const clock = new HybridClock()
    // 48 records of ~900 KiB: ~43 MiB of difference each way.
    b.apply(bigVersions(48, 900 * 1024, clock))
    a.apply(bigVersions(48, 900 * 1024, clock).map((r) => ({ ...r, pk: `${r.pk}-a`, origin: 'A' })))
    const { pulled, pushed } = await ra.syncWith('b', { push: true })
    assert.equal(pulled, 48)
    assert.equal(pushed, 48)
    assert.deepEqual(a.merkleLeaves(), b.merkleLeaves())
    assert.equal(a.list('data', 'big/', 1000).length, 48)
    assert.ok(wire.largestBody <= MAX_BODY_BYTES)
    assert.deepEqual(await ra.syncWith('b'), { pulled: 0, pushed: 0 })
  })

  it('catches up when the summaries of one request of leaves exceed a frame', async () => {
    const { a, b, ra, wire } = pair()
    // 9,000 records with 2,000-byte keys, all in the first 512 leaves (one
    // summaries request): ~18 MiB of summaries and of fetch keys.
    const records: MetaRecord[] = []
    const clock = new HybridClock()
    for (let n = 0; records.length < 9000; n++) {
      const pk = `${String(n).padStart(8, '0')}-${'k'.repeat(1990)}`
      if (leafOf('bucket', pk) >= 512) continue
      records.push({ v: 1, table: 'bucket', pk, hlc: clock.now(), origin: 'B', tombstone: false, body: { createdMs: 1 } })
    }
    b.apply(records)
    const { pulled } = await ra.syncWith('b')
    assert.equal(pulled, 9000)
    assert.deepEqual(a.merkleLeaves(), b.merkleLeaves())
    assert.ok(wire.largestBody <= MAX_BODY_BYTES)
  })
})

describe('batchByBytes', () => {
  it('keeps order, fills batches up to the budget, and sends an item over it alone', () => {
    assert.deepEqual(batchByBytes([3, 3, 3, 5, 1], (n) => n, 6), [[3, 3], [3], [5, 1]])
    assert.deepEqual(batchByBytes([], (n: number) => n, 6), [])
    // Records are limited on write well below the budget; an older one that is not travels alone.
    assert.deepEqual(batchByBytes([1, 7, 1], (n) => n, 6), [[1], [7], [1]])
  })
})
