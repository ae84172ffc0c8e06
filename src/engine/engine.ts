/**
 * The engine: put / get / list / delete / versions, composing the data path
 * (put.ts, get.ts), the metadata replica and the commit path. It knows
 * nothing of HTTP or libp2p; the gateway calls it, the daemon wires it.
 *
 * Versioning (BucketBody.versioning): in an Enabled bucket (Cairn's
 * default) every put is a new version and a delete writes a marker. In an
 * Unversioned or Suspended bucket a put or delete writes the key's `null`
 * version, and the older `null` version is removed (retention.ts): a
 * tombstone through the commit path, so the collector frees its shards. In
 * an Unversioned bucket a delete removes the `null` version itself. Tags
 * (table `tagging`) are a mutable record per version, removed with it.
 */
import { createHash } from 'node:crypto'
import { checkRecordSize, tagsProblem } from '../meta/codec.ts'
import type { MetaStore } from '../meta/store.ts'
import type { BucketBody, BucketVersioning, LocationBody, Manifest, MetaRecord, MetaTable, ObjectInfo, ObjectMeta, RetentionPolicy, StripeManifest, Tag, TagsBody, VersionBody, VersionInfo } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import type { HybridClock } from '../util/hlc.ts'
import { AccessKeys } from './access-keys.ts'
import { GET_STRIPES_AHEAD, GET_SEGMENTS_AHEAD, readObject, readObjectPieces } from './get.ts'
import type { GetContext } from './get.ts'
import { partsOf } from './parts.ts'
import { Multipart } from './multipart.ts'
import { holderLookup, holdersOf } from '../meta/locations.ts'
import type { HolderLookup } from '../meta/locations.ts'
import { stripesOf } from './stripe-list.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { expiredVersions } from './retention.ts'
import { checkBucketName, checkObjectKey } from './names.ts'
import { checkPlacementPossible, inlineMaxOf, releaseShards, storeObjectData, versionBody } from './put.ts'
import type { ClusterView, MetaCommitter, ShardIO } from './types.ts'

/** The engine's collaborators. */
export interface EngineInit {
  cluster: ClusterView
  shards: ShardIO
  meta: MetaStore
  committer: MetaCommitter
  clock: HybridClock
  masterKey: Buffer
  onBadShard?: (node: string, hash: string) => void
  /** Told when a read could not fetch a shard from a holder (it goes on with others). */
  onShardFailure?: (node: string, hash: string, err: Error) => void
  /**
   * Fetch records this replica does not have from peers now (Replicator.recall),
   * the node whose nodeTag is `writerTag` first. Without it a read of a
   * version not received yet answers NO_SUCH_VERSION at once.
   */
  recall?: (keys: Array<[MetaTable, string]>, writerTag: string, signal?: AbortSignal) => Promise<unknown>
}

/**
 * HLC of a bucket record a node writes only because a put names a bucket it
 * does not know: the lowest possible, so any real bucket record (with its
 * settings, e.g. retention) written anywhere wins the merge.
 */
export const IMPLICIT_BUCKET_HLC = '000000000000-0000'

/** A readable object version. */
export interface ObjectReader {
  info: VersionInfo
  /** HTTP metadata stored with the version (S3 puts). */
  meta: ObjectMeta
  body: AsyncGenerator<Buffer>
  /** The plaintext from byte `offsetBytes` on; stripes (and parts) before it are not fetched. Use instead of `body`, not with it. */
  from: (offsetBytes: number) => AsyncGenerator<Buffer>
}

/** Options of a put. */
export interface PutOptions {
  /** Metadata to store with the version, computed once the body has been read (so it may carry the body's MD5). */
  meta?: () => ObjectMeta
  /** Refuse with NO_SUCH_BUCKET instead of creating the bucket (S3's rule). */
  requireBucket?: boolean
  /** Tags of the new version, committed with it (validated before any data is read). */
  tags?: Tag[]
  /** The body's declared size (Content-Length) when known: a body small enough to be inline is not refused for want of happiness nodes. */
  sizeHint?: number
}

/** A version id: the HLC (wall ms and counter, hex) and the writer's nodeTag. */
const VERSION_ID = /^[0-9a-f]{12}-[0-9a-f]{4}-([0-9a-f]{8})$/

