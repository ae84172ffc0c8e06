/**
 * Cairn's erasure coding building block: a Reed-Solomon k + m coder with two
 * codecs (native addon, WASM) chosen by (k, m).
 */
export {
  createErasureCoder, chooseCodec, checkCode, isErasureCodecName,
  LEGACY_ERASURE_CODEC, MAX_DATA_SHARDS, MAX_PARITY_SHARDS
} from './coder.ts'
export { joinShards, shardSizeFor, SHARD_ALIGNMENT_BYTES, MAX_SHARD_SIZE_BYTES, MAX_TOTAL_SHARDS } from './shards.ts'
export { NATIVE_MAX_DATA_SHARDS, NATIVE_MAX_PARITY_SHARDS } from './native-backend.ts'
export type { ErasureCoder, ErasureCodecName } from './types.ts'
