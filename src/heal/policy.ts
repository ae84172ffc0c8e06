/**
 * Repair policy: the pure decisions behind lazy repair. The churn simulator
 * (src/sim) calls these functions. No daemon healer runs them yet; when one
 * is built it must call these same functions, so that what the simulator
 * measures is what the daemon does.
 *
 * Lazy repair in short: a node that is offline is not dead (office PCs sleep
 * every night); it is declared dead only after `deadAfterMs` without a
 * heartbeat. Shards on dead nodes no longer count as live. An object is
 * repaired only when its live shards fall below `repairThreshold`, and then
 * all of its missing shards are rebuilt at once, so one read of k shards pays
 * for several rebuilt ones.
 *
 * The default threshold comes from a readability target (`target`, default
 * 0.9999) and the measured availability: the fewest live shards at which an
 * object is still readable with probability >= target
 * (`deriveRepairThreshold`). docs/DURABILITY.md has the derivation and the
 * simulator's check of it.
 */
import { SETTINGS } from '../cluster/settings.ts'
import { assert, CairnError } from '../util/errors.ts'
import { binomialUnreadableLog10 } from '../util/probability.ts'

/** Default time without a heartbeat before a node is declared dead: 72 h, so a long weekend is not a death. */
export const DEFAULT_DEAD_AFTER_MS = 72 * 3600 * 1000

/**
 * True when a node last seen at `lastSeenMs` is to be treated as dead at
 * `nowMs`: its shards stop counting as live and get rebuilt elsewhere.
 *
 * @example
 * isNodeDead(0, 73 * 3600e3, DEFAULT_DEAD_AFTER_MS) // true
 */
export function isNodeDead (lastSeenMs: number, nowMs: number, deadAfterMs: number): boolean {
  assert(deadAfterMs >= 0, 'deadAfterMs must be non-negative')
  return nowMs - lastSeenMs >= deadAfterMs
}

/** Default readability target of an object: the cluster setting `target`'s default. */
export const DEFAULT_TARGET = SETTINGS.target.defaultValue

/**
 * Measured availability of the nodes that may hold an object's shards:
 * - a number: every node is online with this probability, independently;
 * - one probability per node (the order does not matter);
 * - `{ byHour }`: one of the above for each hour of the week (or any set of
 *   equally long periods); readability is then the mean over the periods,
 *   the chance at a random moment, as the planner's `pReadable`.
 */
export type Availability = number | readonly number[] | { readonly byHour: ReadonlyArray<number | readonly number[]> }

/** One period's availability: a number or per-node values. */
type PeriodAvailability = number | readonly number[]

function periodsOf (availability: Availability): ReadonlyArray<PeriodAvailability> {
  if (typeof availability === 'number' || Array.isArray(availability)) return [availability as PeriodAvailability]
  const { byHour } = availability as { readonly byHour: ReadonlyArray<PeriodAvailability> }
  if (!Array.isArray(byHour) || byHour.length === 0) throw new CairnError('BAD_INPUT', 'availability by hour lists no hours', 'give one availability (or one per node) for each hour of the week')
  return byHour
}

function checkProbability (a: number): void {
  if (!(typeof a === 'number' && a >= 0 && a <= 1)) throw new CairnError('BAD_INPUT', `availability ${a} is not in [0, 1]`, 'give fractions of time online, e.g. 0.4')
}

function checkShardCount (name: string, value: number, low: number): void {
  if (!(Number.isInteger(value) && value >= low)) throw new CairnError('BAD_INPUT', `${name} = ${value} is not an integer >= ${low}`, `pass a whole number of shards, at least ${low}`)
}

/**
 * P(unreadable) with L live shards for every L in 0..maxLive (element L).
 * Per-node values are sorted from least to most available and L live shards
 * are taken to sit on the L least-available nodes: the worst case over which
 * shards were lost, so a threshold derived from it holds for any object on
 * these nodes. The Poisson-binomial lower tail is built up one node at a
 * time (a dynamic programme over the count online, truncated at k states),
 * so all L cost O(maxLive * k) together.
 */
