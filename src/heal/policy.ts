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
 */
import { assert } from '../util/errors.ts'

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

/**
 * The default lazy repair threshold: repair once more than half of the
 * parity shards are gone (live < k + ceil(m / 2)).
 *
 * @example
 * defaultRepairThreshold(4, 4) // 6: repair when fewer than 6 shards are live
 */
export function defaultRepairThreshold (k: number, m: number): number {
  return k + Math.ceil(m / 2)
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
 * do not hold a shard yet. Keeping live holders where they are means a repair
 * moves only the missing shards.
 *
 * @example
 * chooseRepairTargets(['a', 'b', 'c', 'd'], ['b'], 2) // ['a', 'c']
 */
export function chooseRepairTargets<T> (placement: readonly T[], holders: readonly T[], count: number): T[] {
  const held = new Set(holders)
  const targets: T[] = []
  for (const node of placement) {
    if (targets.length >= count) break
    if (!held.has(node)) targets.push(node)
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
