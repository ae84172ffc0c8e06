/**
 * Goal: a record stamped further ahead than maxClockSkew of the receiver's
 * clock is never applied: a push carrying one is refused with an error that
 * names the skew, anti-entropy skips it and applies it in a later round once
 * the receiver's clock has caught up, and the origin is remembered for status.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetaStore } from '../../src/meta/store.ts'
import { Replicator } from '../../src/meta/replicator.ts'
import type { MetaTransport } from '../../src/meta/replicator.ts'
import { DEFAULT_MAX_CLOCK_SKEW_MS, SKEW_LOG_INTERVAL_MS, SkewTracker, splitBySkew } from '../../src/meta/skew.ts'
import { HybridClock } from '../../src/util/hlc.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

const DAY_MS = 86_400_000
const NOW_MS = 1_800_000_000_000

function record (wallMs: number, origin: string, key: string): MetaRecord {
  const hlc = new HybridClock(() => wallMs).now()
  return { v: 1, table: 'version', pk: `${hlc}-${origin}`, hlc, origin, tombstone: false, body: { bucket: 'data', key, size: 1, timeMs: wallMs, nodeName: origin, deleteMarker: false, sha256: '' } }
}

describe('skew split', () => {
  it('splits at exactly maxClockSkew ahead and reports the largest lead', () => {
    const limit = 300_000
    const rs = [record(NOW_MS - DAY_MS, 'A', 'old'), record(NOW_MS + limit, 'A', 'edge'), record(NOW_MS + limit + 1, 'B', 'over'), record(NOW_MS + DAY_MS, 'B', 'day')]
    const split = splitBySkew(rs, NOW_MS, limit)
    assert.deepEqual(split.acceptable.map((r) => r.body), [rs[0]?.body, rs[1]?.body])
    assert.deepEqual(split.tooFarAhead.map((r) => r.origin), ['B', 'B'])
    assert.equal(split.maxAheadMs, DAY_MS)
    assert.deepEqual(splitBySkew([], NOW_MS, limit), { acceptable: [], tooFarAhead: [], maxAheadMs: 0 })
  })

  it('tracks refusals per origin and asks for at most one log line per origin per interval', () => {
    const t = new SkewTracker()
    const ahead = [record(NOW_MS + DAY_MS, 'B', 'x'), record(NOW_MS + DAY_MS, 'B', 'y')]
    assert.equal(t.note(ahead, 'B', 'push', DAY_MS, NOW_MS).length, 1)
    assert.equal(t.note(ahead, 'C', 'pull', DAY_MS, NOW_MS + 1000).length, 0, 'rate-limited')
    assert.equal(t.note(ahead, 'B', 'push', DAY_MS, NOW_MS + SKEW_LOG_INTERVAL_MS).length, 1)
    const [b] = t.refusals()
    assert.equal(b?.origin, 'B')
    assert.equal(b?.pushRefused, 4)
    assert.equal(b?.pullSkipped, 2)
    assert.equal(b?.peer, 'B')
  })
})

describe('replicator under clock skew', () => {
  function node (wallMs: { now: number }): { meta: MetaStore, replicator: Replicator } {
    const meta = MetaStore.open(':memory:')
    return { meta, replicator: new Replicator(meta, { onlinePeers: () => [], call: async () => { throw new Error('unused') } }, undefined, { wallClock: () => wallMs.now }) }
  }

  it('refuses a push with a record a day ahead, applying nothing of it', async () => {
    const clock = { now: NOW_MS }
    const { meta, replicator } = node(clock)
    const body = new TextEncoder().encode(JSON.stringify([record(NOW_MS, 'B', 'fine'), record(NOW_MS + DAY_MS, 'B', 'ahead')]))
    await assert.rejects(replicator.handle({ op: 'push' }, body, 'B'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CLOCK_SKEW')
      assert.match(err.message, /24\.0 h ahead of the receiving node's clock/)
      return true
    })
    assert.equal(meta.counts().records, 0)
    assert.equal(replicator.skew.refusals()[0]?.origin, 'B')
    // Within the default limit, a push is applied.
    const near = new TextEncoder().encode(JSON.stringify([record(NOW_MS + DEFAULT_MAX_CLOCK_SKEW_MS - 1000, 'B', 'near')]))
    assert.deepEqual((await replicator.handle({ op: 'push' }, near, 'B')).header, { applied: 1 })
  })

  it('anti-entropy skips a record a day ahead and applies it once the clock has caught up', async () => {
    const clock = { now: NOW_MS }
    const a = node(clock)
    const source = MetaStore.open(':memory:')
    const sourceRep = new Replicator(source, { onlinePeers: () => [], call: async () => { throw new Error('unused') } })
    source.apply([record(NOW_MS - 1000, 'B', 'fine'), record(NOW_MS + DAY_MS, 'B', 'ahead')])
    const transport: MetaTransport = {
      onlinePeers: () => ['B'],
      call: async (_peer, header, body) => {
        const res = await sourceRep.handle(header, body, 'A')
        return { header: res.header, body: res.body ?? new Uint8Array(0) }
      }
    }
    const seen: string[] = []
    const rep = new Replicator(a.meta, transport, undefined, { wallClock: () => clock.now, maxClockSkewMs: () => 60_000, onClockSkew: (r, via) => { seen.push(`${r.origin} ${via}`) } })
    assert.deepEqual(await rep.syncWith('B'), { pulled: 1, pushed: 0 })
    assert.deepEqual(a.meta.list('data', '', 10).map((o) => o.key), ['fine'])
    assert.deepEqual(seen, ['B pull'])
    assert.equal(rep.skew.refusals()[0]?.pullSkipped, 1)
    // Still skipped on the next round; applied once this clock is within the limit.
    assert.deepEqual(await rep.syncWith('B'), { pulled: 0, pushed: 0 })
    clock.now = NOW_MS + DAY_MS - 30_000
    assert.deepEqual(await rep.syncWith('B'), { pulled: 1, pushed: 0 })
    assert.deepEqual(a.meta.list('data', '', 10).map((o) => o.key), ['ahead', 'fine'])
    assert.deepEqual(a.meta.merkleLeaves(), source.merkleLeaves())
  })
})
