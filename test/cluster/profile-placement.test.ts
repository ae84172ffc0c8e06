/**
 * Goal: with measured weekly profiles, the stripe rule (placeStripe) spreads
 * a stripe so that at every hour of the week at least k shards are expected
 * online wherever the roster allows, while staying deterministic, stable
 * when a node leaves, within the anchor and zone rules, equal to plain
 * rendezvous when profiles do not differ, and cheap enough to run per stripe.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { placeStripe } from '../../src/cluster/placement.ts'
import type { PlacementNode } from '../../src/cluster/placement.ts'
import { HolderProfile, PROFILE_HOURS, hourly } from '../../src/cluster/profile-placement.ts'
import { DAY_PROFILE, NIGHT_PROFILE, dayNightFleet, expectedOnline } from './fleets.ts'

const KEYS = 300
const withoutProfiles = (nodes: readonly PlacementNode[]): PlacementNode[] => nodes.map(({ id, weight, zone, anchor }) => ({ id, weight, ...(zone === undefined ? {} : { zone }), ...(anchor === undefined ? {} : { anchor }) }))
const worstUnreadable = (ids: readonly string[], nodes: readonly PlacementNode[], k: number): number => {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  const h = new HolderProfile(k)
  for (const id of ids) h.add(hourly(byId.get(id) as PlacementNode))
  return h.score().worstUnreadable
}

describe('profile-aware placement', () => {
  it('keeps at least k shards expected online at every hour when the roster allows (2 day PCs to 1 night PC, 2+4)', () => {
    const nodes = dayNightFleet(20, 10)
    let plainShort = 0
    for (let i = 0; i < KEYS; i++) {
      const key = `v${i}/0`
      const p = placeStripe({ key, count: 6, anchorShards: 0, readShards: 2 }, nodes)
      assert.equal(p.nodes.length, 6)
      assert.deepEqual(p.notes, [])
      const worst = Math.min(...expectedOnline(p.nodes, nodes))
      assert.ok(worst >= 2, `${key}: ${p.nodes.join(',')} has only ${worst.toFixed(2)} shards expected online at its worst hour`)
      const plain = placeStripe({ key, count: 6, anchorShards: 0 }, withoutProfiles(nodes))
      if (Math.min(...expectedOnline(plain.nodes, nodes)) < 2) plainShort++
    }
    // The rule must matter: plain rendezvous misses it for many keys of this fleet.
    assert.ok(plainShort > KEYS / 10, `plain rendezvous fell short in only ${plainShort} of ${KEYS} keys`)
  })

  it('never makes the worst hour worse than plain rendezvous on a day/night fleet (4+4)', () => {
    const nodes = dayNightFleet(30, 12)
    let better = 0
    for (let i = 0; i < KEYS; i++) {
      const key = `v${i}/1`
      const profiled = worstUnreadable(placeStripe({ key, count: 8, anchorShards: 0, readShards: 4 }, nodes).nodes, nodes, 4)
      const plain = worstUnreadable(placeStripe({ key, count: 8, anchorShards: 0 }, withoutProfiles(nodes)).nodes, nodes, 4)
      assert.ok(profiled <= plain * 1.25 + 1e-12, `${key}: worst-hour unreadability ${profiled} vs plain ${plain}`)
      if (profiled < plain) better++
    }
    assert.ok(better > KEYS / 2, `better than plain in only ${better} of ${KEYS} keys`)
  })

  it('is deterministic: the same nodes in any order and copied give the same answer', () => {
    const nodes = dayNightFleet(12, 8)
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (seed, shuffle) => {
      const key = `v${seed}/0`
      const a = placeStripe({ key, count: 6, anchorShards: 0, readShards: 4 }, nodes)
      const copied = structuredClone(nodes).sort((x, y) => ((x.id.charCodeAt(1) * 31 + shuffle) % 17) - ((y.id.charCodeAt(1) * 31 + shuffle) % 17))
      assert.deepEqual(placeStripe({ key, count: 6, anchorShards: 0, readShards: 4 }, copied), a)
    }), { numRuns: 200 })
  })

  it('is stable: removing one node moves only its own shard in at least 98% of keys, and never more than 1 other', () => {
    const nodes = dayNightFleet(30, 12)
    for (const removed of ['d3', 'n5']) {
      const rest = nodes.filter((n) => n.id !== removed)
      let onlyOwn = 0
      for (let i = 0; i < KEYS; i++) {
        const key = `v${i}/2`
        const before = placeStripe({ key, count: 6, anchorShards: 0, readShards: 4 }, nodes).nodes
        const after = new Set(placeStripe({ key, count: 6, anchorShards: 0, readShards: 4 }, rest).nodes)
        const moved = before.filter((id) => id !== removed && !after.has(id)).length
        assert.ok(moved <= 1, `${key}: removing ${removed} moved ${moved} other shards`)
        if (moved === 0) onlyOwn++
      }
      assert.ok(onlyOwn >= 0.98 * KEYS, `removing ${removed}: only ${onlyOwn} of ${KEYS} keys kept every other shard`)
    }
  })

  it('keeps the anchor and zone rules with profiles', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1e6 }),
      (k, m, anchors, zones, seed) => {
        const nodes: PlacementNode[] = [
          ...Array.from({ length: anchors }, (_, i) => ({ id: `a${i}`, weight: 5000, zone: `z${i % zones}`, anchor: true })),
          ...dayNightFleet(3 * (k + m), 2 * (k + m)).map((n, i) => ({ ...n, zone: `z${i % zones}` }))
        ]
        const p = placeStripe({ key: `v${seed}/0`, count: k + m, anchorShards: k }, nodes)
        assert.equal(p.nodes.length, k + m)
        // Some rosters cannot keep the zone rule (one anchor with 2 shards, limit 1): then plain rendezvous says so too.
        assert.deepEqual(p.notes, placeStripe({ key: `v${seed}/0`, count: k + m, anchorShards: k }, withoutProfiles(nodes)).notes)
        if (p.notes.length > 0) return
        assert.equal(p.nodes.filter((id) => id.startsWith('a')).length, k)
        const pcs = p.nodes.filter((id) => !id.startsWith('a'))
        assert.equal(new Set(pcs).size, pcs.length, 'a PC holds two shards')
        const zoneOf = new Map(nodes.map((n) => [n.id, n.zone]))
        const perZone = new Map<string, number>()
        for (const id of p.nodes) perZone.set(zoneOf.get(id) as string, (perZone.get(zoneOf.get(id) as string) ?? 0) + 1)
        for (const used of perZone.values()) assert.ok(used <= p.zoneLimit)
      }), { numRuns: 300 })
  })

  it('equals plain rendezvous when every node has the same profile', () => {
    const flat = Array.from({ length: PROFILE_HOURS }, () => 0.7)
    const nodes: PlacementNode[] = Array.from({ length: 25 }, (_, i) => ({ id: `p${i}`, weight: 100 + i * 10, zone: `z${i % 3}`, profile: flat }))
    for (let i = 0; i < KEYS; i++) {
      const key = `v${i}/3`
      assert.deepEqual(placeStripe({ key, count: 6, anchorShards: 4 }, nodes).nodes, placeStripe({ key, count: 6, anchorShards: 4 }, withoutProfiles(nodes)).nodes, key)
    }
  })

  it('a repair with held shards completes the stripe by profile', () => {
    const nodes = dayNightFleet(20, 10)
    let fixed = 0
    for (let i = 0; i < KEYS; i++) {
      // Five day-time PCs hold shards; the sixth must be a night-time PC to cover the night.
      const held = nodes.slice(i % 15, i % 15 + 5)
      const p = placeStripe({ key: `v${i}/4`, count: 6, anchorShards: 0, readShards: 1, held, avoid: new Set(held.map((n) => n.id)) }, nodes)
      assert.equal(p.nodes.length, 1)
      if (p.nodes[0]?.startsWith('n') === true) fixed++
    }
    assert.equal(fixed, KEYS)
  })

  it('costs little per stripe (60 PCs, 4+2, measured)', () => {
    const nodes = dayNightFleet(40, 20)
    const calls = 400
    const t0 = performance.now()
    for (let i = 0; i < calls; i++) placeStripe({ key: `v${i}/5`, count: 6, anchorShards: 4 }, nodes)
    const perCallMs = (performance.now() - t0) / calls
    const t1 = performance.now()
    const plainNodes = withoutProfiles(nodes)
    for (let i = 0; i < calls; i++) placeStripe({ key: `v${i}/5`, count: 6, anchorShards: 4 }, plainNodes)
    const plainMs = (performance.now() - t1) / calls
    console.log(`placeStripe, 60 PCs, 4+2: ${perCallMs.toFixed(3)} ms per call by profile, ${plainMs.toFixed(3)} ms plain`)
    // A 4 MiB stripe takes tens of milliseconds to encrypt, code and send; placement must stay well below.
    assert.ok(perCallMs < 5, `${perCallMs} ms per call`)
    assert.ok(DAY_PROFILE.length === PROFILE_HOURS && NIGHT_PROFILE.length === PROFILE_HOURS)
  })
})
