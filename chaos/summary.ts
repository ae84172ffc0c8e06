/**
 * The chaos harness's report (pure): the schedule's fault counts printed at
 * the start, and the summary at the end — operations by kind and outcome,
 * failure codes, faults by kind, healing, data, losses, the reasons a run
 * failed — ending with the contract line
 * `chaos: ops N, faults N, objects N, lost N`.
 */
import { formatBytes, formatTable } from '../src/cli/format.ts'
import type { FaultOutcome } from './faults.ts'
import type { LedgerCounts } from './ledger.ts'
import type { Crash } from './local-cluster.ts'
import { FAULT_KINDS, faultCounts } from './schedule.ts'
import type { Schedule } from './schedule.ts'
import type { HealOutcome, LostVersion } from './verify.ts'
import { OP_KINDS } from './workload.ts'
import type { OpCounts, OpKind, WrongRead } from './workload.ts'

/** Lost versions and failure codes listed in full before the rest is counted. */
const MAX_LISTED = 20
/** Lines of a crashed node's log shown. */
const CRASH_LOG_LINES = 5

/** Everything the summary reports. */
export interface RunReport {
  schedule: Schedule
  ops: Record<OpKind, OpCounts>
  errors: ReadonlyMap<string, number>
  wrongReads: readonly WrongRead[]
  outcomes: readonly FaultOutcome[]
  data: LedgerCounts
  heal: HealOutcome | undefined
  lost: readonly LostVersion[]
  crashes: readonly Crash[]
  /** Problems of the harness itself (a node that could not be brought back). */
  harnessErrors: readonly string[]
}

/**
 * The lines printed before the run: parameters, limits, planned faults.
 *
 * @example
 * for (const line of scheduleLines(schedule, 3)) console.log(line)
 */
export function scheduleLines (s: Schedule, clients: number): string[] {
  const { seed, minutes, nodes, k, m } = s.input
  const counts = faultCounts(s.faults)
  return [
    `chaos: seed ${seed}, ${minutes} min, ${nodes} nodes, ${k}+${m} coding, ${clients} clients`,
    `limits: at most ${s.limits.maxDown} node(s) down and ${s.limits.maxMissed} missed (down or damaged) at once, at least ${s.limits.happiness} online`,
    `schedule: ${s.faults.length} faults (${FAULT_KINDS.map((kind) => `${kind} ${counts[kind]}`).join(', ')})`
  ]
}

/** One line per planned fault (for --dry-run). */
export function faultLines (s: Schedule): string[] {
  return s.faults.map((f) => `  ${String(f.index).padStart(3)}  ${(f.atMs / 1000).toFixed(1).padStart(7)} s  ${f.kind.padEnd(5)}  slot ${String(f.slot + 1).padEnd(2)}  ${f.kind === 'flip' ? `${f.files} files × ${f.bytesPerFile} bytes` : `${(f.durationMs / 1000).toFixed(1)} s`}`)
}

function opTable (ops: Record<OpKind, OpCounts>): string {
  const cols: Array<keyof OpCounts> = ['ok', 'stale', 'unavailable', 'failed', 'wrong']
  const total = Object.fromEntries(cols.map((c) => [c, OP_KINDS.reduce((sum, k) => sum + ops[k][c], 0)])) as unknown as OpCounts
  const row = (name: string, c: OpCounts): string[] => [name, ...cols.map((col) => String(c[col]))]
  return formatTable(['operation', ...cols], [...OP_KINDS.map((k) => row(k, ops[k])), row('total', total)])
}

function faultTable (s: Schedule, outcomes: readonly FaultOutcome[]): string {
  const planned = faultCounts(s.faults)
  const count = (kind: string, result: string): number => outcomes.filter((o) => (kind === 'total' || o.fault.kind === kind) && o.result === result).length
  const rows = [...FAULT_KINDS, 'total'].map((kind) => [kind, String(kind === 'total' ? s.faults.length : planned[kind as keyof typeof planned]), String(count(kind, 'done')), String(count(kind, 'skipped')), String(count(kind, 'failed'))])
  return formatTable(['fault', 'planned', 'done', 'skipped', 'failed'], rows)
}

