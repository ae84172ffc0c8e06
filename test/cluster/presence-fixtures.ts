/**
 * Presence histories of typical machines, built through the same functions
 * a node uses to measure itself (addSpan, addAbsence), for the tests of the
 * presence model.
 */
import { addAbsence, addSpan, emptyHistory } from '../../src/cluster/presence-history.ts'
import type { PresenceHistory } from '../../src/cluster/presence-history.ts'

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
/** Monday 2025-01-06 00:00 UTC. */
export const MONDAY = Date.UTC(2025, 0, 6)

/** The history extended by `ms` online or away; an away span is also recorded as an absence. */
export function live (h: PresenceHistory, ms: number, online: boolean): PresenceHistory {
  const next = addSpan(h, h.atMs + ms, online)
  return online ? next : addAbsence(next, ms)
}

/**
 * An office PC switched on 08:00–18:00 on `days` consecutive days from
 * Monday 08:00 (UTC), off overnight; with `weekends`, off all Saturday and
 * Sunday too. The history ends when it was switched off on the last day.
 */
export function officePc (days: number, weekends = false): PresenceHistory {
  let h = emptyHistory(MONDAY + 8 * HOUR, 0)
  for (let day = 0; day < days; day++) {
    h = live(h, 10 * HOUR, true)
    if (day === days - 1) break
    const weekday = (day % 7)
    const awayMs = weekends && weekday === 4 ? 14 * HOUR + 2 * DAY : 14 * HOUR
    h = live(h, awayMs, false)
    if (weekends && weekday === 4) day += 2
  }
  return h
}
