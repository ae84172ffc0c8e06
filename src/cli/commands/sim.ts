/**
 * `cairn sim`: run the discrete-event churn simulator (src/sim/simulator.ts)
 * on a modelled office, an independent-churn cluster or measured traces, and
 * report readability, losses and repair traffic; optionally write the
 * week-long availability curve as CSV and SVG. The repair threshold, unless
 * --repair-threshold is given, is derived as `cairn plan` derives it: from
 * --target (default 0.9999) and the model's availability (each node's
 * availability, or its hour-of-week profile for office and trace models).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs, numberFlag } from '../args.ts'
import type { ParsedArgs } from '../args.ts'
import { CairnError } from '../../util/errors.ts'
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_TARGET, deriveRepairThreshold, readabilityWithLive } from '../../heal/policy.ts'
import type { Availability } from '../../heal/policy.ts'
import { curveCsv, curveSvg } from '../../sim/chart.ts'
import { policyAvailability } from '../../sim/planner.ts'
import { buildModel, DEFAULT_CYCLE_HOURS, MAX_NODES, parseAvailabilityCsv, planNodesFromModel } from '../../sim/scenario.ts'
import type { ChurnModel } from '../../sim/churn.ts'
import { simulate } from '../../sim/simulator.ts'
import type { SimConfig } from '../../sim/simulator.ts'
import type { SimResult } from '../../sim/sim-stats.ts'
import { DEFAULT_K, DEFAULT_M, DEFAULT_MTTF_DAYS, placementFlag } from './plan.ts'

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']

/** Hashes spent on initial placement (groups x nodes): bounds start-up time (~5 us per hash). */
export const PLACEMENT_HASH_BUDGET = 2e7
/** Group slots per node aimed at when the hash budget allows: enough to smooth per-node effects. */
const GROUP_SLOTS_PER_NODE = 64
/** Fewest placement groups (unless there are fewer objects). */
const MIN_GROUPS = 256
/** Most objects a run accepts: counters are 32-bit per group. */
const MAX_OBJECTS = 1e9
/** Longest simulated time, days. */
const MAX_DAYS = 3650
/** Default repair bandwidth per coordinator: 100 Mbit/s, in Mbit/s. */
const DEFAULT_REPAIR_MBPS = 100
/** Default object size, MiB. */
const DEFAULT_OBJECT_MIB = 1

const SPEC = {
  values: ['model', 'availability', 'availability-file', 'trace', 'nodes', 'objects', 'days', 'k', 'm', 'seed', 'zones', 'anchors',
    'dead-after-hours', 'repair-threshold', 'target', 'mttf-days', 'object-mib', 'repair-mbps', 'groups', 'sample-minutes', 'cycle-hours', 'csv', 'svg', 'placement'],
  booleans: ['json']
} as const

/**
 * The default number of placement groups: about 64 group slots per node,
 * within the hash budget, never more than the objects.
 */
export function defaultGroups (objects: number, nodes: number, shards: number): number {
  const wanted = Math.min(Math.ceil(GROUP_SLOTS_PER_NODE * nodes / shards), Math.floor(PLACEMENT_HASH_BUDGET / nodes))
  return Math.max(1, Math.min(objects, Math.max(MIN_GROUPS, wanted)))
}

function readText (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new CairnError('BAD_INPUT', `cannot read ${path}: ${(err as Error).message}`, 'check the path')
  }
}

/** Anchors are always on (the simulator never takes them down), whatever the churn model says. */
function modelAvailability (model: ChurnModel, anchors: number): Availability {
  const nodes = planNodesFromModel(model).map((node, i) => i < anchors ? { availability: 1 } : node)
  return policyAvailability(nodes)
}

/** The repair threshold of a run and what it was derived from. */
export interface SimThreshold {
  repairThreshold: number
  /** True when derived from the target (no --repair-threshold). */
  derived: boolean
  target: number
  /** The planner's readability of an object with repairThreshold live shards. */
  readabilityAtRepairThreshold: number
}

