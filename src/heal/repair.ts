/**
 * Repair of one stripe: read k live shards from online holders (verified
 * against their hashes), rebuild the missing ones with Reed-Solomon (no
 * decryption: the healer never sees plaintext), check each rebuilt shard has
 * its recorded hash, and store it where the stripe rule of
 * cluster/placement.ts puts it given the live shards that stay (k on anchors
 * when there are any, the zone limit, one shard per PC; deterministic, so two
 * coordinators pick the same node). Returns the moves for the version's location record.
 * Rate-limited through the caller's limiter (bytes read plus written).
 */
import { placeStripe } from '../cluster/placement.ts'
import type { PlacementNode } from '../cluster/placement.ts'
import { sha256Hex } from '../crypto/index.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { rebuildShards } from '../erasure/rebuild.ts'
import type { StripeManifest } from '../meta/types.ts'
import { CairnError, errorMessage } from '../util/errors.ts'
import { needsRepair, stripeHealth } from './health.ts'
import type { HealthFacts } from './health.ts'

/** Moves shard bytes to and from a node (the engine's ShardIO fits). */
export interface ShardMover {
  put: (nodeId: string, hash: string, bytes: Uint8Array, versionId: string, signal?: AbortSignal) => Promise<void>
  get: (nodeId: string, hash: string, signal?: AbortSignal) => Promise<Uint8Array>
}

/** What any work on one stripe's shards needs (repair, moves). */
export interface StripeWorkContext {
  selfId: string
  k: number
  m: number
  codec?: ErasureCodecName
  /** The version the shards belong to (their owner tag on the new holder). */
  versionId: string
  shards: ShardMover
  facts: HealthFacts
  /** Wait until `bytes` more may be moved (the repair rate limit). */
  throttle: (bytes: number, signal?: AbortSignal) => Promise<void>
  signal?: AbortSignal
  log?: (message: string) => void
}

/** What repairing a stripe needs. */
export interface StripeRepairContext extends StripeWorkContext {
  /** Nodes that may receive shards now (online, not dead, with weights). */
  candidates: () => PlacementNode[]
  /** A roster member's zone and role (for holders that are not candidates now, e.g. asleep); undefined when unknown. */
  member: (nodeId: string) => PlacementNode | undefined
  /** Repair threshold: rebuild when fewer live shards than this. */
  threshold: number
}

/** What one stripe's repair did. */
export interface StripeRepairResult {
  /** Shard hash → its new holders, for the location record. */
  moves: Map<string, string[]>
  readBytes: number
  writtenBytes: number
  /** Why nothing was rebuilt although shards are missing ('' when repaired or nothing to do). */
  waiting: string
}

/**
 * Repair one stripe if it needs it.
 *
 * @example
 * const { moves } = await repairStripe(stripe, `${versionId}/${i}`, ctx)
 */
export async function repairStripe (stripe: StripeManifest, placementKey: string, ctx: StripeRepairContext): Promise<StripeRepairResult> {
  const { k, m, facts } = ctx
  const result: StripeRepairResult = { moves: new Map(), readBytes: 0, writtenBytes: 0, waiting: '' }
  const health = stripeHealth(stripe, facts)
  if (!needsRepair(health, k, ctx.threshold)) {
    if (health.missing.length > 0 && health.online < k) result.waiting = `only ${health.online} of ${k} needed shards online`
    return result
  }
  const targets = repairTargets(stripe, placementKey, health.missing, ctx)
  if (targets.length === 0) {
    result.waiting = 'no online node can take a shard of this stripe (each PC holds one already, anchors their share)'
    return result
  }
  const slots = await readShards(stripe, ctx, result)
  const all = await rebuildShards(slots, { k, m, codec: ctx.codec, shardSizeBytes: stripe.shards.length > 0 ? stripeShardSize(stripe, slots) : 0 })
  for (const { index, node } of targets) {
    const ref = stripe.shards[index]
    const bytes = all[index]
    if (ref === undefined || bytes === undefined) continue
    if (sha256Hex(bytes) !== ref.hash) {
      throw new CairnError('CORRUPT_SHARD', `rebuilt shard ${index} of ${placementKey} does not match its recorded hash`, 'the version\'s manifest or its shards are damaged; report it')
    }
    await ctx.throttle(bytes.length, ctx.signal)
    try {
      await ctx.shards.put(node, ref.hash, bytes, ctx.versionId, ctx.signal)
      result.writtenBytes += bytes.length
      // Another shard of the stripe may have the same bytes (zero padding): its live holders keep it.
      const keep = facts.holders(ref).filter((n) => !facts.isDead(n) && !facts.isLost(n, ref.hash))
      result.moves.set(ref.hash, [...keep, node])
    } catch (err) {
      ctx.signal?.throwIfAborted()
      ctx.log?.(`repair of ${placementKey}: could not store shard ${index} on ${node.slice(-8)}: ${errorMessage(err)}`)
    }
  }
  return result
}

