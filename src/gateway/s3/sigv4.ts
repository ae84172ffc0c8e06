/**
 * AWS Signature Version 4 verification for the S3 gateway: the
 * Authorization header, presigned URLs (query parameters), and the payload
 * modes S3 clients use — a hex SHA-256 of the body, UNSIGNED-PAYLOAD, and
 * `aws-chunked` bodies with per-chunk signatures
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) or without
 * (STREAMING-UNSIGNED-PAYLOAD-TRAILER) and trailing checksums.
 *
 * Canonical request (AWS's definition): method, the URI path encoded once
 * (every byte except A–Z a–z 0–9 - . _ ~ and /), the query sorted by encoded
 * name then value, the signed headers lowercased with trimmed values, the
 * list of signed header names, and the payload hash. The string to sign is
 * `AWS4-HMAC-SHA256\n<amz-date>\n<date>/<region>/s3/aws4_request\n<sha256(canonical request)>`
 * and the key is HMAC-SHA256 chained over "AWS4"+secret, date, region, "s3",
 * "aws4_request". Every comparison of signatures is constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { algorithmOfHeader, newChecksum } from './checksums.ts'
import type { RunningChecksum } from './checksums.ts'
import { S3Error } from './errors.ts'

/** A request whose clock differs from ours by more than this is refused (S3's rule). */
export const MAX_REQUEST_SKEW_MS = 15 * 60_000
/** Longest validity of a presigned URL (S3's rule: 7 days). */
export const MAX_PRESIGNED_EXPIRES_SECONDS = 7 * 24 * 3600
/** Largest aws-chunked chunk accepted: clients send 64 KiB to 8 MiB. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024
/** Largest chunk header line or trailer section, in bytes. */
const MAX_CHUNK_LINE_BYTES = 4096

const EMPTY_SHA256 = createHash('sha256').digest('hex')
const UNSIGNED = 'UNSIGNED-PAYLOAD'
const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'

/** AWS's URI encoding: every byte but unreserved characters (and `/` when kept) as %XX, upper-case hex. */
export function uriEncode (text: string, keepSlash: boolean): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte)
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new S3Error('InvalidArgument', 'The request URI is not validly percent-encoded.')
  }
}

/** The canonical URI of a raw request path (as sent, percent-encoded). */
export function canonicalUri (rawPath: string): string {
  return rawPath.split('/').map((segment) => uriEncode(safeDecode(segment), false)).join('/') || '/'
}

/** Parsed query pairs of a raw query string, decoded. */
export function parseQuery (rawQuery: string): Array<[string, string]> {
  if (rawQuery === '') return []
  return rawQuery.split('&').filter((p) => p !== '').map((pair) => {
    const at = pair.indexOf('=')
    return at < 0 ? [safeDecode(pair), ''] : [safeDecode(pair.slice(0, at)), safeDecode(pair.slice(at + 1))]
  })
}

/** The canonical query string, without `X-Amz-Signature`. */
export function canonicalQuery (pairs: ReadonlyArray<[string, string]>): string {
  return pairs.filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&')
}

/** What a request's signature covers and who signed it. */
export interface SignedRequest {
  accessKeyId: string
  /** yyyymmdd of the credential scope. */
  date: string
  region: string
  amzDate: string
  signedHeaders: string[]
  signature: string
  /** The payload hash the request declares (hex, or one of the mode names). */
  payloadHash: string
  presigned: boolean
  expiresSeconds?: number
}

function fail (code: string, message: string): never {
  throw new S3Error(code, message)
}

