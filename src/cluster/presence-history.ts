/**
 * A node's presence history (pure): the contiguous stretch of model time
 * from `sinceMs` to `atMs` during which the node measured whether it was
 * running, summarised as
 * - a weekly profile: online and observed time per hour of the week in the
 *   node's local time, over about the last PROFILE_WEEKS weeks (older time
 *   fades out proportionally, so a PC whose habits change is re-learnt);
 * - two rings for recent fractions: the last 24 hours and the last 30 days;
 * - its latest absences (how long each time away lasted).
 *
 * The node extends its own history as it runs (daemon/presence.ts) and
 * publishes it as `NodeBody.presence` (meta/node-presence.ts gives the wire
 * form, in whole seconds); an observer extends a copy with what it saw since
 * the report (`projectHistory`). Times are model time (util/model-clock.ts).
 */
import { assert } from '../util/errors.ts'
import { HOUR_MS } from '../util/model-clock.ts'
import { MAX_PRESENCE_ABSENCES, NODE_PRESENCE_VERSION, PRESENCE_RING_DAYS, PRESENCE_RING_HOURS, PRESENCE_WEEK_HOURS, nodePresenceProblem } from '../meta/node-presence.ts'
import type { NodePresence } from '../meta/node-presence.ts'

/** Milliseconds in a day and in a week of model time. */
export const DAY_MS = 24 * HOUR_MS
export const WEEK_MS = PRESENCE_WEEK_HOURS * HOUR_MS
/** Weeks of observation the weekly profile holds per hour; beyond it older time is scaled down (a sliding memory of about two months). */
export const PROFILE_WEEKS = 8
/** Of a longer span, only this tail is walked hour by hour (it covers both rings); the rest goes into the profile in whole weeks. */
const MAX_WALKED_SPAN_MS = (PRESENCE_RING_DAYS + 1) * DAY_MS
/** 1970-01-01 was a Thursday: hour 96 after the epoch is the first Monday 00:00. */
const FIRST_MONDAY_HOUR = 96

/** A node's measured presence (model milliseconds). */
export interface PresenceHistory {
  sinceMs: number
  atMs: number
  utcOffsetMin: number
  weekOnlineMs: number[]
  weekObservedMs: number[]
  hourIndex: number
  hoursOnlineMs: number[]
  hoursObservedMs: number[]
  dayIndex: number
  daysOnlineMs: number[]
  daysObservedMs: number[]
  absencesMs: number[]
}

/** Online fractions over the last day, week and 30 days (null where nothing was observed). */
export interface AvailabilitySummary { d1: number | null, d7: number | null, d30: number | null }

const localMs = (ms: number, utcOffsetMin: number): number => ms + utcOffsetMin * 60_000
const localHour = (ms: number, utcOffsetMin: number): number => Math.floor(localMs(ms, utcOffsetMin) / HOUR_MS)

/**
 * The hour of the week of `ms` in local time `utcOffsetMin` (Monday 00:00 = 0).
 *
 * @example
 * hourOfWeekAt(Date.UTC(2025, 0, 6, 9), 0) // 9 (a Monday)
 */
export function hourOfWeekAt (ms: number, utcOffsetMin: number): number {
  const h = (localHour(ms, utcOffsetMin) - FIRST_MONDAY_HOUR) % PRESENCE_WEEK_HOURS
  return h < 0 ? h + PRESENCE_WEEK_HOURS : h
}

/**
 * The first local hour boundary after `ms`.
 *
 * @example
 * nextHourMs(Date.UTC(2025, 0, 6, 9, 30), 0) === Date.UTC(2025, 0, 6, 10) // true
 */
export function nextHourMs (ms: number, utcOffsetMin: number): number {
  return (localHour(ms, utcOffsetMin) + 1) * HOUR_MS - utcOffsetMin * 60_000
}

/**
 * A history with nothing measured yet, starting at `nowMs`.
 *
 * @example
 * const h = emptyHistory(Date.now(), 60)
 */
export function emptyHistory (nowMs: number, utcOffsetMin: number): PresenceHistory {
  const zeros = (n: number): number[] => new Array<number>(n).fill(0)
  return {
    sinceMs: nowMs,
    atMs: nowMs,
    utcOffsetMin,
    weekOnlineMs: zeros(PRESENCE_WEEK_HOURS),
    weekObservedMs: zeros(PRESENCE_WEEK_HOURS),
    hourIndex: localHour(nowMs, utcOffsetMin),
    hoursOnlineMs: zeros(PRESENCE_RING_HOURS),
    hoursObservedMs: zeros(PRESENCE_RING_HOURS),
    dayIndex: Math.floor(localMs(nowMs, utcOffsetMin) / DAY_MS),
    daysOnlineMs: zeros(PRESENCE_RING_DAYS),
    daysObservedMs: zeros(PRESENCE_RING_DAYS),
    absencesMs: []
  }
}

