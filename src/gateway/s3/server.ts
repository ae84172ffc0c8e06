/**
 * The S3-compatible endpoint of a node: its own HTTP server on 127.0.0.1,
 * path-style (`/bucket/key`) and virtual-host-style (`bucket.host/key`)
 * addressing, SigV4 authentication (sigv4.ts) against the cluster's access
 * keys, and dispatch to the bucket, object and multipart operations
 * (buckets.ts, objects.ts, multipart.ts). Every error is S3's XML error body with a request id;
 * anything not implemented answers NotImplemented (501), never a wrong
 * success. See docs/S3.md for the table of operations.
 */
import { randomBytes } from 'node:crypto'
import { http } from '../../util/node-http.ts'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Engine } from '../../engine/engine.ts'
import type { AccessKeyInfo } from '../../engine/access-keys.ts'
import { AccessKeys } from '../../engine/access-keys.ts'
import type { S3Permission } from '../../meta/types.ts'
import { listen } from '../http-util.ts'
import { bucketOperation } from './buckets.ts'
import { S3Error, toS3Error } from './errors.ts'
import { isListUploadsRequest, isMultipartRequest, listUploads, multipartOperation } from './multipart.ts'
import { objectOperation } from './objects.ts'
import { checkPayloadMode, parseQuery, parseSignature, verifySignature } from './sigv4.ts'
import type { SignedRequest } from './sigv4.ts'
import { xmlDocument } from './xml.ts'
import type { XmlNode } from './xml.ts'

/** The region the endpoint signs for unless configured. */
export const DEFAULT_S3_REGION = 'us-east-1'
/** Largest request header section accepted (S3 allows 8 KiB of user metadata). */
export const MAX_S3_HEADER_BYTES = 16 * 1024

/** What the S3 server needs. */
export interface S3Init {
  engine: Engine
  region?: string
  log?: (message: string) => void
  nowMs?: () => number
}

/** One authenticated request as the operations see it. */
export interface S3Request {
  req: IncomingMessage
  res: ServerResponse
  method: string
  bucket: string
  key: string
  query: Map<string, string>
  sig: SignedRequest
  signingKey: Buffer
  caller: AccessKeyInfo
  engine: Engine
  requestId: string
  signal: AbortSignal
  /** Throw AccessDenied unless the caller may act on `bucket` at `needed`. */
  authorize: (bucket: string, needed: S3Permission) => void
}

