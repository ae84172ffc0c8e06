/**
 * The node's view of clocks: the HLC seed at start, the measured offset of
 * every peer's wall clock, and the log line for records refused for skew.
 *
 * Offsets are measured on the nodeInfo round trip the daemon makes to every
 * peer every CAPACITY_REFRESH_INTERVAL_MS: the answer carries the peer's wall
 * clock, and offset = remote − midpoint of send and receive (NTP's estimate;
 * its error is at most half the round trip). Of the recent samples, the one
 * with the smallest round trip is the most accurate and is the one reported.
 */
import type { MetaStore } from '../meta/store.ts'
import { formatSkewMs } from '../meta/skew.ts'
import type { SkewRefusal } from '../meta/skew.ts'
import { hlcWallMs } from '../util/hlc.ts'
import type { HybridClock } from '../util/hlc.ts'

/** Samples kept per peer (about a minute and a half at one per 10 s). */
export const CLOCK_SAMPLES_PER_PEER = 8
/** Samples older than this are not used: a clock that was fixed shows so within this time. */
export const CLOCK_SAMPLE_MAX_AGE_MS = 5 * 60_000

/** Disagreement beyond the round-trip bounds tolerated before older samples are taken for a clock step. */
export const CLOCK_STEP_SLACK_MS = 1000

interface Sample { offsetMs: number, rttMs: number, atMs: number }

/**
 * Measured clock offsets of peers against this node's clock.
 *
 * @example
 * const t0 = Date.now(); const res = await call(); offsets.add(peer, t0, res.wallMs, Date.now())
 */
export class ClockOffsets {
  private readonly samples = new Map<string, Sample[]>()

  /** Record one round trip: sent at `sentMs`, answered with `remoteWallMs`, received at `receivedMs` (local clock). */
  add (peer: string, sentMs: number, remoteWallMs: number, receivedMs: number): void {
    if (!Number.isFinite(remoteWallMs) || receivedMs < sentMs) return
    const sample = { offsetMs: Math.round(remoteWallMs - (sentMs + receivedMs) / 2), rttMs: receivedMs - sentMs, atMs: receivedMs }
    // Each sample bounds the true offset within ±rtt/2; an older sample that
    // disagrees with the new one by more is from before the peer's clock was
    // stepped (or the peer restarted with another clock), and is dropped.
    const list = (this.samples.get(peer) ?? []).filter((s) => Math.abs(s.offsetMs - sample.offsetMs) <= (s.rttMs + sample.rttMs) / 2 + CLOCK_STEP_SLACK_MS)
    list.push(sample)
    if (list.length > CLOCK_SAMPLES_PER_PEER) list.splice(0, list.length - CLOCK_SAMPLES_PER_PEER)
    this.samples.set(peer, list)
  }

  /** The peer's clock minus this node's, from the lowest-round-trip recent sample (the newest sample when all are old); undefined before any. */
  offsetMs (peer: string, nowMs: number = Date.now()): number | undefined {
    const list = this.samples.get(peer)
    if (list === undefined || list.length === 0) return undefined
    const recent = list.filter((s) => nowMs - s.atMs <= CLOCK_SAMPLE_MAX_AGE_MS)
    if (recent.length === 0) return (list[list.length - 1] as Sample).offsetMs
    return recent.reduce((best, s) => (s.rttMs < best.rttMs ? s : best)).offsetMs
  }

  /** Forget a peer (it left the roster). */
  forget (peer: string): void {
    this.samples.delete(peer)
  }
}

/**
 * Seed `clock` from the newest timestamp in the replica, so a wall clock set
 * back across a restart never makes this node's new writes lose to its old
 * ones. Returns a warning line when the wall clock is behind the seed by more
 * than a second (the node continues from the seed), else undefined.
 */
export function seedClock (clock: HybridClock, meta: MetaStore, nowMs: number = Date.now()): string | undefined {
  const newest = meta.maxHlc()
  if (newest === undefined) return undefined
  clock.seed(newest)
  const behindMs = hlcWallMs(newest) - nowMs
  return behindMs > 1000 ? `warning: this node's clock is ${formatSkewMs(behindMs)} behind the newest timestamp it has stored; new timestamps continue after it (check the clock: NTP)` : undefined
}

/** The log line for records refused because their origin's clock is ahead. */
export function skewLogLine (r: SkewRefusal, via: 'push' | 'pull', nameOf: (id: string) => string): string {
  const origin = nameOf(r.origin) || r.origin
  const peer = r.peer === r.origin ? '' : ` (received from ${nameOf(r.peer) || r.peer})`
  const what = via === 'push' ? 'refused a push of records' : 'skipped records in anti-entropy'
  return `clock skew: ${what} stamped by ${origin}${peer} ${formatSkewMs(r.aheadMs)} ahead of this node's clock (beyond maxClockSkew); ${origin}'s clock is probably wrong: fix it (NTP). Refused so far: ${r.pushRefused} pushed, ${r.pullSkipped} pulled`
}
