/**
 * The durability planner: from per-node availability and the coding
 * parameters, the probability that an object is readable, the worst hour of
 * the week, durability per year, and the cheapest code that meets a target.
 *
 * The repair threshold, unless given, is derived from a readability target
 * and the same availability (heal/policy.ts `deriveRepairThreshold`), and the
 * report gives readability both with all k + m shards live and at that
 * threshold.
 *
 * Pure: it takes plain per-node values (a constant availability, or a
 * 168-value hour-of-week profile measured on a live cluster or derived from a
 * churn model) and returns numbers. The CLI (`cairn plan`) and, later, the
 * daemon's live mode feed it. Formulas are in docs/DURABILITY.md.
 */
import type { PlacementNode } from '../cluster/placement.ts'
import { DEFAULT_TARGET, deriveRepairThreshold, readabilityWithLive } from '../heal/policy.ts'
import type { Availability } from '../heal/policy.ts'
import { MAX_TOTAL_SHARDS } from '../erasure/shards.ts'
import { CairnError } from '../util/errors.ts'
import { HOURS_PER_WEEK } from './churn.ts'
import { placeWithCandidates, topCandidates } from './fast-placement.ts'
import type { EligibleRoster } from './fast-placement.ts'
import { binomialUnreadableLog10, groupedUnreadable, logFactorials, poissonBinomialDistribution, uniformPlacementUnreadable } from '../util/probability.ts'

/** How placement chooses nodes: by measured weekly profile, or plain weighted rendezvous. */
export type PlacementPolicy = 'profile' | 'rendezvous'

/** Largest k the recommendation considers: beyond 32 data shards, per-shard overheads dominate. */
export const RECOMMEND_MAX_K = 32

/** Hours in a (Julian) year, for durability per year. */
export const HOURS_PER_YEAR = 8766

/** Work budget (multiply-adds) of the exact all-placements computation before sampling placements instead. */
const EXACT_BUDGET_OPS = 4e8

/** Default number of sampled placements when placement is not uniform (zones, anchors, weights). */
export const DEFAULT_PLACEMENT_SAMPLES = 400

/** Best-scored nodes kept per sampled key: enough for k + m up to ~100 with zone limits. */
const SAMPLED_CANDIDATES = 160

/** One node as the planner sees it. */
export interface PlanNode {
  /** Fraction of time online: a constant, or 168 values (hour of week, Monday 00:00 first). */
  availability: number | Float64Array
  /** Failure domain; '' when unknown. */
  zone?: string
  /** Always-on anchor server. */
  anchor?: boolean
  /** Placement weight (free capacity); 1 when absent. */
  weight?: number
  /**
   * False when placement does not see this node's availability (a live
   * member with less than a day of published history places as unmeasured);
   * only matters with placement by profile.
   */
  placementMeasured?: boolean
}

/** The coding and repair settings to evaluate. */
export interface PlanSettings {
  k: number
  m: number
  /** Repair when live shards < this; default derived from `target` and the availability. */
  repairThreshold?: number
  /** Readability target the default repair threshold is derived from; DEFAULT_TARGET (0.9999) when absent. */
  target?: number
  /** Hours without a heartbeat before a node is declared dead. */
  deadAfterHours: number
  /** Hours to rebuild once a death is declared (waiting for k holders plus transfer). */
  repairHours: number
  /** Mean time to permanent failure of a node, in days. */
  mttfDays: number
}

/** Everything `cairn plan` reports for one code. */
export interface PlanResult {
  k: number
  m: number
  overhead: number
  /** P(an object is readable at a random moment). */
  pReadable: number
  /** 1 - pReadable, computed directly (no cancellation). */
  pUnreadable: number
  /** -log10(1 - pReadable). */
  nines: number
  /** Expected fraction of objects unreadable in the worst hour of the week. */
  worstHourUnavailable: number
  /** Hour of week (0 = Monday 00:00) of that worst hour; 0 when availability is constant. */
  worstHour: number
  /** Mean time to data loss of one object, in years. */
  mttdlYears: number
  /** P(an object is lost within a year). */
  lossPerYear: number
  /** 1 - lossPerYear. */
  durabilityPerYear: number
  /** -log10(lossPerYear). */
  durabilityNines: number
  repairThreshold: number
  /** True when repairThreshold was derived from `target` (not given). */
  repairThresholdDerived: boolean
  /** The readability target of the derived repair threshold. */
  target: number
  /**
   * P(readable) of an object with only repairThreshold live shards, the
   * least it has while not awaiting repair; with per-node availability, for
   * shards on the least-available nodes (see deriveRepairThreshold).
   */
  readabilityAtRepairThreshold: number
  /** How P(readable) was averaged over placements. */
  method: 'binomial' | 'exact-all-placements' | 'sampled-placements'
}

