/**
 * The status document of a node (`GET /api/v1/status`, `cairn status --json`):
 * this node, the cluster's coding parameters, the pool's capacity
 * (cluster/capacity.ts), and every roster member with whether it is online
 * now, its presence state, its availability, role and zone, and its audit
 * counts summed over every auditor (daemon/auditor.ts).
 */
import type { Daemon } from './daemon.ts'
import type { AvailabilitySummary, NodeState } from './presence.ts'
import type { VersionBody } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import { DEFAULT_ZONE, roleOf } from '../meta/node-attrs.ts'
import { poolCapacity } from '../cluster/capacity.ts'
import type { NodeAdminState, NodeRole } from '../meta/node-attrs.ts'
import { governorStats } from './external-memory.ts'
import type { GovernorStats } from './external-memory.ts'

/** One roster member as status reports it. */
export interface NodeStatus {
  name: string
  id: string
  online: boolean
  /** online, asleep (away as its history predicts), suspect, or dead (deadAfter past its expected return); decommissioned once `cairn node decommission` has moved every shard off it. */
  state: NodeState | 'decommissioned'
  /** Its administrative state: active, decommissioning (shards moving off) or decommissioned. */
  adminState: NodeAdminState
  /** Online fractions over the last 1, 7 and 30 days (null when unknown). */
  availability: AvailabilitySummary
  self: boolean
  addrs: string[]
  /** The member's S3 endpoint. */
  s3: string
  /** Zone (site, floor, building); '' when none was set. */
  zone: string
  /** 'anchor' (always-on server holding at least k shards of every stripe) or 'pc'. */
  role: NodeRole
  /** Same as role === 'anchor' (kept for older readers). */
  anchor: boolean
  usedBytes?: number
  quotaBytes: number
  corruptShards?: number
  /** Its clock minus this node's, as measured on the nodeInfo round trip (0 for self, null before the first measurement). */
  clockOffsetMs: number | null
  /** Bytes of shards that live versions reference, as the node's collector last counted. */
  liveBytes?: number
  /** Bytes of shards no live version references, awaiting collection. */
  orphanBytes?: number
  /** Shard audits of the node by every auditor, and how many it failed (0 for an honest node). */
  audits: number
  auditFailures: number
  /** Passed share of its audits (null before the first). */
  auditScore: number | null
  /** `failing` (no new shards), `ok`, or `unaudited` (docs/AUDITS.md). */
  audit: 'unaudited' | 'ok' | 'failing'
}

