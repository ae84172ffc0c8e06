/**
 * Multipart uploads (S3's CreateMultipartUpload … CompleteMultipartUpload)
 * on Cairn's data path and metadata. Design (docs/S3.md, "Multipart upload"):
 *
 * - An upload is a replicated `upload` record, each uploaded part an `mpart`
 *   record (meta/types.ts), committed with the write quorum like versions, so
 *   any node can take parts of, list or complete an upload made on another.
 * - A part streams through the put path (storeObjectData) as it arrives,
 *   under its own data key and nonce base: a part number uploaded twice is
 *   two part records with two keys, never one key+nonce over other bytes.
 *   Its shards are owned by the part record's pk.
 * - Complete writes one commit: the version (manifest form `parts`, which
 *   lists the parts' own manifests, not a copy of their data; a long list
 *   goes to a blob, parts.ts), the upload's tombstone and every part
 *   record's tombstone. The version names the owner ids of its parts
 *   (Manifest.upload), which keeps their shards live for as long as the
 *   version is (meta/store.ts versionState). Shards of parts it does not
 *   name, of replaced parts and of aborted or expired uploads become
 *   orphans, and the holders' collectors delete them after the grace period.
 * - Failure: a part that fails mid-way releases its shards and commits
 *   nothing; a commit that misses its quorum is undone as a whole (the
 *   version tombstoned, the upload and parts live again).
 */
import { createHash } from 'node:crypto'
import { MAX_PART_NUMBER, checkRecordSize } from '../meta/codec.ts'
import type { Manifest, MetaRecord, ObjectMeta, PartBody, PartManifest, UploadBody, VersionBody } from '../meta/types.ts'
import { chooseCodec } from '../erasure/index.ts'
import { CairnError } from '../util/errors.ts'
import { checkBucketName, checkObjectKey } from './names.ts'
import { writePartList } from './parts.ts'
import { checkPlacementPossible, releaseShards, storeObjectData, storeStripe } from './put.ts'
import type { StoredData } from './put.ts'
import { STRIPE_SIZE_BYTES } from './stripe.ts'
import type { EngineInit } from './engine.ts'

export { MAX_PART_NUMBER }
/** Smallest part but the last that Complete accepts (S3's limit). */
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024
/** Largest part (S3's limit). */
export const MAX_PART_SIZE_BYTES = 5 * 1024 ** 3
/** Most part records read from the replica per step while listing parts. */
const PART_SCAN_BATCH = 1000
/** How long a part upload waits for its upload's record to reach this node (created through another node a moment ago). */
export const UPLOAD_VISIBLE_WAIT_MS = 5000
/** How long Complete waits for a named part that is not (yet) here before answering InvalidPart. */
export const PART_VISIBLE_WAIT_MS = 2000
/** Poll step of those waits. */
const UPLOAD_VISIBLE_POLL_MS = 50

/** What multipart needs of the engine. */
export interface MultipartInit extends Pick<EngineInit, 'cluster' | 'shards' | 'meta' | 'committer' | 'clock' | 'masterKey'> {
  /** Owner ids being written on this node (the engine's set: collectors ask about them). */
  writing: Set<string>
  newId: () => string
  versionRecords: (versionId: string, body: VersionBody) => MetaRecord[]
  afterVersion: (bucket: string, key: string, signal?: AbortSignal) => Promise<void>
  /** True when a version written now in `bucket` is its key's S3 `null` version (the bucket is not Enabled). */
  nullVersionIn: (bucket: string) => boolean
  requireBucket: (bucket: string) => void
}

/** An open upload as listed. */
export interface UploadInfo { uploadId: string, bucket: string, key: string, initiatedMs: number, initiator: string }

/** The current (newest) upload of one part number. */
export interface PartInfo { number: number, size: number, etag: string, timeMs: number, id: string }

/** One part Complete is asked to use. */
export interface RequestedPart { number: number, etag: string }

/** What Complete made. */
export interface Completed {
  versionId: string
  etag: string
  size: number
  /** The version is its key's S3 `null` version (its bucket was not Enabled). */
  nullVersion: boolean
}

/** `00042`: part numbers in pks are fixed width, so pk order is number order. */
function pad (number: number): string {
  return String(number).padStart(5, '0')
}

function noSuchUpload (uploadId: string): CairnError {
  return new CairnError('NO_SUCH_UPLOAD', `multipart upload ${uploadId} does not exist (it was completed, aborted or expired, or never created)`, 'start a new upload')
}

