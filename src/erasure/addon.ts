/**
 * Typed access to the native @ronomon/reed-solomon addon (CommonJS, N-API).
 * Only this file knows the addon's calling convention: one contiguous buffer
 * holding the k data shards, one holding the m parity shards, bit flags for
 * which shards are sources and which are to be computed, and a callback (the
 * work runs on libuv's thread pool). `encodeRegions` turns that into a promise.
 */
import { createRequire } from 'node:module'

interface ReedSolomonAddon {
  MAX_K: number
  MAX_M: number
  create: (k: number, m: number) => Buffer
  encode: (
    context: Buffer, sources: number, targets: number,
    buffer: Buffer, bufferOffset: number, bufferSize: number,
    parity: Buffer, parityOffset: number, paritySize: number,
    end: (error?: Error) => void
  ) => void
}

const require = createRequire(import.meta.url)
const addon = require('@ronomon/reed-solomon') as ReedSolomonAddon

/** Most data shards the addon supports (its MAX_K, 24). */
export const ADDON_MAX_DATA_SHARDS: number = addon.MAX_K

/** Most parity shards the addon supports (its MAX_M, 6). */
export const ADDON_MAX_PARITY_SHARDS: number = addon.MAX_M

/**
 * Build the addon's encoding context for (k, m); m must be at least 1.
 *
 * @example
 * const context = createAddonContext(4, 2)
 */
export function createAddonContext (k: number, m: number): Buffer {
  return addon.create(k, m)
}

/**
 * Compute the `targets` shards from the `sources` shards, in place. `data` holds
 * k shards of `shardSizeBytes` back to back and `parity` holds m of them.
 *
 * @example
 * await encodeRegions(context, 0b0011, 0b1100, data, parity, 1024)
 */
export function encodeRegions (
  context: Buffer, sources: number, targets: number,
  data: Buffer, parity: Buffer, k: number, m: number, shardSizeBytes: number
): Promise<void> {
  return new Promise((resolve, reject) => {
    addon.encode(context, sources, targets,
      data, 0, shardSizeBytes * k,
      parity, 0, shardSizeBytes * m,
      (error) => { if (error) reject(error); else resolve() })
  })
}
