/**
 * Goal: the stripe rule that put, repair, the planner and the simulator all
 * call (cluster/placement.ts placeStripe) keeps its promises on random
 * rosters: k shards on anchors spread as evenly as possible, never two
 * shards of a stripe on one PC, at most ceil((k+m)/zones) per zone whenever
 * it says nothing, a note whenever a rule is broken, and a repair (held
 * shards) that restores the same rule.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { placeStripe } from '../../src/cluster/placement.ts'
import type { PlacementNode } from '../../src/cluster/placement.ts'

function roster (pcs: number, anchors: number, zones: number): PlacementNode[] {
  return [
    ...Array.from({ length: anchors }, (_, i) => ({ id: `a${i}`, weight: 1000, zone: `z${i % zones}`, anchor: true })),
    ...Array.from({ length: pcs }, (_, i) => ({ id: `p${i}`, weight: 1 + (i % 7) * 100, zone: `z${i % zones}`, anchor: false }))
  ]
}

const tally = (ids: readonly string[]): Map<string, number> => {
  const out = new Map<string, number>()
  for (const id of ids) out.set(id, (out.get(id) ?? 0) + 1)
  return out
}

describe('placeStripe', () => {
  it('puts k shards on anchors, evenly, and the rest on distinct PCs', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1e6 }),
      (k, m, anchors, seed) => {
        const nodes = roster(k + m + 3, anchors, 1)
        const p = placeStripe({ key: `v${seed}/0`, count: k + m, anchorShards: k }, nodes)
        assert.equal(p.nodes.length, k + m)
        assert.deepEqual(p.notes, [])
        const counts = tally(p.nodes)
        const onAnchors = p.nodes.filter((id) => id.startsWith('a')).length
        // k on anchors; more only when anchors outnumber k (a spare anchor may beat a PC? no: PCs first).
        assert.equal(onAnchors, k)
        assert.equal(p.onAnchors, k)
        // Anchor slots come first, so the data shards are on anchors.
        assert.ok(p.nodes.slice(0, k).every((id) => id.startsWith('a')))
        const perAnchor = [...counts].filter(([id]) => id.startsWith('a')).map(([, c]) => c)
        assert.ok(Math.max(...perAnchor) <= Math.ceil(k / anchors))
        if (anchors <= k) assert.equal(perAnchor.length, anchors, 'every anchor is used')
        assert.ok(Math.max(...perAnchor) - Math.min(...perAnchor) <= 1, 'as even as possible')
        for (const [id, c] of counts) if (id.startsWith('p')) assert.equal(c, 1, 'a PC never holds two shards of a stripe')
        // Deterministic.
        assert.deepEqual(placeStripe({ key: `v${seed}/0`, count: k + m, anchorShards: k }, [...nodes].reverse()).nodes, p.nodes)
      }), { numRuns: 300 })
  })

  it('keeps at most ceil((k+m)/zones) per zone, or says it could not', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 1e6 }),
      (k, m, anchors, zones, pcs, seed) => {
        const nodes = roster(pcs, anchors, zones)
        const p = placeStripe({ key: `v${seed}/1`, count: k + m, anchorShards: k }, nodes)
        const zoneCount = new Set(nodes.map((n) => n.zone)).size
        const limit = Math.ceil((k + m) / Math.max(1, zoneCount))
        const perZone = tally(p.nodes.map((id) => nodes.find((n) => n.id === id)?.zone ?? ''))
        const over = [...perZone.values()].some((c) => c > limit)
        if (over) assert.ok(p.notes.some((n) => /zones not honoured/.test(n)), `over the zone limit without a note: ${p.nodes.join(',')}`)
        if (p.nodes.length < k + m) assert.ok(p.notes.some((n) => /found a node/.test(n)))
        for (const [id, c] of tally(p.nodes)) if (id.startsWith('p')) assert.equal(c, 1)
      }), { numRuns: 400 })
  })

  it('honours zones with enough nodes in each zone (3 zones, 4+2, 2 anchors in two zones)', () => {
    const nodes = roster(9, 2, 3)
    for (let i = 0; i < 200; i++) {
      const p = placeStripe({ key: `v/${i}`, count: 6, anchorShards: 4 }, nodes)
      assert.deepEqual(p.notes, [])
      const perZone = tally(p.nodes.map((id) => nodes.find((n) => n.id === id)?.zone ?? ''))
      assert.deepEqual([...perZone.values()].sort(), [2, 2, 2])
    }
  })

  it('repairs back to the rule with the held shards staying put', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 63 }), fc.integer({ min: 0, max: 1e6 }),
      (k, m, anchors, lostMask, seed) => {
        const nodes = roster(k + m + 4, anchors, 1)
        const key = `v${seed}/2`
        const first = placeStripe({ key, count: k + m, anchorShards: k }, nodes).nodes
        // Lose some shards (their holders' copies), keep the rest where they are.
        const kept = first.filter((_, i) => ((lostMask >> (i % 6)) & 1) === 0)
        const byId = new Map(nodes.map((n) => [n.id, n]))
        const held = kept.map((id) => byId.get(id) as PlacementNode)
        const avoid = new Set(kept.filter((id) => id.startsWith('p')))
        const repair = placeStripe({ key, count: k + m, anchorShards: k, held, avoid }, nodes)
        const all = [...kept, ...repair.nodes]
        assert.equal(all.length, k + m)
        assert.equal(all.filter((id) => id.startsWith('a')).length, k, 'k shards on anchors again')
        for (const [id, c] of tally(all)) {
          if (id.startsWith('p')) assert.equal(c, 1)
          else assert.ok(c <= Math.ceil(k / anchors))
        }
      }), { numRuns: 300 })
  })

  it('without anchors places on distinct nodes in rendezvous order', () => {
    const nodes = roster(10, 0, 1)
    const p = placeStripe({ key: 'v/3', count: 6, anchorShards: 4 }, nodes)
    assert.equal(new Set(p.nodes).size, 6)
    assert.equal(p.onAnchors, 0)
    assert.deepEqual(p.notes, [])
    assert.equal(placeStripe({ key: 'v/3', count: 12, anchorShards: 4 }, nodes).nodes.length, 10)
  })

  it('says so when no anchor can take the shards that belong on anchors', () => {
    const pcs = roster(8, 0, 1)
    const asleepAnchor: PlacementNode = { id: 'a9', weight: 1000, zone: 'z0', anchor: true }
    // The anchor holds one shard but is not a candidate now (asleep): 3 more belong on anchors.
    const p = placeStripe({ key: 'v/4', count: 6, anchorShards: 4, held: [asleepAnchor] }, pcs)
    assert.equal(p.nodes.length, 5)
    assert.ok(p.notes.some((n) => /only 1 of the 4 shards that belong on anchors/.test(n)), p.notes.join('; '))
  })
})