/** Short, stable tag of a node id used in version ids. */
export function nodeTag (nodeId: string): string {
  return createHash('sha256').update(nodeId).digest('hex').slice(0, 8)
}

/**
 * Object operations of one node.
 *
 * @example
 * const info = await engine.put('photos', 'a.jpg', fileStream)
 */
export class Engine {
  private readonly init: EngineInit
  /** The cluster's S3 access keys. */
  readonly keys: AccessKeys
  /** S3 multipart uploads (multipart.ts). */
  readonly multipart: Multipart
  /** Shard I/O to this node and its peers (the healer moves shards with it). */
  get shardIO (): ShardIO { return this.init.shards }
  /** Versions whose put is in progress on this node. */
  private readonly writing = new Set<string>()

  constructor (init: EngineInit) {
    this.init = init
    this.keys = new AccessKeys({ meta: init.meta, committer: init.committer, clock: init.clock, masterKey: init.masterKey, selfId: init.cluster.selfId })
    this.multipart = new Multipart({
      ...init,
      writing: this.writing,
      newId: () => this.newVersionId(),
      versionRecords: (id, body) => this.versionRecords(id, body),
      afterVersion: async (bucket, key, signal) => { await this.applyRetention(bucket, key, signal).catch(() => { /* the periodic sweep retries */ }) },
      requireBucket: (bucket) => { this.requireBucket(bucket) },
      nullVersionIn: (bucket) => this.versioningOf(bucket) !== 'Enabled'
    })
  }

  private newVersionId (): string {
    return `${this.init.clock.now()}-${nodeTag(this.init.cluster.selfId)}`
  }

  /**
   * Fail before reading any data when a put cannot be placed. A body
   * declared small enough to be stored inline only needs the metadata
   * quorum, so it is not refused here (the put checks again at its first
   * erasure-coded stripe when the size is unknown or larger).
   */
  checkWritable (bucket: string, key: string, sizeHint?: number): void {
    checkBucketName(bucket)
    checkObjectKey(key)
    if (sizeHint === undefined || sizeHint > inlineMaxOf(this.init.cluster)) checkPlacementPossible(this.init.cluster)
  }

  /** Store a new version of bucket/key from `body`. */
  async put (bucket: string, key: string, body: AsyncIterable<Uint8Array>, signal?: AbortSignal, options: PutOptions = {}): Promise<VersionInfo> {
    this.checkWritable(bucket, key, options.sizeHint)
    if (options.requireBucket === true) this.requireBucket(bucket)
    if (options.tags !== undefined) checkTags(options.tags)
    const versionId = this.newVersionId()
    this.writing.add(versionId)
    try {
      return await this.putVersion(bucket, key, versionId, body, signal, options)
    } finally {
      this.writing.delete(versionId)
    }
  }

  /**
   * True while this node is writing `versionId` (its shards land before its
   * record exists): shard collectors asking the writer must not take such a
   * version for one that was never committed. Lost on restart, which is right:
   * a restart ends the put.
   */
  isWriting (versionId: string): boolean {
    return this.writing.has(versionId)
  }

  private async putVersion (bucket: string, key: string, versionId: string, body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined, options: PutOptions): Promise<VersionInfo> {
    const data = await storeObjectData({ cluster: this.init.cluster, shards: this.init.shards, masterKey: this.init.masterKey }, versionId, body, signal)
    const vbody = versionBody(bucket, key, this.init.cluster.selfName, data)
    let records: MetaRecord[]
    try {
      const meta = options.meta?.()
      if (meta !== undefined) vbody.meta = meta
      // The state when the data is in: a put racing a versioning change takes the newer state.
      if (this.versioningOf(bucket) !== 'Enabled') vbody.nullVersion = true
      records = this.versionRecords(versionId, vbody)
      if (options.tags !== undefined && options.tags.length > 0) records.push(this.tagsRecord(versionId, options.tags))
    } catch (err) {
      // Refused before anything was committed (e.g. a record over the size
      // limit): nobody can know this version, so its shards go now.
      await releaseShards(this.init.shards, data.written, versionId)
      throw err
    }
    // A commit that fails is undone, but a peer may have applied the version
    // before the undo reaches it and must still be able to read it: the shards
    // stay. Their holders' collectors delete them once the undo tombstone has
    // reached them and the grace period has passed (src/heal/collector.ts).
    await this.init.committer.commit(records, signal)
    await this.applyRetention(bucket, key, signal).catch(() => { /* the periodic sweep retries */ })
    return { ...this.info(versionId, vbody), ...(data.unplaced > 0 ? { unplacedShards: data.unplaced } : {}), ...(data.placementNotes.length > 0 ? { placementNotes: data.placementNotes } : {}) }
  }

