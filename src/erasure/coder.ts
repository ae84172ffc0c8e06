/**
 * Reed-Solomon k + m erasure coder over the native @ronomon/reed-solomon addon.
 *
 * Any k of the k + m shards rebuild the k data shards. The addon wants all data
 * shards in one contiguous buffer and shard sizes that are multiples of 8; the
 * coder avoids copies when the caller already uses that layout (e.g. shards
 * that are `subarray`s of one buffer, as the stripe codec makes them) and copies
 * otherwise. The reconstructed data shards are always views into one contiguous
 * buffer, so `joinShards` on them is free.
 *
 * Work runs on libuv's thread pool, so both operations return promises.
 * m = 0 is allowed (no redundancy): encode returns no parity and reconstruct
 * needs every data shard.
 */
import { CairnError, assert } from '../util/errors.ts'
import { ADDON_MAX_DATA_SHARDS, ADDON_MAX_PARITY_SHARDS, createAddonContext, encodeRegions } from './addon.ts'

/**
 * The addon works on 64-bit words, so a shard must be a multiple of 8 bytes
 * (this also covers its w = 2, 4, 8 symbol-size rule).
 */
export const SHARD_ALIGNMENT_BYTES = 8

/**
 * Largest shard the coder accepts: the addon takes u32 buffer sizes, so
 * k * shardSize must stay below 4 GiB; 256 MiB per shard keeps even k = 16
 * under that and is far above any stripe the engine cuts.
 */
export const MAX_SHARD_SIZE_BYTES = 256 * 1024 * 1024

/** Most data shards: the addon's limit. */
export const MAX_DATA_SHARDS: number = ADDON_MAX_DATA_SHARDS

/** Most parity shards: the addon's limit. */
export const MAX_PARITY_SHARDS: number = ADDON_MAX_PARITY_SHARDS

/** A Reed-Solomon coder for one (k, m). */
export interface ErasureCoder {
  /** Data shards per stripe. */
  readonly k: number
  /** Parity shards per stripe. */
  readonly m: number
  /** Compute the m parity shards of k equal-size data shards. */
  encode: (data: Buffer[]) => Promise<Buffer[]>
  /**
   * Rebuild the k data shards from k + m slots (null = missing); returns the
   * data shards as views into one contiguous buffer.
   */
  reconstruct: (shards: Array<Buffer | null>, shardSizeBytes: number) => Promise<Buffer[]>
}

const coderCache = new Map<string, ErasureCoder>()

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

function splitRegion (region: Buffer, count: number, shardSizeBytes: number): Buffer[] {
  const shards: Buffer[] = []
  for (let i = 0; i < count; i++) shards.push(region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  return shards
}

function checkParams (k: number, m: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_DATA_SHARDS) {
    throw new CairnError('BAD_INPUT', `erasure coding needs 1 <= k <= ${MAX_DATA_SHARDS} data shards, got k=${k}`, 'choose a k within the limit')
  }
  if (!Number.isInteger(m) || m < 0 || m > MAX_PARITY_SHARDS) {
    throw new CairnError('BAD_INPUT', `erasure coding needs 0 <= m <= ${MAX_PARITY_SHARDS} parity shards, got m=${m}`, 'choose an m within the limit')
  }
}

function checkShardSize (shardSizeBytes: number): void {
  if (!Number.isInteger(shardSizeBytes) || shardSizeBytes < SHARD_ALIGNMENT_BYTES ||
    shardSizeBytes % SHARD_ALIGNMENT_BYTES !== 0 || shardSizeBytes > MAX_SHARD_SIZE_BYTES) {
    throw new CairnError('BAD_INPUT', `shard size ${shardSizeBytes} is not a positive multiple of ${SHARD_ALIGNMENT_BYTES} up to ${MAX_SHARD_SIZE_BYTES} bytes`,
      'the stripe manifest is damaged')
  }
}

/**
 * The coder for (k, m); one per pair, cached with its addon context. Throws
 * CairnError('BAD_INPUT') when k or m is outside the addon's limits.
 *
 * @example
 * const coder = createErasureCoder(4, 2)
 * const parity = await coder.encode(dataShards)
 * const data = await coder.reconstruct([null, d1, d2, d3, p0, null], shardSizeBytes)
 */
export function createErasureCoder (k: number, m: number): ErasureCoder {
  checkParams(k, m)
  const cacheKey = `${k}+${m}`
  const cached = coderCache.get(cacheKey)
  if (cached !== undefined) return cached
  const context = m > 0 ? createAddonContext(k, m) : null
  const coder: ErasureCoder = {
    k,
    m,
    encode: (data) => encode(context, k, m, data),
    reconstruct: (shards, shardSizeBytes) => reconstruct(context, k, m, shards, shardSizeBytes)
  }
  coderCache.set(cacheKey, coder)
  return coder
}

async function encode (context: Buffer | null, k: number, m: number, data: Buffer[]): Promise<Buffer[]> {
  assert(data.length === k, `encode needs exactly k=${k} data shards, got ${data.length}`)
  const shardSizeBytes = data[0]?.length ?? 0
  checkShardSize(shardSizeBytes)
  for (const shard of data) assert(shard.length === shardSizeBytes, 'all data shards must have the same size')
  if (context === null) return []
  const region = joinShards(data)
  const parity = Buffer.allocUnsafe(shardSizeBytes * m)
  const sources = (1 << k) - 1
  const targets = ((1 << m) - 1) << k
  await encodeRegions(context, sources, targets, region, parity, k, m, shardSizeBytes)
  return splitRegion(parity, m, shardSizeBytes)
}

async function reconstruct (
  context: Buffer | null, k: number, m: number, shards: Array<Buffer | null>, shardSizeBytes: number
): Promise<Buffer[]> {
  assert(shards.length === k + m, `reconstruct needs k+m=${k + m} slots, got ${shards.length}`)
  checkShardSize(shardSizeBytes)
  let present = 0
  for (const [index, shard] of shards.entries()) {
    if (shard === null) continue
    if (shard.length !== shardSizeBytes) {
      throw new CairnError('CORRUPT_SHARD', `shard ${index} is ${shard.length} bytes, expected ${shardSizeBytes}`, 'fetch that shard from another holder')
    }
    present++
  }
  if (present < k) {
    throw new CairnError('NOT_ENOUGH_SHARDS', `only ${present} of ${k + m} shards are available, ${k} are needed`,
      'bring more nodes online: the object reads again once any k of its shards are reachable')
  }
  const data = shards.slice(0, k)
  const missing = data.reduce<number>((flags, shard, index) => shard === null ? flags | (1 << index) : flags, 0)
  if (missing === 0) {
    // All data shards are here: no decoding, and no copy when they are already adjacent.
    return splitRegion(joinShards(data as Buffer[]), k, shardSizeBytes)
  }
  assert(context !== null, 'with m = 0 every data shard is present, or NOT_ENOUGH_SHARDS was thrown')
  const region = Buffer.allocUnsafe(shardSizeBytes * k)
  const parity = Buffer.allocUnsafe(shardSizeBytes * m)
  let sources = 0
  for (const [index, shard] of shards.entries()) {
    if (shard === null) continue
    shard.copy(index < k ? region : parity, (index < k ? index : index - k) * shardSizeBytes)
    sources |= 1 << index
  }
  await encodeRegions(context, sources, missing, region, parity, k, m, shardSizeBytes)
  return splitRegion(region, k, shardSizeBytes)
}
