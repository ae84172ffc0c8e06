/**
 * The synchronous calls into the reed-solomon-erasure crate compiled to
 * WebAssembly (@subspace/reed-solomon-erasure.wasm 0.2.5, a systematic
 * Vandermonde matrix over GF(2^8)). They run inside the codec's worker threads
 * (wasm-worker.ts), never on the main thread.
 *
 * Only this file knows the module's calling convention (its wasm-bindgen ABI):
 * allocate one region in the module's memory, put the k + m shards there back
 * to back, code in place, read a result code. The package's own JavaScript
 * wrapper is not used because it reuses one instance (see `freshInstance`).
 * Inputs are validated by the caller; a failing result code is a bug.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { assert } from '../util/errors.ts'

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

function checkResult (result: number, what: string): void {
  assert(result === RESULT_OK, `the wasm Reed-Solomon codec failed to ${what} (result code ${result})`)
}

/** A copy, with its own ArrayBuffer (transferable), of the module's memory at [pointer, pointer + length). */
function copyOut (wasm: WasmExports, pointer: number, length: number): Uint8Array {
  return new Uint8Array(new Uint8Array(wasm.memory.buffer, pointer, length))
}

/**
 * The m parity shards (back to back) of `data`, k shards of `shardSizeBytes` back to back.
 *
 * @example
 * const parity = wasmEncode(32, 97, data, 1024)
 */
export function wasmEncode (k: number, m: number, data: Uint8Array, shardSizeBytes: number): Uint8Array {
  assert(data.length === k * shardSizeBytes, 'wasmEncode needs k shards back to back')
  const total = (k + m) * shardSizeBytes
  const wasm = freshInstance()
  const pointer = wasm.__wbindgen_malloc(total)
  new Uint8Array(wasm.memory.buffer, pointer, total).set(data)
  checkResult(wasm.encode(pointer, total, k, m), 'encode')
  return copyOut(wasm, pointer + k * shardSizeBytes, m * shardSizeBytes)
}

/**
 * The k data shards (back to back) rebuilt from `all` (k + m shards back to
 * back; those with flag 0 are missing and their bytes ignored).
 *
 * @example
 * const data = wasmReconstruct(32, 97, all, flags, 1024)
 */
export function wasmReconstruct (k: number, m: number, all: Uint8Array, flags: Uint8Array, shardSizeBytes: number): Uint8Array {
  const total = (k + m) * shardSizeBytes
  assert(all.length === total && flags.length === k + m, 'wasmReconstruct needs k + m shards and flags')
  const wasm = freshInstance()
  const pointer = wasm.__wbindgen_malloc(total)
  const flagsPointer = wasm.__wbindgen_malloc(k + m)
  new Uint8Array(wasm.memory.buffer, pointer, total).set(all)
  new Uint8Array(wasm.memory.buffer, flagsPointer, k + m).set(flags)
  checkResult(wasm.reconstruct(pointer, total, k, m, flagsPointer, k + m), 'reconstruct')
  return copyOut(wasm, pointer, k * shardSizeBytes)
}
