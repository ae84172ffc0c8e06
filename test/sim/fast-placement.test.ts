/**
 * The simulator places from a per-group candidate prefix; these tests check
 * that it returns exactly what placeShards over the whole roster returns.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { placeShards } from '../../src/cluster/placement.ts'
import type { PlacementNode } from '../../src/cluster/placement.ts'
import { placeWithCandidates, topCandidates } from '../../src/sim/fast-placement.ts'
import type { EligibleRoster } from '../../src/sim/fast-placement.ts'

test('prefix placement equals full-roster placement (zones, anchors, ineligible nodes)', () => {
  // Goal: for random rosters and eligibility, the fast path is never wrong.
  fc.assert(fc.property(
    fc.integer({ min: 8, max: 120 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 2, max: 12 }), fc.integer({ min: 4, max: 40 }), fc.integer({ min: 0, max: 1e6 }),
    (size, zones, anchorCount, count, prefix, seed) => {
      const nodes: PlacementNode[] = Array.from({ length: size }, (_, i) => ({ id: `n${i}`, weight: 1, zone: `z${i % zones}`, anchor: i < anchorCount }))
      const eligible = (i: number): boolean => ((i * 2654435761 + seed) >>> 0) % 5 !== 0
      const live = nodes.filter((_, i) => eligible(i))
      const roster: EligibleRoster = {
        nodes,
        indexOf: new Map(nodes.map((n, i) => [n.id, i])),
        eligible,
        eligibleZones: () => new Set(live.map((n) => n.zone)).size,
        anchors: nodes.flatMap((n, i) => n.anchor === true ? [i] : [])
      }
      const key = `pg/${seed}`
      const request = { key, count, minAnchors: anchorCount > 0 ? Math.min(3, count) : 0 }
      const fast = placeWithCandidates(request, topCandidates(key, nodes, Math.min(prefix, size)), roster).nodes.map((i) => `n${i}`)
      assert.deepEqual(fast, placeShards(request, live))
    }), { numRuns: 150 })
})

test('prefix placement equals full-roster placement with weekly profiles (the profile rule)', () => {
  // Goal: with day-time and night-time profiles the fast path still answers exactly as the whole roster, or falls back.
  const day = Array.from({ length: 168 }, (_, h) => h % 24 >= 8 && h % 24 < 18 && h < 120 ? 0.9 : 0.02)
  const night = day.map((p) => 0.95 - p)
  fc.assert(fc.property(
    fc.integer({ min: 8, max: 120 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 2, max: 10 }), fc.integer({ min: 4, max: 60 }), fc.integer({ min: 0, max: 1e6 }),
    (size, zones, anchorCount, count, prefix, seed) => {
      const nodes: PlacementNode[] = Array.from({ length: size }, (_, i) => ({ id: `n${i}`, weight: 1 + (i % 3), zone: `z${i % zones}`, anchor: i < anchorCount, ...(i < anchorCount ? {} : { profile: (i * 7 + seed) % 3 === 0 ? night : day }) }))
      const eligible = (i: number): boolean => ((i * 2654435761 + seed) >>> 0) % 5 !== 0
      const live = nodes.filter((_, i) => eligible(i))
      const roster: EligibleRoster = {
        nodes,
        indexOf: new Map(nodes.map((n, i) => [n.id, i])),
        eligible,
        eligibleZones: () => new Set(live.map((n) => n.zone)).size,
        anchors: nodes.flatMap((n, i) => n.anchor === true ? [i] : [])
      }
      const key = `pg/${seed}`
      const request = { key, count, minAnchors: anchorCount > 0 ? Math.min(3, count) : 0, readShards: Math.max(1, count - 2) }
      const fast = placeWithCandidates(request, topCandidates(key, nodes, Math.min(prefix, size)), roster).nodes.map((i) => `n${i}`)
      assert.deepEqual(fast, placeShards(request, live))
    }), { numRuns: 300 })
})
