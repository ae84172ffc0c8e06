/**
 * Scenarios shared by `cairn plan` and `cairn sim`: churn models and the
 * per-node availability inputs of the planner, built from plain options.
 * A live cluster builds the same `PlanNode` list from measured heartbeats.
 */
import { CairnError } from '../util/errors.ts'
import { HOURS_PER_WEEK, hourOfWeekProfile, IndependentModel, OfficeModel, parseTraceCsv } from './churn.ts'
import type { ChurnModel } from './churn.ts'
import { ShiftsModel } from './shifts.ts'
import type { PlanNode } from './planner.ts'

/** Weeks of schedule averaged into a node's hour-of-week profile: half a year, like a live node's history. */
export const PROFILE_WEEKS = 26

/** Mean length of one on + off cycle of the independent model, hours. */
export const DEFAULT_CYCLE_HOURS = 24

/** Most nodes a command accepts: keeps memory and run time bounded. */
export const MAX_NODES = 100_000

/** Which churn model to use and its inputs. */
export interface ModelOptions {
  model: 'office' | 'shifts' | 'independent' | 'trace'
  nodes: number
  seed: number
  /** Independent model: one availability for every node. */
  availability?: number
  /** Independent model: per-node availabilities (overrides `availability`). */
  availabilities?: Float64Array
  /** Trace model: the CSV text. */
  traceCsv?: string
  cycleHours?: number
}

/**
 * Build a churn model.
 *
 * @example
 * buildModel({ model: 'independent', nodes: 100, seed: 1, availability: 0.5 }).nodes // 100
 */
export function buildModel (options: ModelOptions): ChurnModel {
  if (options.model === 'office') return new OfficeModel(options.nodes, options.seed)
  if (options.model === 'shifts') return new ShiftsModel(options.nodes, options.seed)
  if (options.model === 'trace') {
    if (options.traceCsv === undefined) throw new CairnError('BAD_INPUT', 'the trace model needs a trace file', 'pass --trace FILE (lines node,onHour,offHour)')
    return parseTraceCsv(options.traceCsv).model
  }
  const values = options.availabilities ?? new Float64Array(options.nodes).fill(options.availability ?? NaN)
  if (values.some((a) => !(a >= 0 && a <= 1))) throw new CairnError('BAD_INPUT', 'the independent model needs availabilities in [0, 1]', 'pass --availability A or --availability-file FILE')
  return new IndependentModel(values, options.cycleHours ?? DEFAULT_CYCLE_HOURS, options.seed)
}

/**
 * Planner inputs from a session-based model: each node's hour-of-week
 * profile over PROFILE_WEEKS weeks. For the independent model, the constant
 * availability of each node.
 */
export function planNodesFromModel (model: ChurnModel, weeks = PROFILE_WEEKS): PlanNode[] {
  const nodes: PlanNode[] = []
  for (let i = 0; i < model.nodes; i++) {
    nodes.push({ availability: model.name === 'independent' ? model.meanAvailability(i) : hourOfWeekProfile(model, i, weeks) })
  }
  return nodes
}

/**
 * Parse a per-node availability file: one node per line, an optional id
 * first, then either one availability or 168 hour-of-week values; `#`
 * comments and a header line are skipped.
 *
 * @example
 * parseAvailabilityCsv('pc1,0.4\npc2,0.9\n').length // 2
 */
export function parseAvailabilityCsv (text: string): PlanNode[] {
  const nodes: PlanNode[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    let cells = line.split(',').map((c) => c.trim())
    if (cells.length !== 1 && cells.length !== HOURS_PER_WEEK && Number.isNaN(Number(cells[0]))) cells = cells.slice(1)
    const values = cells.map(Number)
    if (i === 0 && values.some(Number.isNaN)) continue
    if ((values.length !== 1 && values.length !== HOURS_PER_WEEK) || values.some((a) => !(a >= 0 && a <= 1))) {
      throw new CairnError('BAD_INPUT', `availability line ${i + 1} is not one value or ${HOURS_PER_WEEK} values in [0, 1]: ${line.slice(0, 80)}`, 'write "id,availability" per node, e.g. "pc1,0.4"')
    }
    if (nodes.length >= MAX_NODES) throw new CairnError('BAD_INPUT', `availability file has more than ${MAX_NODES} nodes`, 'plan a smaller cluster')
    nodes.push({ availability: values.length === 1 ? values[0] as number : Float64Array.from(values) })
  }
  if (nodes.length === 0) throw new CairnError('BAD_INPUT', 'availability file lists no nodes', 'write one line "id,availability" per node')
  return nodes
}
