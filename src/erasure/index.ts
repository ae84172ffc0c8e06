/**
 * Cairn's erasure coding building block: a Reed-Solomon k + m coder.
 */
export {
  createErasureCoder, joinShards, shardSizeFor,
  SHARD_ALIGNMENT_BYTES, MAX_SHARD_SIZE_BYTES, MAX_DATA_SHARDS, MAX_PARITY_SHARDS
} from './coder.ts'
export type { ErasureCoder } from './coder.ts'
