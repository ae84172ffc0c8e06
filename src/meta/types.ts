/**
 * Types of Cairn's replicated metadata.
 *
 * Every piece of replicated state is a `MetaRecord`: a last-writer-wins
 * register identified by (table, pk), stamped with a hybrid-logical-clock
 * time and the id of the node that wrote it. Deletion is a tombstone record
 * that wins like any other write, so sets are "sets with tombstones".
 * Tables:
 * - `node`: the roster; pk = node (peer) id; body = NodeBody.
 * - `bucket`: pk = bucket name; body = BucketBody.
 * - `version`: one object version; pk = version id (HLC + writer, globally
 *   unique); body = VersionBody (immutable once written; retention removes a
 *   version with a tombstone).
 * - `setting`: a cluster-wide setting; pk = setting key (see
 *   cluster/settings.ts); body = SettingBody.
 */
import type { ErasureCodecName } from '../erasure/types.ts'

/** Record format version, carried in every record and on the wire. */
export const META_RECORD_VERSION = 1

/** The replicated tables. */
export const META_TABLES = ['node', 'bucket', 'version', 'setting'] as const
export type MetaTable = typeof META_TABLES[number]

/** One replicated row. */
export interface MetaRecord {
  v: typeof META_RECORD_VERSION
  table: MetaTable
  pk: string
  /** Hybrid-logical-clock time of the write (sortable string). */
  hlc: string
  /** Node id of the writer. */
  origin: string
  tombstone: boolean
  /** Table-specific content; for tombstones, what the projections need to forget the row. */
  body: NodeBody | BucketBody | VersionBody | SettingBody
}

/** A roster entry. */
export interface NodeBody {
  name: string
  addrs: string[]
  zone: string
  anchor: boolean
  quotaBytes: number
  joinedMs: number
}

/** A cluster setting, in the text form a user types ("5m", "2"). */
export interface SettingBody {
  value: string
}

/** Retention: keep at most `keepVersions` versions and/or versions younger than `keepDays`. */
export interface RetentionPolicy {
  keepVersions?: number
  keepDays?: number
}

/** A bucket. */
export interface BucketBody {
  createdMs: number
  retention?: RetentionPolicy
}

/** Where one shard of a stripe lives and what it hashes to. */
export interface ShardRef {
  /** SHA-256 (hex) of the shard bytes; the shard's name. */
  hash: string
  /** Node ids believed to hold it. */
  nodes: string[]
}

/** One stripe of an erasure-coded version. */
export interface StripeManifest {
  cipherBytes: number
  shardSizeBytes: number
  /** k + m shards in coder order (data shards first). */
  shards: ShardRef[]
}

/**
 * How to rebuild an object version from the pool: coding parameters, the
 * wrapped data key, and either inline ciphertext (tiny objects) or stripes.
 */
export interface Manifest {
  k: number
  m: number
  /**
   * Reed-Solomon codec (shard format) of the stripes; absent in manifests
   * written before codecs were recorded, which all used 'native'.
   */
  codec?: ErasureCodecName
  stripeSizeBytes: number
  /** Data key wrapped with the cluster master key (base64). */
  wrappedKey: string
  /** Per-version nonce prefix (base64, 8 bytes). */
  nonceBase: string
  /** Ciphertext of a tiny object, base64, stored in metadata instead of shards. */
  inline?: string
  stripes: StripeManifest[]
}

/** One object version (or a delete marker). */
export interface VersionBody {
  bucket: string
  key: string
  size: number
  /** Wall time of the write, ms since the epoch. */
  timeMs: number
  /** Name of the writing node, for humans. */
  nodeName: string
  deleteMarker: boolean
  /** SHA-256 of the plaintext, hex ('' for delete markers). */
  sha256: string
  manifest?: Manifest
}

/** A version as listed to users. */
export interface VersionInfo {
  id: string
  bucket: string
  key: string
  size: number
  timeMs: number
  node: string
  nodeName: string
  deleteMarker: boolean
  current: boolean
  sha256: string
}

/** A current, non-deleted object as listed to users. */
export interface ObjectInfo {
  key: string
  size: number
  version: string
  timeMs: number
}