/** Evaluates P(unreadable) for codes on one cluster, caching shared work. */
interface Evaluator {
  method: PlanResult['method']
  /** The cluster's availability in the repair policy's form. */
  availability: Availability
  /** Mean over hours and the worst hour of P(unreadable); log10 of the mean when known precisely. */
  unreadable: (k: number, m: number, scenario?: AnchorScenario) => { mean: number, meanLog10: number, worst: number, worstHour: number }
}

/**
 * Which nodes are forced down when evaluating: none (`normal`), every anchor
 * (`anchors-down`: what the PCs alone give), or every PC (`pcs-down`: the
 * anchor promise, the pool with every PC off).
 */
export type AnchorScenario = 'normal' | 'anchors-down' | 'pcs-down'

/** Readability of a cluster with anchors, with all of them down and with every PC down. */
export interface AnchorReadability {
  anchors: number
  /** P(readable) with every anchor down (PCs as measured or described). */
  anchorsDownPReadable: number
  /** P(readable) with every PC off (anchors as measured or described). */
  pcsDownPReadable: number
}

const availabilityAt = (node: PlanNode, bin: number): number =>
  typeof node.availability === 'number' ? node.availability : (node.availability[bin] as number)

/** Validate the cluster description; returns the number of hour bins (1 or 168). */
function checkCluster (nodes: readonly PlanNode[]): number {
  if (nodes.length === 0) throw new CairnError('BAD_INPUT', 'the cluster has no nodes', 'pass --nodes N')
  let bins = 1
  for (const node of nodes) {
    const values = typeof node.availability === 'number' ? [node.availability] : node.availability
    if (typeof node.availability !== 'number') {
      if (node.availability.length !== HOURS_PER_WEEK) throw new CairnError('BAD_INPUT', `an availability profile has ${node.availability.length} values, not ${HOURS_PER_WEEK}`, 'give one value per hour of the week')
      bins = HOURS_PER_WEEK
    }
    for (const a of values) if (!(a >= 0 && a <= 1)) throw new CairnError('BAD_INPUT', `availability ${a} is not in [0, 1]`, 'give fractions of time online, e.g. 0.4')
  }
  return bins
}

/**
 * The cluster's availability as the repair policy takes it: one number when
 * every node is alike, per-node numbers, or per-node values for each hour of
 * the week when any node has a profile.
 *
 * @example
 * policyAvailability([{ availability: 0.4 }, { availability: 0.4 }]) // 0.4
 */
export function policyAvailability (nodes: readonly PlanNode[]): Availability {
  const bins = checkCluster(nodes)
  const first = nodes[0] as PlanNode
  if (bins === 1 && nodes.every((n) => n.availability === first.availability)) return first.availability as number
  if (bins === 1) return nodes.map((n) => n.availability as number)
  return { byHour: Array.from({ length: bins }, (_, bin) => nodes.map((n) => availabilityAt(n, bin))) }
}

function binomialEvaluator (a: number): Evaluator {
  return {
    method: 'binomial',
    availability: a,
    unreadable: (k, m) => {
      const log10 = binomialUnreadableLog10(k + m, k, a)
      const p = 10 ** log10
      return { mean: p, meanLog10: log10, worst: p, worstHour: 0 }
    }
  }
}

function exactEvaluator (nodes: readonly PlanNode[], bins: number): Evaluator {
  const dists: Float64Array[] = []
  for (let bin = 0; bin < bins; bin++) dists.push(poissonBinomialDistribution(nodes.map((n) => availabilityAt(n, bin))))
  const lf = logFactorials(nodes.length + 1)
  return {
    method: 'exact-all-placements',
    availability: policyAvailability(nodes),
    unreadable: (k, m) => reduceBins(bins, (bin) => uniformPlacementUnreadable(dists[bin] as Float64Array, lf, k + m, k))
  }
}

