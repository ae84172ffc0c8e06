/**
 * Moving shards of one stripe from one holder to another while both are up
 * (decommission and rebalance): copy first, then the caller commits the
 * version's location record naming the new holder, and only then is the old
 * copy garbage (its holder's collector deletes it once a new holder is seen
 * to serve it). The stripe never has fewer live shards than before.
 *
 * The copy is read from the old holder, the cheapest source; when that fails
 * (it went away, the shard is damaged) from another holder of the same
 * bytes, and as a last resort the shard is rebuilt from k others. Every byte
 * is checked against the shard's hash before it is stored. No decryption:
 * the mover never sees plaintext. Rate-limited through the caller's limiter.
 */
import { sha256Hex } from '../crypto/index.ts'
import { rebuildShards } from '../erasure/rebuild.ts'
import type { ShardRef, StripeManifest } from '../meta/types.ts'
import { CairnError, errorMessage } from '../util/errors.ts'
import { readShards, stripeShardSize } from './repair.ts'
import type { StripeWorkContext } from './repair.ts'

/** One shard to move: stripe slot `index` (hash `hash`) from `from` to `to`. */
export interface ShardMove {
  index: number
  hash: string
  from: string
  to: string
}

/** What moving a stripe's shards needs (throttle: the repairRate limit). */
export type StripeMoveContext = StripeWorkContext

/** What moving a stripe's shards did. */
export interface StripeMoveResult {
  /** Shard hash → its holders now, for the location record. */
  moves: Map<string, string[]>
  movedShards: number
  /** Bytes of the shards now stored on their new holders. */
  movedBytes: number
  readBytes: number
  /** One line per shard that could not be moved (tried again on the next pass). */
  failures: string[]
}

/**
 * Copy each planned shard to its new holder; return the holder lists the
 * location record must name (the old holder replaced by the new one).
 *
 * @example
 * const { moves } = await moveShards(stripe, `${versionId}/0`, [{ index: 2, hash, from: leaving, to: fresh }], ctx)
 */
export async function moveShards (stripe: StripeManifest, placementKey: string, planned: readonly ShardMove[], ctx: StripeMoveContext): Promise<StripeMoveResult> {
  const result: StripeMoveResult = { moves: new Map(), movedShards: 0, movedBytes: 0, readBytes: 0, failures: [] }
  const { facts } = ctx
  let rebuilt: Array<Buffer | null> | undefined
  for (const move of planned) {
    ctx.signal?.throwIfAborted()
    const ref = stripe.shards[move.index]
    if (ref === undefined || ref.hash !== move.hash) continue
    try {
      let bytes = await copyOf(move, ref, ctx, result)
      if (bytes === undefined) {
        rebuilt ??= await rebuild(stripe, ctx, result)
        bytes = rebuilt[move.index] ?? undefined
        if (bytes === undefined || sha256Hex(bytes) !== move.hash) {
          throw new CairnError('CORRUPT_SHARD', `rebuilt shard ${move.index} of ${placementKey} does not match its recorded hash`, 'the version\'s manifest or its shards are damaged; report it')
        }
      }
      await ctx.throttle(bytes.length, ctx.signal)
      await ctx.shards.put(move.to, move.hash, bytes, ctx.versionId, ctx.signal)
      const before = result.moves.get(move.hash) ?? facts.holders(ref).filter((n) => !facts.isDead(n) && !facts.isLost(n, ref.hash))
      result.moves.set(move.hash, [...before.filter((n) => n !== move.from && n !== move.to), move.to])
      result.movedShards++
      result.movedBytes += bytes.length
    } catch (err) {
      ctx.signal?.throwIfAborted()
      const line = `shard ${move.index} of ${placementKey} from ${move.from.slice(-8)} to ${move.to.slice(-8)}: ${errorMessage(err)}`
      result.failures.push(line)
      ctx.log?.(`move of ${line}`)
    }
  }
  return result
}

/** The shard's verified bytes from its old holder, else from another online holder of them; undefined when none serves them. */
async function copyOf (move: ShardMove, ref: ShardRef, ctx: StripeMoveContext, result: StripeMoveResult): Promise<Uint8Array | undefined> {
  const others = ctx.facts.holders(ref).filter((n) => n !== move.from && n !== move.to && ctx.facts.isOnline(n) && !ctx.facts.isDead(n))
  for (const source of [move.from, ...others]) {
    if (!ctx.facts.isOnline(source) || ctx.facts.isLost(source, move.hash)) continue
    try {
      const bytes = await ctx.shards.get(source, move.hash, ctx.signal)
      result.readBytes += bytes.length
      if (sha256Hex(bytes) === move.hash) return bytes
    } catch (err) {
      ctx.signal?.throwIfAborted()
      ctx.log?.(`move: could not read shard ${move.hash.slice(0, 12)} from ${source.slice(-8)}: ${errorMessage(err)}; trying another source`)
    }
  }
  return undefined
}

async function rebuild (stripe: StripeManifest, ctx: StripeMoveContext, result: StripeMoveResult): Promise<Array<Buffer | null>> {
  const slots = await readShards(stripe, ctx, result)
  return await rebuildShards(slots, { k: ctx.k, m: ctx.m, codec: ctx.codec, shardSizeBytes: stripe.shards.length > 0 ? stripeShardSize(stripe, slots) : 0 })
}
