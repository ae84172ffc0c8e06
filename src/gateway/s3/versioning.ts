/**
 * S3 versioning over Cairn's versions: GetBucketVersioning,
 * PutBucketVersioning, ListObjectVersions, and the helpers the object
 * operations share (which version a `versionId` names, the
 * x-amz-version-id of a version, deleting one version).
 *
 * Version ids are Cairn's own (`cairn versions` shows the same ones),
 * except S3's `null` version (VersionBody.nullVersion: written while the
 * bucket was Unversioned or Suspended), which S3 clients see and address
 * as `null`; its Cairn id is accepted too. See docs/S3.md.
 */
import { CairnError } from '../../util/errors.ts'
import type { BucketVersioning, VersionInfo } from '../../meta/types.ts'
import { maxKeysOf } from './buckets.ts'
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { uriEncode } from './sigv4.ts'
import { checkWellFormed, elementBlocks, elementTexts, readXmlBody, XML_SEQUENCE } from './xml.ts'
import type { XmlNode } from './xml.ts'

/** Entries one ListObjectVersions page returns at most (S3's limit). */
export const MAX_VERSIONS_PER_PAGE = 1000
/** Versions read from the replica per step while folding a page. */
const VERSION_SCAN_BATCH = 1000
/** Replica reads one page may take: each adds an entry or moves past a batch or a common prefix. */
const MAX_SCAN_STEPS = 100_000
/** The highest code point: every key that starts with P sorts below P + this. */
const AFTER_PREFIX = '\u{10FFFF}'

/** The version id S3 clients see for `v`: `null` for the null version, else Cairn's id. */
export function s3VersionId (v: Pick<VersionInfo, 'id' | 'nullVersion'>): string {
  return v.nullVersion === true ? 'null' : v.id
}

/** The x-amz-version-id header for `v` (none for the null version of a bucket that was never versioned). */
export function versionIdHeader (state: BucketVersioning, v: Pick<VersionInfo, 'id' | 'nullVersion'>): Record<string, string> {
  return v.nullVersion === true && state === 'Unversioned' ? {} : { 'x-amz-version-id': s3VersionId(v) }
}

/** Every version of bucket/key, newest first ([] when it has none). */
export function versionsOf (s3: S3Request, bucket: string, key: string): VersionInfo[] {
  try {
    return s3.engine.versions(bucket, key)
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NOT_FOUND') return []
    throw err
  }
}

/** The version `asked` (an S3 version id) names, or undefined when there is none. */
export function lookupVersion (s3: S3Request, bucket: string, key: string, asked: string): VersionInfo | undefined {
  if (asked === '') throw new S3Error('InvalidArgument', 'Version id cannot be the empty string', { ArgumentName: 'versionId', ArgumentValue: '' })
  const versions = versionsOf(s3, bucket, key)
  return asked === 'null' ? versions.find((v) => v.nullVersion === true) : versions.find((v) => v.id === asked)
}

/**
 * The version a GET/HEAD (or tagging call) acts on: `asked`, or the current
 * one. A current delete marker is NoSuchKey and an asked-for delete marker
 * MethodNotAllowed, both with x-amz-delete-marker, as S3 answers.
 */
export function readableVersion (s3: S3Request, bucket: string, key: string, asked: string | undefined): VersionInfo {
  const state = s3.engine.versioning(bucket)
  if (asked !== undefined) {
    const v = lookupVersion(s3, bucket, key, asked)
    if (v === undefined) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: asked })
    if (v.deleteMarker) {
      throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: s3.method, ResourceType: 'DeleteMarker' },
        { 'x-amz-delete-marker': 'true', allow: 'DELETE', 'last-modified': new Date(v.timeMs).toUTCString(), ...versionIdHeader(state, v) })
    }
    return v
  }
  const latest = versionsOf(s3, bucket, key)[0]
  if (latest === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key })
  if (latest.deleteMarker) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key }, { 'x-amz-delete-marker': 'true', ...versionIdHeader(state, latest) })
  return latest
}

/**
 * Remove the version `asked` names for good (DeleteObject with a
 * versionId). Returns what was removed; undefined when there was no such
 * version, which S3 answers with success too.
 */
export async function removeVersion (s3: S3Request, bucket: string, key: string, asked: string): Promise<VersionInfo | undefined> {
  // Erasing history is more than writing: a write grant adds versions, an owner grant removes them.
  s3.authorize(bucket, 'owner')
  const v = lookupVersion(s3, bucket, key, asked)
  if (v === undefined) return undefined
  try {
    return await s3.engine.deleteVersion(bucket, key, v.id, s3.signal)
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NO_SUCH_VERSION') return undefined
    throw err
  }
}

function requireBucket (s3: S3Request): void {
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
}

/** GetBucketVersioning: Status Enabled or Suspended; an empty configuration for a bucket never versioned. */
export function getBucketVersioning (s3: S3Request): void {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'read')
  const state = s3.engine.versioning(s3.bucket)
  sendXml(s3.res, 200, 'VersioningConfiguration', state === 'Unversioned' ? {} : { Status: state })
}

