/**
 * `cairn plan`: how likely is an object to be readable, and how durable is
 * it, on this cluster with this code? And which code is cheapest for a
 * target? The numbers come from src/sim/planner.ts; this module only turns
 * flags (or a live node's measured availability and cluster settings) into
 * its inputs. The repair threshold, unless --repair-threshold is given, is
 * derived from the readability target (--target, or the cluster's `target`
 * setting in live mode, default 0.9999).
 */
import { readFileSync } from 'node:fs'
import { connect } from '../client.ts'
import { parseArgs, numberFlag } from '../args.ts'
import type { ParsedArgs } from '../args.ts'
import { CairnError } from '../../util/errors.ts'
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_TARGET } from '../../heal/policy.ts'
import { DEFAULT_PLACEMENT_SAMPLES, planCluster } from '../../sim/planner.ts'
import type { PlacementPolicy, PlanNode, PlanReport } from '../../sim/planner.ts'
import { buildModel, MAX_NODES, parseAvailabilityCsv, planNodesFromModel } from '../../sim/scenario.ts'

/** Default code: 4 data + 8 parity shards, readable with two thirds of its holders off. */
export const DEFAULT_K = 4
export const DEFAULT_M = 8
/** Default mean time to permanent failure of an office PC: three years, in days. */
export const DEFAULT_MTTF_DAYS = 1095
/** Default time to rebuild once a node is declared dead (waiting for office hours plus transfer), hours. */
export const DEFAULT_REPAIR_HOURS = 24
/** Default availability of an anchor server. */
export const DEFAULT_ANCHOR_AVAILABILITY = 0.999

const SPEC = {
  values: ['node', 'nodes', 'availability', 'availability-file', 'model', 'trace', 'k', 'm', 'zones', 'anchors', 'anchor-availability',
    'dead-after-hours', 'repair-threshold', 'mttf-days', 'repair-hours', 'target', 'placements', 'seed', 'placement'],
  booleans: ['json']
} as const

/** The cluster described by the flags, as plain per-node availability. */
function describedCluster (args: ParsedArgs): PlanNode[] {
  const seed = numberFlag(args, 'seed', 1, { integer: true })
  const file = args.values.get('availability-file')
  const traceFile = args.values.get('trace')
  const modelName = args.values.get('model')
  let nodes: PlanNode[]
  if (file !== undefined) {
    nodes = parseAvailabilityCsv(readText(file))
  } else if (traceFile !== undefined || modelName === 'trace') {
    if (traceFile === undefined) throw new CairnError('BAD_INPUT', '--model trace needs --trace FILE', 'pass --trace FILE')
    nodes = planNodesFromModel(buildModel({ model: 'trace', nodes: 0, seed, traceCsv: readText(traceFile) }))
  } else if (modelName === 'office' || modelName === 'shifts') {
    const count = numberFlag(args, 'nodes', 300, { integer: true, min: 1, max: MAX_NODES })
    nodes = planNodesFromModel(buildModel({ model: modelName, nodes: count, seed }))
  } else {
    if (modelName !== undefined && modelName !== 'independent') throw new CairnError('BAD_INPUT', `unknown model ${modelName}`, 'use --model independent, office, shifts or trace')
    if (!args.values.has('nodes') || !args.values.has('availability')) {
      throw new CairnError('BAD_INPUT', 'describe the cluster', 'pass --nodes N --availability A, --availability-file FILE, --model office --nodes N, or --trace FILE')
    }
    const count = numberFlag(args, 'nodes', 0, { integer: true, min: 1, max: MAX_NODES })
    const availability = numberFlag(args, 'availability', 0, { min: 0, max: 1 })
    nodes = Array.from({ length: count }, () => ({ availability }))
  }
  const zones = numberFlag(args, 'zones', 1, { integer: true, min: 1, max: 1000 })
  if (zones > 1) nodes = nodes.map((node, i) => ({ ...node, zone: `z${i % zones}` }))
  const anchors = numberFlag(args, 'anchors', 0, { integer: true, min: 0, max: 1000 })
  const anchorAvailability = numberFlag(args, 'anchor-availability', DEFAULT_ANCHOR_AVAILABILITY, { min: 0, max: 1 })
  for (let i = 0; i < anchors; i++) nodes.push({ availability: anchorAvailability, anchor: true, zone: zones > 1 ? `z${i % zones}` : '' })
  return nodes
}

