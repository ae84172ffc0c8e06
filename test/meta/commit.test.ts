/**
 * Goal: a commit is all or nothing as a client sees it, waits for the first
 * `writeQuorum` durable copies rather than the slowest peer, shares one
 * transaction between concurrent commits, and batches pushes by bytes.
 * Replicas are real SQLite stores in one process; the transport is a direct
 * call whose peers can be made to hang or fail (faults between processes are
 * covered by test/integration/commit.test.ts).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { batchByBytes } from '../../src/meta/batch.ts'
import { MetaStore } from '../../src/meta/store.ts'
import { Replicator } from '../../src/meta/replicator.ts'
import type { MetaTransport } from '../../src/meta/replicator.ts'
import type { MetaRecord } from '../../src/meta/types.ts'
import { HybridClock } from '../../src/util/hlc.ts'

/** Longest wait for a commit while one peer hangs (it needs no time from that peer at all). */
const HUNG_PEER_BOUND_MS = 30_000

type Mode = 'ok' | 'hang' | 'fail'

interface Net { stores: Record<string, MetaStore>, replicators: Record<string, Replicator>, mode: Record<string, Mode>, release: () => void }

/** A writer `w` and peers; a hanging peer applies its pushes only when released. */
function cluster (peers: string[], writeQuorum: number, clock: HybridClock): Net {
  const stores: Record<string, MetaStore> = {}
  const replicators: Record<string, Replicator> = {}
  const mode: Record<string, Mode> = {}
  const held: Array<() => void> = []
  const transport = (self: string): MetaTransport => ({
    onlinePeers: () => ['w', ...peers].filter((p) => p !== self),
    memberCount: () => peers.length,
    call: async (peer, header, body) => {
      if (mode[peer] === 'fail') throw new Error(`${peer} refuses`)
      if (mode[peer] === 'hang') await new Promise<void>((resolve) => { held.push(resolve) })
      const res = await (replicators[peer] as Replicator).handle(header, body)
      return { header: res.header, body: res.body ?? new Uint8Array(0) }
    }
  })
  for (const name of ['w', ...peers]) {
    stores[name] = MetaStore.open(':memory:')
    mode[name] = 'ok'
    replicators[name] = new Replicator(stores[name], transport(name), undefined, { writeQuorum: () => writeQuorum, now: () => clock.now(), selfId: name })
  }
  return { stores, replicators, mode, release: () => { for (const r of held.splice(0)) r() } }
}