function unreadableByLive (k: number, maxLive: number, availability: PeriodAvailability): Float64Array {
  const out = new Float64Array(maxLive + 1).fill(1)
  if (typeof availability === 'number') {
    checkProbability(availability)
    for (let live = k; live <= maxLive; live++) out[live] = 10 ** binomialUnreadableLog10(live, k, availability)
    return out
  }
  if (availability.length < maxLive) {
    throw new CairnError('BAD_INPUT', `availability lists ${availability.length} nodes, fewer than the ${maxLive} shards to evaluate`, 'give one availability per node that may hold a shard, at least k + m of them')
  }
  for (const a of availability) checkProbability(a)
  const sorted = Float64Array.from(availability).sort()
  const dp = new Float64Array(k)
  dp[0] = 1
  for (let i = 0; i < maxLive; i++) {
    const p = sorted[i] as number
    const q = 1 - p
    for (let j = k - 1; j >= 1; j--) dp[j] = (dp[j] as number) * q + (dp[j - 1] as number) * p
    dp[0] = (dp[0] as number) * q
    if (i + 1 >= k) {
      let tail = 0
      for (let j = 0; j < k; j++) tail += dp[j] as number
      out[i + 1] = tail
    }
  }
  return out
}

/** unreadableByLive averaged over the periods of `availability`. */
function meanUnreadableByLive (k: number, maxLive: number, availability: Availability): Float64Array {
  const periods = periodsOf(availability)
  const mean = new Float64Array(maxLive + 1)
  for (const period of periods) {
    const u = unreadableByLive(k, maxLive, period)
    for (let live = 0; live <= maxLive; live++) mean[live] = (mean[live] as number) + (u[live] as number) / periods.length
  }
  return mean
}

/**
 * The probability that an object with `live` shards on nodes not declared
 * dead is readable at a random moment: at least k of those shards are on
 * nodes online, each node independently online with its availability.
 * With per-node values the shards are taken to sit on the `live`
 * least-available of the given nodes (pass exactly the holders to get their
 * value; pass the whole cluster to get the worst case over placements).
 * Zero when live < k.
 *
 * @example
 * readabilityWithLive(8, 4, 0.5) // 163/256 = 0.63671875
 * readabilityWithLive(2, 1, [0.5, 0.9, 0.1]) // 1 - 0.9 * 0.5 = 0.55 (the two least available)
 */
export function readabilityWithLive (live: number, k: number, availability: Availability): number {
  checkShardCount('k', k, 1)
  checkShardCount('live', live, 0)
  return 1 - (meanUnreadableByLive(k, live, availability)[live] as number)
}

/** What the repair threshold is derived from. */
export interface ThresholdInput {
  /** Data shards: any k rebuild the object. */
  k: number
  /** Parity shards. */
  m: number
  /** Measured availability of the nodes that may hold the object's shards. */
  availability: Availability
  /** Readability target per object, in (0, 1]; DEFAULT_TARGET in the cluster setting. */
  target: number
}

/**
 * The default lazy repair threshold: the lowest L in [k+1, k+m] such that
 * an object with L live shards is still readable with probability >= target
 * (readabilityWithLive(L, k, availability) >= target). An object is repaired
 * once fewer than L shards are live, so whenever it is not awaiting repair
 * it meets the target. Never below k+1, so losing one more shard before the
 * repair finishes cannot lose the object; k+m (repair at the first loss)
 * when even all k+m shards miss the target, and k when m = 0 (there is no
 * spare shard to lose). With per-node values the L shards are taken to sit
 * on the L least-available nodes, so the threshold is safe for every
 * placement, and pessimistic for a cluster with a few nearly-absent nodes.
 *
 * @example
 * deriveRepairThreshold({ k: 4, m: 2, availability: 0.95, target: 0.9999 }) // 6
 * deriveRepairThreshold({ k: 32, m: 97, availability: 0.4, target: 0.9999 }) // 126
 */