  /** The retention policy of a bucket, if any. */
  retention (bucket: string): RetentionPolicy | undefined {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    return (this.init.meta.get('bucket', bucket)?.body as BucketBody).retention
  }

  /** Set (or clear, with an empty policy) a bucket's retention. */
  async setRetention (bucket: string, policy: RetentionPolicy, signal?: AbortSignal): Promise<void> {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    for (const [name, value] of Object.entries(policy)) {
      if (value !== undefined && (!Number.isInteger(value) || (value as number) < 1)) throw new CairnError('BAD_INPUT', `retention ${name} must be a positive integer, got ${String(value)}`, 'pass e.g. --keep-versions 10 or --keep-days 30')
    }
    const body = { ...(this.init.meta.get('bucket', bucket)?.body as BucketBody) }
    if (policy.keepVersions === undefined && policy.keepDays === undefined) delete body.retention
    else body.retention = policy
    await this.init.committer.commit([this.record('bucket', bucket, body)], signal)
  }

  /**
   * Remove the versions of bucket/key that the bucket's retention expires:
   * each becomes a tombstone carrying its manifest, so every holder deletes
   * its shards once the tombstone reaches it. Returns how many were removed.
   */
  async applyRetention (bucket: string, key: string, signal?: AbortSignal): Promise<number> {
    const policy = (this.init.meta.get('bucket', bucket)?.body as BucketBody | undefined)?.retention
    const expired = expiredVersions(this.init.meta.versions(bucket, key), policy, Date.now())
    const records = this.removalRecords(expired)
    if (records.length > 0) await this.init.committer.commit(records, signal)
    return records.filter((r) => r.table === 'version').length
  }

  /**
   * Tombstones that remove versions for good: each version record (its body,
   * the manifest, kept so every holder can free the shards) and its tags.
   */
  private removalRecords (ids: readonly string[]): MetaRecord[] {
    const records: MetaRecord[] = []
    for (const id of ids) {
      const record = this.init.meta.get('version', id)
      if (record === undefined || record.tombstone) continue
      records.push({ ...record, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: true })
      const tags = this.init.meta.get('tagging', id)
      if (tags !== undefined && !tags.tombstone) records.push({ ...tags, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: true, body: { tags: [] } })
    }
    return records
  }

  /**
   * Remove one version of bucket/key for good (S3 DeleteObject with a
   * versionId): its record becomes a tombstone through the commit path and
   * its holders' collectors free its shards. A delete marker can be removed
   * this way too, which makes the version under it current again.
   */
  async deleteVersion (bucket: string, key: string, versionId: string, signal?: AbortSignal): Promise<VersionInfo> {
    checkBucketName(bucket)
    checkObjectKey(key)
    this.requireBucket(bucket)
    const found = this.init.meta.versions(bucket, key).find((v) => v.id === versionId)
    if (found === undefined) throw new CairnError('NO_SUCH_VERSION', `version ${versionId} of ${bucket}/${key} does not exist`, `list versions with \`cairn versions ${bucket}/${key}\``)
    await this.init.committer.commit(this.removalRecords([versionId]), signal)
    return { ...found, current: false, removed: true }
  }

  /** How `bucket` keeps versions (Enabled unless set otherwise). */
  versioning (bucket: string): BucketVersioning {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    return this.versioningOf(bucket)
  }

  private versioningOf (bucket: string): BucketVersioning {
    const record = this.init.meta.get('bucket', bucket)
    return (record === undefined || record.tombstone ? undefined : (record.body as BucketBody).versioning) ?? 'Enabled'
  }

  /** Turn versioning on or suspend it (a bucket never goes back to Unversioned). */
  async setVersioning (bucket: string, state: 'Enabled' | 'Suspended', signal?: AbortSignal): Promise<void> {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    const body: BucketBody = { ...(this.init.meta.get('bucket', bucket)?.body as BucketBody), versioning: state }
    await this.init.committer.commit([this.record('bucket', bucket, body)], signal)
  }

