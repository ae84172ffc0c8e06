/**
 * Goal: the derived repair threshold keeps the plan's promise. Where
 * `cairn plan` says a code can meet the readability target, `cairn sim` with
 * permanent failures (MTTF 3 years, deadAfter 72 h) and lazy repair at its
 * default (derived) threshold measures readability at or above the target
 * and no higher than the plan's readability with all shards live; with the
 * old default k + ceil(m/2) it is measurably below the target. Where the
 * derived threshold is lower than the old one, it still meets the target with
 * less repair traffic.
 *
 * Tolerances come from the sample: each setting runs SEEDS independent
 * simulations (different seeds) and uses the standard error of their mean
 * with Student's t. Runs are independent, unlike the samples of one run,
 * whose readability stays correlated for as long as an object waits for
 * repair (months under the old rule).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { run as plan } from '../../src/cli/commands/plan.ts'
import { run as sim } from '../../src/cli/commands/sim.ts'

/** Independent simulations per setting and threshold. */
const SEEDS = 4
/** Student's t, one-sided 99%, for SEEDS - 1 = 3 degrees of freedom. */
const T_99 = 4.541
/** Simulated cluster: 60 nodes, one object per placement group, a year. */
const CLUSTER = ['--model', 'independent', '--nodes', '60', '--objects', '400', '--groups', '400', '--days', '365', '--sample-minutes', '60']

/** Run a command and parse the JSON it prints with console.log. */
async function json (command: (argv: string[]) => Promise<number>, argv: string[]): Promise<Record<string, unknown>> {
  const original = console.log
  let out = ''
  console.log = (...parts: unknown[]) => { out += parts.join(' ') + '\n' }
  try {
    assert.equal(await command([...argv, '--json']), 0)
  } finally {
    console.log = original
  }
  return JSON.parse(out) as Record<string, unknown>
}

interface Runs { mean: number, stderr: number, repairBytesPerNodePerDay: number, repairThreshold: number, derived: boolean }

/** SEEDS simulations of one setting: mean readability over runs and its standard error. */
async function simulateRuns (flags: string[]): Promise<Runs> {
  const reports: Array<Record<string, unknown>> = []
  for (let seed = 1; seed <= SEEDS; seed++) reports.push(await json(sim, [...CLUSTER, ...flags, '--seed', String(seed)]))
  const means = reports.map((r) => (r.readable as { mean: number }).mean)
  const mean = means.reduce((a, b) => a + b, 0) / SEEDS
  const variance = means.reduce((a, b) => a + (b - mean) ** 2, 0) / (SEEDS - 1)
  const first = reports[0] as Record<string, unknown>
  return {
    mean,
    stderr: Math.sqrt(variance / SEEDS),
    repairBytesPerNodePerDay: reports.reduce((a, r) => a + (r.repairBytesPerNodePerDay as number), 0) / SEEDS,
    repairThreshold: first.repairThreshold as number,
    derived: first.repairThresholdDerived as boolean
  }
}

const cases = [
  { k: 4, m: 8, availability: 0.8, oldFails: true },
  { k: 8, m: 8, availability: 0.9, oldFails: true },
  { k: 3, m: 9, availability: 0.95, oldFails: false }
]

for (const c of cases) {
  test(`sim at the derived threshold meets the plan's target: k=${c.k} m=${c.m} A=${c.availability}`, async () => {
    const code = ['--availability', String(c.availability), '--k', String(c.k), '--m', String(c.m)]
    const planned = await json(plan, ['--nodes', '60', ...code])
    const target = planned.target as number
    assert.equal(target, 0.9999, 'the default target')
    assert.equal(planned.repairThresholdDerived, true)
    assert.ok((planned.readabilityAtRepairThreshold as number) >= target, 'the plan says this code meets the target at its threshold')

    const derived = await simulateRuns(code)
    assert.equal(derived.derived, true)
    assert.equal(derived.repairThreshold, planned.repairThreshold, 'cairn sim defaults to the threshold cairn plan derives')
    const tolerance = T_99 * derived.stderr
    assert.ok(derived.mean + tolerance >= target, `derived T=${derived.repairThreshold}: readable ${derived.mean} ± ${derived.stderr} is below the target ${target}`)
    assert.ok(derived.mean - tolerance <= (planned.pReadable as number), `readable ${derived.mean} ± ${derived.stderr} above the plan's all-live ${planned.pReadable}`)

    const oldThreshold = c.k + Math.ceil(c.m / 2)
    const old = await simulateRuns([...code, '--repair-threshold', String(oldThreshold)])
    assert.equal(old.derived, false)
    if (c.oldFails) {
      assert.ok(old.mean + T_99 * old.stderr < target, `old T=${oldThreshold}: readable ${old.mean} ± ${old.stderr} is not measurably below the target`)
      assert.ok(derived.mean - old.mean > T_99 * Math.hypot(derived.stderr, old.stderr), `derived ${derived.mean} is not measurably above old ${old.mean}`)
    } else {
      // The derived threshold is lazier here: the target holds with less repair traffic.
      assert.ok(derived.repairThreshold < oldThreshold)
      assert.ok(derived.repairBytesPerNodePerDay < old.repairBytesPerNodePerDay, `repair traffic ${derived.repairBytesPerNodePerDay} is not below the old rule's ${old.repairBytesPerNodePerDay}`)
    }
  })
}
