/**
 * Reed-Solomon k + m erasure coder: the one entry point the engine uses.
 *
 * Any k of the k + m shards rebuild the k data shards. Two codecs sit behind
 * the same interface, chosen by (k, m): the native addon where it fits (k <= 24,
 * m <= 6, the fastest) and the WASM build of the reed-solomon-erasure crate for
 * every other code up to k + m = 255. Their parity differs, so a stripe must be
 * decoded by the codec that encoded it: the manifest records it, and decoding
 * names it explicitly.
 *
 * Shared rules for every codec: shards are multiples of 8 bytes; when every
 * data shard is present, reconstruct only joins them (no decoding, no copy when
 * they are adjacent); the reconstructed data shards are views into one
 * contiguous buffer, so `joinShards` on them is free. m = 0 is allowed (no
 * redundancy): encode returns no parity and reconstruct needs every data shard.
 */
import { CairnError, assert } from '../util/errors.ts'
import { createNativeBackend, nativeFits, NATIVE_MAX_DATA_SHARDS, NATIVE_MAX_PARITY_SHARDS } from './native-backend.ts'
import { checkPresent, checkShardSize, joinShards, MAX_TOTAL_SHARDS, splitRegion } from './shards.ts'
import type { CodecBackend, ErasureCodecName, ErasureCoder } from './types.ts'
import { createWasmBackend, wasmFits } from './wasm-backend.ts'

/** Most data shards: k + m <= MAX_TOTAL_SHARDS. */
export const MAX_DATA_SHARDS: number = MAX_TOTAL_SHARDS

/** Most parity shards (with k = 1): k + m <= MAX_TOTAL_SHARDS. */
export const MAX_PARITY_SHARDS: number = MAX_TOTAL_SHARDS - 1

/**
 * The codec of manifests written before the manifest named one: every such
 * stripe was coded by the native addon (the only codec then).
 */
export const LEGACY_ERASURE_CODEC: ErasureCodecName = 'native'

const CODEC_NAMES: readonly ErasureCodecName[] = ['native', 'wasm']

const coderCache = new Map<string, ErasureCoder>()

/**
 * Throw CairnError('BAD_INPUT') unless 1 <= k, 0 <= m and k + m <= 255.
 *
 * @example
 * checkCode(32, 97)
 */
export function checkCode (k: number, m: number): void {
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(m) || m < 0 || k + m > MAX_TOTAL_SHARDS) {
    throw new CairnError('BAD_INPUT', `erasure coding needs integers k >= 1 and m >= 0 with k + m <= ${MAX_TOTAL_SHARDS}, got k=${k} m=${m}`,
      `choose a code with at most ${MAX_TOTAL_SHARDS} shards in all (cairn plan recommends one)`)
  }
}

/**
 * The codec Cairn uses for a new stripe of code (k, m): the native addon where
 * it fits, the wasm codec otherwise.
 *
 * @example
 * chooseCodec(4, 2)   // 'native'
 * chooseCodec(32, 97) // 'wasm'
 */
export function chooseCodec (k: number, m: number): ErasureCodecName {
  checkCode(k, m)
  return m === 0 || nativeFits(k, m) ? 'native' : 'wasm'
}

/**
 * True when `name` is a codec this build can decode.
 *
 * @example
 * if (!isErasureCodecName(manifest.codec)) throw ...
 */
export function isErasureCodecName (name: unknown): name is ErasureCodecName {
  return typeof name === 'string' && (CODEC_NAMES as readonly string[]).includes(name)
}

function checkCodecFits (k: number, m: number, codec: ErasureCodecName): void {
  if (!isErasureCodecName(codec)) {
    throw new CairnError('BAD_INPUT', `unknown erasure codec ${JSON.stringify(codec)}`, 'the manifest was written by a newer Cairn; upgrade this node')
  }
  if (m === 0) return
  if (codec === 'native' && !nativeFits(k, m)) {
    throw new CairnError('BAD_INPUT', `the native codec supports k <= ${NATIVE_MAX_DATA_SHARDS} and m <= ${NATIVE_MAX_PARITY_SHARDS}, got ${k}+${m}`,
      'the manifest is damaged, or use the wasm codec for this code')
  }
  assert(codec !== 'wasm' || wasmFits(k, m), 'checkCode bounds every code the wasm codec takes')
}

/**
 * The coder for (k, m) with `codec` (default: `chooseCodec(k, m)`); one per
 * triple, cached. Throws CairnError('BAD_INPUT') for a code outside the limits
 * or a codec that cannot code it.
 *
 * @example
 * const coder = createErasureCoder(4, 2)
 * const parity = await coder.encode(dataShards)
 * const data = await coder.reconstruct([null, d1, d2, d3, p0, null], shardSizeBytes)
 */
export function createErasureCoder (k: number, m: number, codec: ErasureCodecName = chooseCodec(k, m)): ErasureCoder {
  checkCode(k, m)
  checkCodecFits(k, m, codec)
  const cacheKey = `${k}+${m}/${codec}`
  const cached = coderCache.get(cacheKey)
  if (cached !== undefined) return cached
  let backend: CodecBackend | null = null
  if (m > 0) backend = codec === 'native' ? createNativeBackend(k, m) : createWasmBackend(k, m)
  const coder: ErasureCoder = {
    k,
    m,
    codec,
    encode: (data) => encode(backend, k, m, data),
    reconstruct: (shards, shardSizeBytes) => reconstruct(backend, k, m, shards, shardSizeBytes)
  }
  coderCache.set(cacheKey, coder)
  return coder
}

async function encode (backend: CodecBackend | null, k: number, m: number, data: Buffer[]): Promise<Buffer[]> {
  assert(data.length === k, `encode needs exactly k=${k} data shards, got ${data.length}`)
  const shardSizeBytes = data[0]?.length ?? 0
  checkShardSize(shardSizeBytes)
  for (const shard of data) assert(shard.length === shardSizeBytes, 'all data shards must have the same size')
  if (backend === null) return []
  const parity = await backend.encode(joinShards(data), shardSizeBytes)
  return splitRegion(parity, m, shardSizeBytes)
}

async function reconstruct (
  backend: CodecBackend | null, k: number, m: number, shards: Array<Buffer | null>, shardSizeBytes: number
): Promise<Buffer[]> {
  assert(shards.length === k + m, `reconstruct needs k+m=${k + m} slots, got ${shards.length}`)
  checkShardSize(shardSizeBytes)
  checkPresent(shards, k, shardSizeBytes)
  const data = shards.slice(0, k)
  if (data.every((shard) => shard !== null)) {
    // All data shards are here: no decoding, and no copy when they are already adjacent.
    return splitRegion(joinShards(data as Buffer[]), k, shardSizeBytes)
  }
  assert(backend !== null, 'with m = 0 every data shard is present, or NOT_ENOUGH_SHARDS was thrown')
  return splitRegion(await backend.reconstruct(shards, shardSizeBytes), k, shardSizeBytes)
}
