/**
 * Object health (pure): how many shards of each stripe are live (on a node
 * not dead, not reported lost), how many are reachable now (on an online
 * node), which have no live holder at all, and what that makes the object:
 * `healthy` (all k+m shards live), `degraded` (readable now, but fewer, or
 * shards never placed), `unavailable` (fewer than k reachable now). Status,
 * `cairn health` and the healer all judge with these functions.
 */
import type { ShardRef, StripeManifest } from '../meta/types.ts'
import type { HolderLookup } from '../meta/locations.ts'

/** What judging a stripe needs to know about nodes and shards. */
export interface HealthFacts {
  holders: HolderLookup
  /** The node is declared dead: its shards no longer count. */
  isDead: (node: string) => boolean
  /** The node answers now. */
  isOnline: (node: string) => boolean
  /** The node reported this shard missing or corrupt (scrub). */
  isLost: (node: string, hash: string) => boolean
}

/** The health of one stripe. */
export interface StripeHealth {
  /** Shards with at least one live holder. */
  live: number
  /** Shards with a holder that is online now (and has not lost it). */
  online: number
  /** Indexes of shards with no live holder (to rebuild). */
  missing: number[]
  /** Indexes of shards that were never placed (no holder at all). */
  unplaced: number[]
}

/** The state of one object (version). */
export type ObjectState = 'healthy' | 'degraded' | 'unavailable'

/** A holder of `ref` that still counts (not dead, not lost). */
function liveHolders (ref: ShardRef, facts: HealthFacts): string[] {
  return facts.holders(ref).filter((n) => !facts.isDead(n) && !facts.isLost(n, ref.hash))
}

/**
 * Judge one stripe.
 *
 * @example
 * stripeHealth(stripe, facts) // { live: 5, online: 5, missing: [3], unplaced: [] }
 */
export function stripeHealth (stripe: StripeManifest, facts: HealthFacts): StripeHealth {
  const out: StripeHealth = { live: 0, online: 0, missing: [], unplaced: [] }
  stripe.shards.forEach((ref, index) => {
    const live = liveHolders(ref, facts)
    if (live.length > 0) out.live++
    else out.missing.push(index)
    if (live.some((n) => facts.isOnline(n))) out.online++
    if (facts.holders(ref).length === 0) out.unplaced.push(index)
  })
  return out
}

/**
 * The object's state from the health of all its stripes.
 *
 * @example
 * objectState([{ live: 6, online: 6, missing: [], unplaced: [] }], 4, 2) // 'healthy'
 */
export function objectState (stripes: readonly StripeHealth[], k: number, m: number): ObjectState {
  if (stripes.some((s) => s.online < k)) return 'unavailable'
  if (stripes.some((s) => s.live < k + m)) return 'degraded'
  return 'healthy'
}

/**
 * True when the healer must rebuild this stripe's missing shards now: its
 * live shards are below the repair threshold, or some shard was never placed
 * (a degraded put), and k shards can be read. Shards on asleep or suspect
 * nodes are live, so a transient absence never triggers this.
 *
 * @example
 * needsRepair({ live: 5, online: 5, missing: [2], unplaced: [] }, 4, 6) // true
 */
export function needsRepair (health: StripeHealth, k: number, threshold: number): boolean {
  if (health.missing.length === 0 || health.online < k) return false
  return health.live < threshold || health.unplaced.length > 0
}
