/**
 * Tests of the chaos harness's fault schedule (chaos/schedule.ts): it is a
 * pure function of its input, and it never plans more simultaneous outages
 * than the code tolerates.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { buildSchedule, faultCounts, FAULT_KINDS, outageLimits, scheduleViolations, WARMUP_MS } from '../../chaos/schedule.ts'
import type { Fault, Schedule } from '../../chaos/schedule.ts'

/** Nodes down at `t` and nodes down or damaged at `t`, counted independently of the module's helpers. */
function loadAt (faults: readonly Fault[], t: number): { down: number, missed: number } {
  const open = faults.filter((f) => f.atMs <= t)
  return {
    down: open.filter((f) => t < f.downUntilMs).length,
    missed: open.filter((f) => t < Math.max(f.downUntilMs, f.damagedUntilMs)).length
  }
}

function assertWithinLimits (s: Schedule): void {
  assert.deepEqual(scheduleViolations(s), [])
  // Sampled every 250 ms as well, so the check does not rest on the module's own breakpoints.
  const end = Math.max(s.totalMs, ...s.faults.map((f) => f.damagedUntilMs))
  for (let t = 0; t <= end; t += 250) {
    const { down, missed } = loadAt(s.faults, t)
    assert.ok(down <= s.limits.maxDown, `${down} nodes down at ${t} ms, limit ${s.limits.maxDown}`)
    assert.ok(missed <= s.limits.maxMissed, `${missed} nodes missed at ${t} ms, limit ${s.limits.maxMissed}`)
    assert.ok(s.input.nodes - down >= s.limits.happiness, `only ${s.input.nodes - down} nodes online at ${t} ms`)
  }
  for (const f of s.faults) {
    assert.ok(f.atMs >= WARMUP_MS && f.atMs + f.durationMs <= s.totalMs, `fault ${f.index} outside the run`)
    const sameSlot = s.faults.filter((g) => g !== f && g.slot === f.slot && g.atMs >= f.atMs)
    for (const g of sameSlot) assert.ok(g.atMs >= Math.max(f.downUntilMs, f.atMs + 1), `faults ${f.index} and ${g.index} overlap on slot ${f.slot}`)
  }
}

test('the same seed gives the same schedule', () => {
  // Goal: a failing run can be replayed: the schedule depends on (seed, minutes, nodes, k, m) only.
  const input = { seed: 1, minutes: 3, nodes: 6, k: 4, m: 2 }
  assert.deepEqual(buildSchedule(input), buildSchedule({ ...input }))
  assert.ok(buildSchedule(input).faults.length > 0)
})

test('another seed gives another schedule', () => {
  // Goal: seeds explore different fault sequences.
  const a = buildSchedule({ seed: 1, minutes: 3, nodes: 6, k: 4, m: 2 })
  const b = buildSchedule({ seed: 2, minutes: 3, nodes: 6, k: 4, m: 2 })
  assert.notDeepEqual(a.faults, b.faults)
})

test('the limits follow from the code: at most m missed, at least k+1 online', () => {
  // Goal: the limits are the ones the brief states, made explicit.
  assert.deepEqual(outageLimits(6, 4, 2), { happiness: 5, maxDown: 1, maxMissed: 2 })
  assert.deepEqual(outageLimits(8, 4, 2), { happiness: 5, maxDown: 2, maxMissed: 2 })
  assert.deepEqual(outageLimits(12, 4, 4), { happiness: 5, maxDown: 4, maxMissed: 4 })
  // With no node to spare no fault can be planned at all.
  assert.equal(buildSchedule({ seed: 1, minutes: 3, nodes: 5, k: 4, m: 2 }).faults.length, 0)
})

test('no schedule exceeds the outage limits', () => {
  // Goal: whatever the seed, length and cluster size, the harness never breaks more than the code tolerates.
  for (let seed = 0; seed < 40; seed++) {
    for (const [nodes, k, m] of [[6, 4, 2], [8, 4, 2], [7, 3, 3], [10, 4, 4]] as const) {
      assertWithinLimits(buildSchedule({ seed, minutes: 3, nodes, k, m }))
    }
  }
  assertWithinLimits(buildSchedule({ seed: 7, minutes: 30, nodes: 6, k: 4, m: 2 }))
})

test('a 3-minute run exercises every kind of fault', () => {
  // Goal: the CI run (3 minutes, seed 1) is not a run of kills only.
  const counts = faultCounts(buildSchedule({ seed: 1, minutes: 3, nodes: 6, k: 4, m: 2 }).faults)
  for (const kind of FAULT_KINDS) assert.ok(counts[kind] > 0, `no ${kind} fault in ${JSON.stringify(counts)}`)
})