/** A stripe's placement as distinct nodes with the number of shards each holds. */
interface GroupedPlacement { nodes: number[], counts: number[], shards: number }

function groupPlacement (slots: readonly number[]): GroupedPlacement {
  const byNode = new Map<number, number>()
  for (const node of slots) byNode.set(node, (byNode.get(node) ?? 0) + 1)
  return { nodes: [...byNode.keys()], counts: [...byNode.values()], shards: slots.length }
}

/** What a node tells placement by profile: its 168 values, or its constant availability. */
const measureOf = (n: PlanNode): { profile: number[] } | { availability: number } =>
  typeof n.availability === 'number' ? { availability: n.availability } : { profile: Array.from(n.availability) }

function sampledEvaluator (nodes: readonly PlanNode[], bins: number, samples: number, seed: number, placement: PlacementPolicy): Evaluator {
  const byProfile = placement === 'profile'
  const placementNodes: PlacementNode[] = nodes.map((n, i) => ({ id: `n${i}`, weight: n.weight ?? 1, zone: n.zone ?? '', anchor: n.anchor === true, ...(byProfile && n.placementMeasured !== false ? measureOf(n) : {}) }))
  const anchors = nodes.flatMap((n, i) => n.anchor === true ? [i] : [])
  const zoneCount = new Set(placementNodes.map((n) => n.zone)).size
  const roster: EligibleRoster = {
    nodes: placementNodes,
    indexOf: new Map(placementNodes.map((n, i) => [n.id, i])),
    eligible: (i) => (placementNodes[i] as PlacementNode).weight > 0,
    eligibleZones: () => zoneCount,
    anchors
  }
  // Hash every node once per sampled key; each code then places from the best few.
  const candidateCount = Math.min(nodes.length, SAMPLED_CANDIDATES)
  const candidates: Int32Array[] = []
  for (let s = 0; s < samples; s++) candidates.push(topCandidates(`plan/${seed}/${s}`, placementNodes, candidateCount))
  const cache = new Map<string, GroupedPlacement[]>()
  const placementsFor = (k: number, n: number): GroupedPlacement[] => {
    const cacheKey = `${anchors.length > 0 || byProfile ? k : 0}/${n}`
    let placements = cache.get(cacheKey)
    if (placements === undefined) {
      placements = []
      for (let s = 0; s < samples; s++) {
        const request = { key: `plan/${seed}/${s}`, count: n, minAnchors: anchors.length > 0 ? k : 0, readShards: k }
        placements.push(groupPlacement(placeWithCandidates(request, candidates[s] as Int32Array, roster).nodes))
      }
      cache.set(cacheKey, placements)
    }
    return placements
  }
  return {
    method: 'sampled-placements',
    availability: policyAvailability(nodes),
    unreadable: (k, m, scenario = 'normal') => {
      const placements = placementsFor(k, k + m)
      const forced = (node: PlanNode, bin: number): number =>
        (scenario === 'anchors-down' && node.anchor === true) || (scenario === 'pcs-down' && node.anchor !== true) ? 0 : availabilityAt(node, bin)
      return reduceBins(bins, (bin) => {
        let sum = 0
        for (const grouped of placements) {
          // Fewer shards placed than k (too few eligible nodes): unreadable. An
          // anchor holding several shards takes them all offline at once.
          sum += grouped.shards < k ? 1 : groupedUnreadable(grouped.nodes.map((i) => forced(nodes[i] as PlanNode, bin)), grouped.counts, k)
        }
        return sum / placements.length
      })
    }
  }
}

function reduceBins (bins: number, perBin: (bin: number) => number): { mean: number, meanLog10: number, worst: number, worstHour: number } {
  let sum = 0
  let worst = -1
  let worstHour = 0
  for (let bin = 0; bin < bins; bin++) {
    const u = perBin(bin)
    sum += u
    if (u > worst) { worst = u; worstHour = bin }
  }
  const mean = sum / bins
  return { mean, meanLog10: Math.log10(mean), worst, worstHour }
}

/**
 * Choose how to average over placements: the binomial when every node is
 * alike, the exact average over all placements when placement is uniform
 * (equal weights, no zones, no anchors), sampled placements otherwise.
 */
