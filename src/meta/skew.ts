/**
 * Clock-skew guard for incoming metadata records. A record whose HLC is
 * further ahead of the receiver's wall clock than `maxClockSkew` comes from a
 * node whose clock is wrong; applying it would let that node's writes beat
 * every correct write for as long as its clock is ahead (a day ahead: a day),
 * and would drag every receiver's HLC forward with it. Such records are not
 * applied: a push that carries one is refused (the writer's commit does not
 * count this peer), and anti-entropy skips it (the Merkle trees still differ,
 * so a later round fetches it again and applies it once it is acceptable).
 *
 * `splitBySkew` is pure; `SkewTracker` remembers, per origin, what was
 * refused, for `cairn status` and for a rate-limited log line.
 */
import { hlcWallMs, isHlc } from '../util/hlc.ts'
import type { MetaRecord } from './types.ts'

/** Default cluster-wide `maxClockSkew`: how far ahead of the receiver's clock a record may be stamped. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000
/** At most one log line per origin per this interval. */
export const SKEW_LOG_INTERVAL_MS = 60_000
/** Origins remembered by the tracker (the roster is far smaller; a bound against junk origins). */
export const MAX_SKEW_ORIGINS = 256

/** Records split by how far ahead of the receiver's clock they are stamped. */
export interface SkewSplit {
  acceptable: MetaRecord[]
  tooFarAhead: MetaRecord[]
  /** Largest lead over the receiver's clock among the refused records (0 when none). */
  maxAheadMs: number
}

/**
 * Split `records` into those stamped at most `maxSkewMs` ahead of `nowMs` and
 * the rest. A record without a well-formed HLC counts as acceptable here: the
 * store's decoder rejects it with its own error.
 *
 * @example
 * const { acceptable, tooFarAhead } = splitBySkew(records, Date.now(), 300_000)
 */
export function splitBySkew (records: readonly MetaRecord[], nowMs: number, maxSkewMs: number): SkewSplit {
  const acceptable: MetaRecord[] = []
  const tooFarAhead: MetaRecord[] = []
  let maxAheadMs = 0
  for (const r of records) {
    const aheadMs = isHlc(r?.hlc) ? hlcWallMs(r.hlc) - nowMs : 0
    if (aheadMs > maxSkewMs) {
      tooFarAhead.push(r)
      maxAheadMs = Math.max(maxAheadMs, aheadMs)
    } else {
      acceptable.push(r)
    }
  }
  return { acceptable, tooFarAhead, maxAheadMs }
}

/** A duration for people: `86400000` → `24.0 h`, `300000` → `5.0 min`. */
export function formatSkewMs (ms: number): string {
  const abs = Math.abs(ms)
  if (abs >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`
  if (abs >= 60_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 1000).toFixed(1)} s`
}

/** What was refused from one origin (the node that stamped the records). */
export interface SkewRefusal {
  /** Node id that stamped the refused records. */
  origin: string
  /** Peer that last sent such records (the origin itself for pushes). */
  peer: string
  /** Records refused in pushes. */
  pushRefused: number
  /** Records skipped by anti-entropy pulls. */
  pullSkipped: number
  /** Lead over this node's clock of the last refused batch. */
  aheadMs: number
  firstAtMs: number
  lastAtMs: number
}

/**
 * Per-origin memory of refused records.
 *
 * @example
 * if (tracker.note(split.tooFarAhead, peer, 'push', split.maxAheadMs, Date.now())) log(...)
 */
export class SkewTracker {
  private readonly byOrigin = new Map<string, SkewRefusal & { loggedAtMs: number }>()

  /** Count refused records; returns the refusals that are due a log line now (at most one per origin per interval). */
  note (refused: readonly MetaRecord[], peer: string, via: 'push' | 'pull', aheadMs: number, nowMs: number): SkewRefusal[] {
    const counts = new Map<string, number>()
    for (const r of refused) {
      const origin = typeof r?.origin === 'string' ? r.origin : peer
      counts.set(origin, (counts.get(origin) ?? 0) + 1)
    }
    const due: SkewRefusal[] = []
    for (const [origin, count] of counts) {
      let entry = this.byOrigin.get(origin)
      if (entry === undefined) {
        if (this.byOrigin.size >= MAX_SKEW_ORIGINS) this.evictOldest()
        entry = { origin, peer, pushRefused: 0, pullSkipped: 0, aheadMs, firstAtMs: nowMs, lastAtMs: nowMs, loggedAtMs: -Infinity }
        this.byOrigin.set(origin, entry)
      }
      if (via === 'push') entry.pushRefused += count
      else entry.pullSkipped += count
      entry.peer = peer
      entry.aheadMs = aheadMs
      entry.lastAtMs = nowMs
      if (nowMs - entry.loggedAtMs >= SKEW_LOG_INTERVAL_MS) {
        entry.loggedAtMs = nowMs
        due.push(publicView(entry))
      }
    }
    return due
  }

  /** Every origin with refused records, most recent first. */
  refusals (): SkewRefusal[] {
    return [...this.byOrigin.values()].map(publicView).sort((a, b) => b.lastAtMs - a.lastAtMs)
  }

  private evictOldest (): void {
    let oldest: string | undefined
    let oldestMs = Infinity
    for (const [origin, e] of this.byOrigin) if (e.lastAtMs < oldestMs) { oldest = origin; oldestMs = e.lastAtMs }
    if (oldest !== undefined) this.byOrigin.delete(oldest)
  }
}

function publicView (e: SkewRefusal): SkewRefusal {
  return { origin: e.origin, peer: e.peer, pushRefused: e.pushRefused, pullSkipped: e.pullSkipped, aheadMs: e.aheadMs, firstAtMs: e.firstAtMs, lastAtMs: e.lastAtMs }
}
