/**
 * A byte-rate limiter (token bucket): `take(n)` resolves once n bytes fit
 * the rate, so a loop that takes before each transfer averages at most the
 * rate. The rate is read on every call, so a changed setting applies at once.
 * At most one second of burst is allowed.
 */

/**
 * Limit a stream of work to `rate()` bytes per second.
 *
 * @example
 * const limiter = new RateLimiter(() => 20e6); await limiter.take(shard.length)
 */
export class RateLimiter {
  private readonly rate: () => number
  private readonly now: () => number
  private tokens = 0
  private lastMs: number
  /** Total milliseconds spent waiting (for status). */
  waitedMs = 0

  constructor (rate: () => number, now: () => number = Date.now) {
    this.rate = rate
    this.now = now
    this.lastMs = now()
    this.tokens = Math.max(1, rate())
  }

  /** True when `take(bytes)` now would have to wait. */
  wouldWait (bytes: number): boolean {
    const rate = Math.max(1, this.rate())
    return Math.min(rate, this.tokens + (this.now() - this.lastMs) * rate / 1000) < bytes
  }

  /** Wait until `bytes` may be used; rejects when `signal` aborts. */
  async take (bytes: number, signal?: AbortSignal): Promise<void> {
    const rate = Math.max(1, this.rate())
    const now = this.now()
    this.tokens = Math.min(rate, this.tokens + (now - this.lastMs) * rate / 1000)
    this.lastMs = now
    this.tokens -= bytes
    if (this.tokens >= 0) return
    const waitMs = Math.ceil(-this.tokens * 1000 / rate)
    this.waitedMs += waitMs
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, waitMs)
      const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