  /** The tags of a live version ([] when it has none). */
  tags (versionId: string): Tag[] {
    const record = this.init.meta.get('tagging', versionId)
    return record === undefined || record.tombstone ? [] : (record.body as TagsBody).tags
  }

  /** Replace the tags of one version of bucket/key (an empty list deletes them); no new version is made. */
  async setTags (bucket: string, key: string, versionId: string, tags: Tag[], signal?: AbortSignal): Promise<void> {
    checkTags(tags)
    const record = this.init.meta.get('version', versionId)
    const body = record?.body as VersionBody | undefined
    if (record === undefined || record.tombstone || body?.bucket !== bucket || body.key !== key) throw new CairnError('NO_SUCH_VERSION', `version ${versionId} of ${bucket}/${key} does not exist`, `list versions with \`cairn versions ${bucket}/${key}\``)
    const existing = this.init.meta.get('tagging', versionId)
    if (tags.length === 0) {
      if (existing !== undefined && !existing.tombstone) await this.init.committer.commit([{ ...existing, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: true, body: { tags: [] } }], signal)
      return
    }
    await this.init.committer.commit([this.tagsRecord(versionId, tags)], signal)
  }

  private tagsRecord (versionId: string, tags: Tag[]): MetaRecord {
    return { v: 1, table: 'tagging', pk: versionId, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: false, body: { tags: tags.map((t) => ({ key: t.key, value: t.value })) } }
  }

  /**
   * Delete bucket/key: write a delete marker (its versions stay listed); in
   * a Suspended bucket the marker is the key's `null` version; in an
   * Unversioned bucket the `null` version is removed instead and its info
   * returned with `removed: true`.
   */
  async delete (bucket: string, key: string, signal?: AbortSignal): Promise<VersionInfo> {
    checkBucketName(bucket)
    checkObjectKey(key)
    this.requireCurrent(bucket, key)
    const state = this.versioningOf(bucket)
    if (state === 'Unversioned') {
      const nulls = this.init.meta.versions(bucket, key).filter((v) => v.nullVersion === true)
      if (nulls.length === 0) throw new CairnError('NOT_FOUND', `object ${bucket}/${key} has no null version to delete`, `list its versions with \`cairn versions ${bucket}/${key}\``)
      await this.init.committer.commit(this.removalRecords(nulls.map((v) => v.id)), signal)
      return { ...(nulls[0] as VersionInfo), current: false, removed: true }
    }
    const versionId = this.newVersionId()
    const vbody: VersionBody = { bucket, key, size: 0, timeMs: Date.now(), nodeName: this.init.cluster.selfName, deleteMarker: true, sha256: '', ...(state === 'Suspended' ? { nullVersion: true } : {}) }
    await this.commitVersion(versionId, vbody, signal)
    await this.applyRetention(bucket, key, signal).catch(() => { /* the periodic sweep retries */ })
    return this.info(versionId, vbody)
  }

  private async commitVersion (versionId: string, vbody: VersionBody, signal?: AbortSignal): Promise<void> {
    await this.init.committer.commit(this.versionRecords(versionId, vbody), signal)
  }

  /** The records that publish a version: the version, and its bucket when this node does not know it; throws TOO_LARGE over the record limit. */
  private versionRecords (versionId: string, vbody: VersionBody): MetaRecord[] {
    const records: MetaRecord[] = []
    const known = this.init.meta.get('bucket', vbody.bucket)
    if (known === undefined || known.tombstone) {
      // Only a node that knows the bucket was deleted recreates it with a real
      // clock; one that has not heard of it yet (just restarted, partitioned)
      // must not override settings written elsewhere.
      const bucket: BucketBody = { createdMs: Date.now() }
      const record = this.record('bucket', vbody.bucket, bucket)
      records.push(known === undefined ? { ...record, hlc: IMPLICIT_BUCKET_HLC } : record)
    }
    const version: MetaRecord = { v: 1, table: 'version', pk: versionId, hlc: versionId.slice(0, 17), origin: this.init.cluster.selfId, tombstone: false, body: vbody }
    checkRecordSize(version, `${vbody.bucket}/${vbody.key}`)
    records.push(version)
    return records
  }

  private record (table: 'bucket', pk: string, body: BucketBody): MetaRecord {
    return { v: 1, table, pk, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: false, body }
  }

