/**
 * Churn models: when each simulated node is online. Time is in hours from
 * Monday 00:00 of the first simulated week.
 *
 * - `independent`: every node alternates exponential on and off periods, so
 *   at any moment it is online with probability A, independently of the
 *   others. This is exactly the planner's model, which makes it the yardstick
 *   for validation.
 * - `office`: desktops on in working hours on weekdays (some left on at
 *   night, some days absent), laptops that come and go and travel, a few
 *   machines that are always on. Schedules are a pure function of
 *   (seed, node, day), so they do not depend on simulation order.
 * - `trace`: per-node online intervals loaded from a CSV, repeated.
 *
 * Permanent failures are not part of a churn model: the simulator draws them.
 */
import { hashUniform, normalFromUniforms, Prng } from './prng.ts'
import { CairnError } from '../util/errors.ts'

/** Hours in a week: the period of the office model and of availability profiles. */
export const HOURS_PER_WEEK = 168

/** How far ahead a session model looks for a node's next session before giving up for now, in days. */
const SESSION_SCAN_AHEAD_DAYS = 60

/** Bound on merging overlapping sessions, so a malformed trace cannot loop forever. */
const SESSION_MERGE_LIMIT = 1000

/** When a model is online. */
export interface ChurnModel {
  /** Model name, for reports. */
  readonly name: string
  /** Number of nodes the model describes. */
  readonly nodes: number
  /** Whether `node` is online at `hour`. */
  isOnlineAt (node: number, hour: number): boolean
  /** The hour (> `hour`) of the node's next up/down transition; Infinity when none. */
  nextToggle (node: number, hour: number, online: boolean): number
  /** The long-run fraction of time the node is online (for reports and the planner). */
  meanAvailability (node: number): number
}

/** An online interval [onHour, offHour). */
export type Session = readonly [number, number]

/**
 * Shared logic for models described by sessions that start on a given day.
 * Sessions may overlap (a PC left on overnight); overlapping ones merge.
 */
export abstract class SessionModel implements ChurnModel {
  abstract readonly name: string
  abstract readonly nodes: number
  /** Longest single session, in hours: how far back to look for one still running. */
  protected abstract readonly maxSessionHours: number
  /** Sessions of `node` that start on `day` (hours from the epoch). */
  abstract sessionsOn (node: number, day: number): Session[]
  abstract meanAvailability (node: number): number

  private sessionsBetween (node: number, firstDay: number, lastDay: number): Session[] {
    const out: Session[] = []
    for (let day = firstDay; day <= lastDay; day++) out.push(...this.sessionsOn(node, day))
    return out
  }

  private backDays (): number {
    return Math.ceil(this.maxSessionHours / 24) + 1
  }

  isOnlineAt (node: number, hour: number): boolean {
    const day = Math.floor(hour / 24)
    return this.sessionsBetween(node, day - this.backDays(), day).some(([on, off]) => on <= hour && hour < off)
  }

  nextToggle (node: number, hour: number, online: boolean): number {
    const day = Math.floor(hour / 24)
    if (!online) {
      for (let d = day; d <= day + SESSION_SCAN_AHEAD_DAYS; d++) {
        let best = Infinity
        for (const [on] of this.sessionsOn(node, d)) if (on > hour && on < best) best = on
        if (best < Infinity) return best
      }
      // Nothing for two months (e.g. a long absence): look again later.
      return (day + SESSION_SCAN_AHEAD_DAYS + 1) * 24
    }
    let end = hour
    for (let i = 0; i < SESSION_MERGE_LIMIT; i++) {
      let next = end
      for (const [on, off] of this.sessionsBetween(node, day - this.backDays(), Math.floor(end / 24) + 1)) {
        if (on <= end && off > next) next = off
      }
      if (next === end) break
      end = next
    }
    return end > hour ? end : hour + 1
  }
}

/** The mix and habits of an office. */
export interface OfficeMix {
  /** Fraction of machines always on (servers, lab PCs). */
  alwaysOnFraction: number
  /** Fraction of laptops; the rest are desktops. */
  laptopFraction: number
  /** Chance a desktop is not used on a weekday (leave, sickness). */
  desktopAbsentPerDay: number
  /** Chance a desktop is left on overnight (off at the next weekday's morning). */
  desktopLeftOnPerDay: number
  /** Chance a laptop is away for a whole week (travel, holidays). */
  laptopAwayPerWeek: number
  /** Chance a laptop shows up on a weekday it is not away. */
  laptopPresentPerDay: number
  /** Chance an always-on machine has an outage (reboot, update) on a day. */
  alwaysOnOutagePerDay: number
}

/** A typical office: 60% desktops, 25% laptops, 15% always on. */
export const DEFAULT_OFFICE_MIX: OfficeMix = {
  alwaysOnFraction: 0.15,
  laptopFraction: 0.25,
  desktopAbsentPerDay: 0.08,
  desktopLeftOnPerDay: 0.1,
  laptopAwayPerWeek: 0.06,
  laptopPresentPerDay: 0.8,
  alwaysOnOutagePerDay: 0.03
}

