/**
 * Shard layout helpers shared by every codec: shard sizes, joining shards into
 * one region and splitting it again, and the checks on sizes and counts that
 * turn bad input into clear errors before any backend sees it.
 */
import { CairnError, assert } from '../util/errors.ts'

/**
 * Most shards (k + m) a stripe may have: Reed-Solomon over GF(2^8) gives at
 * most 256 distinct evaluation points, and Cairn stops at 255.
 */
export const MAX_TOTAL_SHARDS = 255

/**
 * The native addon works on 64-bit words, so a shard must be a multiple of 8
 * bytes (this also covers its w = 2, 4, 8 symbol-size rule). Every codec uses
 * the same rule so that shard sizes do not depend on the codec.
 */
export const SHARD_ALIGNMENT_BYTES = 8

/**
 * Largest shard the coder accepts: the addon takes u32 buffer sizes, so
 * k * shardSize must stay below 4 GiB; 256 MiB per shard keeps even k = 16
 * under that and is far above any stripe the engine cuts.
 */
export const MAX_SHARD_SIZE_BYTES = 256 * 1024 * 1024

/**
 * The smallest valid shard size (a multiple of 8, at least 8) that holds
 * `totalBytes` spread over `k` shards.
 *
 * @example
 * shardSizeFor(4 * 1024 * 1024 + 16, 4) // 1048584
 */
export function shardSizeFor (totalBytes: number, k: number): number {
  assert(Number.isInteger(totalBytes) && totalBytes >= 0, 'totalBytes must be a non-negative integer')
  assert(Number.isInteger(k) && k >= 1, 'k must be a positive integer')
  const perShard = Math.max(1, Math.ceil(totalBytes / k))
  return Math.ceil(perShard / SHARD_ALIGNMENT_BYTES) * SHARD_ALIGNMENT_BYTES
}

/**
 * One buffer with the shards back to back: a zero-copy view when they already
 * are adjacent slices of one buffer, a copy otherwise.
 *
 * @example
 * const region = joinShards(dataShards)
 */
export function joinShards (shards: Buffer[]): Buffer {
  const first = shards[0]
  if (first === undefined) return Buffer.alloc(0)
  let offset = first.byteOffset
  let adjacent = true
  for (const shard of shards) {
    if (shard.buffer !== first.buffer || shard.byteOffset !== offset) { adjacent = false; break }
    offset += shard.length
  }
  if (adjacent) return Buffer.from(first.buffer, first.byteOffset, offset - first.byteOffset)
  return Buffer.concat(shards)
}

/**
 * `count` shard views into `region`.
 *
 * @example
 * const [d0, d1] = splitRegion(region, 2, 1024)
 */
export function splitRegion (region: Buffer, count: number, shardSizeBytes: number): Buffer[] {
  const shards: Buffer[] = []
  for (let i = 0; i < count; i++) shards.push(region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  return shards
}

/**
 * Throw CairnError('BAD_INPUT') unless the shard size is a positive multiple of
 * SHARD_ALIGNMENT_BYTES within MAX_SHARD_SIZE_BYTES.
 *
 * @example
 * checkShardSize(stripe.shardSizeBytes)
 */
export function checkShardSize (shardSizeBytes: number): void {
  if (!Number.isInteger(shardSizeBytes) || shardSizeBytes < SHARD_ALIGNMENT_BYTES ||
    shardSizeBytes % SHARD_ALIGNMENT_BYTES !== 0 || shardSizeBytes > MAX_SHARD_SIZE_BYTES) {
    throw new CairnError('BAD_INPUT', `shard size ${shardSizeBytes} is not a positive multiple of ${SHARD_ALIGNMENT_BYTES} up to ${MAX_SHARD_SIZE_BYTES} bytes`,
      'the stripe manifest is damaged')
  }
}

/**
 * Count the present shards, throwing CORRUPT_SHARD for one of the wrong size
 * and NOT_ENOUGH_SHARDS when fewer than k are present.
 *
 * @example
 * checkPresent([d0, null, p0], 2, 1024)
 */
export function checkPresent (shards: Array<Buffer | null>, k: number, shardSizeBytes: number): void {
  let present = 0
  for (const [index, shard] of shards.entries()) {
    if (shard === null) continue
    if (shard.length !== shardSizeBytes) {
      throw new CairnError('CORRUPT_SHARD', `shard ${index} is ${shard.length} bytes, expected ${shardSizeBytes}`, 'fetch that shard from another holder')
    }
    present++
  }
  if (present < k) {
    throw new CairnError('NOT_ENOUGH_SHARDS', `only ${present} of ${shards.length} shards are available, ${k} are needed`,
      'bring more of the nodes that hold this object online (cairn status shows which are offline) and retry')
  }
}
