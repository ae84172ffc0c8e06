/**
 * The shard collector: finds and deletes this node's orphan shards — shards
 * that no live object version references — by mark and sweep with a grace
 * period, so that nothing leaks (an interrupted put, a failed clean-up, a
 * version whose deletion reached this node late) and nothing live is lost.
 *
 * Each shard on disk carries owners: the versions it was written for and the
 * node that wrote each (recorded by the shard put, see daemon/shard-io.ts).
 * `classifyShard` decides, purely:
 * - `live`: an owner version is live in this replica and places the shard
 *   on this node (a live version whose shard was rebuilt elsewhere while
 *   this node was away no longer does: such an owner counts like a
 *   tombstoned one once its tag is older than the grace period);
 * - `young`: an owner version is unknown here but the shard is younger than
 *   the grace period (a put in progress, or its record not here yet);
 * - `orphan`: every owner version is tombstoned, or unknown here and unknown
 *   or tombstoned on its writer too (a writer applies a version locally
 *   before replicating it, so a version its writer does not know was never
 *   committed);
 * - `kept`: an owner is unknown here and its writer cannot be asked now (it
 *   may be asleep): kept until it can be;
 * - `untagged`: a shard without owners (written before owners were
 *   recorded): kept, never collected blindly.
 * An orphan is deleted only once it has been an orphan for a whole grace
 * period (the first sighting is remembered), so a record that arrives late
 * rescues it. Just before deleting, the owners are read again and the delete
 * is issued in the same tick (see shard-io.ts for why that excludes a
 * concurrent put of the same shard).
 */
import type { ShardOwner, VersionState } from '../meta/store.ts'
import { errorMessage } from '../util/errors.ts'

/** What a writer said of a version, or that it could not be asked. */
export type WriterAnswer = VersionState | 'unreachable'

/** An owner of a shard with what is known of its version. */
export interface OwnerFacts extends ShardOwner {
  /** The version's state in this replica. */
  local: VersionState
  /** False when the live version places this shard on other nodes now (default true). */
  listed?: boolean
  /** The writer's answer, asked only when needed (undefined: not asked). */
  writerSays?: WriterAnswer
}

/** The collector's verdict on one shard. */
export type ShardClass = 'live' | 'young' | 'orphan' | 'kept' | 'untagged'

/**
 * Classify one shard from its owners.
 *
 * @example
 * classifyShard([{ versionId, writer, storedMs, local: 'tombstone' }], now, 3600e3) // 'orphan'
 */
export function classifyShard (owners: readonly OwnerFacts[], nowMs: number, graceMs: number): ShardClass {
  if (owners.length === 0) return 'untagged'
  if (owners.some((o) => (o.local === 'live' && o.listed !== false) || o.writerSays === 'live')) return 'live'
  const unknown = owners.filter((o) => o.local === 'unknown')
  // Young: a put in progress, or a shard just rebuilt here whose location record is on its way.
  if ([...unknown, ...owners.filter((o) => o.local === 'live')].some((o) => nowMs - o.storedMs < graceMs)) return 'young'
  if (unknown.some((o) => o.writerSays === undefined || o.writerSays === 'unreachable')) return 'kept'
  return 'orphan'
}

/** True when an owner's writer must be asked before the shard can be classified. */
export function needsWriter (owner: OwnerFacts, nowMs: number, graceMs: number): boolean {
  return owner.local === 'unknown' && nowMs - owner.storedMs >= graceMs
}

/** Bytes by verdict after one scan, for `cairn status`. */
export interface CollectorStats {
  /** Bytes of shards that live versions reference (untagged ones included: they are kept). */
  liveBytes: number
  /** Bytes of shards referenced by no live version, awaiting collection. */
  orphanBytes: number
  /** Bytes of shards of versions not yet known here, younger than the grace period (puts in progress). */
  pendingBytes: number
  /** Shards deleted since the daemon started. */
  collectedShards: number
  collectedBytes: number
  lastScanMs: number
  lastError: string
}

/** What the collector works on; the daemon wires the real store, replica and network. */
export interface CollectorInit {
  selfId: string
  listShards: () => AsyncIterable<string>
  sizeOf: (hash: string) => Promise<number | null>
  owners: (hash: string) => Array<ShardOwner & { listed?: boolean }>
  versionState: (versionId: string) => VersionState
  /** Ask `writer` for the state of `versionIds` (throws when it cannot be reached). */
  askWriter: (writer: string, versionIds: string[]) => Promise<Record<string, VersionState>>
  /** Delete a shard file and forget its owners; must start its work synchronously (see the module header). */
  deleteShard: (hash: string) => Promise<boolean>
  graceMs: () => number
  /** True when another holder that a live version places `hash` on serves it intact (checked before a moved copy is deleted). */
  confirmMoved?: (hash: string, versionIds: string[]) => Promise<boolean>
  nowMs?: () => number
  log?: (message: string) => void
}