/** Build the status document. */
export async function buildStatus (d: Daemon): Promise<Record<string, unknown>> {
  const stats = d.store.stats()
  const nodes: NodeStatus[] = d.membership.roster().map((m) => {
    const self = m.id === d.net.peerId
    const collected = d.collector.stats
    const cap = self ? { usedBytes: stats.usedBytes, quotaBytes: stats.quotaBytes, corruptShards: stats.corruptCount, liveBytes: collected.liveBytes, orphanBytes: collected.orphanBytes } : d.membership.capacity.get(m.id)
    return {
      name: m.body.name,
      id: m.id,
      online: d.membership.isOnline(m.id),
      state: d.membership.adminState(m.id) === 'decommissioned' ? 'decommissioned' as const : d.presence.state(m.id),
      adminState: d.membership.adminState(m.id),
      availability: d.presence.availability(m.id),
      self,
      addrs: m.body.addrs,
      s3: self ? d.s3Url() : m.body.s3 ?? '',
      zone: m.body.zone ?? DEFAULT_ZONE,
      role: roleOf(m.body),
      anchor: m.body.anchor,
      quotaBytes: cap?.quotaBytes ?? m.body.quotaBytes,
      clockOffsetMs: self ? 0 : d.clockOffsets.offsetMs(m.id) ?? null,
      ...d.auditor.nodeAudit(m.id),
      ...(cap === undefined ? {} : { usedBytes: cap.usedBytes, corruptShards: cap.corruptShards, liveBytes: cap.liveBytes ?? 0, orphanBytes: cap.orphanBytes ?? 0 })
    }
  }).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
  const { k, m } = d.files.cluster
  // Members not dead count for capacity (an asleep PC's quota is still the pool's); leaving ones do not.
  const capacity = poolCapacity(nodes.filter((n) => n.state !== 'dead' && n.adminState === 'active').map((n) => ({ quotaBytes: n.quotaBytes, freeBytes: Math.max(0, n.quotaBytes - (n.usedBytes ?? 0)), anchor: n.role === 'anchor' })), k, m)
  return {
    capacity,
    node: { name: d.files.node.name, id: d.net.peerId, dir: d.files.dir, pid: process.pid, addrs: d.net.multiaddrs(), s3: d.s3Url(), memory: processMemory() },
    s3: d.s3Url(),
    cluster: { id: d.files.cluster.clusterId, k: d.files.cluster.k, m: d.files.cluster.m },
    nodes,
    online: nodes.filter((n) => n.online).length,
    store: { ...stats, corruptShards: d.store.corruptShards(), reports: d.badShards(), reportsDropped: d.badShardsDropped() },
    meta: d.meta.counts(),
    replication: { ...d.replicator.stats, groupCommit: d.replicator.groupStats },
    // Shard transfers on plain TCP beside libp2p (net/bulk.ts); null when the lane is off.
    bulkLane: d.net.bulkLaneStats?.() ?? null,
    collection: d.collector.stats,
    // Stored object versions (delete markers excluded) by health, as of the healer's last scan.
    objects: d.healer.stats.objects,
    repair: { threshold: d.healer.stats.repairThreshold, lastScanMs: d.healer.stats.lastScanMs, lastScanTookMs: d.healer.stats.lastScanTookMs, repairedShards: d.healer.stats.repairedShards, repairReadBytes: d.healer.stats.repairReadBytes, repairWrittenBytes: d.healer.stats.repairWrittenBytes, waiting: d.healer.stats.waiting },
    // Decommissions and the rebalance job, as of this node's last mover pass (daemon/mover.ts).
    moves: { decommission: d.mover.stats.decommission, rebalance: d.mover.stats.rebalance, movedShards: d.mover.stats.movedShards, movedBytes: d.mover.stats.movedBytes, lastPassMs: d.mover.stats.lastPassMs, lastError: d.mover.stats.lastError },
    scrub: { ...d.scrubber.stats, lost: d.scrubber.lost().length },
    // What this node's auditor did (the per-node sums over every auditor are in nodes[]).
    audit: { ...d.auditor.stats },
    // Origins whose records this node refused for being stamped beyond maxClockSkew.
    clockSkew: d.replicator.skew.refusals().map((r) => ({ ...r, name: d.membership.nodeName(r.origin) }))
  }
}

/**
 * One version's health for `cairn health BUCKET/KEY`: its state, and each
 * stripe's shards with their holders, each holder's state and whether the
 * shard counts there (live: holder not dead and shard not reported lost).
 */
export async function objectHealthReport (d: Daemon, bucket: string, key: string, version: string | undefined, signal?: AbortSignal): Promise<Record<string, unknown>> {
  if (version !== undefined) await d.engine.recall(bucket, version, signal)
  const info = d.engine.open(bucket, key, version, signal).info
  const record = d.meta.get('version', info.id)
  const manifest = (record?.body as VersionBody | undefined)?.manifest
  const health = await d.healer.versionHealth(info.id, signal)
  if (manifest === undefined || health === undefined) throw new CairnError('NOT_FOUND', `version ${info.id} of ${bucket}/${key} has no stored data`, 'pick another version from `cairn versions`')
  const lost = new Set(d.scrubber.lost())
  return {
    bucket,
    key,
    version: info.id,
    size: info.size,
    k: manifest.k,
    m: manifest.m,
    inline: manifest.inline !== undefined,
    state: health.state,
    repairThreshold: d.healer.stats.repairThreshold,
    stripes: health.stripes.map((s) => ({
      index: s.index,
      list: s.list,
      live: s.health.live,
      online: s.health.online,
      missing: s.health.missing,
      shards: s.shards.map((shard) => ({
        index: shard.index,
        hash: shard.hash,
        holders: shard.holders.map((id) => {
          const state = d.membership.memberIds().has(id) ? d.presence.state(id) : 'dead'
          const reportedLost = id === d.net.peerId && lost.has(shard.hash)
          return { id, name: d.membership.nodeName(id), state, live: state !== 'dead' && !reportedLost }
        })
      }))
    }))
  }
}

/**
 * This process's memory (`process.memoryUsage()`): RSS, the V8 heap, and the
 * memory outside it that V8 tracks (Buffers and ArrayBuffers).
 *
 * @example
 * processMemory().rssBytes
 */
export function processMemory (): { rssBytes: number, heapTotalBytes: number, heapUsedBytes: number, externalBytes: number, arrayBuffersBytes: number, governor: GovernorStats } {
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapTotalBytes: m.heapTotal, heapUsedBytes: m.heapUsed, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers, governor: governorStats() }
}
