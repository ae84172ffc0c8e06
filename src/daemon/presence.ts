/**
 * Presence: the state of every member as this node sees it — `online`,
 * `asleep`, `suspect` or `dead` — and its measured availability. Placement,
 * the healer and status read it through the `Presence` interface.
 *
 * This first version knows only the last time each member was seen online
 * by this node (since it started): a member offline for `deadAfter` is dead,
 * otherwise suspect. The availability model (profiles, absences) replaces it.
 */
import type { Daemon } from './daemon.ts'

/** A member's state. */
export type NodeState = 'online' | 'asleep' | 'suspect' | 'dead'

/** Online fractions over the last day, week and 30 days (null before anything was observed). */
export interface AvailabilitySummary { d1: number | null, d7: number | null, d30: number | null }

/** What the rest of the node asks about members. */
export interface Presence {
  state: (nodeId: string) => NodeState
  availability: (nodeId: string) => AvailabilitySummary
  /** Long-run online fraction to plan with (conservative while the history is short). */
  expectedAvailability: (nodeId: string) => number
  stop: () => void
}

/** How often online members are noted as seen. */
const SEEN_INTERVAL_MS = 1000

/** Start tracking the members of `d`. */
export function startPresence (d: Daemon): Presence {
  const startedMs = Date.now()
  const lastSeen = new Map<string, number>()
  const note = (): void => {
    const now = Date.now()
    for (const m of d.membership.roster()) if (d.membership.isOnline(m.id)) lastSeen.set(m.id, now)
  }
  note()
  const timer = setInterval(note, SEEN_INTERVAL_MS)
  return {
    state (id) {
      if (d.membership.isOnline(id)) return 'online'
      const seen = lastSeen.get(id) ?? startedMs
      return Date.now() - seen >= d.settings.deadAfterMs() ? 'dead' : 'suspect'
    },
    availability: () => ({ d1: null, d7: null, d30: null }),
    expectedAvailability: () => 0.5,
    stop: () => { clearInterval(timer) }
  }
}
