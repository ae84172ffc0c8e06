/**
 * Goal: the metadata merge is a CRDT. mergeRecords is commutative,
 * associative and idempotent, and replicas that receive the same records in
 * any order, any number of times, end in identical states (same Merkle
 * leaves, same listings, same version lists).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { mergeRecords } from '../../src/meta/crdt.ts'
import { MetaStore } from '../../src/meta/store.ts'
import { formatHlc } from '../../src/util/hlc.ts'
import type { BucketBody, MetaRecord, VersionBody } from '../../src/meta/types.ts'

const hlcArb = fc.record({ wallMs: fc.integer({ min: 1, max: 2000 }), counter: fc.integer({ min: 0, max: 3 }) }).map(formatHlc)
const originArb = fc.constantFrom('nodeA', 'nodeB', 'nodeC')

/** A bucket record for one fixed pk with random clock, origin, tombstone and body. */
const bucketRecordArb = fc.record({ hlc: hlcArb, origin: originArb, tombstone: fc.boolean(), keep: fc.integer({ min: 1, max: 3 }) })
  .map(({ hlc, origin, tombstone, keep }): MetaRecord => ({ v: 1, table: 'bucket', pk: 'photos', hlc, origin, tombstone, body: { createdMs: 1, retention: { keepVersions: keep } } }))

describe('mergeRecords', () => {
  it('is commutative', () => {
    fc.assert(fc.property(bucketRecordArb, bucketRecordArb, (a, b) => {
      assert.deepEqual(mergeRecords(a, b), mergeRecords(b, a))
    }), { numRuns: 500 })
  })
  it('is associative', () => {
    fc.assert(fc.property(bucketRecordArb, bucketRecordArb, bucketRecordArb, (a, b, c) => {
      assert.deepEqual(mergeRecords(mergeRecords(a, b), c), mergeRecords(a, mergeRecords(b, c)))
    }), { numRuns: 500 })
  })
  it('is idempotent', () => {
    fc.assert(fc.property(bucketRecordArb, bucketRecordArb, (a, b) => {
      assert.deepEqual(mergeRecords(a, a), a)
      const ab = mergeRecords(a, b)
      assert.deepEqual(mergeRecords(ab, b), ab)
    }), { numRuns: 500 })
  })
})

/** A random metadata operation: a version write or tombstone, a bucket write, a roster write. */
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('version' as const), key: fc.constantFrom('a', 'b', 'c/d'), hlc: hlcArb, origin: originArb, tombstone: fc.boolean(), deleteMarker: fc.boolean(), size: fc.nat(1000) }),
  fc.record({ kind: fc.constant('bucket' as const), key: fc.constant('photos'), hlc: hlcArb, origin: originArb, tombstone: fc.boolean(), deleteMarker: fc.constant(false), size: fc.nat(3) })
)

interface Op { kind: 'version' | 'bucket', key: string, hlc: string, origin: string, tombstone: boolean, deleteMarker: boolean, size: number }

function toRecord (op: Op): MetaRecord {
  if (op.kind === 'bucket') return { v: 1, table: 'bucket', pk: 'photos', hlc: op.hlc, origin: op.origin, tombstone: op.tombstone, body: { createdMs: op.size } }
  const body: VersionBody = { bucket: 'photos', key: op.key, size: op.size, timeMs: 1, nodeName: op.origin, deleteMarker: op.deleteMarker, sha256: '' }
  // The version id carries the writer's clock; a tombstone of it comes later.
  return { v: 1, table: 'version', pk: `${op.hlc}-${op.origin}`, hlc: op.hlc, origin: op.origin, tombstone: op.tombstone, body }
}

function snapshot (store: MetaStore): unknown {
  return {
    leaves: store.merkleLeaves().map((b) => b.toString('hex')).join(''),
    list: store.list('photos', '', 100),
    versions: ['a', 'b', 'c/d'].map((k) => store.versions('photos', k)),
    bucket: store.get('bucket', 'photos')
  }
}

describe('replicas', () => {
  it('converge whatever the delivery order and duplication', () => {
    fc.assert(fc.property(
      fc.array(opArb, { minLength: 1, maxLength: 30 }),
      fc.array(fc.tuple(fc.nat(2), fc.nat(1000)), { minLength: 1, maxLength: 90 }),
      (ops, deliveries) => {
        const records = ops.map(toRecord)
        const replicas = [MetaStore.open(':memory:'), MetaStore.open(':memory:'), MetaStore.open(':memory:')]
        try {
          // Random partial deliveries first (reordered, duplicated), then every record to every replica in a shuffled order.
          for (const [replica, pick] of deliveries) replicas[replica]?.apply([records[pick % records.length] as MetaRecord])
          replicas.forEach((r, i) => {
            const order = records.map((rec, j) => ({ rec, w: (j * 7919 + i * 104729) % 1009 })).sort((x, y) => x.w - y.w).map((x) => x.rec)
            r.apply(order)
            r.apply(order.slice(0, 3))
          })
          const [s0, s1, s2] = replicas.map(snapshot)
          assert.deepEqual(s1, s0)
          assert.deepEqual(s2, s0)
        } finally {
          for (const r of replicas) r.close()
        }
      }), { numRuns: 150 })
  })
})

describe('MetaStore.apply', () => {
  // Goal: the replica orders a stored record by its head and reads its body
  // only on a tie; whatever the pair, it keeps exactly mergeRecords' winner
  // and reports a change only when the winner is the incoming record.
  it('keeps the mergeRecords winner of a stored and an incoming record, copies included', () => {
    // Half the pairs tie on the head, so the body decides.
    const pairArb = fc.tuple(bucketRecordArb, bucketRecordArb, fc.boolean()).map(([a, other, tie]): [MetaRecord, MetaRecord] => [a, tie ? { ...a, body: other.body } : other])
    fc.assert(fc.property(pairArb, fc.boolean(), ([a, b], reorder) => {
      const store = MetaStore.open(':memory:')
      try {
        // A copy of `a` whose body keys come in another order: the same value, other text.
        const stored = reorder ? { ...a, body: { retention: (a.body as BucketBody).retention, createdMs: 1 } } : a
        store.apply([stored])
        const winner = mergeRecords(a, b)
        const changed = store.apply([b])
        assert.deepEqual(store.get('bucket', 'photos'), winner)
        assert.equal(changed.length, winner === b ? 1 : 0)
        assert.deepEqual(store.apply([{ ...winner }]), [], 'a copy of the stored record changes nothing')
      } finally {
        store.close()
      }
    }), { numRuns: 300 })
  })
})
