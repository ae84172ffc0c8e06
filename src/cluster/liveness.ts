/**
 * Liveness by heartbeat (pure): a peer that has not been heard from for the
 * liveness timeout is treated as not online for placement and quorum, even
 * while its TCP connection stays up (a PC that hangs or sleeps, a
 * SIGSTOPped process). A peer not yet asked gets the benefit of the doubt
 * from the moment it is first seen.
 *
 * The heartbeat interval grows with the number of connected peers, so that
 * the heartbeats one idle node sends and answers stay about constant per
 * second instead of growing with the cluster (issue 12: 24 idle nodes each
 * spent ~4% of a core, mostly on heartbeats). The timeout is a fixed number
 * of intervals, so detecting a hung peer takes longer in a larger cluster:
 * 3 s up to 10 peers, 0.3 s per peer beyond, at most 15 s from 50 peers on.
 */

/** How often the daemon looks for peers due a heartbeat; also the shortest heartbeat interval. */
export const HEARTBEAT_INTERVAL_MS = 1000
/** Interval added per connected peer: about 10 heartbeats per second per node, sent and answered, whatever the cluster size. */
export const HEARTBEAT_MS_PER_PEER = 100
/** Longest heartbeat interval, so that detection stays within LIVENESS_TIMEOUT_BEATS of it in any cluster. */
export const HEARTBEAT_MAX_INTERVAL_MS = 5000
/** A peer silent for this many heartbeat intervals is not online. */
export const LIVENESS_TIMEOUT_BEATS = 3
/** The shortest liveness timeout (a few missed heartbeats at the shortest interval). */
export const LIVENESS_TIMEOUT_MS = LIVENESS_TIMEOUT_BEATS * HEARTBEAT_INTERVAL_MS
/** Peers whose last answer is remembered after they disconnect (far more than any roster; the oldest are forgotten first). */
export const MAX_REMEMBERED_PEERS = 4096

/**
 * The heartbeat interval for a node connected to `peers` peers.
 *
 * @example
 * heartbeatIntervalMs(5) // 1000
 * heartbeatIntervalMs(23) // 2300
 */
export function heartbeatIntervalMs (peers: number): number {
  return Math.min(HEARTBEAT_MAX_INTERVAL_MS, Math.max(HEARTBEAT_INTERVAL_MS, peers * HEARTBEAT_MS_PER_PEER))
}

/**
 * The liveness timeout for a node connected to `peers` peers.
 *
 * @example
 * livenessTimeoutMs(5) // 3000
 * livenessTimeoutMs(47) // 14100
 */
export function livenessTimeoutMs (peers: number): number {
  return LIVENESS_TIMEOUT_BEATS * heartbeatIntervalMs(peers)
}

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
  private timeoutMs: number

  constructor (timeoutMs: number = LIVENESS_TIMEOUT_MS) {
    this.timeoutMs = timeoutMs
  }

  /** The current timeout (it follows the number of peers: livenessTimeoutMs). */
  get timeout (): number {
    return this.timeoutMs
  }

  /** Change the timeout (the cluster grew or shrank). */
  setTimeoutMs (timeoutMs: number): void {
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
