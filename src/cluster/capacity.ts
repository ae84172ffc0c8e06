/**
 * Pool capacity (pure): raw bytes (the quotas of the members not dead),
 * usable bytes (raw × k / (k + m), the code's overhead taken off), and how
 * many more object bytes can be written at full redundancy, by the stripe
 * rule of placement.ts, from each member's free quota.
 *
 * Free at full redundancy. Think of many small stripes; let X be the sum of
 * their shard sizes (one shard slot of every stripe), so the objects hold
 * k·X bytes. A node that may take at most c shards of a stripe can hold at
 * most min(free, c·X) of a demand of d shards per stripe, and the stripes fit
 * exactly when Σ min(free_i, c·X) ≥ d·X (the fractional form of the
 * classic "n distinct bins per item" condition; solved exactly, see
 * maxSlotBytes). Then:
 * - no anchors: c = 1, d = k + m over every member: free = k · X;
 * - anchors A and at least m PCs: the anchors take k shards with
 *   c = ceil(k / |A|) and the PCs take m with c = 1, independently:
 *   free = k · min(X_anchors, X_pcs);
 * - fewer than m PCs: the s = m − |PCs| shards left go to anchors not used
 *   by the k (possible only when |A| ≥ k + s): X_anchors with c = 1,
 *   d = k + s; otherwise no stripe can be placed in full and free = 0.
 * Zones are not taken into account (an upper bound when zones are uneven),
 * nor per-shard padding and the 16-byte tag per stripe (under 0.01 % at
 * 4 MiB stripes).
 */

/** One member as capacity sees it. */
export interface CapacityNode {
  quotaBytes: number
  /** Quota minus used; never below 0. */
  freeBytes: number
  anchor: boolean
}

/** The pool's capacity (`cairn status --json` `capacity`). */
export interface PoolCapacity {
  rawBytes: number
  usableBytes: number
  freeAtFullRedundancyBytes: number
}

/**
 * The largest X (shard bytes per stripe slot) such that Σ min(free_i, c·X) ≥ d·X.
 * Exact: with the free spaces sorted descending and the j largest capped at
 * c·X, the condition is j·c·X + Σ_{i>j} free_i ≥ d·X, so X = tail_j / (d − j·c)
 * for the j whose segment (free_{j+1} ≤ c·X ≤ free_j) holds it.
 *
 * @example
 * maxSlotBytes([1000, 10, 10, 10, 10, 10], 1, 6) // 10
 */
export function maxSlotBytes (free: readonly number[], perNodeShards: number, demand: number): number {
  if (demand <= 0) return Infinity
  if (free.length * perNodeShards < demand) return 0
  const sorted = free.map((f) => Math.max(0, f)).sort((a, b) => b - a)
  let tail = sorted.reduce((sum, f) => sum + f, 0)
  let best = 0
  for (let j = 0; j <= sorted.length; j++) {
    if (j > 0) tail -= sorted[j - 1] as number
    const slope = demand - j * perNodeShards
    if (slope <= 0) break
    const x = tail / slope
    const upper = j === 0 ? Infinity : sorted[j - 1] as number
    const lower = sorted[j] ?? 0
    if (lower <= perNodeShards * x + 1e-9 && perNodeShards * x <= upper + 1e-9) best = Math.max(best, x)
  }
  return best
}

/**
 * Capacity of a pool coded k + m, from its members not dead.
 *
 * @example
 * poolCapacity([{ quotaBytes: 100, freeBytes: 100, anchor: false }, …6 nodes], 4, 2) // { rawBytes: 600, usableBytes: 400, freeAtFullRedundancyBytes: 400 }
 */
export function poolCapacity (nodes: readonly CapacityNode[], k: number, m: number): PoolCapacity {
  const rawBytes = nodes.reduce((sum, n) => sum + n.quotaBytes, 0)
  const usableBytes = Math.floor(rawBytes * k / (k + m))
  const anchors = nodes.filter((n) => n.anchor).map((n) => n.freeBytes)
  const pcs = nodes.filter((n) => !n.anchor).map((n) => n.freeBytes)
  let slot: number
  if (anchors.length === 0) {
    slot = maxSlotBytes(pcs, 1, k + m)
  } else if (pcs.length >= m) {
    slot = Math.min(maxSlotBytes(anchors, Math.ceil(k / anchors.length), k), maxSlotBytes(pcs, 1, m))
  } else {
    const spill = m - pcs.length
    slot = anchors.length >= k + spill ? Math.min(maxSlotBytes(anchors, 1, k + spill), maxSlotBytes(pcs, 1, pcs.length)) : 0
  }
  const free = Number.isFinite(slot) ? Math.floor(k * slot) : 0
  return { rawBytes, usableBytes, freeAtFullRedundancyBytes: Math.max(0, free) }
}
