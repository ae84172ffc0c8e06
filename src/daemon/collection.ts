/**
 * Wiring of the shard collector (src/heal/collector.ts) into a node: the
 * local store and replica, the version-state question to a shard's writer
 * over the network, and the schedule.
 *
 * Wire: /cairn/meta/version-state/1.0.0 header {v:1, ids: string[]} →
 * {v:1, states: {[id]: 'live'|'tombstone'|'unknown'}}.
 */
import { ShardCollector } from '../heal/collector.ts'
import type { MetaStore, VersionState } from '../meta/store.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import { CairnError } from '../util/errors.ts'
import { sha256Hex } from '../crypto/index.ts'
import type { Daemon } from './daemon.ts'

/** Default time between two scans of the local store. */
export const COLLECT_INTERVAL_MS = 10 * 60_000
/** Test and demo overrides (milliseconds). */
export const ORPHAN_GRACE_ENV = 'CAIRN_ORPHAN_GRACE_MS'
export const COLLECT_INTERVAL_ENV = 'CAIRN_COLLECT_INTERVAL_MS'
/** Most version ids asked about in one version-state request. */
export const MAX_VERSION_STATE_IDS = 1000
/** Time allowed for a writer to answer a version-state request. */
const VERSION_STATE_TIMEOUT_MS = 5_000

function envMs (name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  return Number.isFinite(value) && value >= 0 ? value : undefined
}

/** Answer a version-state request from this node's replica. */
export function versionStates (meta: MetaStore, ids: unknown, writing: (id: string) => boolean = () => false): Record<string, VersionState> {
  if (!Array.isArray(ids) || ids.length > MAX_VERSION_STATE_IDS || !ids.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 128)) {
    throw new CairnError('PROTOCOL', `version-state request needs {ids: string[]} of at most ${MAX_VERSION_STATE_IDS} ids`, 'upgrade the peer')
  }
  const out: Record<string, VersionState> = {}
  // A version this node is still writing has no record yet, but is not an orphan.
  for (const id of ids as string[]) out[id] = writing(id) ? 'live' : meta.versionState(id)
  return out
}

/** Time between two scans of the local store (CAIRN_COLLECT_INTERVAL_MS overrides it). */
export function collectIntervalMs (): number {
  const ms = envMs(COLLECT_INTERVAL_ENV) ?? COLLECT_INTERVAL_MS
  return ms > 0 ? ms : COLLECT_INTERVAL_MS
}

/** The cluster's `orphanGrace` setting, or CAIRN_ORPHAN_GRACE_MS when set (tests and demos). */
export function orphanGraceMs (d: Pick<Daemon, 'settings'>): number {
  return envMs(ORPHAN_GRACE_ENV) ?? d.settings.orphanGraceMs()
}

/**
 * Build the collector of `d` (the daemon runs it as the `collect` worker).
 * The grace period is the cluster's `orphanGrace` setting
 * (CAIRN_ORPHAN_GRACE_MS overrides it for tests and demos).
 */
export function createCollector (d: Daemon): ShardCollector {
  const graceMs = (): number => orphanGraceMs(d)
  const collector = new ShardCollector({
    selfId: d.net.peerId,
    listShards: () => d.store.list(),
    sizeOf: async (hash) => await d.store.sizeOf(hash),
    // A live owner version that no longer places the shard here (it was
    // rebuilt elsewhere while this node was away) does not keep it.
    owners: (hash) => d.meta.shardOwners(hash).map((o) => ({ ...o, listed: d.engine.listsHolder(o.versionId, hash, d.net.peerId) !== false })),
    versionState: (id) => (d.engine.isWriting(id) ? 'live' : d.meta.versionState(id)),
    askWriter: async (writer, ids) => {
      // A dead writer will never answer. Its versions that were committed reached
      // this replica by anti-entropy within the grace period; the others never were.
      if (d.membership.memberIds().has(writer) && d.presence.state(writer) === 'dead') return {}
      const res = await d.net.call(writer, PROTOCOLS.versionState, { v: 1, ids }, undefined, { timeoutMs: VERSION_STATE_TIMEOUT_MS })
      const states = res.header.states
      if (typeof states !== 'object' || states === null) throw new CairnError('PROTOCOL', 'version-state answer without states', 'upgrade the peer')
      return states as Record<string, VersionState>
    },
    deleteShard: async (hash) => {
      // Both start synchronously, in this order: see shard-io.ts.
      d.meta.clearShardOwners(hash)
      return await d.store.delete(hash)
    },
    graceMs,
    confirmMoved: async (hash, versionIds) => {
      const holders = new Set(versionIds.flatMap((id) => d.engine.holdersOfHash(id, hash)))
      holders.delete(d.net.peerId)
      for (const holder of holders) {
        if (!d.membership.isOnline(holder)) continue
        try {
          const bytes = await d.engine.shardIO.get(holder, hash, AbortSignal.timeout(VERSION_STATE_TIMEOUT_MS * 4))
          if (sha256Hex(bytes) === hash) return true
        } catch { /* try the next holder */ }
      }
      return false
    },
    log: d.log
  })
  return collector
}