  private info (versionId: string, body: VersionBody): VersionInfo {
    return { id: versionId, bucket: body.bucket, key: body.key, size: body.size, timeMs: body.timeMs, node: this.init.cluster.selfId, nodeName: body.nodeName, deleteMarker: body.deleteMarker, current: this.init.meta.currentVersion(body.bucket, body.key) === versionId, sha256: body.sha256, ...(body.nullVersion === true ? { nullVersion: true } : {}) }
  }

  private requireBucket (bucket: string): void {
    const record = this.init.meta.get('bucket', bucket)
    if (record === undefined || record.tombstone) throw new CairnError('NO_SUCH_BUCKET', `bucket ${bucket} does not exist`, 'buckets are created by the first put into them; check the name with `cairn ls`')
  }

  private requireCurrent (bucket: string, key: string): string {
    this.requireBucket(bucket)
    // The current row is the newest version (what versions()[0] is), delete marker flag included.
    const current = this.init.meta.currentEntry(bucket, key)
    if (current === undefined || current.deleteMarker) {
      throw new CairnError('NOT_FOUND', `object ${bucket}/${key} does not exist`, `list the bucket with \`cairn ls ${bucket}\``)
    }
    return current.versionId
  }

  /** What reading the shards of `versionId` needs. */
  private readContext (versionId: string): GetContext {
    // The location record is read when the first shard is looked up: an inline object has none to read.
    let lookup: HolderLookup | undefined
    const holders: HolderLookup = (ref) => (lookup ??= holderLookup(this.location(versionId)))(ref)
    return { cluster: this.init.cluster, shards: this.init.shards, masterKey: this.init.masterKey, holders, ...(this.init.onShardFailure === undefined ? {} : { onShardFailure: this.init.onShardFailure }) }
  }

  /**
   * Make sure this replica knows `versionId` of `bucket` before a request
   * that names it is answered: a version written through another node a
   * moment ago may not have reached this one yet (the write quorum need not
   * include it), so it is fetched from its writer (whose tag the id ends
   * with), or from a few peers when the writer does not answer. A version
   * known here, an id that is not Cairn's (S3's `null`), or a recall that
   * finds nothing leaves the replica as it was; the request then answers
   * from it as before.
   */
  async recall (bucket: string, versionId: string, signal?: AbortSignal): Promise<void> {
    const writerTag = VERSION_ID.exec(versionId)?.[1]
    if (this.init.recall === undefined || writerTag === undefined || this.init.meta.get('version', versionId) !== undefined) return
    const keys: Array<[MetaTable, string]> = [['version', versionId], ['location', versionId]]
    if (this.init.meta.get('bucket', bucket) === undefined) keys.push(['bucket', bucket])
    await this.init.recall(keys, writerTag, signal).catch(() => { /* answered from this replica as it is */ })
  }

  /** Open bucket/key (the current version, or `versionId`) for reading. */
  open (bucket: string, key: string, versionId?: string, signal?: AbortSignal): ObjectReader {
    checkBucketName(bucket)
    checkObjectKey(key)
    const newest = versionId === undefined ? this.requireCurrent(bucket, key) : undefined
    const id = versionId ?? (newest as string)
    const record = this.init.meta.get('version', id)
    const body = record?.body as VersionBody | undefined
    if (record === undefined || record.tombstone || body === undefined || body.bucket !== bucket || body.key !== key) {
      throw new CairnError('NO_SUCH_VERSION', `version ${id} of ${bucket}/${key} does not exist`, `list versions with \`cairn versions ${bucket}/${key}\``)
    }
    if (body.deleteMarker || body.manifest === undefined) {
      throw new CairnError('NOT_FOUND', `version ${id} of ${bucket}/${key} is a delete marker`, 'pick another version from `cairn versions`')
    }
    // From the record already read (what versions() projects from it), not another query of every version.
    const current = newest === id || this.init.meta.currentVersion(bucket, key) === id
    const info: VersionInfo = { id, bucket, key, size: body.size, timeMs: body.timeMs, node: record.origin, nodeName: body.nodeName, deleteMarker: false, current, sha256: body.sha256, ...(body.nullVersion === true ? { nullVersion: true } : {}) }
    const ctx = { ...this.readContext(id), ...(this.init.onBadShard === undefined ? {} : { onBadShard: this.init.onBadShard }) }
    const manifest = body.manifest
    return { info, meta: body.meta ?? {}, body: readObjectPieces(ctx, manifest, `${bucket}/${key}`, signal), from: (offsetBytes) => readObjectPieces(ctx, manifest, `${bucket}/${key}`, signal, GET_STRIPES_AHEAD, offsetBytes) }
  }

