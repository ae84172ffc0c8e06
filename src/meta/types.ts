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
 * - `s3key`: an S3 access key; pk = access key id; body = S3KeyBody (the
 *   secret encrypted under a key derived from the cluster master key).
 * - `version`: one object version; pk = version id (HLC + writer, globally
 *   unique); body = VersionBody (immutable once written; retention removes a
 *   version with a tombstone).
 * - `setting`: a cluster-wide setting; pk = setting key (see
 *   cluster/settings.ts); body = SettingBody.
 * - `location`: where shards of one version live now when that differs
 *   from its (immutable) manifest — shards the healer rebuilt or placed
 *   late; pk = version id; body = LocationBody. Written only by the
 *   version's repair coordinator; tombstoned once the version is gone.
 * - `tagging`: the S3 tags of one version, which change without making a
 *   new version (so they cannot live in the immutable version record);
 *   pk = version id; body = TagsBody. Tombstoned when the tags are deleted
 *   or the version is removed.
 * - `upload`: an open S3 multipart upload; pk = upload id (HLC + writer,
 *   like a version id); body = UploadBody. Tombstoned by Complete (the body
 *   then names the version it became) and by Abort or expiry.
 * - `mpart`: one uploaded part; pk = `<upload id>/<part number, 5 digits>/<part tag>`
 *   (the tag is the HLC + writer of this upload of the part, so a part
 *   number uploaded twice has two records and the newest wins); body =
 *   PartBody with the part's own manifest (own data key and nonce base).
 *   The pk is also the owner id of the part's shards (see meta/store.ts
 *   `versionState` for when they are live). Tombstoned by Complete and Abort.
 * - `nodeattr`: an attribute of a member set by an administrator from any
 *   node (`cairn node role|zone`); pk = `<node id>/role` or `<node id>/zone`;
 *   body = NodeAttrBody. It overrides what the member declared in its own
 *   `node` record (which it republishes at every start, so an override kept
 *   there would be undone by a member that was off when it was made).
 * - `job`: a cluster-wide background job an administrator started (`cairn
 *   rebalance`); pk = the job's kind (`rebalance`); body = JobBody. Any
 *   node's mover sees it, so the job survives restarts of every node.
 * - `audit`: one auditor's audit counts about one holder; pk =
 *   `<auditor id>/<subject id>`; body = AuditBody (meta/audit-records.ts).
 *   Written only by the auditor; every node sums them for `cairn status`.
 */
import type { ErasureCodecName } from '../erasure/types.ts'
import type { NodePresence } from './node-presence.ts'
import type { AuditBody } from './audit-records.ts'

/** Record format version, carried in every record and on the wire. */
export const META_RECORD_VERSION = 1

/** The replicated tables. */
export const META_TABLES = ['node', 'bucket', 'version', 'setting', 's3key', 'location', 'tagging', 'upload', 'mpart', 'nodeattr', 'job', 'audit'] as const
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
  body: NodeBody | BucketBody | VersionBody | SettingBody | S3KeyBody | LocationBody | TagsBody | UploadBody | PartBody | NodeAttrBody | JobBody | AuditBody
}

/** A cluster-wide job (table `job`): `running` until its coordinator records it `done`. */
export interface JobBody {
  state: 'running' | 'done'
  /** When it was started (ms since the epoch) and by which node. */
  startedMs: number
  startedBy: string
  /** When it ended (0 while running). */
  doneMs: number
}

/** One administrator-set attribute of a member (table `nodeattr`): a role ('anchor' | 'pc') or a zone name. */
export interface NodeAttrBody {
  value: string
}

/** An S3 multipart upload (table `upload`). */
export interface UploadBody {
  bucket: string
  key: string
  initiatedMs: number
  /** Name of the node that created it, for humans. */
  nodeName: string
  /** Access key id of the creator (S3's Initiator and Owner). */
  initiator: string
  /** HTTP metadata given at creation; the completed version carries it (its ETag is set by Complete). */
  meta: ObjectMeta
  /** On the tombstone written by Complete: the version the upload became and its ETag. */
  completed?: { versionId: string, etag: string }
}

