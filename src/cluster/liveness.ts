/**
 * Liveness by heartbeat (pure): a peer that has not answered a heartbeat for
 * LIVENESS_TIMEOUT_MS is treated as not online for placement and quorum,
 * even while its TCP connection stays up (a PC that hangs, a SIGSTOPped
 * process). A peer not yet asked gets the benefit of the doubt from the
 * moment it is first seen.
 */

/** How often the daemon sends each connected peer a heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 1000
/** A peer silent for this long is not online (a few missed heartbeats). */
export const LIVENESS_TIMEOUT_MS = 3000
/** Peers whose last answer is remembered after they disconnect (far more than any roster; the oldest are forgotten first). */
export const MAX_REMEMBERED_PEERS = 4096

/**
 * Last answer time of every peer.
 *
 * @example
 * const live = new Liveness(); live.heard(peer, Date.now()); live.responsive(peer, Date.now())
 */
export class Liveness {
  private readonly lastHeardMs = new Map<string, number>()
  /** Last real answer of every peer, kept across disconnects (presence dates absences from it). */
  private readonly lastAnswerMs = new Map<string, number>()
  private readonly timeoutMs: number

  constructor (timeoutMs: number = LIVENESS_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs
  }

  /** The peer answered at `nowMs`. */
  heard (peer: string, nowMs: number): void {
    this.lastHeardMs.set(peer, nowMs)
    this.lastAnswerMs.delete(peer) // re-inserted last: the map stays in order of answers
    this.lastAnswerMs.set(peer, nowMs)
    if (this.lastAnswerMs.size > MAX_REMEMBERED_PEERS) this.lastAnswerMs.delete(this.lastAnswerMs.keys().next().value as string)
  }

  /** When the peer last answered (or connected), also after it disconnected; undefined if never. */
  lastHeard (peer: string): number | undefined {
    return this.lastAnswerMs.get(peer)
  }

  /** Forget a disconnected peer (it starts afresh when it connects again). */
  forget (peer: string): void {
    this.lastHeardMs.delete(peer)
  }

  /** True unless the peer has been silent for longer than the timeout. */
  responsive (peer: string, nowMs: number): boolean {
    const last = this.lastHeardMs.get(peer)
    if (last === undefined) {
      this.lastHeardMs.set(peer, nowMs)
      return true
    }
    return nowMs - last <= this.timeoutMs
  }
}
