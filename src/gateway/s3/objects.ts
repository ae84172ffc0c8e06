/**
 * S3 object operations: PutObject, CopyObject, GetObject (Range and
 * conditional headers), HeadObject, DeleteObject, each also on one version
 * (`versionId`, versioning.ts), and the tagging subresource (tagging.ts).
 * Metadata (content headers, x-amz-meta-*, the ETag, a verified
 * x-amz-checksum-*) is stored with the Cairn version; the ETag of a
 * single-part put is the hex MD5 of the body, as S3 computes it.
 */
import { createHash } from 'node:crypto'
import type { ObjectReader } from '../../engine/engine.ts'
import type { ObjectMeta, Tag, VersionInfo } from '../../meta/types.ts'
import { CairnError } from '../../util/errors.ts'
import { checksumHeaders, declaredChecksum, newChecksum } from './checksums.ts'
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { verifiedBody } from './sigv4.ts'
import { objectTagging, parseTaggingHeader } from './tagging.ts'
import { lookupVersion, readableVersion, removeVersion, s3VersionId, versionIdHeader } from './versioning.ts'

/** S3's limit on user metadata (names and values of x-amz-meta-*). */
export const MAX_USER_METADATA_BYTES = 2048
/** Largest single PutObject (S3's limit: 5 GiB). */
export const MAX_PUT_OBJECT_BYTES = 5 * 1024 ** 3

