/**
 * Notices that this node was not running for a while although its process
 * never stopped: the PC slept or hibernated, the process was SIGSTOPped, a
 * VM was paused. Its peers counted it offline meanwhile, so pushes of the
 * writes made in that time went to other nodes, and the node would learn of
 * them only at its next periodic anti-entropy round (up to 15 s later).
 *
 * A timer ticks every TICK_MS; a tick that comes more than GAP_MS after the
 * previous one, by the wall clock (which counts a suspend) or the monotonic
 * clock (which does not jump when the wall clock is set), means the node
 * was away, and `onWake(gapMs)` runs. A wall clock set forward by hand
 * counts as a wake too: the cost is one extra anti-entropy round.
 */

/** How often the timer ticks. */
export const TICK_MS = 1000
/**
 * A gap between ticks longer than this counts as an absence: more than the
 * 3 s after which peers count a silent node offline, so a wake follows only
 * an absence that the cluster noticed (an event loop busy for a second or
 * two is not one).
 */
export const GAP_MS = 5000

/** What the detector needs; the clocks are injected for tests. */
export interface WakeInit {
  onWake: (gapMs: number) => void
  wallMs?: () => number
  monotonicMs?: () => number
  tickMs?: number
  gapMs?: number
}

/**
 * Start watching; returns a stop function.
 *
 * @example
 * const stop = watchForWake({ onWake: (gap) => { void workers.trigger('anti-entropy') } })
 */
export function watchForWake (init: WakeInit): () => void {
  const wall = init.wallMs ?? Date.now
  const monotonic = init.monotonicMs ?? (() => performance.now())
  const gapMs = init.gapMs ?? GAP_MS
  let lastWall = wall()
  let lastMonotonic = monotonic()
  const timer = setInterval(() => {
    const nowWall = wall()
    const nowMonotonic = monotonic()
    const gap = Math.max(nowWall - lastWall, nowMonotonic - lastMonotonic)
    lastWall = nowWall
    lastMonotonic = nowMonotonic
    if (gap > gapMs) init.onWake(gap)
  }, init.tickMs ?? TICK_MS)
  timer.unref()
  return () => { clearInterval(timer) }
}