function readText (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new CairnError('BAD_INPUT', `cannot read ${path}: ${(err as Error).message}`, 'check the path')
  }
}

/** Values that flags override: in live mode, the cluster's own settings. */
export interface PlanDefaults {
  /** Readability target of the derived repair threshold; DEFAULT_TARGET when absent. */
  target?: number
  /** A repair threshold set for the cluster; derived from the target when absent. */
  repairThreshold?: number
  /** How the cluster places (live mode: by profile, as the daemon does); rendezvous when absent. */
  placement?: PlacementPolicy
}
/**
 * `--placement profile|rendezvous` (default rendezvous): whether nodes place
 * by their learnt weekly profiles, as the daemon does once nodes have a day
 * of presence history, or by plain weighted rendezvous.
 */
export function placementFlag (args: ParsedArgs): PlacementPolicy {
  const value = args.values.get('placement') ?? 'rendezvous'
  if (value !== 'profile' && value !== 'rendezvous') throw new CairnError('BAD_INPUT', `unknown placement ${value}`, 'use --placement profile or --placement rendezvous')
  return value
}


/**
 * Plan from plain per-node availability values: the entry point the live
 * mode (`--node DIR`) calls with measured history and the cluster's settings.
 */
export function planFromFlags (nodes: readonly PlanNode[], args: ParsedArgs, defaults: PlanDefaults = {}): PlanReport {
  const k = numberFlag(args, 'k', Math.min(DEFAULT_K, nodes.length), { integer: true, min: 1, max: 256 })
  const m = numberFlag(args, 'm', Math.max(0, Math.min(DEFAULT_M, nodes.length - k)), { integer: true, min: 0, max: 256 })
  // A target of 0 would make every threshold meet it; exclusive bounds are not expressible, so 1e-9 stands for "above 0".
  const target = args.values.has('target') ? numberFlag(args, 'target', DEFAULT_TARGET, { min: 1e-9, max: 1 }) : undefined
  return planCluster({
    nodes,
    settings: {
      k,
      m,
      repairThreshold: args.values.has('repair-threshold') ? numberFlag(args, 'repair-threshold', k, { integer: true, min: 1 }) : defaults.repairThreshold,
      target: target ?? defaults.target ?? DEFAULT_TARGET,
      deadAfterHours: numberFlag(args, 'dead-after-hours', DEFAULT_DEAD_AFTER_MS / 3600e3, { min: 0 }),
      repairHours: numberFlag(args, 'repair-hours', DEFAULT_REPAIR_HOURS, { min: 0 }),
      mttfDays: numberFlag(args, 'mttf-days', DEFAULT_MTTF_DAYS, { min: 0.001 })
    },
    target,
    placementSamples: numberFlag(args, 'placements', DEFAULT_PLACEMENT_SAMPLES, { integer: true, min: 1, max: 100_000 }),
    seed: numberFlag(args, 'seed', 1, { integer: true }),
    placement: args.values.has('placement') ? placementFlag(args) : defaults.placement ?? 'rendezvous'
  })
}

/**
 * Live mode: the members of the cluster behind `--node DIR` with the
 * availability that node measured, and the cluster's own k, m, target and
 * repair threshold unless flags give them.
 */
async function planLive (args: ParsedArgs): Promise<PlanReport> {
  const client = connect(args.values.get('node') as string)
  const live = await client.json<{ k: number, m: number, nodes: Array<{ zone: string, anchor: boolean, online: boolean, availability?: number, profile?: number[], placementProfile?: number[] }> }>('GET', '/availability')
  const config = await client.json<Record<string, string | number>>('GET', '/config')
  if (!args.values.has('k')) args.values.set('k', String(live.k))
  if (!args.values.has('m')) args.values.set('m', String(live.m))
  // The profiles placement uses (UTC hours, from each member's published history); a member
  // with too short a history its measured profile; one never observed counts as its state right now.
  const nodes: PlanNode[] = live.nodes.map((n) => ({
    availability: n.placementProfile !== undefined ? Float64Array.from(n.placementProfile) : n.profile !== undefined ? Float64Array.from(n.profile) : n.availability ?? (n.online ? 1 : 0),
    // Placement sees only published profiles of a day or more; the others it places as unmeasured.
    placementMeasured: n.placementProfile !== undefined,
    zone: n.zone,
    anchor: n.anchor
  }))
  // repairThreshold is "auto" (or 0) when the cluster derives it; a number when an admin set one.
  const setThreshold = typeof config.repairThreshold === 'number' && config.repairThreshold > 0 ? config.repairThreshold : undefined
  return planFromFlags(nodes, args, { target: typeof config.target === 'number' ? config.target : undefined, repairThreshold: setThreshold, placement: 'profile' })
}