/** The S3 ETag of a multipart object: hex MD5 of the parts' binary MD5s, then "-" and the part count. */
export function multipartEtag (partEtags: readonly string[]): string {
  const md5 = createHash('md5')
  for (const etag of partEtags) md5.update(Buffer.from(etag, 'hex'))
  return `${md5.digest('hex')}-${partEtags.length}`
}

/**
 * The multipart uploads of one node's engine.
 *
 * @example
 * const { uploadId } = await engine.multipart.create('b', 'k', meta, keyId)
 * const { etag } = await engine.multipart.uploadPart('b', 'k', uploadId, 1, body)
 * await engine.multipart.complete('b', 'k', uploadId, [{ number: 1, etag }])
 */
export class Multipart {
  private readonly init: MultipartInit

  constructor (init: MultipartInit) {
    this.init = init
  }

  private record (table: 'upload' | 'mpart', pk: string, body: UploadBody | PartBody, tombstone = false): MetaRecord {
    return { v: 1, table, pk, hlc: this.init.clock.now(), origin: this.init.cluster.selfId, tombstone, body }
  }

  /** Start an upload of bucket/key; `meta` is what the completed object will carry. */
  async create (bucket: string, key: string, meta: ObjectMeta, initiator: string, signal?: AbortSignal): Promise<{ uploadId: string }> {
    checkBucketName(bucket)
    checkObjectKey(key)
    this.init.requireBucket(bucket)
    const uploadId = this.init.newId()
    const body: UploadBody = { bucket, key, initiatedMs: Date.now(), nodeName: this.init.cluster.selfName, initiator, meta }
    await this.init.committer.commit([this.record('upload', uploadId, body)], signal)
    return { uploadId }
  }

  /** The live upload `uploadId` of bucket/key, or NO_SUCH_UPLOAD. */
  upload (bucket: string, key: string, uploadId: string): UploadBody {
    const record = this.init.meta.get('upload', uploadId)
    const body = record?.body as UploadBody | undefined
    if (record === undefined || record.tombstone || body?.bucket !== bucket || body.key !== key) throw noSuchUpload(uploadId)
    return body
  }

  /** Like upload(), but waits a moment for a record that may still be on its way from the node that created it. */
  private async visibleUpload (bucket: string, key: string, uploadId: string, signal?: AbortSignal): Promise<UploadBody> {
    const deadline = Date.now() + UPLOAD_VISIBLE_WAIT_MS
    for (;;) {
      const record = this.init.meta.get('upload', uploadId)
      if (record !== undefined || Date.now() >= deadline) return this.upload(bucket, key, uploadId)
      signal?.throwIfAborted()
      await new Promise((resolve) => setTimeout(resolve, UPLOAD_VISIBLE_POLL_MS))
    }
  }

