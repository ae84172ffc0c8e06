/**
 * Asleep or gone (pure): the state of a member from whether it is online,
 * when it was last seen and its own presence history.
 *
 * An offline member is `asleep` while its absence is what its history
 * predicts: it is normally off at this hour (its weekly profile; with less
 * than a week observed, the profile of the hour of the day), or it has been
 * away for less than the 99th percentile of its past absences. The first
 * moment after lastSeen at which neither holds is when it is expected back;
 * from then it is `suspect` (also at night: a PC that misses its morning is
 * not excused by the next evening), and `dead` once `deadAfter` has passed
 * since it was expected back. A member with no history is suspect at once
 * and dead `deadAfter` after it was last seen.
 *
 * All times are model time (util/model-clock.ts).
 */
import { PRESENCE_WEEK_HOURS } from '../meta/node-presence.ts'
import { WEEK_MS, hourOfWeekAt, nextHourMs, observedMs, onlineMs } from './presence-history.ts'
import type { PresenceHistory } from './presence-history.ts'

/** A member's state. */
export type NodeState = 'online' | 'asleep' | 'suspect' | 'dead'

/** An hour of the profile with an online fraction below this is one at which the node is normally off. */
export const NORMALLY_OFF_BELOW = 0.5
/** Observation an hour of the profile needs before it says anything (a node seen for two minutes at 03:00 has no habit yet). */
export const MIN_PROFILE_OBSERVED_MS = 15 * 60_000
/** Quantile of past absences within which an absence is unremarkable. */
export const ABSENCE_QUANTILE = 0.99
/** Availability assumed before anything is known: a PC that is on half the time. */
export const PRIOR_AVAILABILITY = 0.5
/** Weight of the prior, as observed time: a young cluster plans conservatively for about its first week. */
export const PRIOR_WEIGHT_MS = WEEK_MS

/** What `nodeState` decides on. */
export interface NodeStateInput {
  online: boolean
  /** Last moment the member was known to run (the later of its own report and the observer's last heartbeat answer). */
  lastSeenMs: number
  /** Its self-measured history, projected to lastSeenMs or later; undefined when it never published one. */
  history: PresenceHistory | undefined
  nowMs: number
  deadAfterMs: number
}

/** A member's state with the moments that bound it (null while online). */
export interface NodeStateResult {
  state: NodeState
  /** When its history expected it back (lastSeen itself without a history). */
  expectedBackMs: number | null
  /** When it is (or was) declared dead if it stays away: expectedBack + deadAfter. */
  deadAtMs: number | null
}

/**
 * The nearest-rank quantile `q` of `absencesMs` (0 when there are none). With
 * at most 64 absences the 99th percentile is the longest one.
 *
 * @example
 * absenceQuantileMs([1, 5, 3]) // 5
 */
export function absenceQuantileMs (absencesMs: readonly number[], q: number = ABSENCE_QUANTILE): number {
  if (absencesMs.length === 0) return 0
  const sorted = [...absencesMs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/**
 * The node's online fraction at `hourOfWeek` by its profile, or undefined
 * when that hour was not observed enough. With less than a week observed
 * the seven days are pooled (the hour of the day).
 *
 * @example
 * profileFractionAt(h, 3) // 0 for a PC that is always off on Mondays at 03:00
 */
export function profileFractionAt (h: PresenceHistory, hourOfWeek: number): number | undefined {
  let online = 0
  let seen = 0
  if (observedMs(h) >= WEEK_MS) {
    online = h.weekOnlineMs[hourOfWeek] as number
    seen = h.weekObservedMs[hourOfWeek] as number
  } else {
    for (let hour = hourOfWeek % 24; hour < PRESENCE_WEEK_HOURS; hour += 24) {
      online += h.weekOnlineMs[hour] as number
      seen += h.weekObservedMs[hour] as number
    }
  }
  return seen >= MIN_PROFILE_OBSERVED_MS ? online / seen : undefined
}

/** True when the profile says the node is normally off at the hour of `ms`. */
function normallyOffAt (h: PresenceHistory, ms: number): boolean {
  const f = profileFractionAt(h, hourOfWeekAt(ms, h.utcOffsetMin))
  return f !== undefined && f < NORMALLY_OFF_BELOW
}

/**
 * When a node last seen at `lastSeenMs` is expected back: the first moment
 * at which it has been away for at least its 99th-percentile absence and is
 * not in an hour at which it is normally off. A profile that is off at every
 * hour predicts nothing, and only the absences count.
 *
 * @example
 * expectedBackMs(officePc, fridayEvening) // Monday morning
 */
export function expectedBackMs (h: PresenceHistory, lastSeenMs: number): number {
  const start = lastSeenMs + absenceQuantileMs(h.absencesMs)
  let t = start
  // Bounded: one week of hours covers every hour of the profile.
  for (let i = 0; i <= PRESENCE_WEEK_HOURS; i++) {
    if (!normallyOffAt(h, t)) return t
    t = nextHourMs(t, h.utcOffsetMin)
  }
  return start
}

/**
 * A member's state by the rule of the module header.
 *
 * @example
 * nodeState({ online: false, lastSeenMs: fridayEvening, history, nowMs: saturdayNoon, deadAfterMs: 72 * 3_600_000 }).state // 'asleep'
 */
export function nodeState (input: NodeStateInput): NodeStateResult {
  const { online, lastSeenMs, history, nowMs, deadAfterMs } = input
  if (online) return { state: 'online', expectedBackMs: null, deadAtMs: null }
  const back = history === undefined || observedMs(history) <= 0 ? lastSeenMs : expectedBackMs(history, lastSeenMs)
  const deadAt = back + deadAfterMs
  const state = nowMs < back ? 'asleep' : nowMs < deadAt ? 'suspect' : 'dead'
  return { state, expectedBackMs: back, deadAtMs: deadAt }
}

/**
 * The long-run online fraction to plan with: the measured fraction of the
 * weekly profile (about the last PROFILE_WEEKS weeks) blended with a prior of
 * PRIOR_AVAILABILITY weighted as PRIOR_WEIGHT_MS of observation. A node seen
 * online for its first day counts (1 day × 1 + 7 days × 0.5) / 8 days ≈ 0.56,
 * not 1: a young cluster does not promise what a week of nights would refute,
 * and the measurement dominates after a few weeks.
 *
 * @example
 * expectedAvailability(undefined) // 0.5
 */
export function expectedAvailability (h: PresenceHistory | undefined): number {
  const seen = h === undefined ? 0 : observedMs(h)
  const online = h === undefined ? 0 : onlineMs(h)
  return (online + PRIOR_AVAILABILITY * PRIOR_WEIGHT_MS) / (seen + PRIOR_WEIGHT_MS)
}

