/**
 * Goal: a replica that missed a few writes on a large table catches up by
 * comparing the sub-leaves of the leaves that differ, so it is sent the
 * summaries of the few records that differ, not of every record in those
 * leaves (at a million records a leaf holds ~244); and it still catches up
 * with a peer that predates sub-leaves. The records here are picked to fall
 * in a handful of leaves, so a leaf holds as many as at a million records
 * without building a million. The transport is a direct function call.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MERKLE_SUB_LEAVES, MetaStore, leafOf, subLeafOf } from '../../src/meta/store.ts'
import { Replicator, SUB_LEAF_MIN_RECORDS } from '../../src/meta/replicator.ts'
import type { MetaTransport } from '../../src/meta/replicator.ts'
import { CairnError } from '../../src/util/errors.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

interface Op { messages: number, bytesReceived: number }

function pair (options: { oldPeer?: boolean, readRecords?: number } = {}): { a: MetaStore, b: MetaStore, rb: Replicator, ops: Map<string, Op> } {
  const a = MetaStore.open(':memory:')
  const b = MetaStore.open(':memory:')
  const ops = new Map<string, Op>()
  const replicators: Record<string, Replicator> = {}
  const transport = (self: 'a' | 'b'): MetaTransport => ({
    onlinePeers: () => [self === 'a' ? 'b' : 'a'],
    call: async (peer, header, body) => {
      const op = String(header.op)
      // A peer from before sub-leaves answers as the replicator does to any unknown operation.
      if (options.oldPeer === true && peer === 'a' && op.startsWith('sub')) throw new CairnError('PROTOCOL', `unknown replication operation ${op}`, 'upgrade Cairn on both nodes')
      const res = await (replicators[peer] as Replicator).handle(header, body)
      const out = res.body ?? new Uint8Array(0)
      const o = ops.get(op) ?? { messages: 0, bytesReceived: 0 }
      o.messages++
      o.bytesReceived += out.length
      ops.set(op, o)
      return { header: res.header, body: out }
    }
  })
  const replicatorOptions = options.readRecords === undefined ? {} : { subLeafReadRecords: options.readRecords }
  replicators.a = new Replicator(a, transport('a'), undefined, replicatorOptions)
  replicators.b = new Replicator(b, transport('b'), undefined, replicatorOptions)
  return { a, b, rb: replicators.b, ops }
}

/** `count` version records whose keys fall in `leaves` (round robin), in HLC order. */
function recordsIn (leaves: readonly number[], count: number, origin: string, clock: HybridClock): MetaRecord[] {
  const out: MetaRecord[] = []
  const want = new Set(leaves)
  for (let n = 0; out.length < count && n < 50_000_000; n++) {
    const hlc = clock.now()
    const pk = `${hlc}-${origin}`
    if (!want.has(leafOf('version', pk))) continue
    out.push({ v: 1, table: 'version', pk, hlc, origin, tombstone: false, body: { bucket: 'data', key: `k/${out.length}`, size: out.length, timeMs: 1, nodeName: origin, deleteMarker: false, sha256: '' } })
  }
  assert.equal(out.length, count, 'found enough keys in the chosen leaves')
  return out
}

const LEAVES = [7, 100, 2049]

