/**
 * Profile-aware choice of a stripe's PC shards (pure), used by
 * `placeStripe` (cluster/placement.ts) when the nodes carry measured
 * availability.
 *
 * Each node has a weekly profile: 168 probabilities of being online, one per
 * hour of the week (UTC, Monday 00:00 = hour 0). For a set of shard holders,
 * the number of shards online at hour h is a Poisson-binomial variable; the
 * stripe is readable at h when at least k are online. The PC shards are
 * chosen greedily, one slot at a time, from a window of the best
 * rendezvous-ranked PCs: each slot goes to the candidate that keeps the
 * worst hour's unreadability P(< k online) lowest, then the worst hour's
 * expected online count highest; candidates within a tolerance of the best
 * count as equal, and the first of those in rendezvous order wins. So when
 * profiles do not differ much, the answer is plain rendezvous (stable when
 * nodes come and go), and a day-time PC is paired with night-time PCs where
 * the roster has them.
 *
 * Determinism: every sum runs in a fixed order (hours 0..167, shards in slot
 * order), so the same inputs give bit-identical results on every node.
 */

/** Hours in the weekly profile. */
export const PROFILE_HOURS = 168
/** Online probability assumed for a PC that reports no availability at all (new, never measured). */
export const UNKNOWN_PC_AVAILABILITY = 0.5
/**
 * PCs considered per stripe, the best in rendezvous order: wide enough to find
 * complementary schedules in a mixed office, narrow enough that a node's
 * arrival or departure only moves shards of keys it ranks high for, and that
 * the cost per stripe stays bounded (window × slots × 168 × k operations).
 */
export const PROFILE_WINDOW = 16
/** Candidates whose worst-hour unreadability is within this factor of the best count as equal. */
const UNREADABLE_TOLERANCE = 1.25
/** Absolute slack on unreadability, so that differences below it (far beyond any target) do not beat rendezvous order. */
const UNREADABLE_FLOOR = 1e-12
/** Candidates whose worst-hour expected online shards are within this of the best count as equal. */
const EXPECTED_TOLERANCE_SHARDS = 0.25
/** Floor of the availability factor of a rendezvous weight: a node measured always off still gets chosen when nothing else is left. */
const MIN_WEIGHT_FACTOR = 0.01

/** What the profile choice reads of a node (a subset of PlacementNode). */
export interface ProfiledNode {
  id: string
  anchor?: boolean
  /** 168 online probabilities by UTC hour of week. */
  profile?: readonly number[]
  /** Mean online fraction, used when there is no profile. */
  availability?: number
}

/** True when the node says anything about its availability. */
export function hasAvailability (node: ProfiledNode): boolean {
  return node.profile !== undefined || node.availability !== undefined
}

const clamp01 = (v: number): number => v > 0 ? (v < 1 ? v : 1) : 0

/** The node's mean online fraction: its availability, else the mean of its profile, else 1 for an anchor and UNKNOWN_PC_AVAILABILITY for a PC. */
export function meanAvailability (node: ProfiledNode): number {
  if (node.availability !== undefined) return clamp01(node.availability)
  if (node.profile !== undefined && node.profile.length === PROFILE_HOURS) {
    let sum = 0
    for (let h = 0; h < PROFILE_HOURS; h++) sum += clamp01(node.profile[h] as number)
    return sum / PROFILE_HOURS
  }
  return node.anchor === true ? 1 : UNKNOWN_PC_AVAILABILITY
}

/**
 * The factor a rendezvous weight is multiplied by: the mean availability
 * (at least MIN_WEIGHT_FACTOR), or 1 for a node without any measurement, so
 * rosters without availability place exactly as plain rendezvous.
 *
 * @example
 * availabilityFactor({ id: 'pc1', availability: 0.4 }) // 0.4
 */
export function availabilityFactor (node: ProfiledNode): number {
  return hasAvailability(node) ? Math.max(MIN_WEIGHT_FACTOR, meanAvailability(node)) : 1
}