function healLines (heal: HealOutcome | undefined, flippedFiles: number): string[] {
  if (heal === undefined) return ['healing: not checked (the run was interrupted before its end check)']
  const o = heal.objects
  return [
    `healing: ${heal.reached ? `cluster whole after ${(heal.elapsedMs / 1000).toFixed(1)} s` : `not whole after ${(heal.elapsedMs / 1000).toFixed(1)} s`}`,
    `objects: ${o === undefined ? 'unknown (status has no "objects" field yet)' : `total ${o.total}, healthy ${o.healthy}, degraded ${o.degraded}, unavailable ${o.unavailable}`}`,
    `orphan bytes: ${heal.orphanBytes} (pending, kept undecided by the collectors: ${heal.pendingBytes})`,
    `corrupt shards found by the nodes: ${heal.corruptShards} (shard files flipped: ${flippedFiles})`
  ]
}

/** Versions counted as lost: wrong reads during the run and failures of the read-back, one per version. */
export function lostVersions (wrongReads: readonly WrongRead[], lost: readonly LostVersion[]): LostVersion[] {
  const all = [...wrongReads.map((w) => ({ key: w.key, version: w.version, reason: `wrong bytes read at ${(w.atMs / 1000).toFixed(1)} s: ${w.detail}` })), ...lost]
  const seen = new Set<string>()
  return all.filter((l) => { const id = `${l.key}@${l.version}`; if (seen.has(id)) return false; seen.add(id); return true })
}

/** Why the run failed (empty when it passed). */
export function failureReasons (r: RunReport): string[] {
  const out: string[] = []
  const lost = lostVersions(r.wrongReads, r.lost)
  if (lost.length > 0) out.push(`${lost.length} acknowledged version(s) lost`)
  if (r.heal === undefined) out.push('the end check did not run')
  else if (!r.heal.reached) out.push(...r.heal.reasons.map((reason) => `not healed: ${reason}`))
  for (const c of r.crashes) out.push(`${c.name} exited on its own (${c.exit}) at ${(c.atMs / 1000).toFixed(1)} s`)
  for (const o of r.outcomes.filter((x) => x.result === 'failed')) out.push(`fault ${o.fault.index} (${o.fault.kind} ${o.node}) failed: ${o.detail}`)
  out.push(...r.harnessErrors)
  return out
}

/** The contract line: the last line the harness prints. */
export function contractLine (r: RunReport): string {
  const ops = OP_KINDS.reduce((sum, k) => sum + Object.values(r.ops[k]).reduce((a, b) => a + b, 0), 0)
  const faults = r.outcomes.filter((o) => o.result === 'done').length
  return `chaos: ops ${ops}, faults ${faults}, objects ${r.data.dataVersions + r.data.deleteMarkers}, lost ${lostVersions(r.wrongReads, r.lost).length}`
}

/**
 * The whole summary, contract line last.
 *
 * @example
 * console.log(summaryLines(report).join('\n'))
 */
export function summaryLines (r: RunReport): string[] {
  const errors = [...r.errors.entries()].sort((a, b) => b[1] - a[1])
  const lost = lostVersions(r.wrongReads, r.lost)
  const reasons = failureReasons(r)
  const d = r.data
  return [
    '',
    opTable(r.ops),
    `failure codes: ${errors.length === 0 ? 'none' : errors.slice(0, MAX_LISTED).map(([code, n]) => `${code} ×${n}`).join(', ')}`,
    '',
    faultTable(r.schedule, r.outcomes),
    ...r.outcomes.filter((o) => o.result === 'skipped').map((o) => `  skipped fault ${o.fault.index} (${o.fault.kind} ${o.node}): ${o.detail}`),
    '',
    `data: ${d.keys} keys, ${d.dataVersions + d.deleteMarkers} acknowledged versions (${d.dataVersions} data, ${formatBytes(d.ackedBytes)}; ${d.deleteMarkers} delete markers), ${d.unackedWrites} writes unacknowledged`,
    ...healLines(r.heal, r.outcomes.reduce((sum, o) => sum + (o.files ?? 0), 0)),
    `crashes: ${r.crashes.length === 0 ? 'none' : r.crashes.map((c) => `${c.name} (${c.exit})`).join(', ')}`,
    ...r.crashes.flatMap((c) => [`  ${c.name}'s log ends:`, ...c.logTail.trim().split('\n').slice(-CRASH_LOG_LINES).map((l) => `    ${l.slice(0, 300)}`)]),
    `lost: ${lost.length}`,
    ...lost.slice(0, MAX_LISTED).map((l) => `  ${l.key} ${l.version}: ${l.reason}`),
    ...(lost.length > MAX_LISTED ? [`  … and ${lost.length - MAX_LISTED} more`] : []),
    ...(reasons.length === 0 ? ['result: PASS'] : ['result: FAIL', ...reasons.map((x) => `  - ${x}`)]),
    contractLine(r)
  ]
}
