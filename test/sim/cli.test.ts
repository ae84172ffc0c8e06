/**
 * The fixed interface of `cairn plan` and `cairn sim` (outside checks depend
 * on these names), determinism by seed, and clear errors on bad input.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { run as plan } from '../../src/cli/commands/plan.ts'
import { run as sim } from '../../src/cli/commands/sim.ts'
import { CairnError } from '../../src/util/errors.ts'

/** Run a command and capture what it prints with console.log. */
async function capture (command: (argv: string[]) => Promise<number>, argv: string[]): Promise<string> {
  const original = console.log
  let out = ''
  console.log = (...parts: unknown[]) => { out += parts.join(' ') + '\n' }
  try {
    assert.equal(await command(argv), 0)
  } finally {
    console.log = original
  }
  return out
}

test('plan --json gives exact pReadable, nines and overhead', async () => {
  // Goal: 8 nodes at 0.5 with k=4 m=4 is P(Bin(8,0.5) >= 4) = 163/256.
  const out = JSON.parse(await capture(plan, ['--nodes', '8', '--availability', '0.5', '--k', '4', '--m', '4', '--json']))
  assert.ok(Math.abs(out.pReadable - 163 / 256) < 1e-14)
  assert.ok(Math.abs(out.nines + Math.log10(93 / 256)) < 1e-12)
  assert.equal(out.overhead, 2)
  assert.equal(typeof out.durabilityPerYear, 'number')
  assert.equal(typeof out.worstHourUnavailable, 'number')
})

test('plan --target recommends the cheapest code that meets it', async () => {
  // Goal: the recommendation meets the target, and no code with lower overhead does (brute force over k, m).
  const out = JSON.parse(await capture(plan, ['--nodes', '40', '--availability', '0.8', '--target', '0.9999', '--json']))
  const r = out.recommended
  assert.ok(r.pReadable >= 0.9999 && r.k <= 32 && r.k + r.m <= 40)
  assert.equal(r.overhead, (r.k + r.m) / r.k)
  const binomTail = (n: number, k: number, p: number): number => {
    let sum = 0
    let c = 1
    for (let i = 0; i < k; i++) { sum += c * p ** i * (1 - p) ** (n - i); c = c * (n - i) / (i + 1) }
    return 1 - sum
  }
  for (let k = 1; k <= 32; k++) {
    for (let m = 0; k + m <= 40; m++) {
      if ((k + m) / k < r.overhead - 1e-12) assert.ok(binomTail(k + m, k, 0.8) < 0.9999, `k=${k} m=${m} is cheaper and meets the target`)
    }
  }
})

test('sim --json has the fixed fields and the same seed gives the same result', async () => {
  // Goal: determinism by seed (Math.random is never used).
  const argv = ['--model', 'independent', '--availability', '0.6', '--nodes', '60', '--objects', '2000', '--days', '5', '--k', '3', '--m', '3', '--seed', '5', '--json']
  const a = JSON.parse(await capture(sim, argv))
  const b = JSON.parse(await capture(sim, argv))
  for (const key of ['readable', 'lost', 'repairBytesPerNodePerDay', 'overhead', 'elapsedSeconds']) assert.ok(key in a, key)
  assert.ok(a.readable.min <= a.readable.mean && a.readable.mean <= 1)
  assert.equal(a.overhead, 2)
  delete a.elapsedSeconds
  delete b.elapsedSeconds
  assert.deepEqual(a, b)
})

test('the office model runs by default and shows a daily cycle', async () => {
  // Goal: the default model works end to end and produces a plausible office curve.
  const out = JSON.parse(await capture(sim, ['--nodes', '120', '--objects', '3000', '--days', '7', '--k', '2', '--m', '4', '--json']))
  assert.equal(out.model, 'office')
  assert.ok(out.readable.min < out.readable.mean)
})

test('bad input is a clear CairnError', async () => {
  // Goal: unknown flags and impossible codes fail with BAD_INPUT and a hint;
  // live mode on a directory that holds no node says so (CONFIG) with a hint.
  const isBadInput = (err: unknown): boolean => err instanceof CairnError && err.code === 'BAD_INPUT' && err.hint !== undefined
  await assert.rejects(plan(['--nodes', '5', '--availability', '0.5', '--k', '4', '--m', '4']), isBadInput)
  await assert.rejects(plan(['--nodes', '5', '--availability', '1.5']), isBadInput)
  await assert.rejects(plan(['--node', '/nonexistent/cairn-node']), (err: unknown) => err instanceof CairnError && err.code === 'CONFIG' && err.hint !== undefined)
  await assert.rejects(sim(['--bogus', '1']), isBadInput)
  await assert.rejects(sim(['--model', 'weather']), isBadInput)
})
