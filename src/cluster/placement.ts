/**
 * Placement: weighted rendezvous (highest random weight) hashing over the
 * member roster. Pure: it takes plain data and returns a decision, so the
 * daemon, the repair planner and the simulator all run this very code.
 *
 * For a placement key (an object version's stripe, or a shard) every node gets
 * the score `-weight / ln(u)` where `u` in (0,1) is a hash of (key, node id).
 * This is the logarithmic method of weighted rendezvous hashing: a node's
 * chance to be first is proportional to its weight, and removing a node only
 * moves the keys that node held.
 *
 * Constraints, applied while walking nodes in score order:
 * - one shard per distinct node;
 * - at most ceil(count / zones) shards per zone;
 * - when anchors exist and `minAnchors` > 0, the first `minAnchors` slots go to
 *   the best-scored anchors.
 */
import { createHash } from 'node:crypto'

/** What placement needs to know about one node. */
export interface PlacementNode {
  /** Stable node id (the libp2p peer id string). */
  id: string
  /** Relative weight, e.g. free capacity in bytes; 0 excludes the node. */
  weight: number
  /** Failure domain (site, floor, building); '' when unknown. */
  zone?: string
  /** Always-on anchor server. */
  anchor?: boolean
}

/** A placement request. */
export interface PlacementRequest {
  /** The key to place (e.g. `${versionId}/${stripeIndex}`). */
  key: string
  /** How many distinct nodes to choose (k + m). */
  count: number
  /** At least this many slots on anchors, when enough anchors exist (k). */
  minAnchors?: number
}

/**
 * A uniform number in (0,1) from (key, nodeId). Uses the first 52 bits of a
 * SHA-256 so the result is identical on every node and platform.
 */
export function rendezvousUniform (key: string, nodeId: string): number {
  const digest = createHash('sha256').update(key).update('\u0000').update(nodeId).digest()
  // 52 bits fit a double exactly; +0.5 keeps u strictly inside (0,1).
  const high = digest.readUInt32BE(0) & 0xfffff
  const low = digest.readUInt32BE(4)
  return (high * 2 ** 32 + low + 0.5) / 2 ** 52
}

/** The weighted rendezvous score of a node for a key; higher wins. */
export function rendezvousScore (key: string, node: PlacementNode): number {
  if (!(node.weight > 0)) return -Infinity
  return -node.weight / Math.log(rendezvousUniform(key, node.id))
}

/** Nodes sorted by descending score for `key` (ties broken by id). */
export function rankNodes (key: string, nodes: readonly PlacementNode[]): PlacementNode[] {
  const scored = nodes.map((node) => ({ node, score: rendezvousScore(key, node) }))
  scored.sort((a, b) => (b.score - a.score) || (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0))
  return scored.filter((s) => s.score > -Infinity).map((s) => s.node)
}

/**
 * Choose `count` distinct nodes for `key`, honouring the zone and anchor
 * constraints. Returns fewer than `count` ids when the roster cannot satisfy
 * the request; callers decide whether that is an error.
 *
 * @example
 * placeShards({ key: 'v1/0', count: 6 }, roster) // ['12D3…', …] in slot order
 */
export function placeShards (request: PlacementRequest, nodes: readonly PlacementNode[]): string[] {
  const ranked = rankNodes(request.key, nodes)
  const zones = new Set(ranked.map((n) => n.zone ?? ''))
  const perZoneLimit = Math.ceil(request.count / Math.max(1, zones.size))
  const perZone = new Map<string, number>()
  const chosen: string[] = []
  const take = (node: PlacementNode): boolean => {
    const zone = node.zone ?? ''
    const used = perZone.get(zone) ?? 0
    if (used >= perZoneLimit || chosen.includes(node.id)) return false
    perZone.set(zone, used + 1)
    chosen.push(node.id)
    return true
  }
  const anchors = ranked.filter((n) => n.anchor === true)
  const wantAnchors = Math.min(request.minAnchors ?? 0, request.count)
  for (const node of anchors) {
    if (chosen.length >= wantAnchors) break
    take(node)
  }
  for (const node of ranked) {
    if (chosen.length >= request.count) break
    take(node)
  }
  // When the zones are too uneven to honour the per-zone limit, distinct nodes
  // matter more than zone spread: fill the remaining slots in score order.
  for (const node of ranked) {
    if (chosen.length >= request.count) break
    if (!chosen.includes(node.id)) chosen.push(node.id)
  }
  return chosen
}

/**
 * The node that coordinates work on `key` (e.g. the repair of an object):
 * the best-scored online node, so every node agrees without talking.
 */
export function coordinatorFor (key: string, nodes: readonly PlacementNode[]): string | undefined {
  return rankNodes(key, nodes)[0]?.id
}
