/**
 * Goal: with a compressed clock (one model hour = 500 ms), a PC that is off
 * every model night (SIGSTOPped, or SIGKILLed and restarted in the morning)
 * is `asleep` on a later night and never `dead`; when it then stays away
 * past its usual return it becomes `suspect`, and `dead` once deadAfter has
 * passed since it was expected back. Real processes, real heartbeats; the
 * states are those `cairn status --json` reports on another node. Repair
 * follows the states (issue 9): the nights off move no repair byte, and once
 * the PC is dead its shards are rebuilt on the fourth node (2+1 on 4 nodes).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { TestContext } from 'node:test'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { sleep, waitFor } from '../helpers/process.ts'
import { modelClock, TEST_HOUR_VARIABLE } from '../../src/util/model-clock.ts'
import { api, healStatus, q } from '../helpers/api.ts'
import { randomBytes } from 'node:crypto'

process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'
/** Objects stored before the nights (erasure coded: above the 16 KiB inline limit). */
const OBJECTS = 6

/** Real milliseconds per model hour: a model day lasts 12 s. */
const HOUR_REAL_MS = 500
const HOUR = 3_600_000
const DAY = 24 * HOUR
/** The sleeper is off from 20:00 to 08:00 model time. */
const NIGHT_STARTS = 20
const NIGHT_ENDS = 8
/**
 * deadAfter in model time (12 s): longer than a night plus a slow restart
 * (several real seconds on a busy machine), so a first night (no history
 * yet) or a late morning is suspect, not dead.
 */
const DEAD_AFTER = '24h'
const DEAD_AFTER_MS = 24 * HOUR
/** Poll interval of the recorder (0.4 model hours). */
const RECORD_INTERVAL_MS = 200
/** Samples the recorder keeps at most (far more than the test's ~3 minutes need). */
const MAX_SAMPLES = 5000
const clock = modelClock(HOUR_REAL_MS)

interface Sample { atMs: number, state: string }

/** Sleep until the next model time whose hour of the day is `hour` (model time is UTC-like: offset 0); returns it. */
async function untilModelHour (hour: number): Promise<number> {
  const now = clock.now()
  let target = Math.floor(now / DAY) * DAY + hour * HOUR
  if (target <= now) target += DAY
  await sleep(clock.realDurationMs(target - now))
  return target
}

const modelHours = (ms: number): string => `${(ms / HOUR).toFixed(1)} h`

