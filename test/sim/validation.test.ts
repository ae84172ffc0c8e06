/**
 * Validation: the simulator's measured fraction of readable objects matches
 * the planner's exact prediction within statistical error, for several
 * settings (uniform and per-node availability, several codes). Churn is the
 * independent model with short cycles and no deaths, which is exactly what
 * the planner assumes.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IndependentModel } from '../../src/sim/churn.ts'
import { planCluster } from '../../src/sim/planner.ts'
import { simulate } from '../../src/sim/simulator.ts'
import { hashUniform } from '../../src/sim/prng.ts'

const settings = { deadAfterHours: 1e6, repairHours: 24, mttfDays: 1e9 }

function compare (availability: Float64Array, k: number, m: number, seed: number): { predicted: number, measured: number, stderr: number } {
  const plan = planCluster({ nodes: Array.from(availability, (a) => ({ availability: a })), settings: { k, m, ...settings } })
  const result = simulate({
    model: new IndependentModel(availability, 4, seed),
    objects: 20_000, days: 40, k, m, seed, groups: 2000, zones: 1, anchors: 0,
    deadAfterHours: settings.deadAfterHours, repairThreshold: k + m, mttfDays: Infinity,
    objectBytes: 2 ** 20, repairBytesPerSecond: 12.5e6, sampleMinutes: 30
  })
  return { predicted: plan.pReadable, measured: result.readable.mean, stderr: result.readable.stderr }
}

const cases: Array<{ name: string, availability: Float64Array, k: number, m: number }> = [
  { name: 'A=0.5 k=4 m=4', availability: new Float64Array(200).fill(0.5), k: 4, m: 4 },
  { name: 'A=0.7 k=6 m=3', availability: new Float64Array(200).fill(0.7), k: 6, m: 3 },
  { name: 'A=0.3 k=2 m=8', availability: new Float64Array(200).fill(0.3), k: 2, m: 8 },
  { name: 'per-node A in [0.1, 0.95] k=3 m=5', availability: Float64Array.from({ length: 200 }, (_, i) => 0.1 + 0.85 * hashUniform(99, i)), k: 3, m: 5 }
]

for (const c of cases) {
  test(`simulated readability matches the planner: ${c.name}`, () => {
    // Goal: |measured - predicted| within 4 standard errors (plus a small floor for the batch-means estimate).
    const { predicted, measured, stderr } = compare(c.availability, c.k, c.m, 7)
    assert.ok(Number.isFinite(stderr) && stderr > 0, 'the run has enough days for an error estimate')
    assert.ok(Math.abs(measured - predicted) <= 4 * stderr + 0.003,
      `measured ${measured.toFixed(4)} ± ${stderr.toFixed(4)}, predicted ${predicted.toFixed(4)}`)
  })
}