/** The kind of machine in the office model. */
export type OfficeMachine = 'desktop' | 'laptop' | 'always-on'

/** `v` held within [low, high]. */
export const clamp = (v: number, low: number, high: number): number => Math.min(high, Math.max(low, v))

/**
 * The office model: deterministic schedules from (seed, node, day).
 *
 * @example
 * const office = new OfficeModel(300, 1); office.isOnlineAt(0, 10) // Monday 10:00
 */
export class OfficeModel extends SessionModel {
  readonly name = 'office'
  readonly nodes: number
  protected readonly maxSessionHours = 72
  private readonly seed: number
  private readonly mix: OfficeMix
  private readonly meanCache = new Map<OfficeMachine, number>()

  constructor (nodes: number, seed: number, mix: OfficeMix = DEFAULT_OFFICE_MIX) {
    super()
    this.nodes = nodes
    this.seed = seed
    this.mix = mix
  }

  /** Which kind of machine a node is. */
  machine (node: number): OfficeMachine {
    const u = hashUniform(this.seed, node, -1)
    if (u < this.mix.alwaysOnFraction) return 'always-on'
    if (u < this.mix.alwaysOnFraction + this.mix.laptopFraction) return 'laptop'
    return 'desktop'
  }

  private u (node: number, day: number, salt: number): number {
    return hashUniform(this.seed, node, day, salt)
  }

  sessionsOn (node: number, day: number): Session[] {
    const base = day * 24
    const weekday = ((day % 7) + 7) % 7 < 5
    const kind = this.machine(node)
    if (kind === 'always-on') {
      if (this.u(node, day, 1) >= this.mix.alwaysOnOutagePerDay) return [[base, base + 24]]
      const start = base + 24 * this.u(node, day, 2)
      const length = 0.1 + 1.9 * this.u(node, day, 3)
      return [[base, start], [start + length, base + 24]]
    }
    if (!weekday) return []
    if (kind === 'desktop') {
      if (this.u(node, day, 1) < this.mix.desktopAbsentPerDay) return []
      const on = base + clamp(8.5 + 0.5 * normalFromUniforms(this.u(node, day, 2), this.u(node, day, 3)), 6, 11)
      let off = base + clamp(17.5 + 0.75 * normalFromUniforms(this.u(node, day, 4), this.u(node, day, 5)), on - base + 1, 22)
      if (this.u(node, day, 6) < this.mix.desktopLeftOnPerDay) {
        const dow = ((day % 7) + 7) % 7
        off = (day + (dow === 4 ? 3 : 1)) * 24 + 8
      }
      return [[on, off]]
    }
    const week = Math.floor(day / 7)
    if (hashUniform(this.seed, node, week, 7) < this.mix.laptopAwayPerWeek) return []
    if (this.u(node, day, 1) >= this.mix.laptopPresentPerDay) return []
    const on = base + clamp(9 + normalFromUniforms(this.u(node, day, 2), this.u(node, day, 3)), 7, 12)
    return [[on, on + 2 + 6 * this.u(node, day, 4)]]
  }

  meanAvailability (node: number): number {
    const kind = this.machine(node)
    const cached = this.meanCache.get(kind)
    if (cached !== undefined) return cached
    // Average the schedule of many synthetic nodes of this kind over weeks.
    let online = 0
    let total = 0
    for (let probe = 0; probe < 4000 && total < 200 * HOURS_PER_WEEK; probe++) {
      const candidate = node + probe * 7919
      if (this.machine(candidate) !== kind) continue
      online += onlineHours(this, candidate, 0, 4 * HOURS_PER_WEEK)
      total += 4 * HOURS_PER_WEEK
    }
    const mean = total > 0 ? online / total : 0
    this.meanCache.set(kind, mean)
    return mean
  }
}

/** Hours a node spends online in [from, to). */
export function onlineHours (model: ChurnModel, node: number, from: number, to: number): number {
  let t = from
  let online = model.isOnlineAt(node, t)
  let sum = 0
  while (t < to) {
    const next = Math.min(to, model.nextToggle(node, t, online))
    if (online) sum += next - t
    t = next
    online = !online
  }
  return sum
}

/**
 * Independent churn: exponential on and off periods with mean on + off =
 * `cycleHours`, so each node is online a fraction `availability[node]` of
 * the time, independently. Uses a seeded generator, so transitions depend on
 * the order of queries, which the simulator keeps deterministic.
 */
export class IndependentModel implements ChurnModel {
  readonly name = 'independent'
  readonly nodes: number
  private readonly availability: Float64Array
  private readonly cycleHours: number
  private readonly rng: Prng

