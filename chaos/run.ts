/**
 * `npm run chaos -- --minutes M --seed S [--nodes N]`: Cairn under chaos. A
 * local cluster (one process per node, 127.0.0.1, free ports, data in a
 * temp directory) takes continuous puts, gets, overwrites and deletes while
 * the harness kills, stops, wipes, corrupts and fills its nodes on a
 * schedule that the seed alone decides (schedule.ts). At the end it lets
 * healing finish, then reads every acknowledged version back
 * (verify.ts), prints a summary and exits 1 on any loss, or when the
 * cluster did not become whole (full redundancy, no orphan bytes) in time.
 *
 * The last line is always `chaos: ops N, faults N, objects N, lost N`.
 * docs/CHAOS.md describes the flags, the faults and the end check.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { numberFlag, parseArgs } from '../src/cli/args.ts'
import { CairnError } from '../src/util/errors.ts'
import type { Prng } from '../src/sim/prng.ts'
import { FaultRunner } from './faults.ts'
import { apiJson } from './http.ts'
import { Ledger } from './ledger.ts'
import { LocalCluster } from './local-cluster.ts'
import { buildSchedule, FAULT_DOCS, FAULT_KINDS, scheduleViolations, WARMUP_MS } from './schedule.ts'
import type { Schedule } from './schedule.ts'
import { faultLines, failureReasons, scheduleLines, summaryLines } from './summary.ts'
import type { RunReport } from './summary.ts'
import { readBack, waitForHealing } from './verify.ts'
import type { LostVersion } from './verify.ts'
import { Workload } from './workload.ts'

/** Bucket the workload writes to. */
export const BUCKET = 'chaos'
/**
 * Cluster settings made at start: a replaced node is declared dead after
 * 20 s, orphans are collected after 10 s, and scrubs run every 30 s, so that
 * healing fits in a short run.
 */
export const CHAOS_SETTINGS: ReadonlyArray<readonly [string, string]> = [['deadAfter', '20s'], ['orphanGrace', '10s'], ['scrubInterval', '30s']]
/** Node environment: the collector's grace and scan interval, shortened the same way (src/daemon/collection.ts). */
export const NODE_ENV: Readonly<Record<string, string>> = { CAIRN_ORPHAN_GRACE_MS: '10000', CAIRN_COLLECT_INTERVAL_MS: '3000' }
/** Longest wait for the last faults to be undone after the chaos phase (a replacement node joins and starts). */
const FAULTS_DRAIN_TIMEOUT_MS = 120_000
/** Most nodes a local chaos cluster may have (each is a process on this machine). */
const MAX_NODES = 32

const USAGE = `usage: npm run chaos -- [--minutes M] [--seed S] [--nodes N] [--k K --m M] [--clients C] [--heal-minutes H] [--keep] [--dry-run]
  --minutes M       length of the chaos phase (default 1; faults start after ${WARMUP_MS / 1000} s of workload)
  --seed S          seed of the fault schedule and the workload's choices (default 1)
  --nodes N         nodes of the local cluster (default 6)
  --k K --m M       coding (default 4+2)
  --clients C       concurrent workload clients (default 3)
  --heal-minutes H  longest wait for the cluster to become whole at the end (default 5)
  --keep            keep the data directory (node logs) instead of deleting it
  --dry-run         print the fault schedule and exit
faults:
${FAULT_KINDS.map((k) => `  ${k.padEnd(6)} ${FAULT_DOCS[k]}`).join('\n')}`

/** The run's options. */
interface Options {
  minutes: number
  seed: number
  nodes: number
  k: number
  m: number
  clients: number
  healMinutes: number
  keep: boolean
  dryRun: boolean
}

function parseOptions (argv: string[]): Options | undefined {
  const args = parseArgs(argv, { values: ['minutes', 'seed', 'nodes', 'k', 'm', 'clients', 'heal-minutes'], booleans: ['keep', 'dry-run', 'help'] })
  if (args.booleans.has('help')) return undefined
  if (args.positionals.length > 0) throw new CairnError('BAD_INPUT', `unexpected argument ${args.positionals[0]}`, USAGE)
  const k = numberFlag(args, 'k', 4, { min: 1, max: 16, integer: true })
  const m = numberFlag(args, 'm', 2, { min: 1, max: 16, integer: true })
  const nodes = numberFlag(args, 'nodes', 6, { min: k + m, max: MAX_NODES, integer: true })
  return {
    minutes: numberFlag(args, 'minutes', 1, { min: 0.5, max: 24 * 60 }),
    seed: numberFlag(args, 'seed', 1, { min: 0, max: 2 ** 32 - 1, integer: true }),
    nodes,
    k,
    m,
    clients: numberFlag(args, 'clients', 3, { min: 1, max: 32, integer: true }),
    healMinutes: numberFlag(args, 'heal-minutes', 5, { min: 0, max: 120 }),
    keep: args.booleans.has('keep'),
    dryRun: args.booleans.has('dry-run')
  }
}

