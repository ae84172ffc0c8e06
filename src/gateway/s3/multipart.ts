/**
 * S3 multipart upload: CreateMultipartUpload (POST ?uploads), UploadPart and
 * UploadPartCopy (PUT ?partNumber&uploadId, the copy with
 * x-amz-copy-source[-range]), CompleteMultipartUpload (POST ?uploadId),
 * AbortMultipartUpload (DELETE ?uploadId), ListParts (GET ?uploadId) and
 * ListMultipartUploads (GET bucket?uploads). The engine does the work
 * (engine/multipart.ts): parts stream into the data path as they arrive,
 * Complete refers to the parts' stripes instead of copying them, and upload
 * state is cluster metadata, so any node can serve any step.
 * GetObject/HeadObject with `partNumber` answer NotImplemented (objects.ts).
 */
import { MAX_PART_NUMBER, MAX_PART_SIZE_BYTES } from '../../engine/multipart.ts'
import type { RequestedPart } from '../../engine/multipart.ts'
import { S3Error } from './errors.ts'
import { checkConditions, copySource, declaredChecks, header, metaFromHeaders, openObject, parseRange } from './objects.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { uriEncode, verifiedBody } from './sigv4.ts'
import { versionIdHeader } from './versioning.ts'
import { checkWellFormed, elementBlocks, elementTexts, readXmlBody } from './xml.ts'
import type { XmlNode } from './xml.ts'

/** Parts one ListParts page returns at most (S3's limit). */
export const MAX_PARTS_PER_PAGE = 1000
/** Uploads one ListMultipartUploads page returns at most (S3's limit). */
export const MAX_UPLOADS_PER_PAGE = 1000
/** Largest CompleteMultipartUpload body: 10,000 parts of about 150 bytes of XML each, with room. */
const MAX_COMPLETE_XML_BYTES = 4 * 1024 * 1024

const MALFORMED = 'The XML you provided was not well-formed or did not validate against our published schema.'

/** True when an object-level request is a multipart operation (this module serves it). */
export function isMultipartRequest (s3: S3Request): boolean {
  if (s3.method === 'POST') return s3.query.has('uploads') || s3.query.has('uploadId')
  return (s3.method === 'PUT' || s3.method === 'GET' || s3.method === 'DELETE') && s3.query.has('uploadId')
}

/** True when a bucket-level request is ListMultipartUploads. */
export function isListUploadsRequest (s3: S3Request): boolean {
  return s3.method === 'GET' && s3.query.has('uploads')
}

/** Dispatch an object-level multipart request (see isMultipartRequest). */
export async function multipartOperation (s3: S3Request): Promise<void> {
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
  if (s3.method === 'POST' && s3.query.has('uploads')) return await createUpload(s3)
  const uploadId = s3.query.get('uploadId') ?? ''
  switch (s3.method) {
    case 'PUT': return header(s3, 'x-amz-copy-source') === undefined ? await uploadPart(s3, uploadId) : await uploadPartCopy(s3, uploadId)
    case 'POST': return await completeUpload(s3, uploadId)
    case 'DELETE': return await abortUpload(s3, uploadId)
    default: return listParts(s3, uploadId)
  }
}

function ownerOf (s3: S3Request, accessKeyId: string): XmlNode {
  return { ID: accessKeyId, DisplayName: s3.engine.keys.list().find((k) => k.accessKeyId === accessKeyId)?.name ?? accessKeyId }
}

async function createUpload (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  if (!s3.req.complete) s3.req.resume()
  const { uploadId } = await s3.engine.multipart.create(s3.bucket, s3.key, metaFromHeaders(s3.req.headers), s3.caller.accessKeyId, s3.signal)
  sendXml(s3.res, 200, 'InitiateMultipartUploadResult', { Bucket: s3.bucket, Key: s3.key, UploadId: uploadId })
}

function partNumberOf (s3: S3Request): number {
  const raw = s3.query.get('partNumber') ?? ''
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(n) || n < 1 || n > MAX_PART_NUMBER) throw new S3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: raw })
  return n
}

