/**
 * The engine: put / get / list / delete / versions, composing the data path
 * (put.ts, get.ts), the metadata replica and the commit path. It knows
 * nothing of HTTP or libp2p; the gateway calls it, the daemon wires it.
 */
import { createHash } from 'node:crypto'
import { checkRecordSize } from '../meta/codec.ts'
import type { MetaStore } from '../meta/store.ts'
import type { BucketBody, Manifest, MetaRecord, ObjectInfo, RetentionPolicy, VersionBody, VersionInfo } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import type { HybridClock } from '../util/hlc.ts'
import { readObject, shardRefsOf } from './get.ts'
import { expiredVersions } from './retention.ts'
import { checkBucketName, checkObjectKey } from './names.ts'
import { checkPlacementPossible, deleteShards, storeObjectData, versionBody } from './put.ts'
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
}

/** A readable object version. */
export interface ObjectReader {
  info: VersionInfo
  body: AsyncGenerator<Buffer>
}

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

  constructor (init: EngineInit) {
    this.init = init
  }

  private newVersionId (): string {
    return `${this.init.clock.now()}-${nodeTag(this.init.cluster.selfId)}`
  }

  /** Fail before reading any data when a put cannot be placed. */
  checkWritable (bucket: string, key: string): void {
    checkBucketName(bucket)
    checkObjectKey(key)
    checkPlacementPossible(this.init.cluster)
  }

  /** Store a new version of bucket/key from `body`. */
  async put (bucket: string, key: string, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<VersionInfo> {
    this.checkWritable(bucket, key)
    const versionId = this.newVersionId()
    const data = await storeObjectData({ cluster: this.init.cluster, shards: this.init.shards, masterKey: this.init.masterKey }, versionId, body, signal)
    const vbody = versionBody(bucket, key, this.init.cluster.selfName, data)
    try {
      await this.commitVersion(versionId, vbody, signal)
    } catch (err) {
      await deleteShards(this.init.shards, data.written)
      throw err
    }
    await this.applyRetention(bucket, key, signal).catch(() => { /* the periodic sweep retries */ })
    return this.info(versionId, vbody)
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
    const records: MetaRecord[] = []
    for (const id of expired) {
      const record = this.init.meta.get('version', id)
      if (record === undefined || record.tombstone) continue
      records.push({ ...record, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: true })
    }
    if (records.length > 0) await this.init.committer.commit(records, signal)
    return records.length
  }

  /** Write a delete marker for bucket/key; its versions stay listed. */
  async delete (bucket: string, key: string, signal?: AbortSignal): Promise<VersionInfo> {
    checkBucketName(bucket)
    checkObjectKey(key)
    this.requireCurrent(bucket, key)
    const versionId = this.newVersionId()
    const vbody: VersionBody = { bucket, key, size: 0, timeMs: Date.now(), nodeName: this.init.cluster.selfName, deleteMarker: true, sha256: '' }
    await this.commitVersion(versionId, vbody, signal)
    await this.applyRetention(bucket, key, signal).catch(() => { /* the periodic sweep retries */ })
    return this.info(versionId, vbody)
  }

  private async commitVersion (versionId: string, vbody: VersionBody, signal?: AbortSignal): Promise<void> {
    const records: MetaRecord[] = []
    if (this.init.meta.get('bucket', vbody.bucket) === undefined || this.init.meta.get('bucket', vbody.bucket)?.tombstone === true) {
      const bucket: BucketBody = { createdMs: Date.now() }
      records.push(this.record('bucket', vbody.bucket, bucket))
    }
    const version: MetaRecord = { v: 1, table: 'version', pk: versionId, hlc: versionId.slice(0, 17), origin: this.init.cluster.selfId, tombstone: false, body: vbody }
    checkRecordSize(version, `${vbody.bucket}/${vbody.key}`)
    records.push(version)
    await this.init.committer.commit(records, signal)
  }

  private record (table: 'bucket', pk: string, body: BucketBody): MetaRecord {
    return { v: 1, table, pk, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone: false, body }
  }

  private info (versionId: string, body: VersionBody): VersionInfo {
    return { id: versionId, bucket: body.bucket, key: body.key, size: body.size, timeMs: body.timeMs, node: this.init.cluster.selfId, nodeName: body.nodeName, deleteMarker: body.deleteMarker, current: this.init.meta.currentVersion(body.bucket, body.key) === versionId, sha256: body.sha256 }
  }

  private requireBucket (bucket: string): void {
    const record = this.init.meta.get('bucket', bucket)
    if (record === undefined || record.tombstone) throw new CairnError('NO_SUCH_BUCKET', `bucket ${bucket} does not exist`, 'buckets are created by the first put into them; check the name with `cairn ls`')
  }

  private requireCurrent (bucket: string, key: string): string {
    this.requireBucket(bucket)
    const current = this.init.meta.currentVersion(bucket, key)
    const versions = this.init.meta.versions(bucket, key)
    if (current === undefined || versions[0]?.deleteMarker === true) {
      throw new CairnError('NOT_FOUND', `object ${bucket}/${key} does not exist`, `list the bucket with \`cairn ls ${bucket}\``)
    }
    return current
  }

  /** Open bucket/key (the current version, or `versionId`) for reading. */
  open (bucket: string, key: string, versionId?: string, signal?: AbortSignal): ObjectReader {
    checkBucketName(bucket)
    checkObjectKey(key)
    const id = versionId ?? this.requireCurrent(bucket, key)
    const record = this.init.meta.get('version', id)
    const body = record?.body as VersionBody | undefined
    if (record === undefined || record.tombstone || body === undefined || body.bucket !== bucket || body.key !== key) {
      throw new CairnError('NO_SUCH_VERSION', `version ${id} of ${bucket}/${key} does not exist`, `list versions with \`cairn versions ${bucket}/${key}\``)
    }
    if (body.deleteMarker || body.manifest === undefined) {
      throw new CairnError('NOT_FOUND', `version ${id} of ${bucket}/${key} is a delete marker`, 'pick another version from `cairn versions`')
    }
    const info = this.init.meta.versions(bucket, key).find((v) => v.id === id) as VersionInfo
    const ctx = { cluster: this.init.cluster, shards: this.init.shards, masterKey: this.init.masterKey, ...(this.init.onBadShard === undefined ? {} : { onBadShard: this.init.onBadShard }) }
    return { info, body: readObject(ctx, body.manifest, `${bucket}/${key}`, signal) }
  }

  /** Hashes of the shards of `manifest` (data, then any stripe-list blob) that `nodeId` holds. */
  async * shardsHeldBy (manifest: Manifest, nodeId: string, signal?: AbortSignal): AsyncGenerator<string> {
    const ctx = { cluster: this.init.cluster, shards: this.init.shards, masterKey: this.init.masterKey }
    for await (const ref of shardRefsOf(ctx, manifest, 'a removed version', signal)) if (ref.nodes.includes(nodeId)) yield ref.hash
  }

  /** Current objects of `bucket` under `prefix`. */
  list (bucket: string, prefix: string, limit: number, startAfter?: string): ObjectInfo[] {
    checkBucketName(bucket)
    this.requireBucket(bucket)
    return this.init.meta.list(bucket, prefix, limit, startAfter)
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

  /** Names of every bucket. */
  buckets (): string[] {
    return this.init.meta.live('bucket').map((r) => r.pk)
  }
}