const percent = (p: number): string => `${(100 * p).toPrecision(6)}%`
const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']

/** Where the repair threshold came from, and whether it keeps the target. */
function thresholdSource (report: PlanReport): string {
  if (!report.repairThresholdDerived) return `threshold set; target ${report.target} ${report.readabilityAtRepairThreshold >= report.target ? 'met' : 'missed'}`
  if (report.readabilityAtRepairThreshold >= report.target) return `the fewest that meet target ${report.target}`
  return `target ${report.target} missed even with all shards live: repair at the first loss`
}

/** The human-readable report. */
export function formatPlan (report: PlanReport, target?: number): string {
  const hour = report.worstHour
  const lines = [
    `cluster          ${report.nodes} nodes, mean availability ${report.meanAvailability.toFixed(3)} (${report.method})`,
    `code             k=${report.k} m=${report.m}, storage overhead ${report.overhead.toFixed(2)}x, repair below ${report.repairThreshold} live shards`,
    `readable         ${percent(report.pReadable)} of the time (${report.nines.toFixed(2)} nines) with all ${report.k + report.m} shards live`,
    `at threshold     ${percent(report.readabilityAtRepairThreshold)} with ${report.repairThreshold} live shards${report.method === 'binomial' ? '' : ' on the least-available nodes'} (${thresholdSource(report)})`,
    `worst hour       ${percent(report.worstHourUnavailable)} of objects unreadable${report.worstHourUnavailable === report.pUnreadable ? '' : ` (${days[Math.floor(hour / 24)]} ${String(hour % 24).padStart(2, '0')}:00)`}`,
    `durability       ${report.durabilityNines.toFixed(2)} nines per year (P(loss)/year ${report.lossPerYear.toExponential(2)}, MTTDL ${report.mttdlYears.toExponential(2)} years)`
  ]
  const a = report.anchorReadability
  if (a !== undefined) {
    lines.push(`anchors down     ${percent(a.anchorsDownPReadable)} readable with all ${a.anchors} anchor(s) down (the PCs alone)`)
    lines.push(`PCs off          ${percent(a.pcsDownPReadable)} readable with every PC off (the ${a.anchors} anchor(s) alone)`)
    const perAnchor = Math.ceil(report.k / a.anchors)
    if (perAnchor > report.m) lines.push(`warning          with ${a.anchors} anchor(s) and k=${report.k}, one anchor holds up to ${perAnchor} shards of a stripe, more than m=${report.m}: losing that anchor for good loses data (add anchors or parity)`)
  }
  if (report.recommended === null) lines.push(`recommended      no code with k <= 32 and k + m <= ${report.nodes} reaches ${target}`)
  else if (report.recommended !== undefined) {
    const r = report.recommended
    lines.push(`recommended      k=${r.k} m=${r.m} for ${target}: overhead ${r.overhead.toFixed(2)}x, readable ${percent(r.pReadable)}`)
  }
  return lines.join('\n')
}

/**
 * `cairn plan [--nodes N --availability A | --availability-file F | --model office | --trace F] [--k K --m M] [--target T] [--json]`
 *
 * @example
 * await run(['--nodes', '300', '--availability', '0.4', '--target', '0.9999', '--json'])
 */
export async function run (argv: string[]): Promise<number> {
  const args = parseArgs(argv, SPEC)
  if (args.positionals.length > 0) throw new CairnError('BAD_INPUT', `unexpected argument ${args.positionals[0]}`, 'cairn plan takes only flags')
  const report = args.values.has('node') ? await planLive(args) : planFromFlags(describedCluster(args), args)
  if (args.booleans.has('json')) console.log(JSON.stringify(report))
  else console.log(formatPlan(report, args.values.has('target') ? Number(args.values.get('target')) : undefined))
  return 0
}
