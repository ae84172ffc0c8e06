/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow wall time
 * but never go backwards and always exceed every timestamp this node has seen,
 * so "later by HLC" respects causality across nodes with skewed clocks.
 *
 * A timestamp is encoded as a fixed-width string `WWWWWWWWWWWW-CCCC`
 * (12 hex digits of wall milliseconds, 4 hex digits of logical counter), so
 * plain string comparison orders timestamps; version ids append the writer's
 * node id to break ties deterministically.
 */
import { CairnError } from './errors.ts'

/** Largest logical counter before the clock waits for wall time (16 bits). */
export const HLC_MAX_COUNTER = 0xffff
/** A remote timestamp further ahead than this is rejected as a broken clock. */
export const HLC_MAX_DRIFT_MS = 24 * 3600 * 1000

const HLC_PATTERN = /^[0-9a-f]{12}-[0-9a-f]{4}$/

/** A decoded timestamp. */
export interface HlcTimestamp { wallMs: number, counter: number }

/** Encode a timestamp as its sortable string form. */
export function formatHlc (t: HlcTimestamp): string {
  return `${t.wallMs.toString(16).padStart(12, '0')}-${t.counter.toString(16).padStart(4, '0')}`
}

/** Decode a sortable string; throws BAD_INPUT when malformed. */
export function parseHlc (s: string): HlcTimestamp {
  if (!HLC_PATTERN.test(s)) throw new CairnError('BAD_INPUT', `malformed HLC timestamp ${JSON.stringify(s).slice(0, 40)}`, 'the peer or file is corrupt or from an incompatible version')
  return { wallMs: parseInt(s.slice(0, 12), 16), counter: parseInt(s.slice(13), 16) }
}

/** True when `s` looks like an encoded timestamp. */
export function isHlc (s: unknown): s is string {
  return typeof s === 'string' && HLC_PATTERN.test(s)
}

/** The wall-clock milliseconds of an encoded timestamp. */
export function hlcWallMs (s: string): number {
  return parseInt(s.slice(0, 12), 16)
}

/**
 * A hybrid logical clock.
 *
 * @example
 * const clock = new HybridClock(); const t = clock.now(); clock.observe(remote)
 */
export class HybridClock {
  private last: HlcTimestamp = { wallMs: 0, counter: 0 }
  private readonly wallClock: () => number

  constructor (wallClock: () => number = Date.now) {
    this.wallClock = wallClock
  }

  /** A new timestamp, greater than every one issued or observed before. */
  now (): string {
    const wall = this.wallClock()
    if (wall > this.last.wallMs) this.last = { wallMs: wall, counter: 0 }
    else this.bump()
    return formatHlc(this.last)
  }

  /**
   * Continue from `persisted`, the largest timestamp this node has stored
   * (call once at start, before the first `now()`): every later timestamp
   * exceeds it even when the wall clock was set back while the node was down,
   * so the node's new writes never lose to its old ones. Unlike `observe`,
   * there is no drift limit: the value comes from this node's own disk.
   */
  seed (persisted: string): void {
    const p = parseHlc(persisted)
    if (p.wallMs > this.last.wallMs || (p.wallMs === this.last.wallMs && p.counter > this.last.counter)) this.last = { ...p }
  }

  /** Fold in a timestamp seen from a peer. */
  observe (remote: string): void {
    const r = parseHlc(remote)
    if (r.wallMs > this.wallClock() + HLC_MAX_DRIFT_MS) return
    if (r.wallMs > this.last.wallMs || (r.wallMs === this.last.wallMs && r.counter > this.last.counter)) this.last = { ...r }
  }

  private bump (): void {
    if (this.last.counter < HLC_MAX_COUNTER) this.last = { wallMs: this.last.wallMs, counter: this.last.counter + 1 }
    else this.last = { wallMs: this.last.wallMs + 1, counter: 0 }
  }
}
