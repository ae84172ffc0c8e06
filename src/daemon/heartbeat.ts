/**
 * Heartbeats over the channel RPC (`PROTOCOLS.heartbeat`): every
 * HEARTBEAT_INTERVAL_MS the node asks each connected peer for a tiny answer
 * and records who answered in a Liveness tracker, which the membership view
 * and the replicator consult, so a hung peer stops counting as online within
 * a few seconds.
 *
 * Message: request header {v:1}, empty body → answer header {v:1}.
 */
import { HEARTBEAT_INTERVAL_MS, LIVENESS_TIMEOUT_MS, Liveness } from '../cluster/liveness.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'

/**
 * Serve heartbeats and start sending them; returns the tracker and a stop function.
 *
 * @example
 * const { liveness, stop } = await startHeartbeats(net)
 */
export async function startHeartbeats (net: NetNode): Promise<{ liveness: Liveness, stop: () => void }> {
  const liveness = new Liveness(LIVENESS_TIMEOUT_MS)
  await net.handle(PROTOCOLS.heartbeat, async () => ({ header: { v: 1 } }))
  const inFlight = new Set<string>()
  const beat = (): void => {
    for (const peer of net.connectedPeers()) {
      // One heartbeat per peer at a time: a hung peer does not pile up calls.
      if (inFlight.has(peer)) continue
      inFlight.add(peer)
      net.call(peer, PROTOCOLS.heartbeat, { v: 1 }, undefined, { timeoutMs: LIVENESS_TIMEOUT_MS })
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