/** Milliseconds since the start of the run, as the log shows them. */
const t0 = Date.now()
function log (line: string): void {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`)
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return }
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve() }, { once: true })
  })
}

/** Apply CHAOS_SETTINGS through one node; a setting this build does not know is a warning, not a failure. */
async function configure (cluster: LocalCluster): Promise<void> {
  const api = cluster.upSlots()[0]?.api
  if (api === undefined) throw new Error('no node is running')
  for (const [key, value] of CHAOS_SETTINGS) {
    await apiJson(api, 'PUT', '/config', { key, value }).catch((err: unknown) => { log(`warning: could not set ${key} = ${value}: ${(err as Error).message}`) })
  }
}

/** Bring every node back up, with its own quota, and wait for the mesh; returns what could not be done. */
async function restoreCluster (cluster: LocalCluster, runner: FaultRunner): Promise<string[]> {
  const errors: string[] = []
  await runner.restoreQuotas().catch((err: unknown) => { errors.push(`could not restore a quota: ${(err as Error).message}`) })
  for (const slot of cluster.slots) {
    await cluster.ensureUp(slot.index).catch((err: unknown) => { errors.push(`could not bring ${slot.name} back: ${(err as Error).message}`) })
  }
  await cluster.waitMesh().catch((err: unknown) => { errors.push((err as Error).message) })
  return errors
}

/** The chaos phase, then the end check; fills `report` as it goes so an interrupted run still reports. */
async function runChaos (opts: Options, schedule: Schedule, cluster: LocalCluster, report: RunReport, signal: AbortSignal): Promise<void> {
  const ledger = new Ledger()
  const runner = new FaultRunner(cluster, schedule, log)
  const workload = new Workload({
    clients: opts.clients,
    seed: opts.seed,
    bucket: BUCKET,
    pickNode: (rng: Prng) => { const up = cluster.upSlots(); return up[rng.int(Math.max(1, up.length))]?.api },
    faultActive: () => runner.active(),
    ledger,
    clockMs: () => Date.now() - t0
  })
  Object.assign(report, { ops: workload.counts, errors: workload.errors, wrongReads: workload.wrongReads, outcomes: runner.outcomes, crashes: cluster.crashes })
  log(`chaos phase: ${opts.minutes} min of workload and faults`)
  workload.start()
  const faultsDone = runner.run(signal)
  await sleep(schedule.totalMs, signal)
  log('chaos phase over: undoing the last faults and stopping the workload')
  await Promise.race([faultsDone, sleep(FAULTS_DRAIN_TIMEOUT_MS, signal)])
  await workload.stop()
  report.data = ledger.counts()
  if (signal.aborted) return
  log('end phase: every node up, then waiting for healing')
  report.harnessErrors = await restoreCluster(cluster, runner)
  const heal = await waitForHealing(cluster, opts.healMinutes * 60_000, log, signal)
  if (signal.aborted) return
  report.heal = heal
  log(`reading back ${report.data.dataVersions + report.data.deleteMarkers} acknowledged versions`)
  const back = await readBack(cluster, ledger, BUCKET, signal)
  if (signal.aborted) { report.heal = undefined; return }
  report.lost = back.lost
}

function emptyReport (schedule: Schedule): RunReport {
  const zero = { ok: 0, failed: 0, unavailable: 0, stale: 0, wrong: 0 }
  return {
    schedule,
    ops: { put: { ...zero }, overwrite: { ...zero }, delete: { ...zero }, get: { ...zero }, getVersion: { ...zero } },
    errors: new Map(),
    wrongReads: [],
    outcomes: [],
    data: { keys: 0, dataVersions: 0, deleteMarkers: 0, unackedWrites: 0, ackedBytes: 0 },
    heal: undefined,
    lost: [] as LostVersion[],
    crashes: [],
    harnessErrors: []
  }
}

/** Run the harness; resolves to the exit code. */
export async function main (argv: string[]): Promise<number> {
  const opts = parseOptions(argv)
  if (opts === undefined) { console.log(USAGE); return 0 }
  const schedule = buildSchedule({ seed: opts.seed, minutes: opts.minutes, nodes: opts.nodes, k: opts.k, m: opts.m })
  const violations = scheduleViolations(schedule)
  if (violations.length > 0) throw new Error(`the schedule breaks its limits (a harness bug): ${violations.join('; ')}`)
  for (const line of scheduleLines(schedule, opts.clients)) console.log(line)
  if (opts.dryRun) { for (const line of faultLines(schedule)) console.log(line); return 0 }

  const base = mkdtempSync(join(tmpdir(), 'cairn-chaos-'))
  const ac = new AbortController()
  let cluster: LocalCluster | undefined
  const killAll = (): void => { for (const pid of cluster?.pids() ?? []) { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } } }
  const onSignal = (): void => {
    if (ac.signal.aborted) { killAll(); process.exit(130) }
    log('interrupted: stopping faults and workload (again to kill everything at once)')
    ac.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.once('exit', killAll)
  const report = emptyReport(schedule)
  try {
    log(`creating ${opts.nodes} nodes in ${base}`)
    cluster = await LocalCluster.create({ base, nodes: opts.nodes, k: opts.k, m: opts.m, env: { ...NODE_ENV }, log })
    await cluster.startAll()
    await configure(cluster)
    log(`cluster up: ${cluster.slots.map((s) => s.name).join(', ')}`)
    await runChaos(opts, schedule, cluster, report, ac.signal)
  } catch (err) {
    report.harnessErrors = [...report.harnessErrors, `harness error: ${(err as Error).stack ?? String(err)}`]
  } finally {
    await cluster?.shutdown()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (opts.keep) log(`data kept in ${base}`)
    else rmSync(base, { recursive: true, force: true })
  }
  for (const line of summaryLines(report)) console.log(line)
  if (ac.signal.aborted) return 130
  return failureReasons(report).length === 0 ? 0 : 1
}

let code: number
try {
  code = await main(process.argv.slice(2))
} catch (err) {
  console.error(err instanceof CairnError ? `chaos: ${err.oneLine()}` : `chaos: ${(err as Error).stack ?? String(err)}`)
  code = 2
}
// Idle keep-alive sockets to the (stopped) nodes would hold the process for a few more seconds.
process.exit(code)
