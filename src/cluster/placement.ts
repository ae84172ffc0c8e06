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
 * The stripe rule (`placeStripe`) is the one function put, repair, the
 * planner and the simulator all call:
 * - anchors: when any anchor can take shards and `anchorShards` (k) > 0, k
 *   shards of the stripe go to anchors, spread as evenly as possible (round
 *   robin in score order, at most ceil(k / anchors) per anchor), so an
 *   anchor holds several shards of one stripe only when there are fewer
 *   anchors than k; the other shards go to PCs, one per distinct PC, and to
 *   anchors not yet used only when PCs run out;
 * - zones: at most ceil(count / zones) shards of the stripe per zone
 *   (anchors included), zones counted over the nodes given and the holders
 *   of the shards that stay; when that cannot be met the rest is placed
 *   anyway and a note says so;
 * - a PC never holds two shards of one stripe;
 * - measured availability (nodes with `profile` or `availability`): the
 *   ranking multiplies each weight by the node's mean availability, and the
 *   PC shards are chosen from the best PROFILE_WINDOW PCs so that the worst
 *   hour of the week keeps the most shards online (cluster/profile-placement.ts);
 *   nodes without measurements place exactly as plain rendezvous.
 */
import { createHash } from 'node:crypto'
import { HolderProfile, PROFILE_WINDOW, availabilityFactor, bestCandidate, hasAvailability, hourly } from './profile-placement.ts'

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
  /**
   * Measured weekly profile: 168 probabilities of being online by UTC hour of
   * week (Monday 00:00 = 0); absent when not measured. With it (or
   * `availability`) the stripe rule weighs the node by its availability and
   * chooses PCs by profile (cluster/profile-placement.ts).
   */
  profile?: readonly number[]
  /** Measured mean online fraction, used when there is no profile. */
  availability?: number
}

