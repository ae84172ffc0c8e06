/**
 * S3 object operations: PutObject, CopyObject, GetObject (Range and
 * conditional headers), HeadObject, DeleteObject. Metadata (content headers,
 * x-amz-meta-*, the ETag) is stored with the Cairn version; the ETag of a
 * single-part put is the hex MD5 of the body, as S3 computes it.
 */
import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import type { ObjectReader } from '../../engine/engine.ts'
import type { ObjectMeta } from '../../meta/types.ts'
import { CairnError } from '../../util/errors.ts'
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { verifiedBody } from './sigv4.ts'

/** S3's limit on user metadata (names and values of x-amz-meta-*). */
export const MAX_USER_METADATA_BYTES = 2048
/** Largest single PutObject (S3's limit: 5 GiB). */
export const MAX_PUT_OBJECT_BYTES = 5 * 1024 ** 3

const NOT_IMPLEMENTED_SUBRESOURCES = ['tagging', 'acl', 'uploads', 'uploadId', 'partNumber', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes']

/** Dispatch an object-level request. */
export async function objectOperation (s3: S3Request): Promise<void> {
  const sub = NOT_IMPLEMENTED_SUBRESOURCES.find((name) => s3.query.has(name))
  if (sub !== undefined) throw new S3Error('NotImplemented', `The ${sub} subresource of objects is not implemented by Cairn`)
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

/** The checksums a put may declare in headers, verified once the body is read. */
export function declaredChecks (s3: S3Request): Array<{ name: string, update: (b: Buffer) => void, check: () => void }> {
  // A checksum Cairn cannot verify is refused rather than silently skipped.
  const declared = [header(s3, 'x-amz-trailer') ?? '', header(s3, 'x-amz-sdk-checksum-algorithm') ?? '', ...Object.keys(s3.req.headers).filter((h) => h.startsWith('x-amz-checksum-'))].map((v) => v.toLowerCase())
  const unsupported = declared.find((v) => /crc32c|crc64nvme/.test(v))
  if (unsupported !== undefined) throw new S3Error('NotImplemented', `The checksum algorithm of ${unsupported} is not implemented by Cairn; use CRC32, SHA1 or SHA256`)
  const checks: Array<{ name: string, update: (b: Buffer) => void, check: () => void }> = []
  const md5 = header(s3, 'content-md5')
  if (md5 !== undefined) {
    if (Buffer.from(md5, 'base64').length !== 16) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.')
    const h = createHash('md5')
    checks.push({ name: 'Content-MD5', update: (b) => { h.update(b) }, check: () => { if (h.digest('base64') !== md5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.') } })
  }
  for (const algo of ['sha256', 'sha1'] as const) {
    const sent = header(s3, `x-amz-checksum-${algo}`)
    if (sent === undefined) continue
    const h = createHash(algo)
    checks.push({ name: algo, update: (b) => { h.update(b) }, check: () => { if (h.digest('base64') !== sent) throw new S3Error('BadDigest', `The ${algo.toUpperCase()} you specified did not match the calculated checksum.`) } })
  }
  const crc = header(s3, 'x-amz-checksum-crc32')
  if (crc !== undefined) {
    let value = 0
    checks.push({
      name: 'crc32',
      update: (b) => { value = crc32(b, value) },
      check: () => { const out = Buffer.alloc(4); out.writeUInt32BE(value >>> 0); if (out.toString('base64') !== crc) throw new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.') }
    })
  }
  return checks
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
  const checks = declaredChecks(s3)
  const md5 = createHash('md5')
  const trailer = header(s3, 'x-amz-trailer')
  const body = verifiedBody(s3.req, { sig: s3.sig, key: s3.signingKey, ...(trailer === undefined ? {} : { trailer: trailer.toLowerCase() }), ...(decoded === undefined ? {} : { decodedLength: Number(decoded) }) })
  async function * counted (): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      md5.update(chunk)
      for (const c of checks) c.update(chunk)
      yield chunk
    }
    for (const c of checks) c.check()
  }
  const etag = { value: '' }
  const info = await s3.engine.put(s3.bucket, s3.key, counted(), s3.signal, {
    requireBucket: true,
    meta: () => { etag.value = md5.digest('hex'); return { ...meta, etag: etag.value } }
  })
  s3.res.writeHead(200, { etag: `"${etag.value}"`, 'x-amz-version-id': info.id, 'content-length': 0 })
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

function objectHeaders (reader: ObjectReader): Record<string, string | number> {
  const { meta, info } = reader
  const headers: Record<string, string | number> = {
    'content-type': meta.contentType ?? 'binary/octet-stream',
    etag: `"${meta.etag ?? info.sha256.slice(0, 32)}"`,
    'last-modified': httpDate(info.timeMs),
    'accept-ranges': 'bytes',
    'x-amz-version-id': info.id
  }
  if (meta.contentEncoding !== undefined) headers['content-encoding'] = meta.contentEncoding
  if (meta.contentDisposition !== undefined) headers['content-disposition'] = meta.contentDisposition
  if (meta.contentLanguage !== undefined) headers['content-language'] = meta.contentLanguage
  if (meta.cacheControl !== undefined) headers['cache-control'] = meta.cacheControl
  if (meta.expires !== undefined) headers.expires = meta.expires
  for (const [k, v] of Object.entries(meta.user ?? {})) headers[`x-amz-meta-${k}`] = v
  return headers
}

/** Open a version for reading, with S3's errors for a missing bucket, key or version. */
export function openObject (s3: S3Request, bucket: string, key: string, versionId: string | undefined): ObjectReader {
  if (s3.engine.bucket(bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket })
  try {
    return s3.engine.open(bucket, key, versionId, s3.signal)
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NO_SUCH_VERSION' && versionId !== undefined) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId })
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
    const headers = objectHeaders(reader)
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

async function streamRange (s3: S3Request, reader: ObjectReader, headers: Record<string, string | number>, status: number, range: { start: number, end: number }): Promise<void> {
  // Stripes (and parts) before the range are not fetched.
  let offset = range.start
  let started = false
  for await (const chunk of reader.from(range.start)) {
    const from = Math.max(range.start - offset, 0)
    const to = Math.min(range.end + 1 - offset, chunk.length)
    offset += chunk.length
    if (!started) { s3.res.writeHead(status, headers); started = true }
    if (to > from && !s3.res.write(chunk.subarray(from, to))) await new Promise<void>((resolve) => { s3.res.once('drain', resolve); s3.res.once('close', resolve) })
    if (offset > range.end) break
  }
  if (!started) s3.res.writeHead(status, headers)
  s3.res.end()
}

async function deleteObject (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
  if (s3.query.has('versionId')) throw new S3Error('NotImplemented', 'Deleting a specific version is not implemented by Cairn (retention removes old versions)')
  let marker = ''
  try {
    marker = (await s3.engine.delete(s3.bucket, s3.key, s3.signal)).id
  } catch (err) {
    // Deleting a key that does not exist succeeds in S3.
    if (!(err instanceof CairnError && err.code === 'NOT_FOUND')) throw err
  }
  s3.res.writeHead(204, marker === '' ? {} : { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker })
  s3.res.end()
}

async function copyObject (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const source = header(s3, 'x-amz-copy-source') ?? ''
  const [pathPart, query] = source.split('?')
  let decoded: string
  try { decoded = decodeURIComponent(pathPart ?? '').replace(/^\//, '') } catch { throw new S3Error('InvalidArgument', 'Invalid copy source encoding') }
  const slash = decoded.indexOf('/')
  if (slash <= 0) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey')
  const srcBucket = decoded.slice(0, slash)
  const srcKey = decoded.slice(slash + 1)
  const versionId = new URLSearchParams(query ?? '').get('versionId') ?? undefined
  s3.authorize(srcBucket, 'read')
  const reader = openObject(s3, srcBucket, srcKey, versionId)
  const etag = reader.meta.etag ?? reader.info.sha256.slice(0, 32)
  const h = (name: string): string | undefined => header(s3, name)
  checkConditions({ ifMatch: h('x-amz-copy-source-if-match'), ifNoneMatch: h('x-amz-copy-source-if-none-match'), ifModifiedSince: h('x-amz-copy-source-if-modified-since'), ifUnmodifiedSince: h('x-amz-copy-source-if-unmodified-since') } as Parameters<typeof checkConditions>[0], etag, reader.info.timeMs, false)
  const directive = h('x-amz-metadata-directive') ?? 'COPY'
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.')
  if (directive === 'COPY' && srcBucket === s3.bucket && srcKey === s3.key && versionId === undefined) {
    await reader.body.return(undefined)
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.')
  }
  const meta = directive === 'COPY' ? { ...reader.meta } : metaFromHeaders(s3.req.headers)
  const md5 = createHash('md5')
  async function * body (): AsyncGenerator<Buffer> {
    for await (const chunk of reader.body) { md5.update(chunk); yield chunk }
  }
  if (!s3.req.complete) s3.req.resume()
  const info = await s3.engine.put(s3.bucket, s3.key, body(), s3.signal, { requireBucket: true, meta: () => ({ ...meta, etag: md5.digest('hex') }) })
  const stored = s3.engine.open(s3.bucket, s3.key, info.id)
  await stored.body.return(undefined)
  sendXml(s3.res, 200, 'CopyObjectResult', { LastModified: new Date(info.timeMs).toISOString(), ETag: `"${stored.meta.etag ?? ''}"` }, { 'x-amz-version-id': info.id })
}