/**
 * The run's repair threshold: --repair-threshold, or the one `cairn plan`
 * derives for this availability and --target.
 */
export function thresholdFromFlags (args: ParsedArgs, config: Pick<SimConfig, 'model' | 'k' | 'm' | 'anchors'>): SimThreshold {
  const { k, m } = config
  const target = numberFlag(args, 'target', DEFAULT_TARGET, { min: 1e-9, max: 1 })
  const availability = modelAvailability(config.model, config.anchors)
  const derived = !args.values.has('repair-threshold')
  const repairThreshold = derived
    ? deriveRepairThreshold({ k, m, availability, target })
    : numberFlag(args, 'repair-threshold', k + m, { integer: true, min: k, max: k + m })
  return { repairThreshold, derived, target, readabilityAtRepairThreshold: readabilityWithLive(repairThreshold, k, availability) }
}

/** A run's settings from flags, with where its repair threshold came from. */
export type SimFlags = SimConfig & { threshold: SimThreshold }

/** Simulation settings from flags. */
export function configFromFlags (args: ParsedArgs): SimFlags {
  const modelName = args.values.get('model') ?? (args.values.has('trace') ? 'trace' : 'office')
  if (modelName !== 'office' && modelName !== 'shifts' && modelName !== 'independent' && modelName !== 'trace') throw new CairnError('BAD_INPUT', `unknown model ${modelName}`, 'use --model office, shifts, independent or trace')
  const placement = placementFlag(args)
  const seed = numberFlag(args, 'seed', 1, { integer: true })
  const file = args.values.get('availability-file')
  const availabilities = file === undefined ? undefined : Float64Array.from(parseAvailabilityCsv(readText(file)).map((n) => typeof n.availability === 'number' ? n.availability : n.availability.reduce((a, b) => a + b, 0) / n.availability.length))
  const traceFile = args.values.get('trace')
  const nodes = numberFlag(args, 'nodes', availabilities?.length ?? 300, { integer: true, min: 1, max: MAX_NODES })
  const model = buildModel({
    model: modelName,
    nodes,
    seed,
    availability: numberFlag(args, 'availability', 0.5, { min: 0, max: 1 }),
    availabilities,
    traceCsv: traceFile === undefined ? undefined : readText(traceFile),
    cycleHours: numberFlag(args, 'cycle-hours', DEFAULT_CYCLE_HOURS, { min: 0.01 })
  })
  const k = numberFlag(args, 'k', DEFAULT_K, { integer: true, min: 1, max: 256 })
  const m = numberFlag(args, 'm', DEFAULT_M, { integer: true, min: 0, max: 256 })
  if (k + m > model.nodes) throw new CairnError('BAD_INPUT', `k + m = ${k + m} shards need at least that many nodes; the model has ${model.nodes}`, 'lower k or m, or add nodes')
  const objects = numberFlag(args, 'objects', 10_000, { integer: true, min: 1, max: MAX_OBJECTS })
  const anchors = numberFlag(args, 'anchors', 0, { integer: true, min: 0, max: model.nodes })
  const threshold = thresholdFromFlags(args, { model, k, m, anchors })
  const mttfDays = numberFlag(args, 'mttf-days', DEFAULT_MTTF_DAYS, { min: 0 })
  return {
    model,
    objects,
    days: numberFlag(args, 'days', 28, { min: 0.01, max: MAX_DAYS }),
    k,
    m,
    seed,
    groups: numberFlag(args, 'groups', defaultGroups(objects, model.nodes, k + m), { integer: true, min: 1, max: objects }),
    zones: numberFlag(args, 'zones', 1, { integer: true, min: 1, max: 1000 }),
    anchors,
    deadAfterHours: numberFlag(args, 'dead-after-hours', DEFAULT_DEAD_AFTER_MS / 3600e3, { min: 0 }),
    repairThreshold: threshold.repairThreshold,
    threshold,
    mttfDays: mttfDays === 0 ? Infinity : mttfDays,
    objectBytes: numberFlag(args, 'object-mib', DEFAULT_OBJECT_MIB, { min: 1 / 1024 }) * 2 ** 20,
    repairBytesPerSecond: numberFlag(args, 'repair-mbps', DEFAULT_REPAIR_MBPS, { min: 0.001 }) * 1e6 / 8,
    sampleMinutes: numberFlag(args, 'sample-minutes', 15, { min: 1, max: 1440 }),
    placement
  }
}