/** A placement request. */
export interface PlacementRequest {
  /** The key to place (e.g. `${versionId}/${stripeIndex}`). */
  key: string
  /** How many distinct nodes to choose (k + m). */
  count: number
  /** Shards on anchors when any anchor is among the nodes (k); 0 or absent: anchors are like other nodes. */
  minAnchors?: number
  /** Shards needed to read (k), for the profile rule; defaults to minAnchors. */
  readShards?: number
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

/**
 * The score the stripe rule ranks by: the rendezvous score with the weight
 * multiplied by the node's measured availability (1 when unmeasured, so it
 * equals `rendezvousScore` for nodes without availability).
 */
export function placementScore (key: string, node: PlacementNode): number {
  if (!hasAvailability(node)) return rendezvousScore(key, node)
  return rendezvousScore(key, { id: node.id, weight: node.weight * availabilityFactor(node) })
}

/** Nodes sorted by descending score for `key` (ties broken by id). */
export function rankNodes (key: string, nodes: readonly PlacementNode[], score: (key: string, node: PlacementNode) => number = rendezvousScore): PlacementNode[] {
  const scored = nodes.map((node) => ({ node, score: score(key, node) }))
  scored.sort((a, b) => (b.score - a.score) || (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0))
  return scored.filter((s) => s.score > -Infinity).map((s) => s.node)
}

/**
 * Choose nodes for `count` shards of `key` by the stripe rule (see
 * placeStripe); returns node ids in slot order, fewer than `count` when the
 * roster cannot satisfy the request (callers decide whether that is an
 * error). An anchor may appear several times when there are fewer anchors
 * than `minAnchors`.
 *
 * @example
 * placeShards({ key: 'v1/0', count: 6 }, roster) // ['12D3…', …] in slot order
 */
export function placeShards (request: PlacementRequest, nodes: readonly PlacementNode[]): string[] {
  return placeStripe({ key: request.key, count: request.count, anchorShards: request.minAnchors ?? 0, ...(request.readShards === undefined ? {} : { readShards: request.readShards }) }, nodes).nodes
}

/**
 * The node that coordinates work on `key` (e.g. the repair of an object):
 * the best-scored online node, so every node agrees without talking.
 */
export function coordinatorFor (key: string, nodes: readonly PlacementNode[]): string | undefined {
  return rankNodes(key, nodes)[0]?.id
}

/** A stripe placement request: new shards for a stripe, given the shards that stay where they are. */
export interface StripePlacementRequest {
  /** The placement key (`${versionId}/${stripeIndex}`). */
  key: string
  /** Shards of the whole stripe (k + m). */
  count: number
  /** Shards that must be on anchors when anchors exist (k); 0: no anchor rule. */
  anchorShards: number
  /** Holders of the stripe's shards that stay (repair): one entry per shard; they count for the anchor and zone rules. */
  held?: readonly PlacementNode[]
  /** Nodes that may not receive a shard (a PC holding a copy of one already, a node that just failed). */
  avoid?: ReadonlySet<string>
  /** Shards needed to read (k), for the profile rule; defaults to anchorShards. */
  readShards?: number
}

/** Where the new shards go, and what of the rule could not be honoured. */
export interface StripePlacement {
  /** Nodes for the count - held shards, in slot order: anchor slots first; fewer when the nodes do not suffice. */
  nodes: string[]
  /** One line per rule not honoured (empty when the placement keeps every rule). */
  notes: string[]
  /** The per-zone limit in force. */
  zoneLimit: number
  /** Shards of the stripe on anchors, held ones included. */
  onAnchors: number
}

/**
 * Place the shards of one stripe by the stripe rule (module comment).
 * Deterministic: the same request and nodes give the same answer on every
 * node.
 *
 * @example
 * placeStripe({ key: 'v1/0', count: 6, anchorShards: 4 }, roster).nodes // ['nas1', 'nas2', 'nas1', 'nas2', 'pc7', 'pc3']
 */
export function placeStripe (request: StripePlacementRequest, nodes: readonly PlacementNode[]): StripePlacement {
  const held = request.held ?? []
  const ranked = rankNodes(request.key, nodes, placementScore)
  const zoneOf = (n: PlacementNode): string => n.zone ?? ''
  const zoneCount = new Set([...ranked, ...held].map(zoneOf)).size
  const zoneLimit = Math.ceil(request.count / Math.max(1, zoneCount))
  const perZone = new Map<string, number>()
  const perNode = new Map<string, number>()
  const count = (map: Map<string, number>, key: string): number => map.get(key) ?? 0
  const add = (n: PlacementNode): void => {
    perZone.set(zoneOf(n), count(perZone, zoneOf(n)) + 1)
    perNode.set(n.id, count(perNode, n.id) + 1)
  }
  for (const n of held) add(n)
  const chosen: string[] = []
  const notes: string[] = []
  const take = (n: PlacementNode): void => { add(n); chosen.push(n.id) }
  const wanted = Math.max(0, request.count - held.length)
  const zoneOk = (n: PlacementNode): boolean => count(perZone, zoneOf(n)) < zoneLimit
  let zonesBroken = false

  // Anchors: k shards of the stripe, round robin over the anchors in score order.
  const anchors = ranked.filter((n) => n.anchor === true)
  const anchorIds = new Set([...anchors, ...held.filter((n) => n.anchor === true)].map((n) => n.id))
  let onAnchors = held.filter((n) => n.anchor === true).length
  if (request.anchorShards > 0 && anchorIds.size > 0) {
    const target = Math.min(request.anchorShards, request.count)
    const perAnchorMax = Math.ceil(target / anchorIds.size)
    const fits = (n: PlacementNode): boolean => count(perNode, n.id) < perAnchorMax && request.avoid?.has(n.id) !== true
    for (const honourZones of [true, false]) {
      let progress = true
      while (onAnchors < target && chosen.length < wanted && progress) {
        progress = false
        for (const n of anchors) {
          if (onAnchors >= target || chosen.length >= wanted) break
          if (!fits(n) || (honourZones && !zoneOk(n))) continue
          if (!honourZones) zonesBroken = true
          take(n)
          onAnchors++
          progress = true
        }
      }
    }
    if (onAnchors < target && chosen.length < wanted) notes.push(`only ${onAnchors} of the ${target} shards that belong on anchors could be placed on the ${anchors.length} anchor(s) online`)
  }
  const free = (n: PlacementNode): boolean => count(perNode, n.id) === 0 && request.avoid?.has(n.id) !== true
  // PCs by profile, when the nodes carry availability: the worst hour of the week first.
  const readShards = request.readShards ?? request.anchorShards
  if (readShards > 0 && chosen.length < wanted && (ranked.some(hasAvailability) || held.some(hasAvailability))) {
    const window = ranked.filter((n) => n.anchor !== true).slice(0, PROFILE_WINDOW)
    const curves = window.map(hourly)
    const holders = new HolderProfile(readShards)
    const known = new Map([...held, ...ranked].map((n) => [n.id, n]))
    for (const [id, shards] of perNode) holders.add(hourly(known.get(id) as PlacementNode), shards)
    while (chosen.length < wanted) {
      const open = window.flatMap((n, i) => free(n) && zoneOk(n) ? [i] : [])
      const best = bestCandidate(holders, open.map((i) => curves[i] as Float64Array))
      if (best < 0) break
      const index = open[best] as number
      take(window[index] as PlacementNode)
      holders.add(curves[index] as Float64Array)
    }
  }
  // The rest: distinct PCs, then anchors not used yet, within the zone limit, then beyond it.
  const order = [...ranked.filter((n) => n.anchor !== true), ...anchors]
  for (const honourZones of [true, false]) {
    for (const n of order) {
      if (chosen.length >= wanted) break
      if (!free(n) || (honourZones && !zoneOk(n))) continue
      if (!honourZones) zonesBroken = true
      if (n.anchor === true) onAnchors++
      take(n)
    }
  }
  if (zonesBroken) notes.push(`zones not honoured: more than ${zoneLimit} shard(s) of the stripe in one zone (${zoneCount} zones among the nodes online; too few nodes in the other zones)`)
  if (chosen.length < wanted) notes.push(`only ${held.length + chosen.length} of ${request.count} shards found a node (every node may hold one shard of a stripe, anchors up to their share)`)
  return { nodes: chosen, notes, zoneLimit, onAnchors }
}