/** One uploaded part (table `mpart`); tombstones keep only uploadId and number. */
export interface PartBody {
  uploadId: string
  /** 1..10000. */
  number: number
  size: number
  /** Hex MD5 of the part's bytes (its S3 ETag). */
  etag: string
  timeMs: number
  /** The part's data: form `stripes` or `segments`, never inline; absent on tombstones. */
  manifest?: Manifest
}

/**
 * Current holders of the shards of one version that moved since its
 * manifest was written. For a shard hash listed here, `shards[hash]` (indexes
 * into `nodes`) replaces the manifest's holder list; other shards are where
 * the manifest says.
 */
export interface LocationBody {
  nodes: string[]
  shards: Record<string, number[]>
}

/** What a key may do in one bucket. */
export type S3Permission = 'read' | 'write' | 'owner'

/** An S3 access key. */
export interface S3KeyBody {
  name: string
  /** The secret access key, wrapped with a key derived from the master key (see crypto/keys.ts). */
  secret: string
  admin: boolean
  /** Bucket name → permission. */
  grants: Record<string, S3Permission>
  createdMs: number
}

/** A roster entry. */
export interface NodeBody {
  name: string
  addrs: string[]
  /** URL of the member's S3 endpoint (on its own machine's loopback by default). */
  s3?: string
  zone: string
  anchor: boolean
  quotaBytes: number
  joinedMs: number
  /** The node's self-measured availability history (absent from nodes that have not published one yet). */
  presence?: NodePresence
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

/**
 * How a bucket keeps versions (S3's versioning states, docs/S3.md):
 * - `Enabled` (also when the field is absent: Cairn's own default, every
 *   bucket made by `cairn put`): every write is a new version, kept until
 *   retention removes it.
 * - `Unversioned` (a bucket made by S3 CreateBucket, versioning never
 *   set): each write is the key's one `null` version; a newer one replaces
 *   it and a delete removes it (the older is tombstoned, its shards
 *   collected).
 * - `Suspended`: like Unversioned for new writes (a delete writes a `null`
 *   delete marker), while versions from Enabled periods stay.
 */
export const BUCKET_VERSIONING_STATES = ['Unversioned', 'Enabled', 'Suspended'] as const
export type BucketVersioning = typeof BUCKET_VERSIONING_STATES[number]

/** A bucket. */
export interface BucketBody {
  createdMs: number
  /** Access key id of the S3 key that created it (its owner), if any. */
  owner?: string
  retention?: RetentionPolicy
  /** Absent means Enabled (see BUCKET_VERSIONING_STATES). */
  versioning?: BucketVersioning
}

/** Most tags one version may carry (S3's limit). */
export const MAX_TAGS_PER_VERSION = 10
/** Longest tag key, in characters (S3's limit). */
export const MAX_TAG_KEY_CHARS = 128
/** Longest tag value, in characters (S3's limit). */
export const MAX_TAG_VALUE_CHARS = 256

/** One S3 object tag. */
export interface Tag { key: string, value: string }

/** The tags of one version, in the order they were set (empty in a tombstone). */
export interface TagsBody {
  tags: Tag[]
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

/** Manifest forms: where the stripe list is. */
export const MANIFEST_FORMS = ['stripes', 'segments', 'parts'] as const
/**
 * `stripes` (also when the field is absent): the stripe list is in
 * `Manifest.stripes`, inside the record. `segments`: it is stored outside the
 * record, as a blob in the pool that `Manifest.stripeList` describes.
 * `parts` (a completed multipart upload): the data is the parts' own
 * stripes, each part with its own data key and nonce base (PartManifest);
 * the part list is in `Manifest.parts`, or out of the record in the blob
 * `Manifest.partList` describes; `Manifest.upload` names the parts' owner ids.
 */
export type ManifestForm = typeof MANIFEST_FORMS[number]

/**
 * Where the stripe list of a large version is: an erasure-coded, encrypted
 * blob written like object data (its own key and nonce base). Each stripe of
 * the blob is one segment: the plaintext is a JSON StripeManifest[] of the
 * next data stripes, so a reader fetches segments as it reaches them.
 */
export interface StripeListRef {
  /** Data stripes of the version (the sum over segments). */
  stripeCount: number
  /** The blob's own manifest (form `stripes`). */
  manifest: Manifest
}

/**
 * How to rebuild an object version from the pool: coding parameters, the
 * wrapped data key, and either inline ciphertext (tiny objects), stripes, or
 * (form `segments`) a reference to the stripe list stored in the pool.
 */
export interface Manifest {
  /** Format of this manifest; absent means `stripes`. */
  form?: ManifestForm
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
  /** Empty in form `segments`. */
  stripes: StripeManifest[]
  /** Form `segments` only: the stripe list stored outside the record. */
  stripeList?: StripeListRef
  /** Form `parts` only, when the part list is small: the parts in order. */
  parts?: PartManifest[]
  /** Form `parts` only, when the part list is large: the blob that holds it (segments of JSON PartManifest[]). */
  partList?: PartListRef
  /** Form `parts` only: which part records' shards this version holds (kept in the record so a collector needs no blob). */
  upload?: PartOwners
}

/** One part of a version of form `parts`. */
export interface PartManifest {
  /** S3 part number (1..10000). */
  number: number
  /** Plaintext bytes of the part. */
  size: number
  /** Hex MD5 of the part (for ETags). */
  etag: string
  /** The part's data (form `stripes` or `segments`), with its own data key and nonce base. */
  manifest: Manifest
}

/** Where the part list of a large multipart version is (like StripeListRef). */
export interface PartListRef {
  partCount: number
  /** The blob's own manifest (form `stripes`). */
  manifest: Manifest
}

/**
 * The owner ids of a multipart version's part shards: `<uploadId>/<partKeys[i]>`
 * (the pks of the part records it was completed from). About 35 bytes per
 * part, so 10,000 parts stay far under the record limit.
 */
export interface PartOwners {
  uploadId: string
  /** `<5-digit part number>/<part tag>` for every part, in order. */
  partKeys: string[]
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
  /** HTTP metadata of the object (S3): content headers, user metadata, ETag. */
  meta?: ObjectMeta
  /**
   * True for S3's `null` version: written while the bucket was Unversioned
   * or Suspended. A key keeps at most one (retention removes older ones).
   */
  nullVersion?: boolean
}

/** Largest encoded ObjectMeta (S3 limits user metadata to 2 KiB; headers add some). */
export const MAX_OBJECT_META_BYTES = 8 * 1024

/** HTTP metadata stored with a version. */
export interface ObjectMeta {
  contentType?: string
  contentEncoding?: string
  contentDisposition?: string
  contentLanguage?: string
  cacheControl?: string
  expires?: string
  /** x-amz-meta-* without the prefix, names lowercased. */
  user?: Record<string, string>
  /** The S3 ETag without quotes (hex MD5 of the body for a single-part put). */
  etag?: string
  /** The x-amz-checksum-* the client sent and Cairn verified: algorithm (lowercase) and base64 value. */
  checksum?: { algorithm: ChecksumAlgorithm, value: string }
}

/** The S3 checksum algorithms (x-amz-checksum-NAME). */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number]

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
  /** S3's `null` version (VersionBody.nullVersion). */
  nullVersion?: boolean
  /** Delete results only: the version was removed for good (no delete marker was written). */
  removed?: boolean
  /** Put results only: shards stored with no holder yet (fewer than k+m nodes were online); the healer places them. */
  unplacedShards?: number
  /** Put results only: placement rules (anchors, zones) the put could not honour, one line each. */
  placementNotes?: string[]
}

/** A current, non-deleted object as listed to users. */
export interface ObjectInfo {
  key: string
  size: number
  version: string
  timeMs: number
}