  /** Store part `number` of an upload from `body` (streamed into stripes as it arrives); returns its ETag. */
  async uploadPart (bucket: string, key: string, uploadId: string, number: number, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<{ etag: string, size: number }> {
    if (!Number.isInteger(number) || number < 1 || number > MAX_PART_NUMBER) throw new CairnError('BAD_INPUT', `part number ${number} is outside 1..${MAX_PART_NUMBER}`, 'number parts from 1 to 10000')
    await this.visibleUpload(bucket, key, uploadId, signal)
    checkPlacementPossible(this.init.cluster)
    const partId = `${uploadId}/${pad(number)}/${this.init.newId()}`
    const md5 = createHash('md5')
    async function * hashed (): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) { md5.update(chunk); yield chunk }
    }
    this.init.writing.add(partId)
    try {
      const data = await storeObjectData(this.init, partId, hashed(), signal, { inline: false, maxBytes: MAX_PART_SIZE_BYTES })
      const etag = md5.digest('hex')
      const part: PartBody = { uploadId, number, size: data.size, etag, timeMs: Date.now(), manifest: data.manifest }
      const record = this.record('mpart', partId, part)
      try {
        checkRecordSize(record, `part ${number} of upload ${uploadId}`)
      } catch (err) {
        await releaseShards(this.init.shards, data.written, partId)
        throw err
      }
      // An undone commit leaves the shards to the collectors (a replica may have seen the part).
      await this.init.committer.commit([record], signal)
      return { etag, size: data.size }
    } finally {
      this.init.writing.delete(partId)
    }
  }

  /**
   * The current parts of an upload (the newest record of each number) with
   * numbers above `afterNumber`, at most `limit`; `truncated` when more follow.
   */
  parts (uploadId: string, afterNumber: number, limit: number): { parts: Array<PartInfo & { manifest: Manifest }>, truncated: boolean } {
    const prefix = `${uploadId}/`
    const out: Array<PartInfo & { manifest: Manifest }> = []
    let cursor = `${prefix}${pad(afterNumber)}/\u{10FFFF}`
    // Bounded: each pass reads one batch and the cursor only moves forward.
    for (;;) {
      const batch = this.init.meta.liveWithPrefix('mpart', prefix, PART_SCAN_BATCH, cursor)
      for (const r of batch) {
        const b = r.body as PartBody
        if (b.manifest === undefined) continue
        const info = { number: b.number, size: b.size, etag: b.etag, timeMs: b.timeMs, id: r.pk, manifest: b.manifest }
        // Records of one number are adjacent, oldest first: the last one wins.
        if (out.length > 0 && (out[out.length - 1] as PartInfo).number === b.number) out[out.length - 1] = info
        else if (out.length === limit) return { parts: out, truncated: true }
        else out.push(info)
      }
      if (batch.length < PART_SCAN_BATCH) return { parts: out, truncated: false }
      cursor = (batch[batch.length - 1] as MetaRecord).pk
    }
  }

  /** Open uploads of `bucket` whose keys start with `prefix`, by key (UTF-8 byte order) then upload id. */
  uploads (bucket: string, prefix: string): UploadInfo[] {
    this.init.requireBucket(bucket)
    const out: UploadInfo[] = []
    for (const r of this.init.meta.live('upload')) {
      const b = r.body as UploadBody
      if (b.bucket === bucket && b.key.startsWith(prefix)) out.push({ uploadId: r.pk, bucket, key: b.key, initiatedMs: b.initiatedMs, initiator: b.initiator })
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || (a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0))
  }

  /** Tombstones of every part record of an upload (bodies reduced to what identifies them). */
  private partTombstones (uploadId: string): MetaRecord[] {
    const out: MetaRecord[] = []
    let cursor = ''
    for (;;) {
      const batch = this.init.meta.liveWithPrefix('mpart', `${uploadId}/`, PART_SCAN_BATCH, cursor)
      for (const r of batch) {
        const b = r.body as PartBody
        out.push(this.record('mpart', r.pk, { uploadId, number: b.number, size: b.size, etag: b.etag, timeMs: b.timeMs }, true))
      }
      if (batch.length < PART_SCAN_BATCH) return out
      cursor = (batch[batch.length - 1] as MetaRecord).pk
    }
  }

  /** Abort an upload: its records become tombstones and its parts' shards orphans (collected after the grace period). */
  async abort (bucket: string, key: string, uploadId: string, signal?: AbortSignal): Promise<void> {
    const upload = this.upload(bucket, key, uploadId)
    await this.init.committer.commit([this.record('upload', uploadId, upload, true), ...this.partTombstones(uploadId)], signal)
  }

  /** Check the requested list against the current parts (S3's rules and order of checks); returns the parts to use. */
  private chooseParts (uploadId: string, requested: readonly RequestedPart[]): Array<PartInfo & { manifest: Manifest }> {
    if (requested.length === 0) throw new CairnError('BAD_INPUT', 'Complete names no parts', 'list at least one part')
    for (let i = 1; i < requested.length; i++) {
      if ((requested[i] as RequestedPart).number <= (requested[i - 1] as RequestedPart).number) throw new CairnError('INVALID_PART_ORDER', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.', 'sort the parts by part number, each number once')
    }
    const current = new Map(this.parts(uploadId, 0, MAX_PART_NUMBER).parts.map((p) => [p.number, p]))
    const chosen = requested.map((r) => {
      const part = current.get(r.number)
      if (part === undefined || part.etag !== r.etag.replace(/^"|"$/g, '').toLowerCase()) {
        throw new CairnError('INVALID_PART', `One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag (part ${r.number}).`, 'list the parts with ListParts and use their ETags')
      }
      return part
    })
    chosen.forEach((p, i) => {
      if (i < chosen.length - 1 && p.size < MIN_PART_SIZE_BYTES) {
        throw new CairnError('ENTITY_TOO_SMALL', `Your proposed upload is smaller than the minimum allowed object size: part ${p.number} has ${p.size} bytes, every part but the last needs at least ${MIN_PART_SIZE_BYTES}.`, 'make every part but the last at least 5 MiB')
      }
    })
    return chosen
  }

  /**
   * chooseParts, waiting a moment while a part is missing or differs: a part
   * committed through another node a moment ago may still be on its way here.
   */
  private async visibleParts (uploadId: string, requested: readonly RequestedPart[], signal?: AbortSignal): Promise<Array<PartInfo & { manifest: Manifest }>> {
    const deadline = Date.now() + PART_VISIBLE_WAIT_MS
    for (;;) {
      try {
        return this.chooseParts(uploadId, requested)
      } catch (err) {
        if (!(err instanceof CairnError && err.code === 'INVALID_PART') || Date.now() >= deadline) throw err
      }
      signal?.throwIfAborted()
      await new Promise((resolve) => setTimeout(resolve, UPLOAD_VISIBLE_POLL_MS))
    }
  }

  /**
   * Complete an upload from `requested` parts: one atomic commit of the
   * version (referring to the parts' stripes), the upload's tombstone and
   * the part records' tombstones. A retried Complete of an upload this
   * replica saw completed answers the same version.
   */
  async complete (bucket: string, key: string, uploadId: string, requested: readonly RequestedPart[], signal?: AbortSignal): Promise<Completed> {
    const record = this.init.meta.get('upload', uploadId)
    const done = (record?.body as UploadBody | undefined)?.completed
    if (record?.tombstone === true && done !== undefined && this.init.meta.versionState(done.versionId) === 'live') {
      const vbody = this.init.meta.get('version', done.versionId)?.body as VersionBody
      if (vbody.bucket === bucket && vbody.key === key) return { versionId: done.versionId, etag: done.etag, size: vbody.size, nullVersion: vbody.nullVersion === true }
    }
    const upload = await this.visibleUpload(bucket, key, uploadId, signal)
    const chosen = await this.visibleParts(uploadId, requested, signal)
    const { k, m } = this.init.cluster
    const odd = chosen.find((p) => p.manifest.k !== k || p.manifest.m !== m)
    if (odd !== undefined) throw new CairnError('CONFLICT', `part ${odd.number} was stored with ${odd.manifest.k}+${odd.manifest.m} coding, the cluster uses ${k}+${m}`, 'upload the part again')
    const versionId = this.init.newId()
    // The bucket's versioning state at Complete decides whether the new version is the key's `null` version.
    const nullVersion = this.init.nullVersionIn(bucket)
    const etag = multipartEtag(chosen.map((p) => p.etag))
    const size = chosen.reduce((sum, p) => sum + p.size, 0)
    const manifest: Manifest = {
      form: 'parts', k, m, codec: chooseCodec(k, m), stripeSizeBytes: STRIPE_SIZE_BYTES, wrappedKey: '', nonceBase: '', stripes: [],
      upload: { uploadId, partKeys: chosen.map((p) => p.id.slice(uploadId.length + 1)) }
    }
    const parts: PartManifest[] = chosen.map((p) => ({ number: p.number, size: p.size, etag: p.etag, manifest: p.manifest }))
    const written: StoredData['written'] = []
    this.init.writing.add(versionId)
    try {
      const online = checkPlacementPossible(this.init.cluster)
      const tally = { unplaced: 0 }
      let records: MetaRecord[]
      try {
        await writePartList(manifest, parts, this.init.masterKey, async (keys, i, plain) => await storeStripe(this.init, online, keys.dataKey, keys.nonceBase, versionId, i, plain, written, tally, signal))
        const vbody: VersionBody = { bucket, key, size, timeMs: Date.now(), nodeName: this.init.cluster.selfName, deleteMarker: false, sha256: '', manifest, meta: { ...upload.meta, etag }, ...(nullVersion ? { nullVersion: true } : {}) }
        // The version goes first: a peer that gets the commit in several messages never sees the parts end before the version exists.
        records = [...this.init.versionRecords(versionId, vbody), this.record('upload', uploadId, { ...upload, completed: { versionId, etag } }, true), ...this.partTombstones(uploadId)]
      } catch (err) {
        await releaseShards(this.init.shards, written, versionId)
        throw err
      }
      await this.init.committer.commit(records, signal)
    } finally {
      this.init.writing.delete(versionId)
    }
    await this.init.afterVersion(bucket, key, signal)
    return { versionId, etag, size, nullVersion }
  }

  /** Abort every open upload initiated more than `expiryMs` ago for which `mine(uploadId)` holds; returns how many. */
  async expire (expiryMs: number, mine: (uploadId: string) => boolean, signal?: AbortSignal): Promise<number> {
    const now = Date.now()
    let count = 0
    for (const r of this.init.meta.live('upload')) {
      const b = r.body as UploadBody
      if (now - b.initiatedMs < expiryMs || !mine(r.pk)) continue
      signal?.throwIfAborted()
      await this.abort(b.bucket, b.key, r.pk, signal)
      count++
    }
    return count
  }
}