describe('anti-entropy by sub-leaves', () => {
  it('sends the summaries of the records that differ, not of their whole leaves, and ends in step both ways', async () => {
    const { a, b, rb, ops } = pair()
    const clock = new HybridClock()
    const shared = recordsIn(LEAVES, 3 * 250, 'A', clock) // ~250 per leaf, as at a million records
    a.apply(shared)
    b.apply(shared)
    const onlyA = recordsIn(LEAVES, 4, 'A', clock)
    const onlyB = recordsIn(LEAVES, 2, 'B', clock)
    a.apply(onlyA)
    b.apply(onlyB)
    // One shared record rewritten on A (a newer head): B must take it.
    const rewritten = { ...(shared[5] as MetaRecord), hlc: clock.now(), tombstone: true }
    a.apply([rewritten])

    const { pulled, pushed } = await rb.syncWith('a', { push: true })
    assert.equal(pulled, onlyA.length + 1)
    assert.equal(pushed, onlyB.length)
    assert.deepEqual(b.merkleLeaves(), a.merkleLeaves())
    assert.equal(b.get('version', rewritten.pk)?.tombstone, true)
    for (const r of onlyA) assert.notEqual(b.get('version', r.pk), undefined)
    for (const r of onlyB) assert.notEqual(a.get('version', r.pk), undefined)

    // The leaves were compared a level lower: no whole-leaf summaries were asked for.
    assert.equal(ops.get('summaries'), undefined)
    assert.equal(ops.get('subhashes')?.messages, 1)
    // At most one sub-leaf per differing record (7 here), ~4 records each:
    // far below the ~750 summaries of the three leaves.
    const summaryBytes = ops.get('subsummaries')?.bytesReceived ?? 0
    const wholeLeaves = Buffer.byteLength(JSON.stringify(a.summaries(LEAVES)))
    assert.ok(summaryBytes > 0 && summaryBytes * 10 < wholeLeaves, `${summaryBytes} bytes of sub-leaf summaries against ${wholeLeaves} for the whole leaves`)
    assert.deepEqual(await rb.syncWith('a'), { pulled: 0, pushed: 0 })
  })

  it('gives a peer a whole leaf it lacks, and takes in pieces what one answer may not read at once', async () => {
    // B holds 3 leaves of ~100 records that A lacks entirely, and A one of its own;
    // each sub-leaf answer may read only 120 records, so every request is cut.
    const { a, b, rb, ops } = pair({ readRecords: 120 })
    const clock = new HybridClock()
    const onlyB = recordsIn(LEAVES, 300, 'B', clock)
    b.apply(onlyB)
    const shared = recordsIn([3000], 80, 'A', clock)
    a.apply(shared)
    b.apply(shared)
    const onlyA = recordsIn([3000], 3, 'A', clock)
    a.apply(onlyA)
    assert.deepEqual(await rb.syncWith('a', { push: true }), { pulled: 3, pushed: 300 })
    assert.deepEqual(b.merkleLeaves(), a.merkleLeaves())
    // 4 leaves of 80–100 records at 120 a request: one leaf per subhashes answer.
    assert.equal(ops.get('subhashes')?.messages, 4)
    assert.ok((ops.get('subsummaries')?.messages ?? 0) >= 4)
    assert.deepEqual(await rb.syncWith('a'), { pulled: 0, pushed: 0 })
  })

  it('summarises a leaf whole when this replica holds few records in it (a new node)', async () => {
    const { a, b, rb, ops } = pair()
    const clock = new HybridClock()
    a.apply(recordsIn(LEAVES, 3 * (SUB_LEAF_MIN_RECORDS + 20), 'A', clock))
    assert.equal((await rb.syncWith('a')).pulled, 3 * (SUB_LEAF_MIN_RECORDS + 20))
    assert.deepEqual(b.merkleLeaves(), a.merkleLeaves())
    assert.equal(ops.get('subhashes'), undefined)
    assert.ok((ops.get('summaries')?.messages ?? 0) >= 1)
  })

  it('catches up with a peer that does not know sub-leaves, through whole-leaf summaries', async () => {
    const { a, b, rb, ops } = pair({ oldPeer: true })
    const clock = new HybridClock()
    const shared = recordsIn(LEAVES, 3 * 100, 'A', clock)
    a.apply(shared)
    b.apply(shared)
    const onlyA = recordsIn(LEAVES, 5, 'A', clock)
    a.apply(onlyA)
    assert.deepEqual(await rb.syncWith('a'), { pulled: 5, pushed: 0 })
    assert.deepEqual(b.merkleLeaves(), a.merkleLeaves())
    assert.ok((ops.get('summaries')?.messages ?? 0) >= 1)
  })

  it('splits a leaf into sub-leaves whose hashes combine to the leaf hash, the same on every replica', () => {
    const a = MetaStore.open(':memory:')
    const clock = new HybridClock()
    a.apply(recordsIn([7], 200, 'A', clock))
    const parts = a.leafParts(7)
    assert.equal(parts.hashes.length, MERKLE_SUB_LEAVES)
    const combined = Buffer.alloc(32)
    for (const h of parts.hashes) for (let i = 0; i < 32; i++) combined[i] = (combined[i] as number) ^ (h[i] as number)
    assert.deepEqual(combined, a.merkleLeaves()[7])
    assert.equal(parts.summaries.flat().length, 200)
    for (const [sub, summaries] of parts.summaries.entries()) for (const s of summaries) assert.equal(subLeafOf(s.table, s.pk), sub)
    // 200 records spread over most of the 64 sub-leaves.
    assert.ok(parts.summaries.filter((s) => s.length > 0).length > 40)
  })

  it('keeps the leaf hashes it serves in step with every write, and with a batch that was rolled back', () => {
    const a = MetaStore.open(':memory:')
    const fresh = (): string => a.merkleLeaves().map((b) => b.toString('hex')).join('')
    const clock = new HybridClock()
    a.apply(recordsIn([7], 3, 'A', clock))
    const before = fresh()
    assert.equal(fresh(), before, 'read twice, the same')
    const [next] = recordsIn([7], 1, 'A', clock)
    a.apply([next as MetaRecord])
    assert.notEqual(fresh(), before, 'a new record changes leaf 7')
    const afterNew = fresh()
    // A batch with a malformed record is refused whole: nothing of it stays.
    const [good] = recordsIn([100], 1, 'A', clock)
    assert.throws(() => a.apply([good as MetaRecord, { ...(good as MetaRecord), pk: '', hlc: 'not a clock' }]))
    assert.equal(fresh(), afterNew)
    assert.equal(a.get('version', (good as MetaRecord).pk), undefined)
  })

  it('refuses malformed sub-leaf requests with a protocol error', async () => {
    const a = MetaStore.open(':memory:')
    const r = new Replicator(a, { onlinePeers: () => [], call: async () => { throw new Error('unused') } })
    await assert.rejects(r.handle({ op: 'subhashes', leaves: [4096] }, new Uint8Array(0)), { code: 'PROTOCOL' })
    await assert.rejects(r.handle({ op: 'subhashes', leaves: 'x' }, new Uint8Array(0)), { code: 'PROTOCOL' })
    await assert.rejects(r.handle({ op: 'subsummaries', parts: [[1, MERKLE_SUB_LEAVES]] }, new Uint8Array(0)), { code: 'PROTOCOL' })
    await assert.rejects(r.handle({ op: 'subsummaries', parts: [[1]] }, new Uint8Array(0)), { code: 'PROTOCOL' })
    // Each leaf or sub-leaf once and in order: a request cannot make a node read one leaf many times.
    await assert.rejects(r.handle({ op: 'subhashes', leaves: [5, 5] }, new Uint8Array(0)), { code: 'PROTOCOL' })
    await assert.rejects(r.handle({ op: 'subsummaries', parts: [[2, 0], [1, 0], [2, 1]] }, new Uint8Array(0)), { code: 'PROTOCOL' })
    const ok = await r.handle({ op: 'subsummaries', parts: [[1, 0]] }, new Uint8Array(0))
    assert.equal(ok.header.served, 1)
  })
})