function version (clock: HybridClock, key: string, origin = 'w'): MetaRecord {
  const hlc = clock.now()
  return { v: 1, table: 'version', pk: `${hlc}-${origin}`, hlc, origin, tombstone: false, body: { bucket: 'b', key, size: 1, timeMs: 1, nodeName: origin, deleteMarker: false, sha256: '' } }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('commit', () => {
  it('resolves once writeQuorum peers hold the records, while another peer hangs', async () => {
    const clock = new HybridClock()
    const net = cluster(['p1', 'p2'], 1, clock)
    net.mode.p2 = 'hang'
    const record = version(clock, 'k')
    // Bounded wait: before issue 8 the commit waited for every peer and never resolved while p2 hung.
    let timer: NodeJS.Timeout | undefined
    const hungTooLong = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`commit did not resolve within ${HUNG_PEER_BOUND_MS} ms while p2 hangs`)) }, HUNG_PEER_BOUND_MS) })
    try {
      await Promise.race([net.replicators.w?.commit([record]), hungTooLong])
    } finally {
      clearTimeout(timer)
    }
    assert.equal(net.stores.p1?.currentVersion('b', 'k'), record.pk, 'the quorum peer holds it when commit resolves')
    assert.equal(net.stores.p2?.currentVersion('b', 'k'), undefined, 'the hung peer has not applied it yet')
    net.release()
    await settle()
    assert.equal(net.stores.p2?.currentVersion('b', 'k'), record.pk, 'the background push completes')
  })

  it('a commit that misses its quorum is undone, and the undo wins where the record arrives late', async () => {
    const clock = new HybridClock()
    const net = cluster(['p1', 'p2'], 1, clock)
    const first = version(clock, 'k')
    await net.replicators.w?.commit([first])
    // Every peer refuses the next commit.
    net.mode.p1 = 'fail'
    net.mode.p2 = 'fail'
    const base = version(clock, 'k')
    const lost: MetaRecord = { ...base, body: { ...(base.body as object), manifest: { k: 1, m: 1, stripeSizeBytes: 1, wrappedKey: '', nonceBase: '', stripes: [{ cipherBytes: 1, shardSizeBytes: 1, shards: [{ hash: 'aa', nodes: ['p1'] }] }] } } as MetaRecord['body'] }
    await assert.rejects(net.replicators.w?.commit([lost]) as Promise<void>, /could not be replicated/)
    assert.equal(net.stores.w?.currentVersion('b', 'k'), first.pk, 'the writer shows the previous version again')
    assert.equal(net.stores.w?.get('version', lost.pk)?.tombstone, true)
    // The failed record reaches p1 late (a stalled push applied after the undo was written) and then the undo by anti-entropy.
    net.mode.p1 = 'ok'
    net.mode.p2 = 'ok'
    net.stores.p1?.apply([lost])
    assert.equal(net.stores.p1?.currentVersion('b', 'k'), lost.pk)
    await net.replicators.p1?.syncWith('w')
    assert.equal(net.stores.p1?.currentVersion('b', 'k'), first.pk, 'the undo wins on the peer')
    assert.equal((net.stores.p1?.get('version', lost.pk)?.body as { manifest?: unknown }).manifest, undefined, 'the undo names no shards to delete')
  })

  it('undoes a changed record to its previous state (a bucket setting)', async () => {
    const clock = new HybridClock()
    const net = cluster(['p1'], 1, clock)
    const bucket: MetaRecord = { v: 1, table: 'bucket', pk: 'b', hlc: clock.now(), origin: 'w', tombstone: false, body: { createdMs: 1, retention: { keepVersions: 5 } } }
    await net.replicators.w?.commit([bucket])
    net.mode.p1 = 'fail'
    const changed: MetaRecord = { ...bucket, hlc: clock.now(), body: { createdMs: 1, retention: { keepVersions: 1 } } }
    await assert.rejects(net.replicators.w?.commit([changed]) as Promise<void>)
    net.stores.p1?.apply([changed])
    net.mode.p1 = 'ok'
    await net.replicators.p1?.syncWith('w')
    for (const name of ['w', 'p1']) assert.deepEqual(net.stores[name]?.get('bucket', 'b')?.body, { createdMs: 1, retention: { keepVersions: 5 } }, name)
  })

  it('a failed put that recreated a deleted bucket does not delete it again over a concurrent put that succeeded elsewhere', async () => {
    const clock = new HybridClock()
    const net = cluster(['p1'], 1, clock)
    const bucket: MetaRecord = { v: 1, table: 'bucket', pk: 'b', hlc: clock.now(), origin: 'w', tombstone: false, body: { createdMs: 1 } }
    await net.replicators.w?.commit([bucket])
    await net.replicators.w?.commit([{ ...bucket, hlc: clock.now(), tombstone: true }])
    // p1 recreates the bucket with an acknowledged put of its own.
    const recreatedElsewhere: MetaRecord = { ...bucket, hlc: clock.now(), origin: 'p1' }
    net.stores.p1?.apply([recreatedElsewhere, version(clock, 'theirs', 'p1')])
    // The writer's own put into the deleted bucket fails its quorum.
    net.mode.p1 = 'fail'
    const recreated: MetaRecord = { ...bucket, hlc: clock.now() }
    await assert.rejects(net.replicators.w?.commit([recreated, version(clock, 'mine')]) as Promise<void>)
    net.mode.p1 = 'ok'
    await net.replicators.p1?.syncWith('w')
    await net.replicators.w?.syncWith('p1')
    for (const name of ['w', 'p1']) assert.equal(net.stores[name]?.get('bucket', 'b')?.tombstone, false, `the bucket is deleted on ${name}`)
  })

  it('a replica on disk fsyncs every commit (synchronous=FULL)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-commit-'))
    try {
      const meta = MetaStore.open(join(dir, 'meta.db'))
      assert.equal(meta.synchronousLevel(), 2)
      meta.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('concurrent commits and pushes share transactions (group commit)', async () => {
    const clock = new HybridClock()
    const net = cluster(['p1'], 1, clock)
    const commits = Array.from({ length: 50 }, (_, i) => net.replicators.w?.commit([version(clock, `k${i}`)]) as Promise<void>)
    await Promise.all(commits)
    const w = net.replicators.w as Replicator
    const p1 = net.replicators.p1 as Replicator
    assert.equal(net.stores.p1?.list('b', '', 100).length, 50)
    assert.ok(w.groupStats.transactions < 10, `writer used ${w.groupStats.transactions} transactions for 50 commits`)
    assert.ok(p1.groupStats.transactions < 10, `peer used ${p1.groupStats.transactions} transactions for 50 pushes`)
  })
})

describe('batchByBytes', () => {
  it('keeps every batch within the byte budget and the order', () => {
    assert.deepEqual(batchByBytes([3, 3, 3], (n) => n, 6), [[3, 3], [3]])
    assert.deepEqual(batchByBytes([10, 1], (n) => n, 4), [[10], [1]])
    assert.deepEqual(batchByBytes([], (n: number) => n, 4), [])
    const sizes = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 500 + 1)
    const batches = batchByBytes(sizes, (n) => n, 2000)
    assert.deepEqual(batches.flat(), sizes)
    assert.ok(batches.every((b) => b.reduce((a, n) => a + n, 0) <= 2000))
  })
})
