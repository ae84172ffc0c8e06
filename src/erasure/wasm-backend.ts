/**
 * The `wasm` codec: Reed-Solomon over the reed-solomon-erasure crate compiled
 * to WebAssembly (wasm-codec.ts). It codes every k + m <= 255, for the wide
 * codes (such as 32+97) that the native addon cannot. The coding runs on the
 * codec's worker threads (wasm-pool.ts), about 0.4 ns per data byte per parity
 * shard, so the event loop stays free while a wide stripe is coded.
 */
import { CairnError } from '../util/errors.ts'
import { MAX_TOTAL_SHARDS } from './shards.ts'
import type { CodecBackend } from './types.ts'
import { runWasmTask } from './wasm-pool.ts'

/** Most shards (k + m) the wasm codec supports: all Cairn allows. */
export const WASM_MAX_TOTAL_SHARDS = MAX_TOTAL_SHARDS

/**
 * Largest k + m shard region the wasm codec handles in one call: it lives in
 * the module's 32-bit memory (4 GiB at most), so a bound keeps a wide code on
 * a huge stripe from exhausting it.
 */
export const WASM_MAX_REGION_BYTES = 1024 * 1024 * 1024

/**
 * True when the wasm codec can code (k, m), m >= 1.
 *
 * @example
 * wasmFits(32, 97) // true
 */
export function wasmFits (k: number, m: number): boolean {
  return k >= 1 && m >= 1 && k + m <= WASM_MAX_TOTAL_SHARDS
}

function checkRegion (total: number, shardSizeBytes: number): void {
  const bytes = total * shardSizeBytes
  if (bytes > WASM_MAX_REGION_BYTES) {
    throw new CairnError('BAD_INPUT', `a stripe of ${total} shards of ${shardSizeBytes} bytes exceeds the wasm codec's ${WASM_MAX_REGION_BYTES} bytes`,
      'use a code with fewer shards or smaller stripes')
  }
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * The wasm backend for (k, m); the caller has checked `wasmFits(k, m)`.
 *
 * @example
 * const parity = await createWasmBackend(32, 97).encode(region, 1024)
 */
export function createWasmBackend (k: number, m: number): CodecBackend {
  return {
    encode: async (region, shardSizeBytes) => {
      checkRegion(k + m, shardSizeBytes)
      // A copy with its own ArrayBuffer: it is transferred to the worker, and the caller keeps `region`.
      const bytes = new Uint8Array(region)
      return asBuffer(await runWasmTask({ op: 'encode', k, m, shardSizeBytes, bytes }))
    },
    reconstruct: async (shards, shardSizeBytes) => {
      checkRegion(k + m, shardSizeBytes)
      const bytes = new Uint8Array((k + m) * shardSizeBytes)
      const flags = new Uint8Array(k + m)
      for (const [index, shard] of shards.entries()) {
        if (shard === null) continue
        flags[index] = 1
        bytes.set(shard, index * shardSizeBytes)
      }
      return asBuffer(await runWasmTask({ op: 'reconstruct', k, m, shardSizeBytes, bytes, flags }))
    }
  }
}