const NOT_IMPLEMENTED_SUBRESOURCES = ['acl', 'uploads', 'uploadId', 'partNumber', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes']

/** Dispatch an object-level request. */
export async function objectOperation (s3: S3Request): Promise<void> {
  const sub = NOT_IMPLEMENTED_SUBRESOURCES.find((name) => s3.query.has(name))
  if (sub !== undefined) throw new S3Error('NotImplemented', `The ${sub} subresource of objects is not implemented by Cairn`)
  // A version written through another node a moment ago is fetched before any answer that names it.
  const asked = s3.query.get('versionId')
  if (asked !== undefined) await s3.engine.recall(s3.bucket, asked, s3.signal)
  if (s3.query.has('tagging')) return await objectTagging(s3)
  switch (s3.method) {
    case 'PUT': return s3.req.headers['x-amz-copy-source'] === undefined ? await putObject(s3) : await copyObject(s3)
    case 'GET': return await getObject(s3, false)
    case 'HEAD': return await getObject(s3, true)
    case 'DELETE': return await deleteObject(s3)
    default: throw new S3Error('NotImplemented', `${s3.method} on an object is not implemented by Cairn`)
  }
}

/** A request header as one string (repeated headers joined by commas). */
export function header (s3: S3Request, name: string): string | undefined {
  const v = s3.req.headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

/** The metadata a put stores, from its headers. */
export function metaFromHeaders (headers: Record<string, string | string[] | undefined>): ObjectMeta {
  const get = (name: string): string | undefined => { const v = headers[name]; return Array.isArray(v) ? v.join(',') : v }
  const user: Record<string, string> = {}
  let userBytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue
    const text = Array.isArray(value) ? value.join(',') : value
    user[name.slice('x-amz-meta-'.length)] = text
    userBytes += Buffer.byteLength(name.slice('x-amz-meta-'.length)) + Buffer.byteLength(text)
  }
  if (userBytes > MAX_USER_METADATA_BYTES) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_USER_METADATA_BYTES} bytes).`)
  const encoding = (get('content-encoding') ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '' && e !== 'aws-chunked').join(', ')
  const meta: ObjectMeta = { contentType: get('content-type') ?? 'binary/octet-stream' }
  if (encoding !== '') meta.contentEncoding = encoding
  const copy: Array<[keyof ObjectMeta, string]> = [['contentDisposition', 'content-disposition'], ['contentLanguage', 'content-language'], ['cacheControl', 'cache-control'], ['expires', 'expires']]
  for (const [field, name] of copy) { const v = get(name); if (v !== undefined) (meta as Record<string, unknown>)[field] = v }
  if (Object.keys(user).length > 0) meta.user = user
  return meta
}

/** The digests of one upload: fed the body, checked at its end, and the checksum the version keeps. */
export interface UploadChecks {
  update: (b: Buffer) => void
  check: () => void
  /** Called by verifiedBody with the verified trailer. */
  onTrailer: (trailers: Record<string, string>) => void
  stored: () => ObjectMeta['checksum']
}

/**
 * The digests a put (or an uploaded part) declares, verified once the body
 * is read: Content-MD5, and the one x-amz-checksum-* of a header (one
 * announced by x-amz-trailer is verified by verifiedBody as it arrives; its
 * value is kept here).
 */
export function declaredChecks (s3: S3Request): UploadChecks {
  const parts: Array<{ update: (b: Buffer) => void, check: () => void }> = []
  const md5 = header(s3, 'content-md5')
  if (md5 !== undefined) {
    if (Buffer.from(md5, 'base64').length !== 16) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.')
    const h = createHash('md5')
    parts.push({ update: (b) => { h.update(b) }, check: () => { if (h.digest('base64') !== md5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.') } })
  }
  const declared = declaredChecksum(s3.req.headers)
  let value = declared?.value
  if (declared !== undefined && value !== undefined) {
    const sent = value
    const sum = newChecksum(declared.algorithm)
    parts.push({ update: (b) => { sum.update(b) }, check: () => { if (sum.value() !== sent) throw new S3Error('BadDigest', `The ${declared.algorithm.toUpperCase()} you specified did not match the calculated checksum.`) } })
  }
  return {
    update: (b) => { for (const p of parts) p.update(b) },
    check: () => { for (const p of parts) p.check() },
    onTrailer: (trailers) => { if (declared !== undefined && value === undefined) value = trailers[`x-amz-checksum-${declared.algorithm}`] },
    stored: () => (declared === undefined || value === undefined ? undefined : { algorithm: declared.algorithm, value })
  }
}

async function putObject (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const length = header(s3, 'content-length')
  const chunked = header(s3, 'transfer-encoding') !== undefined
  if (length === undefined && !chunked) throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.')
  const decoded = header(s3, 'x-amz-decoded-content-length')
  const size = Number(decoded ?? length ?? 0)
  if (size > MAX_PUT_OBJECT_BYTES) throw new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.')
  const conditions = header(s3, 'if-none-match')
  if (conditions === '*' && s3.engine.bucket(s3.bucket) !== undefined && currentVersion(s3) !== undefined) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold')
  const meta = metaFromHeaders(s3.req.headers)
  const tags = parseTaggingHeader(header(s3, 'x-amz-tagging') ?? '')
  const checks = declaredChecks(s3)
  const md5 = createHash('md5')
  const trailer = header(s3, 'x-amz-trailer')
  const body = verifiedBody(s3.req, { sig: s3.sig, key: s3.signingKey, onTrailer: checks.onTrailer, ...(trailer === undefined ? {} : { trailer: trailer.toLowerCase() }), ...(decoded === undefined ? {} : { decodedLength: Number(decoded) }) })
  async function * counted (): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      md5.update(chunk)
      checks.update(chunk)
      yield chunk
    }
    checks.check()
  }
  const etag = { value: '' }
  const info = await s3.engine.put(s3.bucket, s3.key, counted(), s3.signal, {
    requireBucket: true,
    ...(length === undefined && decoded === undefined ? {} : { sizeHint: size }),
    ...(tags.length === 0 ? {} : { tags }),
    meta: () => {
      etag.value = md5.digest('hex')
      const checksum = checks.stored()
      return { ...meta, etag: etag.value, ...(checksum === undefined ? {} : { checksum }) }
    }
  })
  s3.res.writeHead(200, { etag: `"${etag.value}"`, ...checksumHeaders(checks.stored()), ...versionIdHeader(s3.engine.versioning(s3.bucket), info), 'content-length': 0 })
  s3.res.end()
}

function currentVersion (s3: S3Request): string | undefined {
  try {
    return s3.engine.versions(s3.bucket, s3.key).find((v) => v.current && !v.deleteMarker)?.id
  } catch {
    return undefined
  }
}

function httpDate (ms: number): string {
  return new Date(ms).toUTCString()
}

function etagMatches (list: string, etag: string): boolean {
  return list.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, '')).some((t) => t === '*' || t === etag)
}

/** Evaluate If-Match / If-Unmodified-Since (412) and If-None-Match / If-Modified-Since (304) as RFC 7232 orders them. */
export function checkConditions (headers: { ifMatch?: string, ifNoneMatch?: string, ifModifiedSince?: string, ifUnmodifiedSince?: string }, etag: string, modifiedMs: number, safe: boolean): void {
  const modifiedSec = Math.floor(modifiedMs / 1000) * 1000
  if (headers.ifMatch !== undefined) {
    if (!etagMatches(headers.ifMatch, etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' })
  } else if (headers.ifUnmodifiedSince !== undefined) {
    const t = Date.parse(headers.ifUnmodifiedSince)
    if (!Number.isNaN(t) && modifiedSec > t) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Unmodified-Since' })
  }
  if (headers.ifNoneMatch !== undefined) {
    if (etagMatches(headers.ifNoneMatch, etag)) {
      if (safe) throw new S3Error('NotModified', 'Not Modified')
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' })
    }
  } else if (headers.ifModifiedSince !== undefined && safe) {
    const t = Date.parse(headers.ifModifiedSince)
    if (!Number.isNaN(t) && modifiedSec <= t) throw new S3Error('NotModified', 'Not Modified')
  }
}

/** The byte range a Range header asks of an object of `size` bytes; undefined for the whole object. */
export function parseRange (value: string | undefined, size: number): { start: number, end: number } | undefined {
  if (value === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return undefined // S3 ignores ranges it cannot parse (and multiple ranges).
  const unsatisfiable = (): never => { throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: value, ActualObjectSize: String(size) }) }
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) unsatisfiable()
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size) unsatisfiable()
  if (end < start) return undefined
  return { start, end }
}

function objectHeaders (s3: S3Request, reader: ObjectReader): Record<string, string | number> {
  const { meta, info } = reader
  const headers: Record<string, string | number> = {
    'content-type': meta.contentType ?? 'binary/octet-stream',
    etag: `"${meta.etag ?? info.sha256.slice(0, 32)}"`,
    'last-modified': httpDate(info.timeMs),
    'accept-ranges': 'bytes',
    ...versionIdHeader(s3.engine.versioning(info.bucket), info)
  }
  if (meta.contentEncoding !== undefined) headers['content-encoding'] = meta.contentEncoding
  if (meta.contentDisposition !== undefined) headers['content-disposition'] = meta.contentDisposition
  if (meta.contentLanguage !== undefined) headers['content-language'] = meta.contentLanguage
  if (meta.cacheControl !== undefined) headers['cache-control'] = meta.cacheControl
  if (meta.expires !== undefined) headers.expires = meta.expires
  for (const [k, v] of Object.entries(meta.user ?? {})) headers[`x-amz-meta-${k}`] = v
  const tagCount = s3.engine.tags(info.id).length
  if (tagCount > 0) headers['x-amz-tagging-count'] = tagCount
  return headers
}

/** Open the version `asked` names (or the current one) of bucket/key; S3's errors for missing keys, versions and delete markers. */
export function openObject (s3: S3Request, bucket: string, key: string, asked: string | undefined): ObjectReader {
  if (s3.engine.bucket(bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket })
  const version = readableVersion(s3, bucket, key, asked)
  try {
    return s3.engine.open(bucket, key, version.id, s3.signal)
  } catch (err) {
    // Removed between the lookup and the open (retention, a concurrent delete).
    if (err instanceof CairnError && err.code === 'NO_SUCH_VERSION' && asked !== undefined) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: asked })
    if (err instanceof CairnError && (err.code === 'NOT_FOUND' || err.code === 'NO_SUCH_VERSION')) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key })
    throw err
  }
}

async function getObject (s3: S3Request, head: boolean): Promise<void> {
  s3.authorize(s3.bucket, 'read')
  const reader = openObject(s3, s3.bucket, s3.key, s3.query.get('versionId'))
  try {
    const etag = reader.meta.etag ?? reader.info.sha256.slice(0, 32)
    const h = (name: string): string | undefined => header(s3, name)
    checkConditions({ ifMatch: h('if-match'), ifNoneMatch: h('if-none-match'), ifModifiedSince: h('if-modified-since'), ifUnmodifiedSince: h('if-unmodified-since') } as Parameters<typeof checkConditions>[0], etag, reader.info.timeMs, true)
    const size = reader.info.size
    const range = parseRange(h('range'), size)
    const headers = objectHeaders(s3, reader)
    // A stored checksum covers the whole object, so a range does not get it (as on S3).
    if (range === undefined && h('x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') Object.assign(headers, checksumHeaders(reader.meta.checksum))
    const status = range === undefined ? 200 : 206
    headers['content-length'] = range === undefined ? size : range.end - range.start + 1
    if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`
    if (head) {
      s3.res.writeHead(status, headers)
      s3.res.end()
      return
    }
    await streamRange(s3, reader, headers, status, range ?? { start: 0, end: size - 1 })
  } finally {
    if (head) await reader.body.return(undefined)
  }
}

