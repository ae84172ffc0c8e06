/**
 * S3 bucket operations: CreateBucket, DeleteBucket, HeadBucket,
 * GetBucketLocation, ListObjects (v1) and ListObjectsV2 (prefix, delimiter,
 * common prefixes, max-keys, continuation tokens, start-after, marker,
 * encoding-type=url; in UTF-8 byte order, paged from the local replica),
 * DeleteObjects (also of single versions), and the versioning subresources
 * (versioning.ts). Other bucket subresources answer NotImplemented.
 */
import { CairnError } from '../../util/errors.ts'
import { checkBucketName } from '../../engine/names.ts'
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { deleteCurrent } from './objects.ts'
import { uriEncode } from './sigv4.ts'
import { getBucketVersioning, listObjectVersions, putBucketVersioning, removeVersion, versionIdHeader } from './versioning.ts'
import { checkWellFormed, elementBlocks, elementTexts, readXmlBody } from './xml.ts'
import type { XmlNode } from './xml.ts'

/** Keys one list page returns at most (S3's limit). */
export const MAX_KEYS_PER_PAGE = 1000
/** Keys read from the replica per step while folding common prefixes. */
const LIST_SCAN_BATCH = 1000
/** Objects one DeleteObjects request may name (S3's limit). */
const MAX_DELETE_OBJECTS = 1000
/** The highest code point: a key that starts with P sorts below P + this (as far as UTF-8 byte order goes). */
const AFTER_PREFIX = '\u{10FFFF}'

const NOT_IMPLEMENTED = ['acl', 'policy', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication', 'encryption', 'uploads', 'object-lock', 'requestPayment', 'accelerate', 'analytics', 'inventory', 'metrics', 'ownershipControls', 'publicAccessBlock', 'intelligent-tiering']

/** Dispatch a bucket-level request. */
export async function bucketOperation (s3: S3Request): Promise<void> {
  if (s3.method === 'POST' && s3.query.has('delete')) return await deleteObjects(s3)
  const sub = NOT_IMPLEMENTED.find((name) => s3.query.has(name))
  if (sub !== undefined) throw new S3Error('NotImplemented', `The ${sub} subresource of buckets is not implemented by Cairn`)
  if (s3.query.has('location')) return getLocation(s3)
  if (s3.query.has('versioning')) {
    if (s3.method === 'GET') return getBucketVersioning(s3)
    if (s3.method === 'PUT') return await putBucketVersioning(s3)
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }
  if (s3.query.has('versions')) {
    if (s3.method === 'GET') return listObjectVersions(s3)
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }
  switch (s3.method) {
    case 'PUT': return await createBucket(s3)
    case 'DELETE': return await deleteBucket(s3)
    case 'HEAD': return headBucket(s3)
    case 'GET': return listObjects(s3)
    default: throw new S3Error('NotImplemented', `${s3.method} on a bucket is not implemented by Cairn`)
  }
}

function requireBucket (s3: S3Request): void {
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
}

async function createBucket (s3: S3Request): Promise<void> {
  try { checkBucketName(s3.bucket) } catch { throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: s3.bucket }) }
  if (!s3.caller.admin) throw new S3Error('AccessDenied', 'Access Denied: only admin keys (cairn key create NAME --admin) may create buckets')
  const body = await readXmlBody(s3)
  if (body.trim() !== '') {
    checkWellFormed(body)
    const location = elementTexts(body, 'LocationConstraint')[0]
    if (location !== undefined && location !== '' && location !== 'us-east-1') throw new S3Error('InvalidLocationConstraint', 'The specified location constraint is not valid.')
  }
  const existing = s3.engine.bucket(s3.bucket)
  if (existing !== undefined) throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: s3.bucket })
  // S3's new buckets are unversioned until PutBucketVersioning (Cairn's own buckets keep every version).
  await s3.engine.createBucket(s3.bucket, s3.caller.accessKeyId, s3.signal, 'Unversioned')
  s3.res.writeHead(200, { location: `/${s3.bucket}`, 'content-length': 0 })
  s3.res.end()
}

