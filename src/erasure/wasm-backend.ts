/**
 * The `wasm` codec: Reed-Solomon over the reed-solomon-erasure crate compiled
 * to WebAssembly (@subspace/reed-solomon-erasure.wasm, a systematic
 * Vandermonde matrix over GF(2^8)). It codes every k + m <= 255, for the wide
 * codes (such as 32+97) that the native addon cannot.
 *
 * Only this file knows the module's calling convention (its wasm-bindgen ABI):
 * allocate one region in the module's memory, put the k + m shards there back
 * to back, code in place, read a result code. The package's own JavaScript
 * wrapper is not used because it reuses one instance (see `freshInstance`).
 * The work is synchronous on the calling thread (about 0.4 ns per data byte per
 * parity shard), so a 4 MiB stripe of 10+4 takes milliseconds and one of 32+97 a
 * fraction of a second.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { CairnError, assert } from '../util/errors.ts'
import { MAX_TOTAL_SHARDS } from './shards.ts'
import type { CodecBackend } from './types.ts'

/** The part of the WebAssembly global used here (the project's TS libs do not declare it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object) => { exports: unknown }
}

const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly

/** The module's exports (wasm-bindgen ABI of the pinned package version). */
interface WasmExports {
  memory: { buffer: ArrayBuffer }
  encode: (shardsPointer: number, shardsLength: number, dataShards: number, parityShards: number) => number
  reconstruct: (shardsPointer: number, shardsLength: number, dataShards: number, parityShards: number,
    availablePointer: number, availableLength: number) => number
  __wbindgen_malloc: (size: number) => number
  __wbindgen_free: (pointer: number, size: number) => void
}

/** Most shards (k + m) the wasm codec supports: all Cairn allows. */
export const WASM_MAX_TOTAL_SHARDS = MAX_TOTAL_SHARDS

/**
 * Largest k + m shard region the wasm codec handles in one call: it lives in
 * the module's 32-bit memory (4 GiB at most), so a bound keeps a wide code on
 * a huge stripe from exhausting it.
 */
export const WASM_MAX_REGION_BYTES = 1024 * 1024 * 1024

const PACKAGE_NAME = '@subspace/reed-solomon-erasure.wasm'
const WASM_FILE_NAME = 'reed_solomon_erasure_bg.wasm'
const RESULT_OK = 0

let compiled: object | undefined

/**
 * A fresh instance of the module for one call. The module's allocator
 * (wee_alloc) corrupts its heap after a number of calls on one instance
 * (measured: a wrong TooFewShardsPresent, then an out-of-bounds trap), while
 * every call on a fresh instance is correct; an instance costs microseconds
 * next to coding a stripe, so none is reused.
 */
function freshInstance (): WasmExports {
  if (compiled === undefined) {
    const require = createRequire(import.meta.url)
    const entry = require.resolve(PACKAGE_NAME)
    compiled = new webAssembly.Module(readFileSync(join(dirname(entry), WASM_FILE_NAME)))
  }
  return new webAssembly.Instance(compiled).exports as unknown as WasmExports
}

/**
 * True when the wasm codec can code (k, m), m >= 1.
 *
 * @example
 * wasmFits(32, 97) // true
 */
export function wasmFits (k: number, m: number): boolean {
  return k >= 1 && m >= 1 && k + m <= WASM_MAX_TOTAL_SHARDS
}

function checkResult (result: number, what: string): void {
  // Inputs were validated before the call, so a failure here is a bug.
  assert(result === RESULT_OK, `the wasm Reed-Solomon codec failed to ${what} (result code ${result})`)
}

function checkRegion (total: number, shardSizeBytes: number): number {
  const bytes = total * shardSizeBytes
  if (bytes > WASM_MAX_REGION_BYTES) {
    throw new CairnError('BAD_INPUT', `a stripe of ${total} shards of ${shardSizeBytes} bytes exceeds the wasm codec's ${WASM_MAX_REGION_BYTES} bytes`,
      'use a code with fewer shards or smaller stripes')
  }
  return bytes
}

/** Bytes of the module's memory at [pointer, pointer + length), valid until the next call into the module. */
function view (wasm: WasmExports, pointer: number, length: number): Buffer {
  return Buffer.from(wasm.memory.buffer, pointer, length)
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
      const total = checkRegion(k + m, shardSizeBytes)
      const wasm = freshInstance()
      const pointer = wasm.__wbindgen_malloc(total)
      region.copy(view(wasm, pointer, total), 0)
      checkResult(wasm.encode(pointer, total, k, m), 'encode')
      return Buffer.from(view(wasm, pointer + k * shardSizeBytes, m * shardSizeBytes))
    },
    reconstruct: async (shards, shardSizeBytes) => {
      const total = checkRegion(k + m, shardSizeBytes)
      const wasm = freshInstance()
      const pointer = wasm.__wbindgen_malloc(total)
      const flagsPointer = wasm.__wbindgen_malloc(k + m)
      const all = view(wasm, pointer, total)
      const flags = view(wasm, flagsPointer, k + m)
      for (const [index, shard] of shards.entries()) {
        flags[index] = shard === null ? 0 : 1
        if (shard !== null) shard.copy(all, index * shardSizeBytes)
      }
      checkResult(wasm.reconstruct(pointer, total, k, m, flagsPointer, k + m), 'reconstruct')
      return Buffer.from(view(wasm, pointer, k * shardSizeBytes))
    }
  }
}