function copy (h: PresenceHistory): PresenceHistory {
  return {
    ...h,
    weekOnlineMs: [...h.weekOnlineMs],
    weekObservedMs: [...h.weekObservedMs],
    hoursOnlineMs: [...h.hoursOnlineMs],
    hoursObservedMs: [...h.hoursObservedMs],
    daysOnlineMs: [...h.daysOnlineMs],
    daysObservedMs: [...h.daysObservedMs],
    absencesMs: [...h.absencesMs]
  }
}

function addToWeek (h: PresenceHistory, hour: number, ms: number, online: boolean): void {
  const cap = PROFILE_WEEKS * HOUR_MS
  let on = (h.weekOnlineMs[hour] as number) + (online ? ms : 0)
  let seen = (h.weekObservedMs[hour] as number) + ms
  if (seen > cap) { on *= cap / seen; seen = cap }
  h.weekOnlineMs[hour] = on
  h.weekObservedMs[hour] = seen
}

/** Move a ring forward by `shift` slots: the oldest fall off, new empty slots appear at the end. */
function shiftRing (ring: number[], shift: number): void {
  const n = ring.length
  for (let i = 0; i < n; i++) ring[i] = i + shift < n ? ring[i + shift] as number : 0
}

/** Add `ms` to the ring slot of `index` (ring's last slot is `last`); returns the new last slot. */
function addToRing (online: number[], observed: number[], last: number, index: number, ms: number, isOnline: boolean): number {
  if (index > last) {
    shiftRing(online, index - last)
    shiftRing(observed, index - last)
  }
  const newest = Math.max(last, index)
  const slot = online.length - 1 - (newest - index)
  if (slot >= 0) {
    online[slot] = (online[slot] as number) + (isOnline ? ms : 0)
    observed[slot] = (observed[slot] as number) + ms
  }
  return newest
}

/** Add the slice [startMs, startMs + ms), which lies within one local hour, everywhere. */
function addSlice (h: PresenceHistory, startMs: number, ms: number, online: boolean): void {
  addToWeek(h, hourOfWeekAt(startMs, h.utcOffsetMin), ms, online)
  h.hourIndex = addToRing(h.hoursOnlineMs, h.hoursObservedMs, h.hourIndex, localHour(startMs, h.utcOffsetMin), ms, online)
  h.dayIndex = addToRing(h.daysOnlineMs, h.daysObservedMs, h.dayIndex, Math.floor(localMs(startMs, h.utcOffsetMin) / DAY_MS), ms, online)
}

/**
 * The history extended from its end (`atMs`) to `untilMs`, the node online
 * or away all that time. An `untilMs` not after `atMs` (a clock stepped
 * back) changes nothing. The work is bounded whatever the span: at most
 * about 38 days are walked hour by hour.
 *
 * @example
 * const h = addSpan(emptyHistory(t, 0), t + 3_600_000, true) // one hour online
 */
export function addSpan (h: PresenceHistory, untilMs: number, online: boolean): PresenceHistory {
  if (!(untilMs > h.atMs)) return h
  const out = copy(h)
  let t = h.atMs
  const skippedMs = untilMs - MAX_WALKED_SPAN_MS - t
  if (skippedMs > 0) {
    // Whole weeks add the same to every hour of the profile and are older than both rings.
    const weeks = Math.floor(skippedMs / WEEK_MS)
    for (let hour = 0; hour < PRESENCE_WEEK_HOURS; hour++) addToWeek(out, hour, weeks * HOUR_MS, online)
    t += weeks * WEEK_MS
  }
  // Bounded: at most MAX_WALKED_SPAN_MS plus one week remain, one slice per hour.
  while (t < untilMs) {
    const end = Math.min(untilMs, nextHourMs(t, out.utcOffsetMin))
    addSlice(out, t, end - t, online)
    t = end
  }
  out.atMs = untilMs
  return out
}

/**
 * The history with one more completed absence of `durationMs` (the newest
 * MAX_PRESENCE_ABSENCES are kept).
 *
 * @example
 * addAbsence(h, 14 * 3_600_000).absencesMs.at(-1) // 50400000
 */
export function addAbsence (h: PresenceHistory, durationMs: number): PresenceHistory {
  if (!(durationMs > 0)) return h
  return { ...h, absencesMs: [...h.absencesMs, durationMs].slice(-MAX_PRESENCE_ABSENCES) }
}