  constructor (availability: Float64Array, cycleHours: number, seed: number) {
    this.nodes = availability.length
    this.availability = availability
    this.cycleHours = cycleHours
    this.rng = new Prng(seed ^ 0x1d3f)
  }

  isOnlineAt (node: number): boolean {
    return this.rng.next() < (this.availability[node] as number)
  }

  nextToggle (node: number, hour: number, online: boolean): number {
    const a = this.availability[node] as number
    if (a >= 1) return online ? Infinity : hour
    if (a <= 0) return online ? hour : Infinity
    return hour + this.rng.exponential((online ? a : 1 - a) * this.cycleHours)
  }

  meanAvailability (node: number): number {
    return this.availability[node] as number
  }
}

/**
 * Measured traces: per-node online intervals repeated with `periodHours`.
 */
export class TraceModel extends SessionModel {
  readonly name = 'trace'
  readonly nodes: number
  protected readonly maxSessionHours: number
  private readonly intervals: Session[][]
  private readonly periodHours: number

  constructor (intervals: Session[][], periodHours: number) {
    super()
    this.intervals = intervals.map((list) => [...list].sort((a, b) => a[0] - b[0]))
    this.nodes = intervals.length
    this.periodHours = periodHours
    let longest = 24
    for (const list of intervals) for (const [on, off] of list) longest = Math.max(longest, off - on)
    this.maxSessionHours = longest
  }

  sessionsOn (node: number, day: number): Session[] {
    const from = day * 24
    const to = from + 24
    const out: Session[] = []
    const list = this.intervals[node] ?? []
    for (let cycle = Math.floor(from / this.periodHours); cycle * this.periodHours < to; cycle++) {
      const shift = cycle * this.periodHours
      for (const [on, off] of list) if (on + shift >= from && on + shift < to) out.push([on + shift, off + shift])
    }
    return out
  }

  meanAvailability (node: number): number {
    let sum = 0
    for (const [on, off] of this.intervals[node] ?? []) sum += off - on
    return Math.min(1, sum / this.periodHours)
  }
}

/** Most nodes a trace file may describe: the simulator's bound on cluster size. */
export const TRACE_MAX_NODES = 100_000

/**
 * Parse a trace CSV: lines `node,onHour,offHour` (hours since the start of
 * the trace, online in [onHour, offHour)); an optional header line; `#`
 * comments. The trace repeats with a period of whole weeks covering it.
 *
 * @example
 * parseTraceCsv('node,on,off\npc1,9,17\n').model.nodes // 1
 */
export function parseTraceCsv (text: string): { model: TraceModel, ids: string[] } {
  const byNode = new Map<string, Session[]>()
  let maxHour = 0
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    const [id, onText, offText] = line.split(',').map((s) => s.trim())
    const on = Number(onText)
    const off = Number(offText)
    if (i === 0 && Number.isNaN(on)) continue
    if (id === undefined || id === '' || !Number.isFinite(on) || !Number.isFinite(off) || on < 0 || off <= on) {
      throw new CairnError('BAD_INPUT', `trace line ${i + 1} is not "node,onHour,offHour" with 0 <= onHour < offHour: ${line.slice(0, 80)}`, 'fix the trace file')
    }
    let list = byNode.get(id)
    if (list === undefined) {
      if (byNode.size >= TRACE_MAX_NODES) throw new CairnError('BAD_INPUT', `trace has more than ${TRACE_MAX_NODES} nodes`, 'split the trace')
      list = []
      byNode.set(id, list)
    }
    list.push([on, off])
    maxHour = Math.max(maxHour, off)
  }
  if (byNode.size === 0) throw new CairnError('BAD_INPUT', 'trace file has no intervals', 'write lines "node,onHour,offHour"')
  const periodHours = Math.max(1, Math.ceil(maxHour / HOURS_PER_WEEK)) * HOURS_PER_WEEK
  return { model: new TraceModel([...byNode.values()], periodHours), ids: [...byNode.keys()] }
}

/**
 * The availability profile of a node: the fraction of each hour of the week
 * it was online, averaged over `weeks` weeks. This is what a live cluster
 * measures from heartbeats, and what the planner takes.
 */
export function hourOfWeekProfile (model: ChurnModel, node: number, weeks: number): Float64Array {
  const profile = new Float64Array(HOURS_PER_WEEK)
  const end = weeks * HOURS_PER_WEEK
  let t = 0
  let online = model.isOnlineAt(node, 0)
  while (t < end) {
    const next = Math.min(end, model.nextToggle(node, t, online))
    if (online) {
      for (let h = Math.floor(t); h < next; h++) {
        const overlap = Math.min(next, h + 1) - Math.max(t, h)
        if (overlap > 0) profile[h % HOURS_PER_WEEK] = (profile[h % HOURS_PER_WEEK] as number) + overlap
      }
    }
    t = next
    online = !online
  }
  for (let h = 0; h < HOURS_PER_WEEK; h++) profile[h] = (profile[h] as number) / weeks
  return profile
}
