/**
 * Push gossip policy (pure): how many peers a write is pushed to, and which.
 *
 * A writer pushes a commit to `gossipTargetCount(N, floor)` of its N online
 * peers (at least the quorum it waits for); a node that receives a push
 * flagged `forward` applies it and forwards only the records that were new to
 * it to as many random peers again (never the sender or the record's origin).
 * A record is forwarded at most once per node (a second copy changes nothing,
 * so it is not new), so a write costs the writer O(log N) messages and the
 * cluster O(N log N); anti-entropy delivers what gossip missed.
 *
 * Why ceil(log2(N + 1)) + 1: in infect-and-forward-once gossip with fanout f
 * the chance that every node is reached is about exp(-N·e^-f) (Kermarrec et
 * al., "Probabilistic reliable dissemination in large-scale systems"). With
 * f = log2(N) + 1 that is above 0.9 for 12 nodes and 0.95 for 48, and grows
 * with N; a node missed by one record holds it after its next anti-entropy
 * round with any peer.
 */

/** Default of the gossipFanout setting: the fewest peers a write is pushed to when gossip is on. */
export const DEFAULT_GOSSIP_FANOUT = 3
/**
 * Most hops a record travels by forwarding. Forward-once already bounds it
 * (a node forwards a record only the first time it gets it); this is the
 * guard against a loop from a bug or a lying peer. Gossip reaches N nodes in
 * about log(N) hops: 24 covers any cluster by far.
 */
export const MAX_GOSSIP_HOPS = 24

/**
 * How many of `peerCount` online peers a write is pushed to (and a node
 * forwards new records to): every peer when `floor` is 0 (gossip off) or the
 * cluster is small, else max(floor, ceil(log2(peerCount + 1)) + 1) — and
 * every peer again when that fanout would leave out only one: reaching the
 * last peer by forwarding costs each of the fanout receivers a push to it and
 * to one another (4 + 4 × 3 = 16 pushes per batch with 5 peers, against 5
 * when the writer pushes to all), and duplicates are most of a small put's
 * CPU on the receivers.
 *
 * @example
 * gossipTargetCount(4, 3) // 4: every peer
 * gossipTargetCount(5, 3) // 5: a fanout of 4 would leave out one
 * gossipTargetCount(11, 3) // 5
 * gossipTargetCount(47, 3) // 7
 * gossipTargetCount(47, 0) // 47: gossip off
 */
export function gossipTargetCount (peerCount: number, floor: number): number {
  if (floor <= 0) return peerCount
  const fanout = Math.max(floor, Math.ceil(Math.log2(peerCount + 1)) + 1)
  return fanout >= peerCount - 1 ? peerCount : fanout
}

/**
 * `peers` in random order, those in `first` (shuffled) before the others
 * (shuffled): the order in which a write tries peers.
 *
 * @example
 * gossipOrder(['a', 'b', 'c'], new Set(['c'])) // ['c', 'b', 'a'] or ['c', 'a', 'b']
 */
export function gossipOrder (peers: readonly string[], first: ReadonlySet<string> = new Set(), random: () => number = Math.random): string[] {
  return [...shuffle(peers.filter((p) => first.has(p)), random), ...shuffle(peers.filter((p) => !first.has(p)), random)]
}

/** A Fisher-Yates shuffle of a copy of `items`. */
function shuffle<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = out[i] as T
    out[i] = out[j] as T
    out[j] = t
  }
  return out
}