/**
 * Write `chunk`, waiting for 'drain' when the response is saturated; false
 * once the client has gone away (a closed response never drains, and the
 * listeners of each wait are removed, not left to pile up on a large GET).
 */
async function written (res: S3Request['res'], chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return false
  if (res.write(chunk)) return true
  await new Promise<void>((resolve) => {
    const done = (): void => { res.off('drain', done); res.off('close', done); resolve() }
    res.once('drain', done)
    res.once('close', done)
  })
  return !res.destroyed
}

async function streamRange (s3: S3Request, reader: ObjectReader, headers: Record<string, string | number>, status: number, range: { start: number, end: number }): Promise<void> {
  // Stripes (and parts) before the range are not fetched.
  let offset = range.start
  let started = false
  for await (const chunk of reader.from(range.start)) {
    const from = Math.max(range.start - offset, 0)
    const to = Math.min(range.end + 1 - offset, chunk.length)
    offset += chunk.length
    if (!started) { s3.res.writeHead(status, headers); started = true }
    if (to > from && !await written(s3.res, chunk.subarray(from, to))) break // the client went away
    if (offset > range.end) break
  }
  if (!started) s3.res.writeHead(status, headers)
  s3.res.end()
}

async function deleteObject (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
  const asked = s3.query.get('versionId')
  if (asked !== undefined) {
    const removed = await removeVersion(s3, s3.bucket, s3.key, asked)
    s3.res.writeHead(204, { 'x-amz-version-id': asked, ...(removed?.deleteMarker === true ? { 'x-amz-delete-marker': 'true' } : {}) })
    s3.res.end()
    return
  }
  const result = await deleteCurrent(s3, s3.key)
  s3.res.writeHead(204, result === undefined || result.removed === true ? {} : { 'x-amz-delete-marker': 'true', ...versionIdHeader(s3.engine.versioning(s3.bucket), result) })
  s3.res.end()
}