/** The JSON report: the result without the curve, plus the settings and the repair threshold's origin. */
export function simReport (config: SimFlags, result: SimResult): Record<string, unknown> {
  const { curve: _curve, ...rest } = result
  return {
    ...rest,
    model: config.model.name,
    nodes: config.model.nodes,
    objects: config.objects,
    days: config.days,
    k: config.k,
    m: config.m,
    repairThreshold: config.repairThreshold,
    repairThresholdDerived: config.threshold.derived,
    target: config.threshold.target,
    readabilityAtRepairThreshold: config.threshold.readabilityAtRepairThreshold,
    placement: config.placement ?? 'rendezvous',
    seed: config.seed
  }
}

/**
 * `cairn sim [--model office|shifts|independent|trace] [--placement profile|rendezvous] [--nodes N --objects O --days D --k K --m M --seed S] [--target T | --repair-threshold N] [--csv F --svg F] [--json]`
 *
 * @example
 * await run(['--model', 'independent', '--availability', '0.5', '--days', '7', '--json'])
 */
export async function run (argv: string[]): Promise<number> {
  const args = parseArgs(argv, SPEC)
  if (args.positionals.length > 0) throw new CairnError('BAD_INPUT', `unexpected argument ${args.positionals[0]}`, 'cairn sim takes only flags')
  const config = configFromFlags(args)
  const result = simulate(config)
  const title = `${config.model.name}, ${config.model.nodes} nodes, k=${config.k} m=${config.m}, ${config.days} days, ${config.placement ?? 'rendezvous'} placement`
  const csv = args.values.get('csv')
  if (csv !== undefined) writeFileSync(csv, curveCsv(result.curve))
  const svg = args.values.get('svg')
  if (svg !== undefined) writeFileSync(svg, curveSvg(result.curve, title))
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(simReport(config, result)))
    return 0
  }
  const r = result.readable
  console.log([
    `simulated        ${title}, ${config.objects} objects in ${result.groups} placement groups`,
    `readable         mean ${(100 * r.mean).toFixed(4)}% (± ${(100 * r.stderr).toFixed(4)}), min ${(100 * r.min).toFixed(4)}%`,
    `worst hour       ${(100 * result.worstHour.meanReadable).toFixed(4)}% readable on average (${WEEKDAYS[Math.floor(result.worstHour.hourOfWeek / 24)] ?? ''} ${String(result.worstHour.hourOfWeek % 24).padStart(2, '0')}:00)`,
    `repair below     ${config.repairThreshold} live shards (${config.threshold.derived ? `derived for target ${config.threshold.target}` : 'set'}; plan: readable ${(100 * config.threshold.readabilityAtRepairThreshold).toFixed(4)}% at ${config.repairThreshold} live)`,
    `lost             ${result.lost} objects (${result.permanentFailures} permanent failures, ${result.deadDeclarations} nodes declared dead)`,
    `repair traffic   ${(result.repairBytesPerNodePerDay / 2 ** 20).toFixed(2)} MiB per node per day (${result.repairs} group repairs)`,
    `overhead         ${result.overhead.toFixed(2)}x`,
    `wall time        ${result.elapsedSeconds.toFixed(1)} s`
  ].join('\n'))
  return 0
}