export function makeEvaluator (nodes: readonly PlanNode[], options: { samples?: number, seed?: number, placement?: PlacementPolicy } = {}): Evaluator {
  const bins = checkCluster(nodes)
  const first = nodes[0] as PlanNode
  // When every node is alike, which nodes are chosen does not matter.
  const allSame = bins === 1 && nodes.every((n) => n.availability === first.availability)
  const uniformPlacement = nodes.every((n) => (n.weight ?? 1) === (first.weight ?? 1) && n.anchor !== true) &&
    new Set(nodes.map((n) => n.zone ?? '')).size === 1
  // Placement by profile with no node measured is plain rendezvous.
  const placement = options.placement === 'profile' && nodes.some((n) => n.placementMeasured !== false) ? 'profile' : 'rendezvous'
  if (allSame) return binomialEvaluator(first.availability as number)
  // Placement by profile is not uniform over the nodes: only sampled placements model it.
  if (uniformPlacement && placement === 'rendezvous' && bins * nodes.length * nodes.length <= EXACT_BUDGET_OPS) return exactEvaluator(nodes, bins)
  return sampledEvaluator(nodes, bins, options.samples ?? DEFAULT_PLACEMENT_SAMPLES, options.seed ?? 1, placement)
}

/**
 * Mean time to data loss of one object, in hours: a Markov chain on the
 * number j of shards on nodes not permanently failed. Each fails at rate
 * lambda = 1 / mttf; below the repair threshold the object is rebuilt to
 * k + m at rate mu = 1 / (deadAfter + repairHours); it is lost at k - 1.
 * Solved by first-step analysis with T_j = a_j + b_j T_n, tracking
 * c_j = 1 - b_j directly so no cancellation occurs (see docs/DURABILITY.md).
 */
export function meanTimeToDataLossHours (k: number, m: number, repairThreshold: number, mttfHours: number, repairWindowHours: number): number {
  const lambda = 1 / mttfHours
  const mu = repairWindowHours > 0 ? 1 / repairWindowHours : Infinity
  let a = 0
  let logC = 0
  for (let j = k; j <= k + m; j++) {
    const fail = j * lambda
    if (j >= repairThreshold) {
      a += 1 / fail
    } else {
      a = (1 + fail * a) / (fail + mu)
      logC += Math.log(fail / (fail + mu))
    }
  }
  return a / Math.exp(logC)
}

/**
 * Evaluate one code on a cluster.
 *
 * @example
 * planCode(makeEvaluator([{ availability: 0.4 }, ...]), { k: 4, m: 8, deadAfterHours: 72, repairHours: 24, mttfDays: 1095 })
 */
export function planCode (evaluator: Evaluator, settings: PlanSettings): PlanResult {
  const { k, m } = settings
  const target = settings.target ?? DEFAULT_TARGET
  const threshold = settings.repairThreshold ?? deriveRepairThreshold({ k, m, availability: evaluator.availability, target })
  if (!(threshold >= k && threshold <= k + m)) throw new CairnError('BAD_INPUT', `repair threshold ${threshold} is not in [k, k+m] = [${k}, ${k + m}]`, 'pick a threshold between k and k + m')
  const u = evaluator.unreadable(k, m)
  const mttdlHours = meanTimeToDataLossHours(k, m, threshold, settings.mttfDays * 24, settings.deadAfterHours + settings.repairHours)
  const lossPerYear = -Math.expm1(-HOURS_PER_YEAR / mttdlHours)
  return {
    k,
    m,
    overhead: (k + m) / k,
    pReadable: 1 - u.mean,
    pUnreadable: u.mean,
    nines: -u.meanLog10,
    worstHourUnavailable: u.worst,
    worstHour: u.worstHour,
    mttdlYears: mttdlHours / HOURS_PER_YEAR,
    lossPerYear,
    durabilityPerYear: 1 - lossPerYear,
    durabilityNines: -Math.log10(lossPerYear),
    repairThreshold: threshold,
    repairThresholdDerived: settings.repairThreshold === undefined,
    target,
    readabilityAtRepairThreshold: readabilityWithLive(threshold, k, evaluator.availability),
    method: evaluator.method
  }
}

/** The recommended code, or undefined when none meets the target. */
export interface Recommendation { k: number, m: number, overhead: number, pReadable: number }

