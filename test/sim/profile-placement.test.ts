/**
 * Goal: on one office of day-time and night-time PCs (the shifts model),
 * placement by learnt weekly profiles keeps more objects readable in the
 * worst hour of the week than plain weighted rendezvous, in the simulator
 * (real placement and repair code over the churn model) and in the planner
 * (exact per-hour probabilities over sampled placements); and where the
 * roster leaves no choice (every PC on the same schedule) it changes
 * nothing. The figures in docs/DURABILITY.md come from these runs.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { planCluster } from '../../src/sim/planner.ts'
import type { PlanNode } from '../../src/sim/planner.ts'
import { planNodesFromModel } from '../../src/sim/scenario.ts'
import { ShiftsModel } from '../../src/sim/shifts.ts'
import { simulate } from '../../src/sim/simulator.ts'
import type { PlacementPolicy, SimConfig } from '../../src/sim/simulator.ts'

const NODES = 60
const K = 4
const M = 8
const SETTINGS = { k: K, m: M, repairThreshold: K + M, deadAfterHours: 72, repairHours: 24, mttfDays: 1095 }

function simConfig (placement: PlacementPolicy): SimConfig {
  return {
    model: new ShiftsModel(NODES, 1),
    objects: 10_000,
    days: 14,
    k: K,
    m: M,
    seed: 1,
    groups: 320,
    zones: 1,
    anchors: 0,
    deadAfterHours: 72,
    repairThreshold: K + M,
    mttfDays: Infinity,
    objectBytes: 2 ** 20,
    repairBytesPerSecond: 100e6 / 8,
    sampleMinutes: 15,
    placement
  }
}

describe('placement by profile on a day/night office', () => {
  it('the simulator: a better worst hour and mean than plain rendezvous', () => {
    const plain = simulate(simConfig('rendezvous'))
    const profiled = simulate(simConfig('profile'))
    console.log(`sim shifts ${NODES} nodes ${K}+${M}: worst hour readable ${plain.worstHour.meanReadable.toFixed(4)} (rendezvous) vs ${profiled.worstHour.meanReadable.toFixed(4)} (profile); mean ${plain.readable.mean.toFixed(4)} vs ${profiled.readable.mean.toFixed(4)}`)
    assert.ok(profiled.worstHour.meanReadable > plain.worstHour.meanReadable + 0.1, `worst hour ${profiled.worstHour.meanReadable} vs ${plain.worstHour.meanReadable}`)
    assert.ok(profiled.readable.mean > plain.readable.mean, `mean ${profiled.readable.mean} vs ${plain.readable.mean}`)
  })

  it('the planner: a lower worst-hour unreadability than plain rendezvous', () => {
    const nodes = planNodesFromModel(new ShiftsModel(NODES, 1))
    const plain = planCluster({ nodes, settings: SETTINGS, placement: 'rendezvous' })
    const profiled = planCluster({ nodes, settings: SETTINGS, placement: 'profile' })
    console.log(`plan shifts ${NODES} nodes ${K}+${M}: worst hour unreadable ${plain.worstHourUnavailable.toFixed(4)} (rendezvous) vs ${profiled.worstHourUnavailable.toFixed(4)} (profile)`)
    assert.ok(profiled.worstHourUnavailable < plain.worstHourUnavailable / 4, `worst hour ${profiled.worstHourUnavailable} vs ${plain.worstHourUnavailable}`)
    assert.ok(profiled.pUnreadable < plain.pUnreadable)
  })

  it('the planner: no change when every PC keeps the same schedule', () => {
    const day = Float64Array.from({ length: 168 }, (_, h) => h % 24 >= 8 && h % 24 < 18 && h < 120 ? 0.9 : 0.05)
    const nodes: PlanNode[] = Array.from({ length: 30 }, (_, i) => ({ availability: day, weight: 1 + (i % 4) }))
    const plain = planCluster({ nodes, settings: SETTINGS, placement: 'rendezvous' })
    const profiled = planCluster({ nodes, settings: SETTINGS, placement: 'profile' })
    assert.equal(profiled.worstHourUnavailable, plain.worstHourUnavailable)
    assert.equal(profiled.worstHour, plain.worstHour)
  })
})
