/**
 * Rebuilding lost shards (the repair path): every shard of a stripe from any
 * k of them, without decrypting. Pure; composes the coder.
 */
import { createErasureCoder, LEGACY_ERASURE_CODEC } from './coder.ts'
import type { ErasureCodecName } from './types.ts'
import { assert } from '../util/errors.ts'

/** What rebuilding shards needs: coding parameters and the shard size. */
export interface RebuildParams {
  k: number
  m: number
  codec?: ErasureCodecName
  shardSizeBytes: number
}

/**
 * Every shard of a stripe (k data then m parity) from any k of them (null =
 * missing), without decrypting: the repair path. Reed-Solomon is
 * deterministic, so a rebuilt shard has the very bytes (and hash) it had.
 *
 * @example
 * const all = await rebuildShards([s0, null, s2, s3, s4, null], { k: 4, m: 2, shardSizeBytes })
 */
export async function rebuildShards (shards: Array<Buffer | null>, params: RebuildParams): Promise<Buffer[]> {
  const { k, m } = params
  assert(shards.length === k + m, `rebuildShards needs k+m=${k + m} shard slots, got ${shards.length}`)
  const coder = createErasureCoder(k, m, params.codec ?? LEGACY_ERASURE_CODEC)
  const data = await coder.reconstruct(shards, params.shardSizeBytes)
  // Copies: the coder returns views into one buffer, and parity must be recomputed from exactly these bytes.
  const copies = data.map((d) => Buffer.from(d))
  const parity = m === 0 ? [] : await coder.encode(copies)
  return [...copies, ...parity]
}