export function deriveRepairThreshold (input: ThresholdInput): number {
  const { k, m, availability, target } = input
  checkShardCount('k', k, 1)
  checkShardCount('m', m, 0)
  if (!(typeof target === 'number' && target > 0 && target <= 1)) throw new CairnError('BAD_INPUT', `target ${target} is not a probability in (0, 1]`, 'give the readability target as a fraction, e.g. 0.9999')
  if (m === 0) return k
  const unreadable = meanUnreadableByLive(k, k + m, availability)
  for (let live = k + 1; live < k + m; live++) {
    if (1 - (unreadable[live] as number) >= target) return live
  }
  return k + m
}

/** Plain facts about one object (or stripe) that the repair decision needs. */
export interface RepairInput {
  /** Shards on nodes not declared dead (online or briefly offline). */
  liveShards: number
  /** Shards on nodes that are online now; undefined when unknown. */
  onlineShards?: number
  /** Data shards: any k shards rebuild the object. */
  k: number
  /** Parity shards. */
  m: number
  /** Repair when liveShards < repairThreshold; in [k, k + m]. */
  repairThreshold: number
}

/** What to do about one object. */
export type RepairDecision =
  | { action: 'none' }
  | { action: 'lost' }
  | { action: 'wait', reason: 'fewer than k shards online' }
  | { action: 'repair', rebuildShards: number, readShards: number }

/**
 * Decide whether an object needs repair now.
 *
 * - fewer than k live shards: the object is lost (nothing can rebuild it);
 * - live shards at or above the threshold: nothing to do (lazy);
 * - below the threshold but fewer than k shards online: wait for holders to
 *   come back (a repair needs to read k shards);
 * - otherwise rebuild every missing shard, reading k.
 *
 * @example
 * decideRepair({ liveShards: 5, onlineShards: 5, k: 4, m: 4, repairThreshold: 6 })
 * // { action: 'repair', rebuildShards: 3, readShards: 4 }
 */
export function decideRepair (input: RepairInput): RepairDecision {
  const { liveShards, onlineShards, k, m, repairThreshold } = input
  assert(Number.isInteger(k) && k >= 1 && Number.isInteger(m) && m >= 0, 'k >= 1 and m >= 0 must be integers')
  assert(repairThreshold >= k && repairThreshold <= k + m, 'repairThreshold must be in [k, k + m]')
  assert(liveShards >= 0 && liveShards <= k + m, 'liveShards must be in [0, k + m]')
  if (liveShards < k) return { action: 'lost' }
  if (liveShards >= repairThreshold) return { action: 'none' }
  if (onlineShards !== undefined && onlineShards < k) return { action: 'wait', reason: 'fewer than k shards online' }
  return { action: 'repair', rebuildShards: k + m - liveShards, readShards: k }
}

/**
 * Pick the nodes that receive rebuilt shards: walk the object's placement
 * (from placeShards over the live roster, in slot order) and take nodes that
 * do not hold a shard yet (an anchor placed several times takes the slots its
 * live shards do not fill). Keeping live holders where they are means a
 * repair moves only the missing shards. Used by the simulator; the daemon's
 * repair calls placeStripe with the held shards (heal/repair.ts).
 *
 * @example
 * chooseRepairTargets(['a', 'b', 'c', 'd'], ['b'], 2) // ['a', 'c']
 */
export function chooseRepairTargets<T> (placement: readonly T[], holders: readonly T[], count: number): T[] {
  // A multiset difference: an anchor placed twice and holding one shard takes one more.
  const held = new Map<T, number>()
  for (const h of holders) held.set(h, (held.get(h) ?? 0) + 1)
  const targets: T[] = []
  for (const node of placement) {
    if (targets.length >= count) break
    const left = held.get(node) ?? 0
    if (left > 0) held.set(node, left - 1)
    else targets.push(node)
  }
  return targets
}

/**
 * Bytes moved over the network to rebuild `rebuildShards` shards of one
 * object: the coordinator reads k shards and sends each rebuilt one.
 *
 * @example
 * repairTransferBytes(1024, 4, 2) // 6144
 */
export function repairTransferBytes (shardBytes: number, k: number, rebuildShards: number): number {
  return rebuildShards > 0 ? (k + rebuildShards) * shardBytes : 0
}