/**
 * The code with pReadable >= target at the lowest overhead (ties: smaller
 * k + m), among k <= 32 and k + m <= min(number of nodes, 255) (the codes
 * Cairn can store). For each k the smallest m is found by binary search
 * (P(readable) grows with m).
 *
 * @example
 * recommendCode(makeEvaluator(nodes), nodes.length, 0.9999)
 */
export function recommendCode (evaluator: Evaluator, nodeCount: number, target: number): Recommendation | undefined {
  const meets = (k: number, m: number): boolean => 1 - evaluator.unreadable(k, m).mean >= target
  let best: Recommendation | undefined
  for (let k = 1; k <= Math.min(RECOMMEND_MAX_K, nodeCount); k++) {
    // Only m that could beat the best overhead so far (or tie it) is worth testing.
    let high = Math.min(nodeCount, MAX_TOTAL_SHARDS) - k
    if (best !== undefined) high = Math.min(high, Math.floor(k * (best.overhead - 1) + 1e-9))
    if (high < 0 || !meets(k, high)) continue
    let low = 0
    while (low < high) {
      const mid = (low + high) >> 1
      if (meets(k, mid)) high = mid
      else low = mid + 1
    }
    const overhead = (k + low) / k
    const better = best === undefined || overhead < best.overhead - 1e-12 ||
      (Math.abs(overhead - best.overhead) <= 1e-12 && k + low < best.k + best.m)
    if (better) best = { k, m: low, overhead, pReadable: 1 - evaluator.unreadable(k, low).mean }
  }
  return best
}

/** A whole planning question: the cluster, the code, and optionally a target. */
export interface PlanRequest {
  nodes: readonly PlanNode[]
  settings: PlanSettings
  /** Recommend the cheapest code with pReadable >= target. */
  target?: number
  /** Sampled placements when placement is not uniform. */
  placementSamples?: number
  seed?: number
  /** `profile`: placement by the nodes' profiles, as the daemon places once nodes have a day of history; `rendezvous` (default): plain weighted rendezvous. */
  placement?: PlacementPolicy
}

/** The planner's answer. */
export interface PlanReport extends PlanResult {
  nodes: number
  meanAvailability: number
  recommended?: Recommendation | null
  /** With anchors in the cluster: readability with every anchor down and with every PC down (same placements). */
  anchorReadability?: AnchorReadability
}

/**
 * Answer a planning question. This is the planner core that `cairn plan`
 * calls with described clusters and that a live node calls with measured
 * per-node availability.
 *
 * @example
 * planCluster({ nodes: Array(300).fill({ availability: 0.4 }), settings: { k: 4, m: 8, deadAfterHours: 72, repairHours: 24, mttfDays: 1095 }, target: 0.9999 })
 */
export function planCluster (request: PlanRequest): PlanReport {
  const { nodes, settings } = request
  const { k, m } = settings
  if (!(Number.isInteger(k) && k >= 1 && Number.isInteger(m) && m >= 0)) throw new CairnError('BAD_INPUT', `k=${k} m=${m} is not a code`, 'use integers k >= 1 and m >= 0')
  if (k + m > nodes.length) throw new CairnError('BAD_INPUT', `k + m = ${k + m} shards need at least that many nodes, the cluster has ${nodes.length}`, 'lower k or m, or add nodes')
  const evaluator = makeEvaluator(nodes, { samples: request.placementSamples, seed: request.seed, placement: request.placement })
  const result = planCode(evaluator, settings)
  let total = 0
  for (const node of nodes) {
    total += typeof node.availability === 'number' ? node.availability : node.availability.reduce((a, b) => a + b, 0) / node.availability.length
  }
  const report: PlanReport = { nodes: nodes.length, meanAvailability: total / nodes.length, ...result }
  const anchors = nodes.filter((n) => n.anchor === true).length
  if (anchors > 0) {
    report.anchorReadability = { anchors, anchorsDownPReadable: 1 - evaluator.unreadable(k, m, 'anchors-down').mean, pcsDownPReadable: 1 - evaluator.unreadable(k, m, 'pcs-down').mean }
  }
  if (request.target !== undefined) report.recommended = recommendCode(evaluator, nodes.length, request.target) ?? null
  return report
}
