/**
 * The shifts churn model: an office whose PCs keep one of two schedules.
 * - day PCs: on in working hours on weekdays (about 08:00 to 18:00), absent
 *   some days;
 * - night PCs: the machines of a night shift, or left on to work while
 *   nobody is there: on from about 17:00 to 09:00 on weekdays, and from
 *   Friday evening to Monday morning; absent some nights;
 * - a few always-on machines with a rare outage.
 * Day and night PCs complement each other, so a placement that mixes them
 * keeps shards online at every hour, and one that does not (plain
 * rendezvous, blind to the schedules) leaves some stripes with too few
 * shards online at night or in the day. Schedules are a pure function of
 * (seed, node, day), like the office model.
 */
import { SessionModel, clamp, onlineHours, HOURS_PER_WEEK } from './churn.ts'
import type { Session } from './churn.ts'
import { hashUniform, normalFromUniforms } from './prng.ts'

/** The mix of a shifts office. */
export interface ShiftMix {
  /** Fraction of always-on machines. */
  alwaysOnFraction: number
  /** Fraction of night PCs; the rest are day PCs. */
  nightFraction: number
  /** Chance a PC misses one of its sessions (leave, sickness, a night off). */
  absentPerDay: number
  /** Chance an always-on machine has an outage (reboot, update) on a day. */
  alwaysOnOutagePerDay: number
}

/** Two day PCs to each night PC, 5% always on. */
export const DEFAULT_SHIFT_MIX: ShiftMix = { alwaysOnFraction: 0.05, nightFraction: 0.3, absentPerDay: 0.08, alwaysOnOutagePerDay: 0.03 }

/** The kind of machine in the shifts model. */
export type ShiftMachine = 'day' | 'night' | 'always-on'

/** Weeks averaged for a node's mean availability. */
const MEAN_WEEKS = 8

/**
 * The shifts model (module comment).
 *
 * @example
 * const shifts = new ShiftsModel(60, 1); shifts.machine(3) // 'day' | 'night' | 'always-on'
 */
export class ShiftsModel extends SessionModel {
  readonly name = 'shifts'
  readonly nodes: number
  protected readonly maxSessionHours = 72
  private readonly seed: number
  private readonly mix: ShiftMix
  private readonly meanCache = new Map<number, number>()

  constructor (nodes: number, seed: number, mix: ShiftMix = DEFAULT_SHIFT_MIX) {
    super()
    this.nodes = nodes
    this.seed = seed
    this.mix = mix
  }

  /** Which kind of machine a node is. */
  machine (node: number): ShiftMachine {
    const u = hashUniform(this.seed, node, -1)
    if (u < this.mix.alwaysOnFraction) return 'always-on'
    if (u < this.mix.alwaysOnFraction + this.mix.nightFraction) return 'night'
    return 'day'
  }

  private u (node: number, day: number, salt: number): number {
    return hashUniform(this.seed, node, day, salt)
  }

  /** An hour near `mean` (spread `sd` hours), within [low, high]. */
  private around (node: number, day: number, salt: number, mean: number, sd: number, low: number, high: number): number {
    return clamp(mean + sd * normalFromUniforms(this.u(node, day, salt), this.u(node, day, salt + 1)), low, high)
  }

  sessionsOn (node: number, day: number): Session[] {
    const base = day * 24
    const dow = ((day % 7) + 7) % 7
    const kind = this.machine(node)
    if (kind === 'always-on') {
      if (this.u(node, day, 1) >= this.mix.alwaysOnOutagePerDay) return [[base, base + 24]]
      const start = base + 24 * this.u(node, day, 2)
      return [[base, start], [start + 0.1 + 1.9 * this.u(node, day, 3), base + 24]]
    }
    if (dow >= 5 || this.u(node, day, 1) < this.mix.absentPerDay) return []
    if (kind === 'day') {
      const on = base + this.around(node, day, 2, 8, 0.5, 6, 10)
      return [[on, base + this.around(node, day, 4, 18, 0.5, 16, 20)]]
    }
    // A night PC: from this evening to the next working morning (Friday's lasts the weekend).
    const on = base + this.around(node, day, 2, 17, 0.5, 16, 18.5)
    const morning = (day + (dow === 4 ? 3 : 1)) * 24
    return [[on, morning + this.around(node, day, 4, 9, 0.5, 7.5, 10.5)]]
  }

  meanAvailability (node: number): number {
    let mean = this.meanCache.get(node)
    if (mean === undefined) {
      mean = onlineHours(this, node, 0, MEAN_WEEKS * HOURS_PER_WEEK) / (MEAN_WEEKS * HOURS_PER_WEEK)
      this.meanCache.set(node, mean)
    }
    return mean
  }
}
