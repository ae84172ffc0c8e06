/**
 * Heartbeats over the channel RPC (`PROTOCOLS.heartbeat`): once per
 * heartbeat interval (1 s up to 10 peers, growing with the number of peers
 * beyond: cluster/liveness.ts) the node asks each connected peer for a tiny
 * answer and records who answered in a Liveness tracker, which the
 * membership view and the replicator consult, so a hung peer stops counting
 * as online within the liveness timeout. Only answers count: a request a
 * peer sends is not taken as hearing from it (a variant that did, so that
 * only one side of a pair asked, made placement-hours.test.ts plan worse
 * placements from the measured hours; not understood, so not kept).
 *
 * Message: request header {v:1}, empty body → answer header {v:1}.
 */
import { HEARTBEAT_INTERVAL_MS, Liveness, heartbeatIntervalMs, livenessTimeoutMs } from '../cluster/liveness.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'

/**
 * Serve heartbeats and start sending them; returns the tracker and a stop function.
 *
 * @example
 * const { liveness, stop } = await startHeartbeats(net)
 */
export async function startHeartbeats (net: NetNode): Promise<{ liveness: Liveness, stop: () => void }> {
  const liveness = new Liveness(livenessTimeoutMs(0))
  await net.handle(PROTOCOLS.heartbeat, async () => ({ header: { v: 1 } }))
  const inFlight = new Set<string>()
  /** When each peer was last asked (the beat runs every HEARTBEAT_INTERVAL_MS; a longer interval skips beats). */
  const asked = new Map<string, number>()
  const beat = (): void => {
    const peers = net.connectedPeers()
    const intervalMs = heartbeatIntervalMs(peers.length)
    const timeoutMs = livenessTimeoutMs(peers.length)
    liveness.setTimeoutMs(timeoutMs)
    const now = Date.now()
    for (const peer of peers) {
      // One heartbeat per peer at a time: a hung peer does not pile up calls.
      if (inFlight.has(peer) || now - (asked.get(peer) ?? -Infinity) < intervalMs - HEARTBEAT_INTERVAL_MS / 2) continue
      inFlight.add(peer)
      asked.set(peer, now)
      net.call(peer, PROTOCOLS.heartbeat, { v: 1 }, undefined, { timeoutMs })
        .then(() => { liveness.heard(peer, Date.now()) }, () => { /* silence is what the tracker measures */ })
        .finally(() => { inFlight.delete(peer) })
    }
  }
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS)
  const unsubscribe = net.onPeer((peer, connected) => {
    if (connected) liveness.heard(peer, Date.now())
    else { liveness.forget(peer); asked.delete(peer) }
  })
  return { liveness, stop: () => { clearInterval(timer); unsubscribe() } }
}
