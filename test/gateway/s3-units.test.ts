/**
 * Goal: the pure parts of the S3 gateway behave as S3 documents them:
 * Range headers (open, suffix, unsatisfiable), the conditional-request order
 * of RFC 7232, listing folded into common prefixes and pages, XML escaping,
 * SigV4 URI encoding, and aws-chunked bodies whose chunk signatures are
 * checked (a changed chunk or a chunk out of order is refused).
 */
import assert from 'node:assert/strict'
import { createHash, createHmac } from 'node:crypto'
import { describe, it } from 'node:test'
import { listPage } from '../../src/gateway/s3/buckets.ts'
import { S3Error } from '../../src/gateway/s3/errors.ts'
import { checkConditions, parseRange } from '../../src/gateway/s3/objects.ts'
import { signingKey, uriEncode, verifiedBody } from '../../src/gateway/s3/sigv4.ts'
import type { SignedRequest } from '../../src/gateway/s3/sigv4.ts'
import { escapeXml, xmlDocument } from '../../src/gateway/s3/xml.ts'

const code = (fn: () => unknown): string => {
  try { fn() } catch (err) { if (err instanceof S3Error) return err.code; throw err }
  return 'none'
}

describe('S3 gateway units', () => {
  it('Range: closed, open, suffix, clamped end, unsatisfiable start, and ignored garbage', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 })
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 })
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 })
    assert.deepEqual(parseRange('bytes=-500', 100), { start: 0, end: 99 })
    assert.deepEqual(parseRange('bytes=50-1000', 100), { start: 50, end: 99 })
    assert.equal(code(() => parseRange('bytes=100-', 100)), 'InvalidRange')
    assert.equal(parseRange('items=1-2', 100), undefined)
    assert.equal(parseRange(undefined, 100), undefined)
  })

  it('conditions: If-Match before If-Unmodified-Since, If-None-Match before If-Modified-Since', () => {
    const t = Date.parse('2026-01-01T00:00:00Z')
    assert.equal(code(() => checkConditions({ ifMatch: '"abc"' }, 'abc', t, true)), 'none')
    assert.equal(code(() => checkConditions({ ifMatch: '"x"' }, 'abc', t, true)), 'PreconditionFailed')
    // If-Match holds, so a failing If-Unmodified-Since is ignored.
    assert.equal(code(() => checkConditions({ ifMatch: '*', ifUnmodifiedSince: new Date(t - 1000).toUTCString() }, 'abc', t, true)), 'none')
    assert.equal(code(() => checkConditions({ ifUnmodifiedSince: new Date(t - 1000).toUTCString() }, 'abc', t, true)), 'PreconditionFailed')
    assert.equal(code(() => checkConditions({ ifNoneMatch: '"abc"' }, 'abc', t, true)), 'NotModified')
    assert.equal(code(() => checkConditions({ ifNoneMatch: '"abc"' }, 'abc', t, false)), 'PreconditionFailed')
    assert.equal(code(() => checkConditions({ ifNoneMatch: '"x"', ifModifiedSince: new Date(t + 1000).toUTCString() }, 'abc', t, true)), 'none')
    assert.equal(code(() => checkConditions({ ifModifiedSince: new Date(t + 1000).toUTCString() }, 'abc', t, true)), 'NotModified')
  })

  it('listing folds keys under a delimiter into common prefixes and pages without repeating or losing entries', () => {
    const keys = ['a', 'b/1', 'b/2', 'b/3', 'c', 'd/x/1', 'e'].map((key) => ({ key, size: 1, version: 'v', timeMs: 0 }))
    const list = (after: string, limit: number): typeof keys => keys.filter((k) => k.key > after).slice(0, limit)
    const one = listPage(list, '', '/', '', 1000)
    assert.deepEqual(one.contents.map((c) => c.key), ['a', 'c', 'e'])
    assert.deepEqual(one.prefixes, ['b/', 'd/'])
    assert.equal(one.truncated, false)
    const seen: string[] = []
    let cursor = ''
    for (let i = 0; i < 10; i++) {
      const page = listPage(list, '', '/', cursor, 2)
      seen.push(...page.contents.map((c) => c.key), ...page.prefixes)
      if (!page.truncated) break
      cursor = page.prefixes.includes(page.last) ? `${page.last}\u{10FFFF}` : page.last
    }
    assert.deepEqual(seen.sort(), ['a', 'b/', 'c', 'd/', 'e'])
  })

  it('XML text is escaped and SigV4 encodes URIs byte by byte', () => {
    assert.equal(escapeXml('<a & "b">\''), '&lt;a &amp; &quot;b&quot;&gt;&apos;')
    assert.match(xmlDocument('R', { K: 'a<b' }), /<R xmlns="http:\/\/s3\.amazonaws\.com\/doc\/2006-03-01\/"><K>a&lt;b<\/K><\/R>$/)
    assert.equal(uriEncode('a b/é~', true), 'a%20b/%C3%A9~')
    assert.equal(uriEncode('a/b', false), 'a%2Fb')
  })

  it('an aws-chunked body passes with valid chunk signatures and is refused when a chunk is altered or reordered', async () => {
    const secret = 'secret-key'
    const sig: SignedRequest = { accessKeyId: 'AK', date: '20260101', region: 'us-east-1', amzDate: '20260101T000000Z', signedHeaders: ['host'], signature: 'a'.repeat(64), payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', presigned: false }
    const key = signingKey(secret, sig.date, sig.region)
    const scope = `${sig.date}/${sig.region}/s3/aws4_request`
    const emptyHash = createHash('sha256').digest('hex')
    const chunks = [Buffer.alloc(8192, 1), Buffer.alloc(100, 2), Buffer.alloc(0)]
    const frames: Buffer[] = []
    let previous = sig.signature
    for (const data of chunks) {
      const toSign = ['AWS4-HMAC-SHA256-PAYLOAD', sig.amzDate, scope, previous, emptyHash, createHash('sha256').update(data).digest('hex')].join('\n')
      previous = createHmac('sha256', key).update(toSign).digest('hex')
      frames.push(Buffer.concat([Buffer.from(`${data.length.toString(16)};chunk-signature=${previous}\r\n`), data, Buffer.from('\r\n')]))
    }
    const read = async (parts: Buffer[]): Promise<Buffer> => {
      const out: Buffer[] = []
      for await (const b of verifiedBody((async function * () { yield * parts })(), { sig, key, decodedLength: 8292 })) out.push(b)
      return Buffer.concat(out)
    }
    assert.ok((await read(frames)).equals(Buffer.concat(chunks)))
    // However the network splits the frames (one byte at a time, odd pieces across headers and data, all at once), the body is the same.
    const whole = Buffer.concat(frames)
    for (const piece of [1, 7, 100, 4099, whole.length]) {
      const pieces = Array.from({ length: Math.ceil(whole.length / piece) }, (_, i) => whole.subarray(i * piece, (i + 1) * piece))
      assert.ok((await read(pieces)).equals(Buffer.concat(chunks)), `pieces of ${piece} bytes`)
    }
    const altered = Buffer.from(frames[0] as Buffer)
    altered[100] = 9
    await assert.rejects(read([altered, frames[1] as Buffer, frames[2] as Buffer]), (err: unknown) => err instanceof S3Error && err.code === 'SignatureDoesNotMatch')
    await assert.rejects(read([frames[1] as Buffer, frames[0] as Buffer, frames[2] as Buffer]), (err: unknown) => err instanceof S3Error && err.code === 'SignatureDoesNotMatch')
  })
})