/** The node's online probability per hour (a malformed profile counts as absent). */
export function hourly (node: ProfiledNode): Float64Array {
  const out = new Float64Array(PROFILE_HOURS)
  if (node.profile !== undefined && node.profile.length === PROFILE_HOURS) {
    for (let h = 0; h < PROFILE_HOURS; h++) out[h] = clamp01(node.profile[h] as number)
  } else {
    out.fill(meanAvailability(node))
  }
  return out
}

/** How good a set of holders is at its worst hour. */
export interface HolderScore {
  /** max over hours of P(fewer than k shards online). */
  worstUnreadable: number
  /** min over hours of the expected number of shards online. */
  worstExpected: number
}

/**
 * The holders of one stripe, hour by hour: the distribution of the number of
 * online shards below k (the mass at k or more is implied), and the expected
 * number online.
 */
export class HolderProfile {
  readonly k: number
  /** below[h * k + j] = P(exactly j shards online at hour h), j < k. */
  private below: Float64Array
  private expected: Float64Array

  constructor (k: number) {
    this.k = Math.max(1, k)
    this.below = new Float64Array(PROFILE_HOURS * this.k)
    for (let h = 0; h < PROFILE_HOURS; h++) this.below[h * this.k] = 1
    this.expected = new Float64Array(PROFILE_HOURS)
  }

  /** Add a holder of `shards` shards (they go offline together) with online probabilities `p`. */
  add (p: Float64Array, shards = 1): void {
    const next = this.with(p, shards)
    this.below = next.below
    this.expected = next.expected
  }

  /** The score with one more holder, without changing this profile. */
  scoreWith (p: Float64Array, shards = 1): HolderScore {
    const k = this.k
    let worstUnreadable = 0
    let worstExpected = Infinity
    for (let h = 0; h < PROFILE_HOURS; h++) {
      const q = p[h] as number
      const base = h * k
      let unreadable = 0
      for (let j = 0; j < k; j++) {
        const from = j - shards
        unreadable += (this.below[base + j] as number) * (1 - q) + (from >= 0 ? (this.below[base + from] as number) * q : 0)
      }
      if (unreadable > worstUnreadable) worstUnreadable = unreadable
      const e = (this.expected[h] as number) + shards * q
      if (e < worstExpected) worstExpected = e
    }
    return { worstUnreadable, worstExpected }
  }

  /** The current score. */
  score (): HolderScore {
    return this.scoreWith(new Float64Array(PROFILE_HOURS), 0)
  }

  private with (p: Float64Array, shards: number): { below: Float64Array, expected: Float64Array } {
    const k = this.k
    const below = new Float64Array(PROFILE_HOURS * k)
    const expected = new Float64Array(PROFILE_HOURS)
    for (let h = 0; h < PROFILE_HOURS; h++) {
      const q = p[h] as number
      const base = h * k
      for (let j = 0; j < k; j++) {
        const from = j - shards
        below[base + j] = (this.below[base + j] as number) * (1 - q) + (from >= 0 ? (this.below[base + from] as number) * q : 0)
      }
      expected[h] = (this.expected[h] as number) + shards * q
    }
    return { below, expected }
  }
}

/**
 * The index in `candidates` (rendezvous order) of the best next holder:
 * lowest worst-hour unreadability, then highest worst-hour expected count,
 * each within its tolerance; the earliest in rendezvous order among equals.
 * -1 when `candidates` is empty.
 *
 * @example
 * const i = bestCandidate(holders, [hourly(pcA), hourly(pcB)])
 */
export function bestCandidate (holders: HolderProfile, candidates: readonly Float64Array[]): number {
  const scores = candidates.map((p) => holders.scoreWith(p))
  if (scores.length === 0) return -1
  let bestUnreadable = Infinity
  for (const s of scores) if (s.worstUnreadable < bestUnreadable) bestUnreadable = s.worstUnreadable
  const unreadableLimit = bestUnreadable * UNREADABLE_TOLERANCE + UNREADABLE_FLOOR
  let bestExpected = -Infinity
  for (const s of scores) if (s.worstUnreadable <= unreadableLimit && s.worstExpected > bestExpected) bestExpected = s.worstExpected
  const expectedLimit = bestExpected - EXPECTED_TOLERANCE_SHARDS
  return scores.findIndex((s) => s.worstUnreadable <= unreadableLimit && s.worstExpected >= expectedLimit)
}
