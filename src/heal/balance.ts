/**
 * The rebalance plan (pure): which shards move from nodes holding more than
 * their share to nodes holding less, so that each node's used space is its
 * quota's share of the total. Every node computes the same plan from its
 * full metadata replica (same stripes in the same order, same rule), and
 * each executes the moves of the versions it coordinates, so the whole
 * cluster carries out one plan without talking about it.
 *
 * Two passes over the stripes: `account` adds up the bytes each node holds
 * (every live copy on a node taking part), then `decide` walks the stripes
 * again in the same order and moves a shard from its holder when the holder
 * is above its target by more than half the shard, to the node furthest
 * below its target (by at least half the shard), so every move lowers the
 * total deviation; the plan ends with the sources within half a shard of
 * their target and, when shards are of one size, every node within one. A node only receives a shard when it holds no shard of that
 * stripe; shards move PC to PC and anchor to anchor (the anchor rule stays
 * as placement made it); a move into another zone keeps that zone within
 * ceil((k+m)/zones) shards of the stripe. Nothing moves while every node is
 * within `toleranceFraction` of its target.
 */

/** A node taking part in the rebalance (a member that is active and not dead). */
export interface BalanceNode {
  id: string
  quotaBytes: number
  /** It can send and receive now. */
  online: boolean
  anchor?: boolean
  zone?: string
}

/** One stripe as the plan sees it: each shard's size and live holders. */
export interface BalanceStripe {
  versionId: string
  /** The stripe's placement key (`versionId/index`). */
  key: string
  shards: Array<{ index: number, hash: string, sizeBytes: number, holders: readonly string[] }>
}

/** One planned move. */
export interface BalanceMove { versionId: string, key: string, index: number, hash: string, sizeBytes: number, from: string, to: string }

/** Deviation below which the cluster counts as balanced. */
export const DEFAULT_BALANCE_TOLERANCE = 0.02

/**
 * A two-pass rebalance planner.
 *
 * @example
 * const p = new BalancePlanner(nodes); for (const s of stripes) p.account(s); p.freeze()
 * for (const s of stripes) moves.push(...p.decide(s))
 */
export class BalancePlanner {
  private readonly nodes: Map<string, BalanceNode>
  private readonly held = new Map<string, number>()
  private readonly target = new Map<string, number>()
  private readonly zoneCount: number
  private readonly toleranceFraction: number
  private frozen = false
  private balanced = false
  /** Bytes the plan moves (set by decide). */
  plannedBytes = 0
  plannedShards = 0

  constructor (nodes: readonly BalanceNode[], toleranceFraction = DEFAULT_BALANCE_TOLERANCE) {
    this.nodes = new Map(nodes.map((n) => [n.id, n]))
    for (const n of nodes) this.held.set(n.id, 0)
    this.zoneCount = Math.max(1, new Set(nodes.map((n) => n.zone ?? '')).size)
    this.toleranceFraction = toleranceFraction
  }

  /** First pass: count the stripe's copies on taking-part nodes. */
  account (stripe: BalanceStripe): void {
    if (this.frozen) throw new Error('BalancePlanner.account after freeze')
    for (const shard of stripe.shards) for (const h of new Set(shard.holders)) if (this.held.has(h)) this.held.set(h, (this.held.get(h) ?? 0) + shard.sizeBytes)
  }

  /** End of the first pass: compute each node's target (its quota's share of the total). */
  freeze (): void {
    this.frozen = true
    const total = [...this.held.values()].reduce((a, b) => a + b, 0)
    const quota = [...this.nodes.values()].reduce((a, n) => a + Math.max(0, n.quotaBytes), 0)
    for (const n of this.nodes.values()) this.target.set(n.id, quota > 0 ? total * Math.max(0, n.quotaBytes) / quota : total / this.nodes.size)
    this.balanced = this.maxDeviation() <= this.toleranceFraction
  }

  /** Largest |held − target| / target over the nodes (0 when nothing is stored). */
  maxDeviation (): number {
    let worst = 0
    for (const [id, t] of this.target) if (t > 0) worst = Math.max(worst, Math.abs((this.held.get(id) ?? 0) - t) / t)
    return worst
  }

  /** Bytes each node holds now (after the moves decided so far) and its target. */
  loads (): Array<{ id: string, heldBytes: number, targetBytes: number }> {
    return [...this.nodes.keys()].map((id) => ({ id, heldBytes: this.held.get(id) ?? 0, targetBytes: this.target.get(id) ?? 0 }))
  }

  /** Second pass: the moves of this stripe (applied to the running totals). */
  decide (stripe: BalanceStripe): BalanceMove[] {
    if (!this.frozen) throw new Error('BalancePlanner.decide before freeze')
    if (this.balanced) return []
    const moves: BalanceMove[] = []
    const onStripe = new Set(stripe.shards.flatMap((s) => s.holders))
    const perZone = new Map<string, number>()
    for (const id of onStripe) { const z = this.nodes.get(id)?.zone ?? ''; perZone.set(z, (perZone.get(z) ?? 0) + 1) }
    const zoneLimit = Math.ceil(stripe.shards.length / this.zoneCount)
    for (const shard of stripe.shards) {
      for (const from of new Set(shard.holders)) {
        const source = this.nodes.get(from)
        if (source === undefined || !source.online) continue
        const size = shard.sizeBytes
        if (size <= 0 || this.excess(from) <= size / 2) continue
        const to = this.receiver(source, size, onStripe, perZone, zoneLimit)
        if (to === undefined) continue
        moves.push({ versionId: stripe.versionId, key: stripe.key, index: shard.index, hash: shard.hash, sizeBytes: size, from, to: to.id })
        this.held.set(from, (this.held.get(from) ?? 0) - size)
        this.held.set(to.id, (this.held.get(to.id) ?? 0) + size)
        onStripe.add(to.id)
        const zf = source.zone ?? ''
        const zt = to.zone ?? ''
        perZone.set(zf, (perZone.get(zf) ?? 1) - 1)
        perZone.set(zt, (perZone.get(zt) ?? 0) + 1)
        this.plannedBytes += size
        this.plannedShards++
        break
      }
    }
    return moves
  }

  private excess (id: string): number {
    return (this.held.get(id) ?? 0) - (this.target.get(id) ?? 0)
  }

  /** The online node of the same role furthest below its target (by more than half of `size`) that may take a shard of this stripe. */
  private receiver (source: BalanceNode, size: number, onStripe: ReadonlySet<string>, perZone: ReadonlyMap<string, number>, zoneLimit: number): BalanceNode | undefined {
    let best: BalanceNode | undefined
    let bestDeficit = size / 2
    for (const n of this.nodes.values()) {
      if (!n.online || onStripe.has(n.id) || (n.anchor === true) !== (source.anchor === true)) continue
      if ((n.zone ?? '') !== (source.zone ?? '') && (perZone.get(n.zone ?? '') ?? 0) + 1 > zoneLimit) continue
      const deficit = -this.excess(n.id)
      if (deficit > bestDeficit || (deficit === bestDeficit && best !== undefined && n.id < best.id)) { best = n; bestDeficit = deficit }
    }
    return best
  }
}