/** Send an XML document. */
export function sendXml (res: ServerResponse, status: number, root: string, body: XmlNode, headers: Record<string, string> = {}): void {
  const text = xmlDocument(root, body)
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

function sendS3Error (res: ServerResponse, err: S3Error, resource: string, requestId: string, head: boolean): void {
  if (res.headersSent) { res.destroy(); return }
  const headers = { ...err.headers, 'x-amz-request-id': requestId, 'x-amz-id-2': requestId }
  if (err.status === 304 || head) {
    res.writeHead(err.status, { ...headers, 'x-amz-error-code': err.code })
    res.end()
    return
  }
  sendXml(res, err.status, 'Error', { Code: err.code, Message: err.message, ...err.extra, Resource: resource, RequestId: requestId }, headers)
}

/** Bucket and key of a request, from the Host (virtual-host style) or the path. */
export function addressOf (host: string, rawPath: string): { bucket: string, key: string } {
  const hostname = host.replace(/:\d+$/, '')
  const path = rawPath.split('?')[0] ?? '/'
  const decoded = path.split('/').map((s) => { try { return decodeURIComponent(s) } catch { throw new S3Error('InvalidArgument', 'The request URI is not validly percent-encoded.') } }).join('/')
  const vhost = /^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\.(localhost|127\.0\.0\.1|s3\.[^.]+.*)$/.exec(hostname)
  if (vhost !== null && !/^\d+\.\d+\.\d+\.\d+$/.test(hostname)) return { bucket: vhost[1] as string, key: decoded.replace(/^\//, '') }
  const rest = decoded.replace(/^\//, '')
  const slash = rest.indexOf('/')
  return slash < 0 ? { bucket: rest, key: '' } : { bucket: rest.slice(0, slash), key: rest.slice(slash + 1) }
}

async function route (init: S3Init, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomBytes(8).toString('hex').toUpperCase()
  const rawUrl = req.url ?? '/'
  const rawPath = rawUrl.split('?')[0] ?? '/'
  const rawQuery = rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : ''
  const ac = new AbortController()
  res.on('close', () => { if (!res.writableFinished) ac.abort() })
  let resource = rawPath
  try {
    const pairs = parseQuery(rawQuery)
    const { bucket, key } = addressOf(String(req.headers.host ?? ''), rawPath)
    resource = key === '' ? `/${bucket}` : `/${bucket}/${key}`
    const sig = parseSignature(req, pairs)
    const found = init.engine.keys.lookup(sig.accessKeyId)
    if (found === undefined) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: sig.accessKeyId })
    const signingKey = verifySignature(req, rawPath, pairs, sig, found.secret, init.region ?? DEFAULT_S3_REGION, (init.nowMs ?? Date.now)())
    checkPayloadMode(sig.payloadHash)
    const s3: S3Request = {
      req, res, method: req.method ?? 'GET', bucket, key, query: new Map(pairs), sig, signingKey, caller: found.info, engine: init.engine, requestId, signal: ac.signal,
      authorize: (b, needed) => {
        if (!AccessKeys.permits(found.info, b, init.engine.bucket(b)?.owner, needed)) throw new S3Error('AccessDenied', 'Access Denied')
      }
    }
    res.setHeader('x-amz-request-id', requestId)
    if (bucket === '') return await listBuckets(s3)
    if (key === '') return isListUploadsRequest(s3) ? listUploads(s3) : await bucketOperation(s3)
    return isMultipartRequest(s3) ? await multipartOperation(s3) : await objectOperation(s3)
  } catch (err) {
    const s3err = toS3Error(err)
    if (s3err.code === 'InternalError') init.log?.(`s3 error: ${(err as Error)?.stack ?? String(err)}`)
    if (!req.complete) req.resume()
    sendS3Error(res, s3err, resource, requestId, req.method === 'HEAD')
  }
}

async function listBuckets (s3: S3Request): Promise<void> {
  if (s3.method !== 'GET') throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.')
  const names = s3.engine.buckets().filter((b) => AccessKeys.permits(s3.caller, b, s3.engine.bucket(b)?.owner, 'read'))
  sendXml(s3.res, 200, 'ListAllMyBucketsResult', {
    Owner: { ID: s3.caller.accessKeyId, DisplayName: s3.caller.name },
    Buckets: { Bucket: names.map((name) => ({ Name: name, CreationDate: new Date(s3.engine.bucket(name)?.createdMs ?? 0).toISOString() })) }
  })
}

/**
 * A request Node's parser refused before any route saw it: headers over
 * MAX_S3_HEADER_BYTES are S3's RequestHeaderSectionTooLarge (400), anything
 * else a plain 400; the connection is closed either way.
 */
function answerClientError (err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return }
  const requestId = randomBytes(8).toString('hex').toUpperCase()
  const overflow = err.code === 'HPE_HEADER_OVERFLOW'
  const body = xmlDocument('Error', overflow
    ? { Code: 'RequestHeaderSectionTooLarge', Message: `Your request header section exceeds the maximum allowed size (${MAX_S3_HEADER_BYTES} bytes).`, RequestId: requestId }
    : { Code: 'BadRequest', Message: 'The request could not be parsed as HTTP.', RequestId: requestId })
  socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-amz-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`)
}

/**
 * Start the S3 server on `host`:`port` (0 picks a free port).
 *
 * @example
 * const { server, port } = await startS3({ engine }, 0)
 */
export async function startS3 (init: S3Init, port: number, host = '127.0.0.1'): Promise<{ server: Server, port: number }> {
  const server = http.createServer({ maxHeaderSize: MAX_S3_HEADER_BYTES }, (req, res) => { void route(init, req, res) })
  // Clients that send `Expect: 100-continue` get the go-ahead at once; errors come after the body like on S3.
  server.on('checkContinue', (req, res) => { res.writeContinue(); void route(init, req, res) })
  server.on('clientError', answerClientError)
  return await listen(server, port, host)
}