async function uploadPart (s3: S3Request, uploadId: string): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const number = partNumberOf(s3)
  const length = header(s3, 'content-length')
  if (length === undefined && header(s3, 'transfer-encoding') === undefined) throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.')
  const decoded = header(s3, 'x-amz-decoded-content-length')
  if (Number(decoded ?? length ?? 0) > MAX_PART_SIZE_BYTES) throw new S3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed part size (${MAX_PART_SIZE_BYTES} bytes).`)
  const checks = declaredChecks(s3)
  const trailer = header(s3, 'x-amz-trailer')
  const body = verifiedBody(s3.req, { sig: s3.sig, key: s3.signingKey, onTrailer: checks.onTrailer, ...(trailer === undefined ? {} : { trailer: trailer.toLowerCase() }), ...(decoded === undefined ? {} : { decodedLength: Number(decoded) }) })
  async function * checked (): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      checks.update(chunk)
      yield chunk
    }
    // Before the part is committed: a body that fails its checksum stores nothing.
    checks.check()
  }
  const { etag } = await s3.engine.multipart.uploadPart(s3.bucket, s3.key, uploadId, number, checked(), s3.signal)
  s3.res.writeHead(200, { etag: `"${etag}"`, 'content-length': 0 })
  s3.res.end()
}

async function uploadPartCopy (s3: S3Request, uploadId: string): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const number = partNumberOf(s3)
  const src = copySource(s3)
  s3.authorize(src.bucket, 'read')
  const reader = openObject(s3, src.bucket, src.key, src.versionId)
  const h = (name: string): string | undefined => header(s3, name)
  const size = reader.info.size
  let range = { start: 0, end: size - 1 }
  try {
    checkConditions({ ifMatch: h('x-amz-copy-source-if-match'), ifNoneMatch: h('x-amz-copy-source-if-none-match'), ifModifiedSince: h('x-amz-copy-source-if-modified-since'), ifUnmodifiedSince: h('x-amz-copy-source-if-unmodified-since') } as Parameters<typeof checkConditions>[0], reader.meta.etag ?? '', reader.info.timeMs, false)
    const asked = h('x-amz-copy-source-range')
    if (asked !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(asked.trim())
      if (m === null || Number(m[2]) < Number(m[1])) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: asked })
      if (Number(m[2]) >= size) throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: asked, ActualObjectSize: String(size) })
      range = parseRange(`bytes=${m[1]}-${m[2]}`, size) ?? range
    }
    if (range.end - range.start + 1 > MAX_PART_SIZE_BYTES) throw new S3Error('InvalidRequest', `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PART_SIZE_BYTES}`)
  } finally {
    await reader.body.return(undefined)
  }
  if (!s3.req.complete) s3.req.resume()
  const wanted = range.end - range.start + 1
  async function * slice (): AsyncGenerator<Buffer> {
    let left = wanted
    for await (const chunk of reader.from(range.start)) {
      if (left <= 0) break
      const piece = chunk.length > left ? chunk.subarray(0, left) : chunk
      left -= piece.length
      yield piece
    }
  }
  const { etag } = await s3.engine.multipart.uploadPart(s3.bucket, s3.key, uploadId, number, size === 0 ? emptyBody() : slice(), s3.signal)
  sendXml(s3.res, 200, 'CopyPartResult', { LastModified: new Date().toISOString(), ETag: `"${etag}"` })
}

async function * emptyBody (): AsyncGenerator<Buffer> {}

/** The parts a CompleteMultipartUpload body names, in the order given; MalformedXML for anything else. */
export function parseCompleteBody (xml: string): RequestedPart[] {
  checkWellFormed(xml)
  const roots = elementBlocks(xml, 'CompleteMultipartUpload')
  if (roots.length !== 1) throw new S3Error('MalformedXML', MALFORMED)
  const parts = elementBlocks(roots[0] as string, 'Part')
  if (parts.length === 0 || parts.length > MAX_PART_NUMBER) throw new S3Error('MalformedXML', MALFORMED)
  return parts.map((block) => {
    const numbers = elementTexts(block, 'PartNumber')
    const etags = elementTexts(block, 'ETag')
    const number = Number(numbers[0]?.trim())
    if (numbers.length !== 1 || etags.length !== 1 || !/^\d{1,5}$/.test(numbers[0]?.trim() ?? '') || number < 1 || number > MAX_PART_NUMBER) throw new S3Error('MalformedXML', MALFORMED)
    return { number, etag: (etags[0] as string).trim().replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '') }
  })
}

async function completeUpload (s3: S3Request, uploadId: string): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const requested = parseCompleteBody(await readXmlBody(s3, MAX_COMPLETE_XML_BYTES))
  const done = await s3.engine.multipart.complete(s3.bucket, s3.key, uploadId, requested, s3.signal)
  const host = String(s3.req.headers.host ?? '127.0.0.1')
  sendXml(s3.res, 200, 'CompleteMultipartUploadResult', {
    Location: `http://${host}/${s3.bucket}/${uriEncode(s3.key, true)}`, Bucket: s3.bucket, Key: s3.key, ETag: `"${done.etag}"`
  }, versionIdHeader(s3.engine.versioning(s3.bucket), { id: done.versionId, nullVersion: done.nullVersion }))
}

