/**
 * The `native` codec: Reed-Solomon over the @ronomon/reed-solomon addon (a
 * Cauchy matrix over GF(2^8), work on libuv's thread pool). It fits codes with
 * k <= 24 and m <= 6, which covers the common small codes at the best speed.
 */
import { ADDON_MAX_DATA_SHARDS, ADDON_MAX_PARITY_SHARDS, createAddonContext, encodeRegions } from './addon.ts'
import type { CodecBackend } from './types.ts'

/** Most data shards the native codec supports (the addon's MAX_K, 24). */
export const NATIVE_MAX_DATA_SHARDS: number = ADDON_MAX_DATA_SHARDS

/** Most parity shards the native codec supports (the addon's MAX_M, 6). */
export const NATIVE_MAX_PARITY_SHARDS: number = ADDON_MAX_PARITY_SHARDS

/**
 * True when the native codec can code (k, m), m >= 1.
 *
 * @example
 * nativeFits(4, 2) // true
 */
export function nativeFits (k: number, m: number): boolean {
  return k >= 1 && k <= NATIVE_MAX_DATA_SHARDS && m >= 1 && m <= NATIVE_MAX_PARITY_SHARDS
}

/**
 * The native backend for (k, m); the caller has checked `nativeFits(k, m)`.
 *
 * @example
 * const parity = await createNativeBackend(4, 2).encode(region, 1024)
 */
export function createNativeBackend (k: number, m: number): CodecBackend {
  const context = createAddonContext(k, m)
  return {
    encode: async (region, shardSizeBytes) => {
      const parity = Buffer.allocUnsafe(shardSizeBytes * m)
      const sources = (1 << k) - 1
      const targets = ((1 << m) - 1) << k
      await encodeRegions(context, sources, targets, region, parity, k, m, shardSizeBytes)
      return parity
    },
    reconstruct: async (shards, shardSizeBytes) => {
      const region = Buffer.allocUnsafe(shardSizeBytes * k)
      const parity = Buffer.allocUnsafe(shardSizeBytes * m)
      let sources = 0
      let missing = 0
      for (const [index, shard] of shards.entries()) {
        if (shard === null) {
          if (index < k) missing |= 1 << index
          continue
        }
        shard.copy(index < k ? region : parity, (index < k ? index : index - k) * shardSizeBytes)
        sources |= 1 << index
      }
      await encodeRegions(context, sources, missing, region, parity, k, m, shardSizeBytes)
      return region
    }
  }
}
