/**
 * Goal: the shard collector deletes exactly the shards no live version can
 * need, and only after they have been orphans for a whole grace period: a
 * put in progress, a version whose record has not arrived yet, a writer that
 * cannot be asked, and a shard shared with a live version are all kept.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { classifyShard, ShardCollector } from '../../src/heal/collector.ts'
import type { OwnerFacts } from '../../src/heal/collector.ts'
import type { ShardOwner, VersionState } from '../../src/meta/store.ts'

const GRACE_MS = 1000
const SELF = 'self-node'
const PEER = 'peer-node'

function owner (versionId: string, local: VersionState, storedMs: number, extra: Partial<OwnerFacts> = {}): OwnerFacts {
  return { versionId, writer: PEER, storedMs, local, ...extra }
}

describe('classifyShard', () => {
  it('a shard with one live owner is live, even when its other owner is tombstoned (a shared shard file)', () => {
    assert.equal(classifyShard([owner('v1', 'tombstone', 0), owner('v2', 'live', 0)], 10_000, GRACE_MS), 'live')
  })
  it('a shard whose every owner is tombstoned is an orphan', () => {
    assert.equal(classifyShard([owner('v1', 'tombstone', 0)], 10_000, GRACE_MS), 'orphan')
  })
  it('an unknown version younger than the grace period is kept (a put in progress)', () => {
    assert.equal(classifyShard([owner('v1', 'unknown', 9_500)], 10_000, GRACE_MS), 'young')
  })
  it('an old unknown version is kept while its writer cannot be asked', () => {
    assert.equal(classifyShard([owner('v1', 'unknown', 0)], 10_000, GRACE_MS), 'kept')
    assert.equal(classifyShard([owner('v1', 'unknown', 0, { writerSays: 'unreachable' })], 10_000, GRACE_MS), 'kept')
  })
  it('an old unknown version that its writer does not know is an orphan; one its writer has live is live', () => {
    assert.equal(classifyShard([owner('v1', 'unknown', 0, { writerSays: 'unknown' })], 10_000, GRACE_MS), 'orphan')
    assert.equal(classifyShard([owner('v1', 'unknown', 0, { writerSays: 'live' })], 10_000, GRACE_MS), 'live')
  })
  it('a shard without owners (written before owners were recorded) is never an orphan', () => {
    assert.equal(classifyShard([], 10_000, GRACE_MS), 'untagged')
  })
})

/** An in-memory node: shards with sizes, owners, a replica's version states, a writer's answers. */
function fakeNode (): {
  shards: Map<string, number>
  owners: Map<string, ShardOwner[]>
  states: Map<string, VersionState>
  writer: { reachable: boolean, states: Map<string, VersionState> }
  now: { ms: number }
  collector: ShardCollector
} {
  const shards = new Map<string, number>()
  const owners = new Map<string, ShardOwner[]>()
  const states = new Map<string, VersionState>()
  const writer = { reachable: true, states: new Map<string, VersionState>() }
  const now = { ms: 100_000 }
  const collector = new ShardCollector({
    selfId: SELF,
    listShards: async function * () { yield * [...shards.keys()] },
    sizeOf: async (hash) => shards.get(hash) ?? null,
    owners: (hash) => owners.get(hash) ?? [],
    versionState: (id) => states.get(id) ?? 'unknown',
    askWriter: async (_peer, ids) => {
      if (!writer.reachable) throw new Error('unreachable')
      return Object.fromEntries(ids.map((id) => [id, writer.states.get(id) ?? 'unknown']))
    },
    deleteShard: async (hash) => { owners.delete(hash); return shards.delete(hash) },
    graceMs: () => GRACE_MS,
    nowMs: () => now.ms
  })
  return { shards, owners, states, writer, now, collector }
}

describe('ShardCollector', () => {
  it('deletes an orphan only after it has been one for the whole grace period, and counts its bytes meanwhile', async () => {
    const n = fakeNode()
    n.shards.set('a', 100)
    n.owners.set('a', [{ versionId: 'v1', writer: PEER, storedMs: 0 }])
    n.states.set('v1', 'tombstone')
    const first = await n.collector.collectNow()
    assert.equal(n.shards.has('a'), true, 'deleted at first sight')
    assert.equal(first.orphanBytes, 100)
    n.now.ms += GRACE_MS
    const second = await n.collector.collectNow()
    assert.equal(n.shards.has('a'), false, 'still there after the grace period')
    assert.equal(second.orphanBytes, 0)
    assert.equal(second.collectedBytes, 100)
  })

  it('a record that arrives during the grace period rescues the shard', async () => {
    const n = fakeNode()
    n.shards.set('a', 100)
    n.owners.set('a', [{ versionId: 'v1', writer: PEER, storedMs: 0 }])
    await n.collector.collectNow()
    n.states.set('v1', 'live')
    n.now.ms += 10 * GRACE_MS
    const stats = await n.collector.collectNow()
    assert.equal(n.shards.has('a'), true)
    assert.equal(stats.liveBytes, 100)
  })

  it('keeps the shards of an interrupted put while its writer is unreachable, deletes them once it answers that it never committed', async () => {
    const n = fakeNode()
    n.shards.set('a', 100)
    n.owners.set('a', [{ versionId: 'v1', writer: PEER, storedMs: 0 }])
    n.writer.reachable = false
    for (let i = 0; i < 3; i++) { await n.collector.collectNow(); n.now.ms += GRACE_MS }
    assert.equal(n.shards.has('a'), true, 'deleted while the writer could not be asked')
    n.writer.reachable = true
    await n.collector.collectNow()
    n.now.ms += GRACE_MS
    await n.collector.collectNow()
    assert.equal(n.shards.has('a'), false)
  })

  it('a put of the same shard for a new version between judgement and delete keeps it', async () => {
    const n = fakeNode()
    n.shards.set('a', 100)
    n.owners.set('a', [{ versionId: 'v1', writer: PEER, storedMs: 0 }])
    n.states.set('v1', 'tombstone')
    await n.collector.collectNow()
    n.now.ms += GRACE_MS
    // A new version names the same shard file just now.
    n.owners.get('a')?.push({ versionId: 'v2', writer: PEER, storedMs: n.now.ms })
    await n.collector.collectNow()
    assert.equal(n.shards.has('a'), true)
  })
})

describe('the writer\'s answer', () => {
  it('a version whose put is still running on the writer is live to the collectors that ask, not unknown', async () => {
    const { MetaStore } = await import('../../src/meta/store.ts')
    const { versionStates } = await import('../../src/daemon/collection.ts')
    const meta = MetaStore.open(':memory:')
    assert.deepEqual(versionStates(meta, ['v-running', 'v-gone'], (id) => id === 'v-running'), { 'v-running': 'live', 'v-gone': 'unknown' })
    meta.close()
  })
})
