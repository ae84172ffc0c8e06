/**
 * Heartbeats over the channel RPC (`PROTOCOLS.heartbeat`): every
 * HEARTBEAT_INTERVAL_MS the node asks each connected peer that is due one
 * (silent for most of the heartbeat interval, which grows with the number of
 * peers: cluster/liveness.ts) for a tiny answer, and records in a Liveness
 * tracker who answered and who asked, which the membership view and the
 * replicator consult, so a hung peer stops counting as online within the
 * liveness timeout. A heartbeat a peer sends proves that peer alive as much
 * as an answer does, so of two peers only one needs to ask.
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
  await net.handle(PROTOCOLS.heartbeat, async (req) => {
    liveness.heard(req.peerId, Date.now())
    return { header: { v: 1 } }
  })
  const inFlight = new Set<string>()
  const beat = (): void => {
    const peers = net.connectedPeers()
    const intervalMs = heartbeatIntervalMs(peers.length)
    const timeoutMs = livenessTimeoutMs(peers.length)
    liveness.setTimeoutMs(timeoutMs)
    const now = Date.now()
    for (const peer of peers) {
      // One heartbeat per peer at a time: a hung peer does not pile up calls.
      if (inFlight.has(peer) || !liveness.due(peer, now, intervalMs)) continue
      inFlight.add(peer)
      net.call(peer, PROTOCOLS.heartbeat, { v: 1 }, undefined, { timeoutMs })
        .then(() => { liveness.heard(peer, Date.now()) }, () => { /* silence is what the tracker measures */ })
        .finally(() => { inFlight.delete(peer) })
    }
  }
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS)
  const unsubscribe = net.onPeer((peer, connected) => {
    if (connected) liveness.heard(peer, Date.now())
    else liveness.forget(peer)
  })
  return { liveness, stop: () => { clearInterval(timer); unsubscribe() } }
}
