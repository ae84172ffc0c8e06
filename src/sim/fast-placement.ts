/**
 * Placement over a large roster without hashing every node for every
 * decision, while returning exactly what `placeShards` over the whole roster
 * returns.
 *
 * Rendezvous scores of (key, node) do not depend on the rest of the roster,
 * so the best L nodes of the full roster, filtered to those still eligible,
 * are a prefix of the ranking over the eligible roster. `placeShards` over
 * that prefix (plus every anchor) gives the full answer whenever its walk
 * finishes inside the prefix; `placeWithCandidates` checks that and falls
 * back to the whole roster when it cannot prove it. An anchor may appear
 * several times in an answer (fewer anchors than k): every anchor is in the
 * subset, so its slots are the same either way. With measured availability
 * (the profile rule) the prefix must also hold the rule's whole window of
 * PCs, so that the profile choice saw the same candidates.
 */
import { placeShards, placementScore } from '../cluster/placement.ts'
import { PROFILE_WINDOW, hasAvailability } from '../cluster/profile-placement.ts'
import type { PlacementNode, PlacementRequest } from '../cluster/placement.ts'

/**
 * Indices of the `length` best-scored nodes for `key` (any order).
 *
 * @example
 * topCandidates('pg/1', roster, 32) // Int32Array of 32 node indices
 */
export function topCandidates (key: string, nodes: readonly PlacementNode[], length: number): Int32Array {
  const scores = new Float64Array(nodes.length)
  for (let i = 0; i < nodes.length; i++) scores[i] = placementScore(key, nodes[i] as PlacementNode)
  if (length >= nodes.length) return Int32Array.from(nodes.keys())
  const sorted = Float64Array.from(scores).sort()
  const threshold = sorted[nodes.length - length] as number
  const out = new Int32Array(length)
  let count = 0
  for (let i = 0; i < nodes.length && count < length; i++) if ((scores[i] as number) > threshold) out[count++] = i
  for (let i = 0; i < nodes.length && count < length; i++) if (scores[i] === threshold) out[count++] = i
  return out
}

/** The roster as placement sees it right now. */
export interface EligibleRoster {
  /** Every node ever in the roster; the index is the node number. */
  nodes: readonly PlacementNode[]
  /** Node id to index. */
  indexOf: ReadonlyMap<string, number>
  /** Whether a node may receive shards now. */
  eligible: (node: number) => boolean
  /** Number of distinct zones among eligible nodes. */
  eligibleZones: () => number
  /** Indices of all anchor nodes (eligible or not). */
  anchors: readonly number[]
}

const profiledRosters = new WeakMap<readonly PlacementNode[], boolean>()

/** Whether any node of the roster carries availability (then the stripe rule chooses PCs by profile); cached per node list. */
function rosterProfiled (roster: EligibleRoster): boolean {
  let known = profiledRosters.get(roster.nodes)
  if (known === undefined) {
    known = roster.nodes.some(hasAvailability)
    profiledRosters.set(roster.nodes, known)
  }
  return known
}

/**
 * `placeShards(request, eligible nodes)` computed from a candidate prefix;
 * returns node indices in slot order. Also reports whether the fast path
 * was used (for statistics).
 */
export function placeWithCandidates (request: PlacementRequest, candidates: ArrayLike<number>, roster: EligibleRoster): { nodes: number[], fast: boolean } {
  const inPrefix = new Set<number>()
  const subset: PlacementNode[] = []
  const zones = new Set<string>()
  const profiled = rosterProfiled(roster)
  let prefixPcs = 0
  for (let i = 0; i < candidates.length; i++) {
    const index = candidates[i] as number
    if (!roster.eligible(index)) continue
    inPrefix.add(index)
    const node = roster.nodes[index] as PlacementNode
    subset.push(node)
    zones.add(node.zone ?? '')
    if (node.anchor !== true && node.weight > 0) prefixPcs++
  }
  const wantAnchors = Math.min(request.minAnchors ?? 0, request.count)
  if (wantAnchors > 0) {
    for (const index of roster.anchors) {
      if (inPrefix.has(index) || !roster.eligible(index)) continue
      const node = roster.nodes[index] as PlacementNode
      subset.push(node)
      zones.add(node.zone ?? '')
    }
  }
  const chosen = placeShards(request, subset).map((id) => roster.indexOf.get(id) as number)
  // The profile rule looks at the best PROFILE_WINDOW PCs; a prefix with fewer may have missed some (unless it holds every eligible PC).
  const windowSeen = !profiled || prefixPcs >= PROFILE_WINDOW || candidates.length >= roster.nodes.length
  if (windowSeen && isFaithful(chosen, request.count, zones.size, wantAnchors, inPrefix, roster)) return { nodes: chosen, fast: true }
  const all: PlacementNode[] = []
  for (let i = 0; i < roster.nodes.length; i++) if (roster.eligible(i)) all.push(roster.nodes[i] as PlacementNode)
  return { nodes: placeShards(request, all).map((id) => roster.indexOf.get(id) as number), fast: false }
}

/**
 * True when the walk of placeShards over the subset provably matches the
 * walk over the whole eligible roster: same zone count (same per-zone limit),
 * a full answer within the zone limit (no fallback fill), every non-anchor
 * inside the prefix, and no more anchors than the anchor pass takes (so all
 * anchors came from that pass, which saw every anchor; the stripe rule gives
 * the other shards to PCs before unused anchors).
 */
function isFaithful (chosen: readonly number[], count: number, subsetZones: number, wantAnchors: number, inPrefix: ReadonlySet<number>, roster: EligibleRoster): boolean {
  if (chosen.length !== count || subsetZones !== roster.eligibleZones()) return false
  const limit = Math.ceil(count / Math.max(1, subsetZones))
  const perZone = new Map<string, number>()
  let anchors = 0
  for (const index of chosen) {
    const node = roster.nodes[index] as PlacementNode
    const zone = node.zone ?? ''
    const used = (perZone.get(zone) ?? 0) + 1
    if (used > limit) return false
    perZone.set(zone, used)
    if (node.anchor === true) anchors++
    if (!inPrefix.has(index) && node.anchor !== true) return false
  }
  // Shards on anchors beyond the anchor pass were placed because the subset ran out of PCs;
  // the whole roster may have PCs outside the prefix, which the stripe rule prefers.
  return anchors <= wantAnchors
}