async function deleteBucket (s3: S3Request): Promise<void> {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'owner')
  try {
    await s3.engine.deleteBucket(s3.bucket, s3.signal)
  } catch (err) {
    if (err instanceof CairnError && err.code === 'CONFLICT') throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: s3.bucket })
    throw err
  }
  s3.res.writeHead(204)
  s3.res.end()
}

function headBucket (s3: S3Request): void {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'read')
  s3.res.writeHead(200, { 'x-amz-bucket-region': 'us-east-1', 'content-length': 0 })
  s3.res.end()
}

function getLocation (s3: S3Request): void {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'read')
  // us-east-1 is reported as an empty LocationConstraint, as S3 does.
  sendXml(s3.res, 200, 'LocationConstraint', {})
}

/** The `max-keys` of a listing request, at most `limit` (the default when absent); InvalidArgument when it is not a whole number. */
export function maxKeysOf (s3: S3Request, limit = MAX_KEYS_PER_PAGE): number {
  const raw = s3.query.get('max-keys')
  if (raw === undefined) return limit
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: raw })
  return Math.min(n, limit)
}

/** One page of a listing: keys and common prefixes in order, and where the next page starts. */
export interface ListPage {
  contents: Array<{ key: string, size: number, version: string, timeMs: number }>
  prefixes: string[]
  truncated: boolean
  /** The last key or prefix returned (what the next page starts after). */
  last: string
}

/** Fold the current objects after `startAfter` into a page of at most `maxKeys` entries. */
export function listPage (list: (startAfter: string, limit: number) => Array<{ key: string, size: number, version: string, timeMs: number }>, prefix: string, delimiter: string, startAfter: string, maxKeys: number): ListPage {
  const page: ListPage = { contents: [], prefixes: [], truncated: false, last: '' }
  let cursor = startAfter
  // Bounded: each pass reads one batch and the cursor only moves forward.
  for (;;) {
    const batch = list(cursor, LIST_SCAN_BATCH)
    if (batch.length === 0) return page
    for (const item of batch) {
      if (item.key <= cursor) continue
      const rest = item.key.slice(prefix.length)
      const at = delimiter === '' ? -1 : rest.indexOf(delimiter)
      if (page.contents.length + page.prefixes.length >= maxKeys) { page.truncated = true; return page }
      if (at >= 0) {
        const common = prefix + rest.slice(0, at + delimiter.length)
        page.prefixes.push(common)
        page.last = common
        cursor = common + AFTER_PREFIX
        break
      }
      page.contents.push(item)
      page.last = item.key
      cursor = item.key
    }
    if (batch.length < LIST_SCAN_BATCH && batch[batch.length - 1]?.key === cursor) return page
  }
}

