/**
 * Presence: the state of every member as this node sees it — `online`,
 * `asleep`, `suspect` or `dead` — and its measured availability. Placement,
 * the healer and status read it through the `Presence` interface.
 *
 * Each node measures its own presence (cluster/self-presence.ts) and
 * publishes it in its roster record (`NodeBody.presence`), so every member
 * judges every other from the same history. An observer adds what only it
 * knows: whether the member answers heartbeats now, and when it last did.
 * The member was last seen at the later of that answer and its own latest
 * report; the rule of cluster/node-state.ts turns history, last sighting and
 * `deadAfter` into the state. Everything runs on the model clock
 * (util/model-clock.ts): the wall clock, or a compressed one in tests.
 */
import type { Daemon } from './daemon.ts'
import { summarizeAvailability } from '../cluster/availability.ts'
import type { MeasuredAvailability } from '../cluster/availability.ts'
import { expectedAvailability, nodeState } from '../cluster/node-state.ts'
import type { NodeState, NodeStateResult } from '../cluster/node-state.ts'
import { fromNodePresence, profileObservations, projectHistory, summarize } from '../cluster/presence-history.ts'
import type { AvailabilitySummary, PresenceHistory } from '../cluster/presence-history.ts'
import { SelfPresence } from '../cluster/self-presence.ts'
import type { NodePresence } from '../meta/node-presence.ts'
import type { MetaRecord, NodeBody } from '../meta/types.ts'
import { errorMessage } from '../util/errors.ts'
import { modelClockFromEnv } from '../util/model-clock.ts'
import type { ModelClock } from '../util/model-clock.ts'

export type { NodeState, NodeStateResult } from '../cluster/node-state.ts'
export type { AvailabilitySummary } from '../cluster/presence-history.ts'

/** A member's state with the moments that bound it, in model time. */
export interface PresenceDetail extends NodeStateResult {
  /** When the member was last known to run (null for this node and members never seen). */
  lastSeenMs: number | null
}

/** What the rest of the node asks about members. */
export interface Presence {
  state: (nodeId: string) => NodeState
  availability: (nodeId: string) => AvailabilitySummary
  /** Long-run online fraction to plan with (conservative while the history is short). */
  expectedAvailability: (nodeId: string) => number
  /** The state with when the member is expected back and when it is declared dead. */
  detail: (nodeId: string) => PresenceDetail
  /** The measured weekly profile, as the planner takes it (`cairn plan --node`). */
  measured: (nodeId: string) => MeasuredAvailability
  /** The clock presence runs on (compressed when CAIRN_TEST_HOUR_MS is set). */
  readonly clock: ModelClock
  stop: () => void
}

/** Name of this node's own history in the local state of the metadata store. */
export const PRESENCE_STATE_NAME = 'presence'
/**
 * For this long after start (real time) the node declares nobody dead: its
 * peers have not had time to connect, and a node that was off for a week
 * would otherwise find every member past deadAfter.
 */
export const PRESENCE_STARTUP_GRACE_MS = 30_000

/** Start measuring this node and tracking the members of `d`. */
export function startPresence (d: Daemon): Presence {
  const clock = modelClockFromEnv()
  const selfId = d.net.peerId
  const startedMs = Date.now()
  const self = SelfPresence.start({
    clock,
    load: () => d.meta.localState(PRESENCE_STATE_NAME),
    save: (text) => {
      try { d.meta.setLocalState(PRESENCE_STATE_NAME, text) } catch (err) { d.log(`could not save this node's presence history: ${errorMessage(err)}`) }
    },
    publish: (report) => { publishPresence(d, report) },
    log: d.log
  })
  const timer = setInterval(() => { self.tick() }, self.sampleIntervalMs)
  const reports = reportCache(d)

  const lastSeenMs = (id: string, report: PresenceHistory | undefined): number | null => {
    const heard = d.liveness?.lastHeard(id)
    const seen = [report?.atMs, heard === undefined ? undefined : clock.fromWall(heard)].filter((t) => t !== undefined)
    return seen.length === 0 ? null : Math.max(...seen)
  }
  const online = (id: string): boolean => id === selfId || d.membership.isOnline(id)
  /** The member's history as this node knows it now: its report, online until last seen, away since. */
  const projected = (id: string): PresenceHistory | undefined => {
    if (id === selfId) return self.current()
    const report = reports(id)
    if (report === undefined) return undefined
    const now = clock.now()
    return projectHistory(report, online(id) ? now : lastSeenMs(id, report) ?? report.atMs, now)
  }
  const detail = (id: string): PresenceDetail => {
    if (online(id)) return { state: 'online', expectedBackMs: null, deadAtMs: null, lastSeenMs: id === selfId ? null : lastSeenMs(id, reports(id)) }
    const report = reports(id)
    const seen = lastSeenMs(id, report)
    // A member never seen nor reported is given the benefit of the doubt from this node's start.
    const result = nodeState({ online: false, lastSeenMs: seen ?? clock.fromWall(startedMs), history: report, nowMs: clock.now(), deadAfterMs: d.settings.deadAfterMs() })
    if (result.state === 'dead' && Date.now() - startedMs < PRESENCE_STARTUP_GRACE_MS) return { ...result, state: 'suspect', lastSeenMs: seen }
    return { ...result, lastSeenMs: seen }
  }

  return {
    clock,
    state: (id) => online(id) ? 'online' : detail(id).state,
    detail,
    availability (id) {
      const h = projected(id)
      return h === undefined ? { d1: null, d7: null, d30: null } : summarize(h)
    },
    expectedAvailability: (id) => expectedAvailability(projected(id)),
    measured (id) {
      const h = projected(id)
      return summarizeAvailability(h === undefined ? [] : profileObservations(h))
    },
    stop () {
      clearInterval(timer)
      self.flush()
    }
  }
}

/**
 * Decoded presence reports of the roster members, decoded once per roster
 * record (the membership view hands out the same body until it changes).
 */
function reportCache (d: Daemon): (id: string) => PresenceHistory | undefined {
  const decoded = new WeakMap<NodePresence, PresenceHistory>()
  let roster: ReturnType<Daemon['membership']['roster']> | undefined
  let byId = new Map<string, NodeBody>()
  return (id) => {
    const current = d.membership.roster()
    if (current !== roster) {
      roster = current
      byId = new Map(current.map((m) => [m.id, m.body]))
    }
    const presence = byId.get(id)?.presence
    if (presence === undefined) return undefined
    let h = decoded.get(presence)
    if (h === undefined) {
      h = fromNodePresence(presence)
      decoded.set(presence, h)
    }
    return h
  }
}

/** Put `report` into this node's roster record and publish it (no quorum: it must spread whoever is online). */
function publishPresence (d: Daemon, report: NodePresence): void {
  const existing = d.meta.get('node', d.net.peerId)
  // A node removed from the roster does not bring itself back.
  if (existing === undefined || existing.tombstone) return
  const body: NodeBody = { ...(existing.body as NodeBody), presence: report }
  const record: MetaRecord = { v: 1, table: 'node', pk: d.net.peerId, hlc: d.clock.now(), origin: d.net.peerId, tombstone: false, body }
  d.replicator.publish([record]).catch((err: unknown) => { d.log(`presence history not published: ${errorMessage(err)}`) })
}