/**
 * The collector of one node: call `collectNow()` on a schedule.
 *
 * @example
 * const collector = new ShardCollector(init); await collector.collectNow()
 */
export class ShardCollector {
  readonly stats: CollectorStats = { liveBytes: 0, orphanBytes: 0, pendingBytes: 0, collectedShards: 0, collectedBytes: 0, lastScanMs: 0, lastError: '' }
  private readonly init: CollectorInit
  /** When each current orphan was first seen; forgotten when it stops being one. */
  private readonly orphanSince = new Map<string, number>()
  private running: Promise<void> | undefined

  constructor (init: CollectorInit) {
    this.init = init
  }

  private now (): number {
    return (this.init.nowMs ?? Date.now)()
  }

  /** One scan of every local shard; concurrent calls share one scan. */
  async collectNow (): Promise<CollectorStats> {
    this.running ??= this.scan().finally(() => { this.running = undefined })
    await this.running
    return this.stats
  }

  private async scan (): Promise<void> {
    const graceMs = this.init.graceMs()
    const totals = { liveBytes: 0, orphanBytes: 0, pendingBytes: 0 }
    const seen = new Set<string>()
    const writerCache = new Map<string, WriterAnswer>()
    try {
      for await (const hash of this.init.listShards()) {
        const size = await this.init.sizeOf(hash)
        if (size === null) continue
        const verdict = await this.judge(hash, graceMs, writerCache)
        if (verdict === 'orphan') {
          seen.add(hash)
          const since = this.orphanSince.get(hash) ?? this.now()
          this.orphanSince.set(hash, since)
          if (this.now() - since >= graceMs && await this.collect(hash, graceMs)) {
            this.stats.collectedShards++
            this.stats.collectedBytes += size
            continue
          }
          totals.orphanBytes += size
        } else if (verdict === 'young' || verdict === 'kept') {
          totals.pendingBytes += size
        } else {
          totals.liveBytes += size
        }
      }
      this.stats.lastError = ''
    } catch (err) {
      this.stats.lastError = errorMessage(err)
      this.init.log?.(`shard collection failed: ${this.stats.lastError}`)
    }
    for (const hash of [...this.orphanSince.keys()]) if (!seen.has(hash)) this.orphanSince.delete(hash)
    Object.assign(this.stats, totals, { lastScanMs: this.now() })
  }

  private async judge (hash: string, graceMs: number, writerCache: Map<string, WriterAnswer>): Promise<ShardClass> {
    const owners: OwnerFacts[] = this.init.owners(hash).map((o) => ({ ...o, local: this.init.versionState(o.versionId) }))
    for (const owner of owners) {
      if (!needsWriter(owner, this.now(), graceMs)) continue
      owner.writerSays = await this.askOnce(owner, writerCache)
    }
    const verdict = classifyShard(owners, this.now(), graceMs)
    // A live version placed this shard elsewhere: delete this copy only once a new holder is seen to hold it,
    // so a stale or wrong location record can never remove the last copy.
    if (verdict === 'orphan' && this.init.confirmMoved !== undefined) {
      const moved = owners.filter((o) => o.local === 'live' && o.listed === false).map((o) => o.versionId)
      if (moved.length > 0 && !await this.init.confirmMoved(hash, moved).catch(() => false)) return 'kept'
    }
    return verdict
  }

  private async askOnce (owner: ShardOwner, cache: Map<string, WriterAnswer>): Promise<WriterAnswer> {
    const key = `${owner.writer}\u0000${owner.versionId}`
    let answer = cache.get(key)
    if (answer !== undefined) return answer
    if (owner.writer === this.init.selfId) {
      answer = this.init.versionState(owner.versionId)
    } else {
      try {
        answer = (await this.init.askWriter(owner.writer, [owner.versionId]))[owner.versionId] ?? 'unknown'
      } catch {
        answer = 'unreachable'
      }
    }
    cache.set(key, answer)
    return answer
  }

  /** Re-check synchronously, then delete in the same tick. */
  private async collect (hash: string, graceMs: number): Promise<boolean> {
    const owners = this.init.owners(hash).map((o) => ({ ...o, local: this.init.versionState(o.versionId), writerSays: 'unknown' as WriterAnswer }))
    // A new owner that appeared since the judgement is younger than the grace period.
    if (classifyShard(owners, this.now(), graceMs) !== 'orphan') return false
    const deleted = await this.init.deleteShard(hash)
    this.orphanSince.delete(hash)
    return deleted
  }
}