  /**
   * Whether `node` holds shard `hash` of `versionId` by the version's current
   * placement (its location record over its manifest): true or false, or
   * undefined when this replica cannot tell (the version is unknown or not
   * live, or the shard is in an out-of-record stripe list and never moved).
   */
  listsHolder (ownerId: string, hash: string, node: string): boolean | undefined {
    // A multipart part's shards follow the version completed from it.
    const versionId = this.init.meta.partVersion(ownerId) ?? ownerId
    const record = this.init.meta.get('version', versionId)
    if (record === undefined || record.tombstone) return undefined
    const moved = this.location(versionId)
    if (moved?.shards[hash] !== undefined) return holdersOf({ hash, nodes: [] }, moved).includes(node)
    const manifest = (record.body as VersionBody).manifest
    if (manifest === undefined) return undefined
    // Two shards of one stripe can have the same bytes (the zero padding of a short last stripe), so every entry counts.
    let found = false
    for (const stripes of [manifest.stripes, manifest.stripeList?.manifest.stripes ?? []]) {
      for (const stripe of stripes) {
        for (const ref of stripe.shards) {
          if (ref.hash !== hash) continue
          if (ref.nodes.includes(node)) return true
          found = true
        }
      }
    }
    if (found) return false
    return manifest.form === 'segments' || manifest.form === 'parts' ? undefined : false
  }

  /** The nodes that hold shard `hash` of `versionId` by its current placement (empty when unknown here). */
  holdersOfHash (ownerId: string, hash: string): string[] {
    const versionId = this.init.meta.partVersion(ownerId) ?? ownerId
    const record = this.init.meta.get('version', versionId)
    if (record === undefined || record.tombstone) return []
    const moved = this.location(versionId)
    if (moved?.shards[hash] !== undefined) return holdersOf({ hash, nodes: [] }, moved)
    const manifest = (record.body as VersionBody).manifest
    const out = new Set<string>()
    for (const stripes of [manifest?.stripes ?? [], manifest?.stripeList?.manifest.stripes ?? []]) {
      for (const stripe of stripes) for (const ref of stripe.shards) if (ref.hash === hash) for (const n of ref.nodes) out.add(n)
    }
    return [...out]
  }

  /**
   * Every stripe of a live version with what repairing it needs: the stripes
   * of its out-of-record stripe list first (read from the pool when the
   * version has one), then its data stripes.
   */
  async * stripesOf (versionId: string, signal?: AbortSignal): AsyncGenerator<{ stripe: StripeManifest, index: number, list: boolean, codec: ErasureCodecName | undefined }> {
    const record = this.init.meta.get('version', versionId)
    const manifest = record === undefined || record.tombstone ? undefined : (record.body as VersionBody).manifest
    if (manifest === undefined || manifest.inline !== undefined) return
    if (manifest.form === 'parts') {
      yield * this.partStripesOf(versionId, manifest, signal)
      return
    }
    const blob = manifest.stripeList?.manifest
    if (blob !== undefined) {
      for (const [index, stripe] of blob.stripes.entries()) yield { stripe, index, list: true, codec: blob.codec }
    }
    const ctx = this.readContext(versionId)
    let index = 0
    for await (const stripe of stripesOf(manifest, (b) => readObject(ctx, b, `stripe list of ${versionId}`, signal, 1))) {
      yield { stripe, index: index++, list: false, codec: manifest.codec }
    }
  }

  /**
   * Every stripe of a multipart version: its part-list blob's, then per part
   * the part's stripe-list blob's and the part's data stripes (indexes run
   * across parts).
   */
  private async * partStripesOf (versionId: string, manifest: Manifest, signal?: AbortSignal): AsyncGenerator<{ stripe: StripeManifest, index: number, list: boolean, codec: ErasureCodecName | undefined }> {
    const ctx = this.readContext(versionId)
    const read = (b: Manifest): AsyncGenerator<Buffer> => readObject(ctx, b, `part list of ${versionId}`, signal, GET_SEGMENTS_AHEAD)
    let listIndex = 0
    let index = 0
    for (const stripe of manifest.partList?.manifest.stripes ?? []) yield { stripe, index: listIndex++, list: true, codec: manifest.partList?.manifest.codec }
    for await (const part of partsOf(manifest, read)) {
      for (const stripe of part.manifest.stripeList?.manifest.stripes ?? []) yield { stripe, index: listIndex++, list: true, codec: part.manifest.codec }
      for await (const stripe of stripesOf(part.manifest, read)) yield { stripe, index: index++, list: false, codec: part.manifest.codec }
    }
  }

