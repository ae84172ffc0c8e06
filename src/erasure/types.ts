/**
 * Interfaces of the erasure layer: a Reed-Solomon coder for one (k, m) and the
 * names of the codecs (shard formats) behind it.
 */

/**
 * A Reed-Solomon implementation and so a shard format. Both are systematic
 * (data shards are the plain bytes) but their parity differs, so a stripe is
 * decoded with the codec that encoded it; the manifest records which one.
 * - `native`: the @ronomon/reed-solomon addon (Cauchy matrix over GF(2^8)), k <= 24, m <= 6.
 * - `wasm`: the reed-solomon-erasure crate compiled to WASM (systematic
 *   Vandermonde matrix over GF(2^8)), any k + m <= 255.
 */
export type ErasureCodecName = 'native' | 'wasm'

/** A Reed-Solomon coder for one (k, m). */
export interface ErasureCoder {
  /** Data shards per stripe. */
  readonly k: number
  /** Parity shards per stripe. */
  readonly m: number
  /** The codec (shard format) this coder reads and writes. */
  readonly codec: ErasureCodecName
  /** Compute the m parity shards of k equal-size data shards. */
  encode: (data: Buffer[]) => Promise<Buffer[]>
  /**
   * Rebuild the k data shards from k + m slots (null = missing); returns the
   * data shards as views into one contiguous buffer.
   */
  reconstruct: (shards: Array<Buffer | null>, shardSizeBytes: number) => Promise<Buffer[]>
}

/**
 * What a codec backend computes; the shared checks (sizes, enough shards, the
 * no-decode fast path, m = 0) are done before it is called.
 */
export interface CodecBackend {
  /** Parity of `region` (k shards back to back): m shards back to back. */
  encode: (region: Buffer, shardSizeBytes: number) => Promise<Buffer>
  /**
   * The k data shards back to back, rebuilt from `shards` (k + m slots, at
   * least k present, at least one data shard missing).
   */
  reconstruct: (shards: Array<Buffer | null>, shardSizeBytes: number) => Promise<Buffer>
}