/** Parse the SigV4 parts of a request (header or query); throws AccessDenied/InvalidArgument when absent or malformed. */
export function parseSignature (req: IncomingMessage, query: ReadonlyArray<[string, string]>): SignedRequest {
  const q = new Map(query)
  const auth = req.headers.authorization
  if (auth !== undefined) {
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(auth)
    if (m === null) fail(auth.startsWith('AWS ') ? 'InvalidRequest' : 'AuthorizationHeaderMalformed', 'The authorization header is malformed; only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported.')
    const scope = (m[1] as string).split('/')
    if (scope.length !== 5 || scope[3] !== 's3' || scope[4] !== 'aws4_request') fail('AuthorizationHeaderMalformed', 'The authorization header credential scope is malformed.')
    const amzDate = String(req.headers['x-amz-date'] ?? '')
    if (!/^\d{8}T\d{6}Z$/.test(amzDate)) fail('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
    const payloadHash = String(req.headers['x-amz-content-sha256'] ?? '')
    if (payloadHash === '') fail('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
    return { accessKeyId: scope[0] as string, date: scope[1] as string, region: scope[2] as string, amzDate, signedHeaders: (m[2] as string).split(';'), signature: m[3] as string, payloadHash, presigned: false }
  }
  if (q.has('X-Amz-Algorithm')) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') fail('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    const scope = (q.get('X-Amz-Credential') ?? '').split('/')
    const amzDate = q.get('X-Amz-Date') ?? ''
    const expires = Number(q.get('X-Amz-Expires') ?? '')
    const signature = q.get('X-Amz-Signature') ?? ''
    if (scope.length !== 5 || scope[3] !== 's3' || !/^\d{8}T\d{6}Z$/.test(amzDate) || !/^[0-9a-f]{64}$/.test(signature) || !Number.isInteger(expires)) {
      fail('AuthorizationQueryParametersError', 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
    }
    if (expires < 1 || expires > MAX_PRESIGNED_EXPIRES_SECONDS) fail('AuthorizationQueryParametersError', 'X-Amz-Expires must be between 1 and 604800 seconds')
    return { accessKeyId: scope[0] as string, date: scope[1] as string, region: scope[2] as string, amzDate, signedHeaders: (q.get('X-Amz-SignedHeaders') ?? '').split(';'), signature, payloadHash: q.get('X-Amz-Content-Sha256') ?? UNSIGNED, presigned: true, expiresSeconds: expires }
  }
  fail('AccessDenied', 'Access Denied: the request is not signed (anonymous access is not allowed)')
}

/** Milliseconds of an amz date (yyyymmddThhmmssZ). */
export function amzDateMs (amzDate: string): number {
  return Date.UTC(Number(amzDate.slice(0, 4)), Number(amzDate.slice(4, 6)) - 1, Number(amzDate.slice(6, 8)), Number(amzDate.slice(9, 11)), Number(amzDate.slice(11, 13)), Number(amzDate.slice(13, 15)))
}

function hmac (key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

/** The SigV4 signing key of a secret for one day and region. */
export function signingKey (secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request')
}

/** The canonical request of `req` for the signed parts `sig`. */
export function canonicalRequest (req: IncomingMessage, rawPath: string, query: ReadonlyArray<[string, string]>, sig: SignedRequest): string {
  const headers = sig.signedHeaders.map((name) => {
    const raw = req.headers[name]
    if (raw === undefined && name !== 'host') fail('AccessDenied', `There were headers present in the request which were not signed, or a signed header is missing: ${name}`)
    // Node decodes header bytes as latin1; the client signed them as bytes, so
    // turn them back into those bytes (read as UTF-8) before hashing.
    const value = Buffer.from(Array.isArray(raw) ? raw.join(',') : String(raw ?? ''), 'latin1').toString('utf8')
    return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`
  }).join('')
  return [req.method ?? 'GET', canonicalUri(rawPath), canonicalQuery(query), headers, sig.signedHeaders.join(';'), sig.payloadHash].join('\n')
}

function scopeOf (sig: { date: string, region: string }): string {
  return `${sig.date}/${sig.region}/s3/aws4_request`
}

function sameHex (a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y)
}

/**
 * Check the signature of `req` against `secret` at `nowMs`: the clock skew
 * (RequestTimeTooSkewed), a presigned URL's expiry (AccessDenied), and the
 * signature itself (SignatureDoesNotMatch). Returns the signing key, which
 * chunk signatures chain from.
 */
export function verifySignature (req: IncomingMessage, rawPath: string, query: ReadonlyArray<[string, string]>, sig: SignedRequest, secret: string, region: string, nowMs: number): Buffer {
  if (sig.region !== region) fail('AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${sig.region}' is wrong; expecting '${region}'`)
  const signedMs = amzDateMs(sig.amzDate)
  if (sig.presigned) {
    if (nowMs > signedMs + (sig.expiresSeconds ?? 0) * 1000) fail('AccessDenied', 'Request has expired')
    if (signedMs - nowMs > MAX_REQUEST_SKEW_MS) fail('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.')
  } else if (Math.abs(nowMs - signedMs) > MAX_REQUEST_SKEW_MS) {
    fail('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.')
  }
  if (!sig.signedHeaders.includes('host')) fail('AccessDenied', 'The host header must be signed')
  const key = signingKey(secret, sig.date, sig.region)
  const stringToSign = ['AWS4-HMAC-SHA256', sig.amzDate, scopeOf(sig), createHash('sha256').update(canonicalRequest(req, rawPath, query, sig)).digest('hex')].join('\n')
  if (!sameHex(createHmac('sha256', key).update(stringToSign).digest('hex'), sig.signature)) {
    fail('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.')
  }
  return key
}

/** True for the payload modes that frame the body as aws-chunked. */
export function isStreaming (payloadHash: string): boolean {
  return payloadHash === STREAMING_SIGNED || payloadHash === STREAMING_SIGNED_TRAILER || payloadHash === STREAMING_UNSIGNED_TRAILER
}

/** Check the declared payload mode before reading the body. */
export function checkPayloadMode (payloadHash: string): void {
  if (payloadHash === UNSIGNED || isStreaming(payloadHash) || /^[0-9a-f]{64}$/.test(payloadHash)) return
  if (payloadHash.startsWith('STREAMING-')) fail('NotImplemented', `The payload mode ${payloadHash} is not implemented`)
  fail('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or the hex SHA-256 of the payload')
}

/**
 * Byte reader over an async byte stream, for the chunked decoder. It keeps
 * the pieces as they arrived (views, no copy) and copies only to join the
 * pieces of one chunk, so a 1 MiB chunk that arrives in 64 KiB socket reads
 * costs one copy, not one per read.
 */
class Reader {
  #iterator: AsyncIterator<Uint8Array>
  #pieces: Buffer[] = []
  #length = 0
  constructor (source: AsyncIterable<Uint8Array>) { this.#iterator = source[Symbol.asyncIterator]() }

  async #fill (): Promise<boolean> {
    const next = await this.#iterator.next()
    if (next.done === true) return false
    const v = next.value
    this.#pieces.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength))
    this.#length += v.byteLength
    return true
  }

  /** Remove and return the first `n` buffered bytes (n ≤ the buffered length): a view when one piece holds them. */
  #take (n: number): Buffer {
    const first = this.#pieces[0] ?? Buffer.alloc(0)
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.#pieces.shift()
      else this.#pieces[0] = first.subarray(n)
    } else {
      out = Buffer.allocUnsafe(n)
      // Bounded by n: every pass copies at least one byte.
      for (let at = 0; at < n;) {
        const piece = this.#pieces[0] as Buffer
        const k = Math.min(piece.length, n - at)
        piece.copy(out, at, 0, k)
        at += k
        if (k === piece.length) this.#pieces.shift()
        else this.#pieces[0] = piece.subarray(k)
      }
    }
    this.#length -= n
    return out
  }

  /** One CRLF-terminated line (without CRLF). */
  async line (): Promise<string> {
    for (;;) {
      // A line is at most MAX_CHUNK_LINE_BYTES: join just that much of the head into one piece to search it.
      const headBytes = Math.min(this.#length, MAX_CHUNK_LINE_BYTES + 2)
      if ((this.#pieces[0]?.length ?? 0) < headBytes) {
        this.#pieces.unshift(this.#take(headBytes))
        this.#length += headBytes
      }
      const at = this.#pieces[0]?.subarray(0, headBytes).indexOf('\r\n') ?? -1
      if (at >= 0) {
        const text = this.#take(at).toString('latin1')
        this.#take(2)
        return text
      }
      if (this.#length > MAX_CHUNK_LINE_BYTES) fail('InvalidRequest', 'aws-chunked line too long')
      if (!await this.#fill()) fail('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header')
    }
  }

  /** Exactly `n` bytes. */
  async bytes (n: number): Promise<Buffer> {
    while (this.#length < n) {
      if (!await this.#fill()) fail('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header')
    }
    return this.#take(n)
  }
}

/** What the payload decoder needs to verify a body. */
export interface PayloadContext {
  sig: SignedRequest
  key: Buffer
  /** x-amz-trailer: the checksum header the trailer carries, if any. */
  trailer?: string
  /** x-amz-decoded-content-length of an aws-chunked body. */
  decodedLength?: number
  /** Called with the trailing headers once they are read and verified. */
  onTrailer?: (headers: Record<string, string>) => void
}

/** A running checksum of a body, for the x-amz-checksum-* trailers. */
function checksummer (name: string | undefined): RunningChecksum | undefined {
  const algorithm = name === undefined ? undefined : algorithmOfHeader(name)
  return algorithm === undefined ? undefined : newChecksum(algorithm)
}

/**
 * The verified plaintext of a request body, streamed. A signed hex payload
 * hash is checked once the body has been read (XAmzContentSHA256Mismatch);
 * aws-chunked bodies are unframed with every chunk signature checked as it
 * arrives (SignatureDoesNotMatch), and a trailing checksum is compared
 * (BadDigest). Throwing from this generator makes the put fail before its
 * version is committed.
 */
export async function * verifiedBody (source: AsyncIterable<Uint8Array>, ctx: PayloadContext): AsyncGenerator<Buffer> {
  const { sig } = ctx
  if (!isStreaming(sig.payloadHash)) {
    const hash = createHash('sha256')
    for await (const chunk of source) {
      const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      hash.update(b)
      yield b
    }
    if (sig.payloadHash !== UNSIGNED && hash.digest('hex') !== sig.payloadHash) fail('XAmzContentSHA256Mismatch', 'The provided \'x-amz-content-sha256\' header does not match what was computed.')
    return
  }
  const signed = sig.payloadHash !== STREAMING_UNSIGNED_TRAILER
  const reader = new Reader(source)
  const scope = scopeOf(sig)
  const sum = checksummer(ctx.trailer)
  let previous = sig.signature
  let total = 0
  // Bounded by the body: each pass consumes one chunk and the last one returns.
  for (;;) {
    const header = await reader.line()
    const m = /^([0-9a-fA-F]{1,8})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(header)
    if (m === null || (signed && m[2] === undefined)) fail('InvalidRequest', 'The aws-chunked body is malformed (bad chunk header)')
    const size = parseInt(m[1] as string, 16)
    if (size > MAX_CHUNK_BYTES) fail('InvalidRequest', `aws-chunked chunks are limited to ${MAX_CHUNK_BYTES} bytes`)
    const data = size > 0 ? await reader.bytes(size) : Buffer.alloc(0)
    if (signed) {
      const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', sig.amzDate, scope, previous, EMPTY_SHA256, createHash('sha256').update(data).digest('hex')].join('\n')
      const expected = createHmac('sha256', ctx.key).update(toSign).digest('hex')
      if (!sameHex(expected, m[2] as string)) fail('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.')
      previous = m[2] as string
    }
    if (size === 0) break
    if ((await reader.bytes(2)).toString('latin1') !== '\r\n') fail('InvalidRequest', 'The aws-chunked body is malformed (missing CRLF after a chunk)')
    total += size
    sum?.update(data)
    yield data
  }
  if (ctx.decodedLength !== undefined && total !== ctx.decodedLength) fail('IncompleteBody', `The body carried ${total} bytes, x-amz-decoded-content-length said ${ctx.decodedLength}`)
  await readTrailer(reader, ctx, previous, sum)
}

async function readTrailer (reader: Reader, ctx: PayloadContext, previous: string, sum: ReturnType<typeof checksummer>): Promise<void> {
  const trailers: Record<string, string> = {}
  let trailerText = ''
  let trailerSignature: string | undefined
  // Bounded: at most a few trailer lines; an empty line ends the body.
  for (let i = 0; i < 16; i++) {
    const line = await reader.line().catch(() => '')
    if (line === '') break
    const at = line.indexOf(':')
    if (at < 0) fail('InvalidRequest', 'The aws-chunked trailer is malformed')
    const name = line.slice(0, at).trim().toLowerCase()
    const value = line.slice(at + 1).trim()
    if (name === 'x-amz-trailer-signature') { trailerSignature = value; continue }
    trailers[name] = value
    trailerText += `${name}:${value}\n`
  }
  if (ctx.sig.payloadHash === STREAMING_SIGNED_TRAILER) {
    const toSign = ['AWS4-HMAC-SHA256-TRAILER', ctx.sig.amzDate, scopeOf(ctx.sig), previous, createHash('sha256').update(trailerText).digest('hex')].join('\n')
    const expected = createHmac('sha256', ctx.key).update(toSign).digest('hex')
    if (trailerSignature === undefined || !sameHex(expected, trailerSignature)) fail('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.')
  }
  if (ctx.trailer !== undefined && sum !== undefined) {
    const sent = trailers[ctx.trailer]
    if (sent === undefined) fail('InvalidRequest', `The trailer ${ctx.trailer} announced by x-amz-trailer is missing`)
    if (sent !== sum.value()) fail('BadDigest', `The ${ctx.trailer.replace('x-amz-checksum-', '').toUpperCase()} you specified did not match the calculated checksum.`)
  }
  ctx.onTrailer?.(trailers)
}