/**
 * What an observer knows of a node now: its report extended online up to
 * `lastSeenMs` (the report's end or later, when the observer heard the node
 * since) and away from then to `nowMs`.
 *
 * @example
 * projectHistory(report, lastHeardMs, Date.now()) // the absence since lastHeardMs counts as offline
 */
export function projectHistory (h: PresenceHistory, lastSeenMs: number, nowMs: number): PresenceHistory {
  return addSpan(addSpan(h, Math.min(lastSeenMs, nowMs), true), nowMs, false)
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0)
const fraction = (online: readonly number[], observed: readonly number[]): number | null => {
  const seen = sum(observed)
  return seen > 0 ? Math.min(1, sum(online) / seen) : null
}

/**
 * Online fractions over the last 24 hourly buckets and the last 7 and 30
 * daily buckets (the current, partial bucket included), as of the history's
 * end; project the history to now first.
 *
 * @example
 * summarize(addSpan(emptyHistory(t, 0), t + 3_600_000, true)) // { d1: 1, d7: 1, d30: 1 }
 */
export function summarize (h: PresenceHistory): AvailabilitySummary {
  return {
    d1: fraction(h.hoursOnlineMs, h.hoursObservedMs),
    d7: fraction(h.daysOnlineMs.slice(-7), h.daysObservedMs.slice(-7)),
    d30: fraction(h.daysOnlineMs, h.daysObservedMs)
  }
}

/** Time observed in the weekly profile (at most PROFILE_WEEKS weeks). */
export function observedMs (h: PresenceHistory): number {
  return sum(h.weekObservedMs)
}

/** Time online in the weekly profile. */
export function onlineMs (h: PresenceHistory): number {
  return sum(h.weekOnlineMs)
}

/**
 * The weekly profile as observations per hour of week (the planner's input,
 * cluster/availability.ts).
 *
 * @example
 * summarizeAvailability(profileObservations(h)).profile
 */
export function profileObservations (h: PresenceHistory): Array<{ hour: number, onlineMs: number, observedMs: number }> {
  return h.weekObservedMs.flatMap((seen, hour) => seen > 0 ? [{ hour, onlineMs: h.weekOnlineMs[hour] as number, observedMs: seen }] : [])
}

const toSeconds = (values: readonly number[]): number[] => values.map((ms) => Math.round(ms / 1000))
const toMs = (values: readonly number[]): number[] => values.map((s) => s * 1000)

/**
 * The wire form of a history (whole seconds), checked before it is published.
 *
 * @example
 * const body: NodeBody = { ...roster, presence: toNodePresence(h) }
 */
export function toNodePresence (h: PresenceHistory): NodePresence {
  const p: NodePresence = {
    v: NODE_PRESENCE_VERSION,
    atMs: Math.round(h.atMs),
    sinceMs: Math.round(h.sinceMs),
    utcOffsetMin: h.utcOffsetMin,
    weekOnlineS: toSeconds(h.weekOnlineMs),
    weekObservedS: toSeconds(h.weekObservedMs),
    hourIndex: h.hourIndex,
    hoursOnlineS: toSeconds(h.hoursOnlineMs),
    hoursObservedS: toSeconds(h.hoursObservedMs),
    dayIndex: h.dayIndex,
    daysOnlineS: toSeconds(h.daysOnlineMs),
    daysObservedS: toSeconds(h.daysObservedMs),
    absencesS: toSeconds(h.absencesMs)
  }
  const problem = nodePresenceProblem(p)
  assert(problem === undefined, `encoded presence history is invalid: ${problem ?? ''}`)
  return p
}

/**
 * A history from its wire form (validated by the record codec on arrival).
 *
 * @example
 * const h = fromNodePresence(body.presence)
 */
export function fromNodePresence (p: NodePresence): PresenceHistory {
  return {
    sinceMs: p.sinceMs,
    atMs: p.atMs,
    utcOffsetMin: p.utcOffsetMin,
    weekOnlineMs: toMs(p.weekOnlineS),
    weekObservedMs: toMs(p.weekObservedS),
    hourIndex: p.hourIndex,
    hoursOnlineMs: toMs(p.hoursOnlineS),
    hoursObservedMs: toMs(p.hoursObservedS),
    dayIndex: p.dayIndex,
    daysOnlineMs: toMs(p.daysOnlineS),
    daysObservedMs: toMs(p.daysObservedS),
    absencesMs: toMs(p.absencesS)
  }
}
