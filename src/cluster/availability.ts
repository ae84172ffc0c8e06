/**
 * Availability history (pure): turns per-hour-of-week observations of a
 * member (how long it was seen online out of how long it was watched) into
 * the planner's inputs: an overall fraction and a 168-value weekly profile.
 * Hours never observed take the overall fraction.
 */

/** Hours in a week; hour 0 is Monday 00:00 local time. */
export const HOURS_PER_WEEK = 168

/** The hour of the week of `date` in local time (Monday 00:00 = 0). */
export function hourOfWeek (date: Date): number {
  return ((date.getDay() + 6) % 7) * 24 + date.getHours()
}

/** A member's measured availability. */
export interface MeasuredAvailability {
  /** Fraction of the observed time the member was online; undefined when never observed. */
  availability: number | undefined
  /** Per hour of week; hours without observations carry the overall fraction. */
  profile: number[] | undefined
  observedHours: number
}

/**
 * Summarise observations.
 *
 * @example
 * summarizeAvailability([{ hour: 9, onlineMs: 1800e3, observedMs: 3600e3 }]).availability // 0.5
 */
export function summarizeAvailability (observations: ReadonlyArray<{ hour: number, onlineMs: number, observedMs: number }>): MeasuredAvailability {
  const online = observations.reduce((n, o) => n + o.onlineMs, 0)
  const observed = observations.reduce((n, o) => n + o.observedMs, 0)
  if (observed <= 0) return { availability: undefined, profile: undefined, observedHours: 0 }
  const overall = online / observed
  const profile = new Array<number>(HOURS_PER_WEEK).fill(overall)
  for (const o of observations) if (o.observedMs > 0 && o.hour >= 0 && o.hour < HOURS_PER_WEEK) profile[o.hour] = o.onlineMs / o.observedMs
  return { availability: overall, profile, observedHours: observed / 3_600_000 }
}