  /** Where the moved shards of a version are (its live location record), if any moved. */
  location (versionId: string): LocationBody | undefined {
    const record = this.init.meta.get('location', versionId)
    return record === undefined || record.tombstone ? undefined : record.body as LocationBody
  }

  /** Current objects of `bucket` under `prefix`. */
  list (bucket: string, prefix: string, limit: number, startAfter?: string): ObjectInfo[] {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    return this.init.meta.list(bucket, prefix, limit, startAfter)
  }

  /**
   * One page of every version in `bucket` under `prefix` (keys in byte
   * order, versions newest first), after `afterKey` or after version
   * `afterVersionId` of `afterKey`.
   */
  versionPage (bucket: string, prefix: string, limit: number, afterKey?: string, afterVersionId?: string): Array<VersionInfo & { etag?: string }> {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    return this.init.meta.versionPage(bucket, prefix, limit, afterKey, afterVersionId)
  }

  /** Every version of bucket/key, newest first. */
  versions (bucket: string, key: string): VersionInfo[] {
    checkBucketName(bucket)
    checkObjectKey(key)
    this.requireBucket(bucket)
    const versions = this.init.meta.versions(bucket, key)
    if (versions.length === 0) throw new CairnError('NOT_FOUND', `object ${bucket}/${key} has no versions`, `list the bucket with \`cairn ls ${bucket}\``)
    return versions
  }

  /** Keys of `bucket` that have more than one version (retention candidates). */
  keysWithHistory (bucket: string): string[] {
    return this.init.meta.keysWithHistory(bucket)
  }

  /** Create a bucket explicitly (S3 CreateBucket); CONFLICT when it exists. */
  async createBucket (bucket: string, owner: string | undefined, signal?: AbortSignal, versioning?: BucketVersioning): Promise<void> {
    checkBucketName(bucket)
    const existing = this.init.meta.get('bucket', bucket)
    if (existing !== undefined && !existing.tombstone) throw new CairnError('CONFLICT', `bucket ${bucket} already exists`, 'use it, or pick another name')
    const body: BucketBody = { createdMs: Date.now(), ...(owner === undefined ? {} : { owner }), ...(versioning === undefined ? {} : { versioning }) }
    await this.init.committer.commit([this.record('bucket', bucket, body)], signal)
  }

  /** Delete an empty bucket (S3 DeleteBucket); CONFLICT while it holds objects. */
  async deleteBucket (bucket: string, signal?: AbortSignal): Promise<void> {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    if (this.init.meta.list(bucket, '', 1).length > 0) throw new CairnError('CONFLICT', `bucket ${bucket} is not empty`, 'delete its objects first')
    const record = this.init.meta.get('bucket', bucket) as MetaRecord
    await this.init.committer.commit([{ ...record, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: true }], signal)
  }

  /** A bucket's record body, or undefined when it does not exist. */
  bucket (bucket: string): BucketBody | undefined {
    const record = this.init.meta.get('bucket', bucket)
    return record === undefined || record.tombstone ? undefined : record.body as BucketBody
  }

  /** The stored HTTP metadata of a version, if the version exists. */
  versionMeta (versionId: string): ObjectMeta | undefined {
    const record = this.init.meta.get('version', versionId)
    return record === undefined || record.tombstone ? undefined : (record.body as VersionBody).meta ?? {}
  }

  /** Names of every bucket. */
  buckets (): string[] {
    return this.init.meta.live('bucket').map((r) => r.pk)
  }
}

function checkTags (tags: Tag[]): void {
  const problem = tagsProblem(tags)
  if (problem !== undefined) throw new CairnError('BAD_INPUT', `invalid tags: ${problem}`, 'S3 allows 10 tags per object, keys of 1-128 and values of up to 256 characters, each key once')
}