describe('presence on a compressed clock', { timeout: 300_000 }, () => {
  let c: TestCluster | undefined
  let recording = true
  let recorder: Promise<void> = Promise.resolve()
  const samples: Sample[] = []
  let stoppedPid: number | undefined

  before(async () => {
    process.env[TEST_HOUR_VARIABLE] = String(HOUR_REAL_MS)
    c = await startCluster({ nodes: 4, k: 2, m: 1 })
  })
  after(async () => {
    recording = false
    await recorder
    if (stoppedPid !== undefined) { try { process.kill(stoppedPid, 'SIGCONT') } catch { /* gone */ } }
    await c?.stop()
    delete process.env[TEST_HOUR_VARIABLE]
  })

  it('tells a PC asleep at night from one that stays away, then from a dead one', async (t) => {
    try {
      await scenario(t)
    } finally {
      // The story in model time, for the test log: day and hour of every change of state.
      samples.sort((a, b) => a.atMs - b.atMs)
      const changes = samples.filter((s, i) => s.state !== samples[i - 1]?.state)
      t.diagnostic(changes.map((s) => `day ${Math.floor(s.atMs / DAY) % 100} ${((s.atMs % DAY) / HOUR).toFixed(1)}h ${s.state}`).join(', '))
    }
  })

  async function scenario (t: TestContext): Promise<void> {
    const cluster = c as TestCluster
    const observer = cluster.node('node-1').dir
    assertSucceeded(await cluster.cli(['config', 'set', 'deadAfter', DEAD_AFTER, '--node', observer]), 'config set deadAfter')
    const sleeperId = (await cluster.apiStatus('node-3')).node.id
    for (let i = 0; i < OBJECTS; i++) {
      const a = await api(observer, 'PUT', `/object?${q('nights', `o${i}`)}`, randomBytes(32 * 1024))
      assert.equal(a.status, 200, a.body.toString('utf8').slice(0, 300))
    }
    const others = ['node-1', 'node-2', 'node-4']
    const repairBytes = async (): Promise<number> => (await Promise.all(others.map(async (n) => {
      const r = (await healStatus(cluster.node(n).dir)).repair
      return r.repairReadBytes + r.repairWrittenBytes
    }))).reduce((a, b) => a + b, 0)
    const repairBefore = await repairBytes()
    // Every look at node-1's view of node-3 is recorded (bounded by MAX_SAMPLES), by the recorder and by the waits.
    const observe = async (): Promise<string> => {
      const atMs = clock.now()
      const state = (await fetchStatus(observer)).nodes.find((n) => n.id === sleeperId)?.state ?? 'missing'
      if (samples.length < MAX_SAMPLES) samples.push({ atMs, state })
      return state
    }
    recorder = (async () => {
      while (recording && samples.length < MAX_SAMPLES) {
        await observe().catch(() => { /* a busy node: next round */ })
        await sleep(RECORD_INTERVAL_MS)
      }
    })()
    const waitSeen = async (state: string, withinModelMs: number): Promise<void> => {
      await waitFor(async () => await observe() === state, clock.realDurationMs(withinModelMs), `node-1 to see node-3 ${state}`)
    }

    // Three nights off: SIGSTOP (a PC asleep) until 08:00; SIGKILL (switched off) and a restart at
    // 08:00, whose start-up of a few real seconds makes a late morning; SIGSTOP again.
    const ways = ['SIGSTOP', 'SIGKILL', 'SIGSTOP'] as const
    let night = { fromMs: 0, toMs: 0 }
    for (const way of ways) {
      const fromMs = await untilModelHour(NIGHT_STARTS)
      if (way === 'SIGKILL') {
        await cluster.kill('node-3')
        await untilModelHour(NIGHT_ENDS)
        await cluster.restart('node-3')
      } else {
        const pid = cluster.node('node-3').pid
        process.kill(pid, 'SIGSTOP')
        stoppedPid = pid
        night = { fromMs, toMs: await untilModelHour(NIGHT_ENDS) }
        process.kill(pid, 'SIGCONT')
        stoppedPid = undefined
      }
      await waitSeen('online', 12 * HOUR)
    }
    // The third night (seen away once heartbeats stopped, 3 s = 6 model hours after SIGSTOP) was what its history predicts.
    const thirdNight = samples.filter((s) => s.atMs > night.fromMs && s.atMs < night.toMs && s.state !== 'online')
    assert.ok(thirdNight.length > 0 && thirdNight.every((s) => s.state === 'asleep'), `the third night: ${thirdNight.map((s) => s.state).join(', ')}`)
    const trainingEnd = clock.now()
    assert.deepEqual(samples.filter((s) => s.state === 'dead'), [], 'never dead while it keeps its nights')
    assert.equal(await repairBytes(), repairBefore, 'its nights off moved no repair byte')

    // The fourth night it is switched off and stays away.
    const leftMs = await untilModelHour(NIGHT_STARTS)
    await cluster.kill('node-3')
    await waitSeen('asleep', 6 * HOUR)
    // Its longest night (the one ended by a restart) sets its expected return: the next morning to the one after.
    await waitSeen('suspect', 40 * HOUR)
    await waitSeen('dead', DEAD_AFTER_MS + 4 * HOUR)
    // Dead: its shards are rebuilt on the other three nodes, and every object is healthy again.
    // Counts come from healer scans: wait for the rebuild itself, then for scans that see every object healthy.
    await waitFor(async () => await repairBytes() > repairBefore, 120_000, 'the dead node\'s shards rebuilt')
    const rebuiltAt = Date.now()
    await waitFor(async () => {
      const all = await Promise.all(others.map(async (n) => await healStatus(cluster.node(n).dir)))
      return all.every((st) => st.repair.lastScanMs - st.repair.lastScanTookMs > rebuiltAt && st.objects.total === OBJECTS && st.objects.healthy === OBJECTS)
    }, 120_000, 'every object healthy again after node-3 died')
    recording = false
    await recorder
    samples.sort((a, b) => a.atMs - b.atMs)

    const final = samples.filter((s) => s.atMs >= leftMs)
    const firstAt = (state: string): number => final.find((s) => s.state === state)?.atMs ?? NaN
    const states = final.map((s) => s.state).filter((s, i, all) => s !== all[i - 1])
    assert.deepEqual(states.filter((s) => s !== 'online'), ['asleep', 'suspect', 'dead'], `states after it left: ${states.join(' → ')}`)
    const suspectAfter = firstAt('suspect') - leftMs
    const deadAfterSuspect = firstAt('dead') - firstAt('suspect')
    // Expected back in the morning (its nights lasted 12 h or more); dead deadAfter later (one model hour of polling slack).
    assert.ok(suspectAfter >= (24 - NIGHT_STARTS + NIGHT_ENDS) * HOUR - HOUR, `suspect ${modelHours(suspectAfter)} after it left: before its usual return`)
    assert.ok(Math.abs(deadAfterSuspect - DEAD_AFTER_MS) <= HOUR, `dead ${modelHours(deadAfterSuspect)} after it became suspect, deadAfter is ${DEAD_AFTER}`)
    assert.ok(trainingEnd < leftMs)

    // The contract of cairn status --json, and the state in the text output.
    const status = parseJsonOutput<{ nodes: Array<{ name: string, state: string, availability: { d1: number | null, d7: number | null, d30: number | null } }> }>(await cluster.cli(['status', '--node', observer, '--json']), 'status --json')
    const byName = new Map(status.nodes.map((n) => [n.name, n]))
    assert.equal(byName.get('node-3')?.state, 'dead')
    assert.equal(byName.get('node-2')?.state, 'online')
    for (const n of status.nodes) for (const window of ['d1', 'd7', 'd30'] as const) assert.equal(typeof n.availability[window], 'number', `${n.name} ${window}`)
    const sleeper = byName.get('node-3')?.availability
    t.diagnostic(`node-3 availability ${JSON.stringify(sleeper)}`)
    assert.ok((sleeper?.d1 ?? 1) < 0.05, `node-3 away for over a day: d1 ${sleeper?.d1}`)
    assert.ok((sleeper?.d7 ?? 1) > 0.1 && (sleeper?.d7 ?? 1) < 0.6, `node-3 off every night, then gone: d7 ${sleeper?.d7}`)
    assert.ok((byName.get('node-2')?.availability.d1 ?? 0) > 0.99)
    const text = await cluster.cli(['status', '--node', observer])
    assertSucceeded(text, 'status')
    assert.match(text.stdout, /^node-3\s+\S+\s+\S+\s+DEAD\s/m)
  }
})
