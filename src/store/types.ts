/**
 * Interfaces of the local shard store: the only component that touches shard
 * files. Shards are content-addressed by the lowercase hex SHA-256 of their bytes.
 */

/** What a shard store is made from. */
export interface ShardStoreInit {
  /** Root directory; shards live in `<dir>/shards/ab/abcdef…`. */
  dir: string
  /** Bytes of shard data this node gives to the pool. */
  quotaBytes: number
  /** Called (once per detection) when a read finds a shard whose bytes no longer match its hash. */
  onCorrupt?: (hashHex: string) => void
}

/** Counters for the dashboard and placement weights. */
export interface ShardStoreStats {
  /** Bytes of shard files stored (file sizes, not disk blocks). */
  usedBytes: number
  /** The configured quota. */
  quotaBytes: number
  /** Shard files stored. */
  shardCount: number
  /** Distinct shards found corrupt and moved to quarantine. */
  corruptCount: number
}

/** Options every async operation accepts. */
export interface ShardStoreOptions {
  /** Abort the operation (it rejects with the signal's reason). */
  signal?: AbortSignal
}

/** A local content-addressed shard store. */
export interface ShardStore {
  /** Create directories, remove stale temp files, count used bytes. Call once before anything else. */
  open: (options?: ShardStoreOptions) => Promise<void>
  /** Wait for running operations, then refuse new ones. */
  close: () => Promise<void>
  /**
   * Store a shard durably (file and directory entry fsynced before it resolves).
   * Idempotent. Throws CORRUPT_SHARD when the bytes do not hash to `hashHex`,
   * QUOTA_EXCEEDED when the quota or the disk is full, BAD_INPUT for a bad name.
   */
  put: (hashHex: string, bytes: Uint8Array, options?: ShardStoreOptions) => Promise<void>
  /** The verified bytes of a shard, or null when absent or found corrupt (then quarantined). */
  get: (hashHex: string, options?: ShardStoreOptions) => Promise<Buffer | null>
  /** True when a shard file exists (not verified; `get` verifies). */
  has: (hashHex: string) => Promise<boolean>
  /** Size in bytes of a stored shard file, or null when it is not there (not verified). */
  sizeOf: (hashHex: string) => Promise<number | null>
  /** Remove a shard; false when it was not there. */
  delete: (hashHex: string) => Promise<boolean>
  /** Every stored shard hash, one fan-out directory at a time. */
  list: (options?: ShardStoreOptions) => AsyncIterableIterator<string>
  /** Current counters. */
  stats: () => ShardStoreStats
  /** Hashes of shards found corrupt (kept in `<dir>/quarantine/`), sorted. */
  corruptShards: () => string[]
}
