/**
 * What placement takes from a node's published presence history (pure): its
 * weekly profile turned to UTC hours, so that the profiles of nodes in
 * different time zones line up, and its mean availability.
 *
 * Every member reads the same published report (the node's roster record),
 * not its own projection of it, so every member computes the same profile
 * and placement gives the same answer wherever it runs.
 */
import { PROFILE_HOURS } from './profile-placement.ts'
import type { PresenceHistory } from './presence-history.ts'
import { HOUR_MS } from '../util/model-clock.ts'

/**
 * Observed time below which a history says nothing placement should act on
 * (a node just installed): its node places like an unmeasured one.
 */
export const MIN_PLACEMENT_OBSERVED_MS = 24 * HOUR_MS
/**
 * Prior weight of the mean in each hour, in observed time: an hour seen once
 * counts about half, so one unlucky sample does not make an hour look dead.
 */
const HOUR_PRIOR_MS = HOUR_MS

/** A node's availability as placement takes it (PlacementNode fields). */
export interface PlacementMeasure {
  /** 168 online probabilities by UTC hour of week (Monday 00:00 = 0). */
  profile: number[]
  /** Mean online fraction over the profile's observed time. */
  availability: number
}

/**
 * The placement profile of a published history, or undefined while it has
 * observed less than MIN_PLACEMENT_OBSERVED_MS.
 *
 * @example
 * const measure = placementMeasure(fromNodePresence(body.presence)) // { profile: [...168], availability: 0.41 }
 */
export function placementMeasure (h: PresenceHistory): PlacementMeasure | undefined {
  let online = 0
  let observed = 0
  for (let hour = 0; hour < PROFILE_HOURS; hour++) {
    online += h.weekOnlineMs[hour] ?? 0
    observed += h.weekObservedMs[hour] ?? 0
  }
  if (!(observed >= MIN_PLACEMENT_OBSERVED_MS)) return undefined
  const mean = Math.min(1, online / observed)
  // Local hour L of the week is UTC hour L - offset (whole hours; a half-hour zone rounds).
  const shift = Math.round(h.utcOffsetMin / 60)
  const profile = new Array<number>(PROFILE_HOURS).fill(mean)
  for (let local = 0; local < PROFILE_HOURS; local++) {
    const seen = h.weekObservedMs[local] ?? 0
    const on = Math.min(seen, h.weekOnlineMs[local] ?? 0)
    const utc = (((local - shift) % PROFILE_HOURS) + PROFILE_HOURS) % PROFILE_HOURS
    profile[utc] = (on + mean * HOUR_PRIOR_MS) / (seen + HOUR_PRIOR_MS)
  }
  return { profile, availability: mean }
}