function listObjects (s3: S3Request): void {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'read')
  const v2 = s3.query.get('list-type') === '2'
  const prefix = s3.query.get('prefix') ?? ''
  const delimiter = s3.query.get('delimiter') ?? ''
  const encodingType = s3.query.get('encoding-type')
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' })
  const enc = (text: string): string => (encodingType === 'url' ? uriEncode(text, true) : text)
  const maxKeys = maxKeysOf(s3)
  let startAfter = ''
  const token = s3.query.get('continuation-token')
  if (v2 && token !== undefined) {
    startAfter = Buffer.from(token, 'base64url').toString('utf8')
    if (token === '' || Buffer.from(startAfter, 'utf8').toString('base64url') !== token) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' })
  } else {
    startAfter = (v2 ? s3.query.get('start-after') : s3.query.get('marker')) ?? ''
  }
  const list = (after: string, limit: number): Array<{ key: string, size: number, version: string, timeMs: number }> => s3.engine.list(s3.bucket, prefix, limit, after)
  const page = maxKeys === 0 ? { contents: [], prefixes: [], truncated: false, last: '' } : listPage(list, prefix, delimiter, startAfter, maxKeys)
  const contents: XmlNode[] = page.contents.map((o) => ({
    Key: enc(o.key),
    LastModified: new Date(o.timeMs).toISOString(),
    ETag: `"${s3.engine.versionMeta(o.version)?.etag ?? ''}"`,
    Size: o.size,
    StorageClass: 'STANDARD',
    ...(v2 && s3.query.get('fetch-owner') !== 'true' ? {} : { Owner: { ID: s3.engine.bucket(s3.bucket)?.owner ?? 'cairn', DisplayName: s3.engine.bucket(s3.bucket)?.owner ?? 'cairn' } })
  }))
  const common: XmlNode[] = page.prefixes.map((p) => ({ Prefix: enc(p) }))
  const nextCursor = page.prefixes.includes(page.last) ? page.last + AFTER_PREFIX : page.last
  const body: XmlNode = {
    Name: s3.bucket,
    Prefix: enc(prefix),
    ...(v2 ? {} : { Marker: enc(s3.query.get('marker') ?? '') }),
    MaxKeys: maxKeys,
    ...(delimiter === '' ? {} : { Delimiter: enc(delimiter) }),
    IsTruncated: page.truncated,
    ...(encodingType === undefined ? {} : { EncodingType: encodingType }),
    ...(v2
      ? {
          KeyCount: contents.length + common.length,
          ...(token === undefined ? {} : { ContinuationToken: token }),
          ...(s3.query.has('start-after') ? { StartAfter: enc(s3.query.get('start-after') ?? '') } : {}),
          ...(page.truncated ? { NextContinuationToken: Buffer.from(nextCursor, 'utf8').toString('base64url') } : {})
        }
      : (page.truncated && delimiter !== '' ? { NextMarker: enc(page.last) } : {})),
    Contents: contents,
    CommonPrefixes: common
  }
  sendXml(s3.res, 200, 'ListBucketResult', body)
}

async function deleteObjects (s3: S3Request): Promise<void> {
  requireBucket(s3)
  s3.authorize(s3.bucket, 'write')
  const xml = await readXmlBody(s3)
  checkWellFormed(xml)
  const objects = elementBlocks(xml, 'Object')
  if (elementBlocks(xml, 'Delete').length !== 1 || objects.length === 0) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
  if (objects.length > MAX_DELETE_OBJECTS) throw new S3Error('MalformedXML', `A DeleteObjects request may name at most ${MAX_DELETE_OBJECTS} objects.`)
  const quiet = elementTexts(xml, 'Quiet')[0]?.trim() === 'true'
  const deleted: XmlNode[] = []
  const errors: XmlNode[] = []
  const state = s3.engine.versioning(s3.bucket)
  for (const block of objects) {
    const key = elementTexts(block, 'Key')[0]
    if (key === undefined) throw new S3Error('MalformedXML', 'Each Object needs a Key.')
    const versionId = elementTexts(block, 'VersionId')[0]
    try {
      if (versionId !== undefined) {
        const removed = await removeVersion(s3, s3.bucket, key, versionId)
        if (!quiet) deleted.push({ Key: key, VersionId: versionId, ...(removed?.deleteMarker === true ? { DeleteMarker: true, DeleteMarkerVersionId: versionId } : {}) })
        continue
      }
      const result = await deleteCurrent(s3, key)
      if (quiet) continue
      if (result === undefined || result.removed === true) deleted.push({ Key: key })
      else deleted.push({ Key: key, DeleteMarker: true, DeleteMarkerVersionId: versionIdHeader(state, result)['x-amz-version-id'] })
    } catch (err) {
      const s3err = err instanceof S3Error ? err : undefined
      const code = s3err?.code ?? (err instanceof CairnError && (err.code === 'BAD_KEY' || err.code === 'BAD_INPUT') ? 'InvalidArgument' : 'InternalError')
      errors.push({ Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }), Code: code, Message: err instanceof Error ? err.message : String(err) })
    }
  }
  sendXml(s3.res, 200, 'DeleteResult', { Deleted: deleted, Error: errors })
}