async function abortUpload (s3: S3Request, uploadId: string): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  if (!s3.req.complete) s3.req.resume()
  await s3.engine.multipart.abort(s3.bucket, s3.key, uploadId, s3.signal)
  s3.res.writeHead(204)
  s3.res.end()
}

function nonNegative (s3: S3Request, name: string, fallback: number): number {
  const raw = s3.query.get(name)
  if (raw === undefined) return fallback
  const n = /^\d{1,10}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isInteger(n)) throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: raw })
  return n
}

function listParts (s3: S3Request, uploadId: string): void {
  s3.authorize(s3.bucket, 'read')
  const upload = s3.engine.multipart.upload(s3.bucket, s3.key, uploadId)
  const maxParts = Math.min(nonNegative(s3, 'max-parts', MAX_PARTS_PER_PAGE), MAX_PARTS_PER_PAGE)
  const marker = Math.min(nonNegative(s3, 'part-number-marker', 0), MAX_PART_NUMBER)
  const page = maxParts === 0 ? { parts: [], truncated: false } : s3.engine.multipart.parts(uploadId, marker, maxParts)
  const last = page.parts[page.parts.length - 1]
  sendXml(s3.res, 200, 'ListPartsResult', {
    Bucket: s3.bucket,
    Key: s3.key,
    UploadId: uploadId,
    Initiator: ownerOf(s3, upload.initiator),
    Owner: ownerOf(s3, upload.initiator),
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    NextPartNumberMarker: last?.number ?? marker,
    MaxParts: maxParts,
    IsTruncated: page.truncated,
    Part: page.parts.map((p) => ({ PartNumber: p.number, LastModified: new Date(p.timeMs).toISOString(), ETag: `"${p.etag}"`, Size: p.size }))
  })
}

/** ListMultipartUploads: open uploads of a bucket in key then upload-id order, with prefix, delimiter, markers and max-uploads. */
export function listUploads (s3: S3Request): void {
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
  s3.authorize(s3.bucket, 'read')
  const prefix = s3.query.get('prefix') ?? ''
  const delimiter = s3.query.get('delimiter') ?? ''
  const keyMarker = s3.query.get('key-marker') ?? ''
  const idMarker = s3.query.get('upload-id-marker')
  const encodingType = s3.query.get('encoding-type')
  if (encodingType !== undefined && encodingType !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' })
  const enc = (text: string): string => (encodingType === 'url' ? uriEncode(text, true) : text)
  const maxUploads = Math.min(nonNegative(s3, 'max-uploads', MAX_UPLOADS_PER_PAGE), MAX_UPLOADS_PER_PAGE)
  const after = (key: string, id: string): boolean => keyMarker === '' || Buffer.compare(Buffer.from(key), Buffer.from(keyMarker)) > 0 || (key === keyMarker && idMarker !== undefined && id > idMarker)
  const uploads: XmlNode[] = []
  const prefixes: string[] = []
  let truncated = false
  let next = { key: '', id: '' }
  for (const u of s3.engine.multipart.uploads(s3.bucket, prefix)) {
    if (!after(u.key, u.uploadId)) continue
    const at = delimiter === '' ? -1 : u.key.slice(prefix.length).indexOf(delimiter)
    const common = at < 0 ? undefined : u.key.slice(0, prefix.length + at + delimiter.length)
    // A group already reported on this page, or on an earlier one (the marker is inside it).
    if (common !== undefined && (prefixes[prefixes.length - 1] === common || (keyMarker !== '' && keyMarker.startsWith(common)))) continue
    if (uploads.length + prefixes.length >= maxUploads) { truncated = true; break }
    if (common !== undefined) {
      prefixes.push(common)
      next = { key: common, id: '' }
      continue
    }
    uploads.push({ Key: enc(u.key), UploadId: u.uploadId, Initiator: ownerOf(s3, u.initiator), Owner: ownerOf(s3, u.initiator), StorageClass: 'STANDARD', Initiated: new Date(u.initiatedMs).toISOString() })
    next = { key: u.key, id: u.uploadId }
  }
  sendXml(s3.res, 200, 'ListMultipartUploadsResult', {
    Bucket: s3.bucket,
    KeyMarker: enc(keyMarker),
    UploadIdMarker: idMarker ?? '',
    ...(truncated ? { NextKeyMarker: enc(next.key), NextUploadIdMarker: next.id } : {}),
    ...(encodingType === undefined ? {} : { EncodingType: encodingType }),
    Prefix: enc(prefix),
    ...(delimiter === '' ? {} : { Delimiter: enc(delimiter) }),
    MaxUploads: maxUploads,
    IsTruncated: truncated,
    Upload: uploads,
    CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) }))
  })
}