/** PutBucketVersioning: Enabled or Suspended (never back to unversioned). */
export async function putBucketVersioning (s3: S3Request): Promise<void> {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'owner')
  const xml = await readXmlBody(s3)
  checkWellFormed(xml)
  const malformed = (): never => { throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.') }
  if (elementBlocks(xml, 'VersioningConfiguration').length !== 1) malformed()
  const status = elementTexts(xml, 'Status')
  if (status.length !== 1 || (status[0] !== 'Enabled' && status[0] !== 'Suspended')) malformed()
  const mfa = elementTexts(xml, 'MfaDelete')[0]
  if (mfa !== undefined && mfa !== 'Disabled') {
    if (mfa !== 'Enabled') malformed()
    throw new S3Error('NotImplemented', 'MFA delete is not implemented by Cairn')
  }
  await s3.engine.setVersioning(s3.bucket, status[0] as 'Enabled' | 'Suspended', s3.signal)
  s3.res.writeHead(200, { 'content-length': 0 })
  s3.res.end()
}

type Entry = { version: VersionInfo & { etag?: string } } | { prefix: string }

/** One page: versions and common prefixes in S3's order, and whether more follow. */
export function versionsPage (
  page: (afterKey: string, afterVersionId: string | undefined, limit: number) => Array<VersionInfo & { etag?: string }>,
  prefix: string, delimiter: string, keyMarker: string, versionMarker: string | undefined, maxKeys: number
): { entries: Entry[], truncated: boolean } {
  const entries: Entry[] = []
  let afterKey = keyMarker
  let afterVersion = versionMarker
  // A common prefix equal to the key marker was the last entry of the previous page.
  let lastPrefix = versionMarker === undefined ? keyMarker : ''
  for (let step = 0; step < MAX_SCAN_STEPS; step++) {
    const batch = page(afterKey, afterVersion, VERSION_SCAN_BATCH)
    if (batch.length === 0) return { entries, truncated: false }
    let jumped = false
    for (const v of batch) {
      const at = delimiter === '' ? -1 : v.key.indexOf(delimiter, prefix.length)
      if (at >= 0) {
        const common = v.key.slice(0, at + delimiter.length)
        if (common !== lastPrefix) {
          if (entries.length >= maxKeys) return { entries, truncated: true }
          entries.push({ prefix: common })
          lastPrefix = common
        }
        afterKey = common + AFTER_PREFIX
        afterVersion = undefined
        jumped = true
        break
      }
      if (entries.length >= maxKeys) return { entries, truncated: true }
      entries.push({ version: v })
      afterKey = v.key
      afterVersion = v.id
    }
    if (!jumped && batch.length < VERSION_SCAN_BATCH) return { entries, truncated: false }
  }
  throw new S3Error('InternalError', `ListObjectVersions gave up after ${MAX_SCAN_STEPS} reads of the replica`)
}

/** ListObjectVersions: prefix, delimiter, key-marker, version-id-marker, max-keys, encoding-type=url. */
export function listObjectVersions (s3: S3Request): void {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'read')
  const prefix = s3.query.get('prefix') ?? ''
  const delimiter = s3.query.get('delimiter') ?? ''
  const encodingType = s3.query.get('encoding-type')
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' })
  const enc = (text: string): string => (encodingType === 'url' ? uriEncode(text, true) : text)
  const maxKeys = maxKeysOf(s3, MAX_VERSIONS_PER_PAGE)
  const keyMarker = s3.query.get('key-marker') ?? ''
  const versionIdMarker = s3.query.get('version-id-marker')
  if (versionIdMarker !== undefined && keyMarker === '') throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { ArgumentName: 'version-id-marker' })
  // `null` continues after the key's null version (after the whole key when it has none any more).
  const versionMarker = versionIdMarker === 'null' ? lookupVersion(s3, s3.bucket, keyMarker, 'null')?.id : versionIdMarker
  const { entries, truncated } = maxKeys === 0
    ? { entries: [], truncated: false }
    : versionsPage((after, afterVersion, limit) => s3.engine.versionPage(s3.bucket, prefix, limit, after, afterVersion), prefix, delimiter, keyMarker, versionMarker, maxKeys)
  const owner = s3.engine.bucket(s3.bucket)?.owner ?? 'cairn'
  const seq: XmlNode[] = []
  const prefixes: XmlNode[] = []
  for (const e of entries) {
    if ('prefix' in e) { prefixes.push({ Prefix: enc(e.prefix) }); continue }
    const v = e.version
    const common = { Key: enc(v.key), VersionId: s3VersionId(v), IsLatest: v.current, LastModified: new Date(v.timeMs).toISOString() }
    seq.push(v.deleteMarker
      ? { DeleteMarker: { ...common, Owner: { ID: owner, DisplayName: owner } } }
      : { Version: { ...common, ETag: `"${v.etag ?? v.sha256.slice(0, 32)}"`, Size: v.size, StorageClass: 'STANDARD', Owner: { ID: owner, DisplayName: owner } } })
  }
  const last = entries[entries.length - 1]
  const next = !truncated || last === undefined ? {} : 'prefix' in last ? { NextKeyMarker: enc(last.prefix) } : { NextKeyMarker: enc(last.version.key), NextVersionIdMarker: s3VersionId(last.version) }
  sendXml(s3.res, 200, 'ListVersionsResult', {
    Name: s3.bucket,
    Prefix: enc(prefix),
    KeyMarker: enc(keyMarker),
    VersionIdMarker: versionIdMarker ?? '',
    ...next,
    MaxKeys: maxKeys,
    ...(delimiter === '' ? {} : { Delimiter: enc(delimiter) }),
    IsTruncated: truncated,
    ...(encodingType === undefined ? {} : { EncodingType: encodingType }),
    [XML_SEQUENCE]: seq,
    CommonPrefixes: prefixes
  })
}