/**
 * Nodes for the stripe's missing shards by the stripe rule (placeStripe):
 * the live shards stay where they are and count for the anchor and zone
 * rules; a PC that holds a live shard takes no other, an anchor takes up to
 * its share. Deterministic, so two coordinators pick the same nodes.
 */
export function repairTargets (stripe: StripeManifest, placementKey: string, missing: readonly number[], ctx: Pick<StripeRepairContext, 'k' | 'facts' | 'candidates' | 'member' | 'log'>): Array<{ index: number, node: string }> {
  const { facts } = ctx
  const held: PlacementNode[] = []
  const avoid = new Set<string>()
  for (const ref of stripe.shards) {
    const live = facts.holders(ref).filter((n) => !facts.isDead(n) && !facts.isLost(n, ref.hash))
    if (live.length === 0) continue
    held.push(ctx.member(live[0] as string) ?? { id: live[0] as string, weight: 0 })
    for (const n of live) if (ctx.member(n)?.anchor !== true) avoid.add(n)
  }
  const placement = placeStripe({ key: placementKey, count: stripe.shards.length, anchorShards: ctx.k, held, avoid }, ctx.candidates())
  if (placement.notes.length > 0) ctx.log?.(`repair of ${placementKey}: ${placement.notes.join('; ')}`)
  return missing.slice(0, placement.nodes.length).map((index, i) => ({ index, node: placement.nodes[i] as string }))
}

/** The size of the stripe's shards (from the manifest, else from a shard read). */
export function stripeShardSize (stripe: StripeManifest, slots: Array<Buffer | null>): number {
  return stripe.shardSizeBytes > 0 ? stripe.shardSizeBytes : (slots.find((s) => s !== null)?.length ?? 0)
}

/**
 * k verified shards of the stripe from online live holders (this node first,
 * data shards before parity), in parallel rounds; throws NOT_ENOUGH_SHARDS
 * when fewer than k can be read. Counts the bytes read in `result`.
 *
 * @example
 * const slots = await readShards(stripe, ctx, { readBytes: 0 })
 */
export async function readShards (stripe: StripeManifest, ctx: Pick<StripeRepairContext, 'k' | 'facts' | 'selfId' | 'shards' | 'throttle' | 'signal'>, result: { readBytes: number }): Promise<Array<Buffer | null>> {
  const { k, facts } = ctx
  const slots: Array<Buffer | null> = stripe.shards.map(() => null)
  const sources: Array<{ index: number, node: string }> = []
  stripe.shards.forEach((ref, index) => {
    for (const node of facts.holders(ref)) {
      if (!facts.isDead(node) && !facts.isLost(node, ref.hash) && facts.isOnline(node)) sources.push({ index, node })
    }
  })
  sources.sort((a, b) => (a.node === ctx.selfId ? 0 : 1) - (b.node === ctx.selfId ? 0 : 1) || a.index - b.index)
  const failures: string[] = []
  const tried = new Set<number>()
  let have = 0
  // Rounds of parallel reads: each round asks for as many distinct shards as are still needed,
  // from sources not tried yet, so k shards cost one round trip when every holder answers.
  // Each round tries at least one new source, so there are at most as many rounds as sources.
  for (let round = 0; round < sources.length && have < k; round++) {
    const batch: Array<{ index: number, node: string, at: number }> = []
    const indexes = new Set<number>()
    for (const [at, source] of sources.entries()) {
      if (batch.length >= k - have) break
      if (tried.has(at) || slots[source.index] !== null || indexes.has(source.index)) continue
      batch.push({ ...source, at })
      indexes.add(source.index)
    }
    if (batch.length === 0) break
    await Promise.all(batch.map(async ({ index, node, at }) => {
      tried.add(at)
      const ref = stripe.shards[index]
      if (ref === undefined) return
      try {
        await ctx.throttle(stripe.shardSizeBytes, ctx.signal)
        const bytes = await ctx.shards.get(node, ref.hash, ctx.signal)
        result.readBytes += bytes.length
        if (sha256Hex(bytes) !== ref.hash) throw new CairnError('CORRUPT_SHARD', 'hash mismatch')
        if (slots[index] === null) { slots[index] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); have++ }
      } catch (err) {
        ctx.signal?.throwIfAborted()
        failures.push(`${node.slice(-8)}: ${errorMessage(err)}`)
      }
    }))
  }
  if (have < k) {
    throw new CairnError('NOT_ENOUGH_SHARDS', `repair could read only ${have} of the ${k} shards it needs (${failures.slice(0, 4).join('; ')})`, 'it is retried on the next scan')
  }
  return slots
}
