/**
 * `NodeBody.presence`: the availability history a node measures of itself
 * and publishes in its roster record, so every member judges every other
 * from the same data (cluster/presence-history.ts computes with it). This
 * module fixes the wire form and validates it; the record codec calls
 * `checkNodePresence` on every roster record that carries one.
 *
 * Times (`atMs`, `sinceMs`) are model time in milliseconds since the epoch
 * (util/model-clock.ts: the wall clock unless a test compresses it);
 * durations are whole model seconds, which keeps the record near 3 KiB.
 */

/** Format version of NodePresence. */
export const NODE_PRESENCE_VERSION = 1
/** Buckets of the weekly profile: one per hour of the week, 0 = Monday 00:00 local time. */
export const PRESENCE_WEEK_HOURS = 168
/** Hourly buckets kept for the last day's online fraction. */
export const PRESENCE_RING_HOURS = 24
/** Daily buckets kept for the 7- and 30-day online fractions. */
export const PRESENCE_RING_DAYS = 30
/** Past absences kept (enough for a stable 99th percentile of a PC's nights and weekends). */
export const MAX_PRESENCE_ABSENCES = 64
/** Largest encoded NodePresence accepted; a well-formed one is at most about 4 KiB. */
export const MAX_NODE_PRESENCE_BYTES = 8 * 1024
/** Largest duration accepted in any field, in seconds (about 31 years): anything above is a broken peer. */
const MAX_PRESENCE_SECONDS = 1e9
/** Widest UTC offset in use (UTC+14), in minutes. */
const MAX_UTC_OFFSET_MIN = 14 * 60

/** A node's self-measured availability history, as replicated. */
export interface NodePresence {
  v: typeof NODE_PRESENCE_VERSION
  /** Model time of this report: the node was running then. */
  atMs: number
  /** Model time the node began measuring itself. */
  sinceMs: number
  /** The node's local time minus UTC in minutes (0 on a compressed test clock); its profile hours are local hours. */
  utcOffsetMin: number
  /** Seconds online, per hour of the week (PRESENCE_WEEK_HOURS values). */
  weekOnlineS: number[]
  /** Seconds observed (online or away), per hour of the week. */
  weekObservedS: number[]
  /** Local hour number (hours since the epoch) of the last slot of the hour ring. */
  hourIndex: number
  /** Seconds online and observed in each of the last PRESENCE_RING_HOURS hours, oldest first. */
  hoursOnlineS: number[]
  hoursObservedS: number[]
  /** Local day number (days since the epoch) of the last slot of the day ring. */
  dayIndex: number
  /** Seconds online and observed in each of the last PRESENCE_RING_DAYS days, oldest first. */
  daysOnlineS: number[]
  daysObservedS: number[]
  /** Durations of the node's latest completed absences in seconds, oldest first (at most MAX_PRESENCE_ABSENCES). */
  absencesS: number[]
}

const isSeconds = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_PRESENCE_SECONDS
const isTime = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

function secondsArray (value: unknown, length: number): value is number[] {
  return Array.isArray(value) && value.length === length && value.every(isSeconds)
}

function pairsConsistent (online: number[], observed: number[]): boolean {
  return online.every((s, i) => s <= (observed[i] as number))
}

/**
 * Why `value` is not a well-formed NodePresence, or undefined when it is.
 *
 * @example
 * nodePresenceProblem({ v: 1 }) // 'bad times'
 */
export function nodePresenceProblem (value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not an object'
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_NODE_PRESENCE_BYTES) return `larger than ${MAX_NODE_PRESENCE_BYTES} bytes`
  const p = value as Record<string, unknown>
  if (p.v !== NODE_PRESENCE_VERSION) return `unsupported version ${String(p.v)}`
  if (!isTime(p.atMs) || !isTime(p.sinceMs) || p.sinceMs > p.atMs || !isTime(p.hourIndex) || !isTime(p.dayIndex)) return 'bad times'
  if (typeof p.utcOffsetMin !== 'number' || !Number.isInteger(p.utcOffsetMin) || Math.abs(p.utcOffsetMin) > MAX_UTC_OFFSET_MIN) return 'bad UTC offset'
  if (!secondsArray(p.weekOnlineS, PRESENCE_WEEK_HOURS) || !secondsArray(p.weekObservedS, PRESENCE_WEEK_HOURS) || !pairsConsistent(p.weekOnlineS, p.weekObservedS)) return 'bad weekly profile'
  if (!secondsArray(p.hoursOnlineS, PRESENCE_RING_HOURS) || !secondsArray(p.hoursObservedS, PRESENCE_RING_HOURS) || !pairsConsistent(p.hoursOnlineS, p.hoursObservedS)) return 'bad hourly history'
  if (!secondsArray(p.daysOnlineS, PRESENCE_RING_DAYS) || !secondsArray(p.daysObservedS, PRESENCE_RING_DAYS) || !pairsConsistent(p.daysOnlineS, p.daysObservedS)) return 'bad daily history'
  if (!Array.isArray(p.absencesS) || p.absencesS.length > MAX_PRESENCE_ABSENCES || !p.absencesS.every(isSeconds)) return 'bad absences'
  return undefined
}