/**
 * Delete bucket/key without a version id: a delete marker (Enabled,
 * Suspended) or the removal of its null version (Unversioned); undefined
 * when the key does not exist, which S3 answers with success.
 */
export async function deleteCurrent (s3: S3Request, key: string): Promise<VersionInfo | undefined> {
  try {
    return await s3.engine.delete(s3.bucket, key, s3.signal)
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NOT_FOUND') return undefined
    throw err
  }
}

/** Tags a copy gets: the source's (x-amz-tagging-directive COPY, the default) or those of x-amz-tagging (REPLACE). */
function copyTags (s3: S3Request, sourceVersionId: string): Tag[] {
  const directive = header(s3, 'x-amz-tagging-directive') ?? 'COPY'
  if (directive === 'COPY') return s3.engine.tags(sourceVersionId)
  if (directive === 'REPLACE') return parseTaggingHeader(header(s3, 'x-amz-tagging') ?? '')
  throw new S3Error('InvalidArgument', 'Unknown tagging directive.', { ArgumentName: 'x-amz-tagging-directive', ArgumentValue: directive })
}

/** Source bucket, key and version of x-amz-copy-source. */
export function copySource (s3: S3Request): { bucket: string, key: string, versionId: string | undefined } {
  const source = header(s3, 'x-amz-copy-source') ?? ''
  const [pathPart, query] = source.split('?')
  let decoded: string
  try { decoded = decodeURIComponent(pathPart ?? '').replace(/^\//, '') } catch { throw new S3Error('InvalidArgument', 'Invalid copy source encoding') }
  const slash = decoded.indexOf('/')
  if (slash <= 0) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey')
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), versionId: new URLSearchParams(query ?? '').get('versionId') ?? undefined }
}

async function copyObject (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const { bucket: srcBucket, key: srcKey, versionId } = copySource(s3)
  s3.authorize(srcBucket, 'read')
  if (versionId !== undefined) await s3.engine.recall(srcBucket, versionId, s3.signal)
  if (versionId !== undefined && s3.engine.bucket(srcBucket) !== undefined && lookupVersion(s3, srcBucket, srcKey, versionId)?.deleteMarker === true) {
    throw new S3Error('InvalidRequest', 'The source of a copy request may not specifically refer to a delete marker by version id.')
  }
  const reader = openObject(s3, srcBucket, srcKey, versionId)
  const etag = reader.meta.etag ?? reader.info.sha256.slice(0, 32)
  const h = (name: string): string | undefined => header(s3, name)
  const close = async (): Promise<void> => { await reader.body.return(undefined) }
  try {
    checkConditions({ ifMatch: h('x-amz-copy-source-if-match'), ifNoneMatch: h('x-amz-copy-source-if-none-match'), ifModifiedSince: h('x-amz-copy-source-if-modified-since'), ifUnmodifiedSince: h('x-amz-copy-source-if-unmodified-since') } as Parameters<typeof checkConditions>[0], etag, reader.info.timeMs, false)
  } catch (err) { await close(); throw err }
  const directive = h('x-amz-metadata-directive') ?? 'COPY'
  if (directive !== 'COPY' && directive !== 'REPLACE') { await close(); throw new S3Error('InvalidArgument', 'Unknown metadata directive.') }
  if (directive === 'COPY' && srcBucket === s3.bucket && srcKey === s3.key && versionId === undefined && h('x-amz-tagging-directive') === undefined) {
    await close()
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.')
  }
  let tags: Tag[]
  try { tags = copyTags(s3, reader.info.id) } catch (err) { await close(); throw err }
  // The body is the same bytes, so the source's verified checksum holds for the copy.
  const checksum = reader.meta.checksum
  const meta = directive === 'COPY' ? { ...reader.meta } : { ...metaFromHeaders(s3.req.headers), ...(checksum === undefined ? {} : { checksum }) }
  const md5 = createHash('md5')
  async function * body (): AsyncGenerator<Buffer> {
    for await (const chunk of reader.body) { md5.update(chunk); yield chunk }
  }
  if (!s3.req.complete) s3.req.resume()
  const info = await s3.engine.put(s3.bucket, s3.key, body(), s3.signal, { requireBucket: true, sizeHint: reader.info.size, ...(tags.length === 0 ? {} : { tags }), meta: () => ({ ...meta, etag: md5.digest('hex') }) })
  const stored = s3.engine.open(s3.bucket, s3.key, info.id)
  await stored.body.return(undefined)
  const sourceState = s3.engine.versioning(srcBucket)
  sendXml(s3.res, 200, 'CopyObjectResult', { LastModified: new Date(info.timeMs).toISOString(), ETag: `"${stored.meta.etag ?? ''}"` }, {
    ...versionIdHeader(s3.engine.versioning(s3.bucket), info),
    ...(sourceState === 'Unversioned' && reader.info.nullVersion === true ? {} : { 'x-amz-copy-source-version-id': s3VersionId(reader.info) })
  })
}
