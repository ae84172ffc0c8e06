/**
 * Goal: the RPC frame codec round-trips any header and body however the bytes
 * are chunked, and rejects every malformed or oversize frame with a PROTOCOL
 * (decoding) or TOO_LARGE (encoding) CairnError before allocating for it.
 */

import { strict as assert } from 'node:assert'
import { test } from 'node:test'
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../src/net/constants.ts'
import { FRAME_VERSION, FrameDecoder, encodeFramePrefix } from '../../src/net/rpc-codec.ts'
import { CairnError } from '../../src/util/errors.ts'

function frameBytes (header: Record<string, unknown>, body: Uint8Array): Uint8Array {
  return Buffer.concat([encodeFramePrefix(header, body.byteLength), body])
}

function decodeInChunks (bytes: Uint8Array, chunkBytes: number): { header: Record<string, unknown>, body: Uint8Array } {
  const decoder = new FrameDecoder()
  for (let at = 0; at < bytes.byteLength; at += chunkBytes) decoder.push(bytes.subarray(at, at + chunkBytes))
  assert.equal(decoder.done, true)
  return decoder.frame()
}

function rawFrame (version: number, headerLength: number, header: Uint8Array, bodyLength: number): Uint8Array {
  const lead = Buffer.alloc(5)
  lead.writeUInt8(version, 0)
  lead.writeUInt32BE(headerLength, 1)
  const bodyLead = Buffer.alloc(4)
  bodyLead.writeUInt32BE(bodyLength, 0)
  return Buffer.concat([lead, header, bodyLead])
}

function expectCode (code: string, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof CairnError && err.code === code)
}

test('a frame round-trips whatever the chunk size, including an empty body', () => {
  const body = new Uint8Array(300_000).map((_, i) => i % 251)
  const header = { cid: 'abc', n: 3, nested: { ok: true }, text: 'été' }
  for (const chunkBytes of [1, 7, 4096, 1 << 20]) {
    const frame = decodeInChunks(frameBytes(header, body), chunkBytes)
    assert.deepEqual(frame.header, header)
    assert.deepEqual(Buffer.from(frame.body), Buffer.from(body))
  }
  const empty = decodeInChunks(frameBytes({ a: 1 }, new Uint8Array(0)), 3)
  assert.equal(empty.body.byteLength, 0)
})

test('the encoder refuses oversize headers and bodies with TOO_LARGE', () => {
  expectCode('TOO_LARGE', () => encodeFramePrefix({ big: 'x'.repeat(MAX_HEADER_BYTES) }, 0))
  expectCode('TOO_LARGE', () => encodeFramePrefix({}, MAX_BODY_BYTES + 1))
  assert.ok(encodeFramePrefix({}, MAX_BODY_BYTES).byteLength > 0)
})

test('the decoder rejects a wrong version, bad lengths and bad headers with PROTOCOL', () => {
  const ok = Buffer.from('{}')
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION + 1, 2, ok, 0)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 0, new Uint8Array(0), 0)))
  // The announced header length alone is rejected, before its bytes arrive.
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, MAX_HEADER_BYTES + 1, new Uint8Array(0), 0).subarray(0, 5)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 2, ok, MAX_BODY_BYTES + 1)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 0xffffffff, ok, 0)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 4, Buffer.from('[1,2'), 0)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 2, Buffer.from('[]'), 0)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 4, Buffer.from('null'), 0)))
  expectCode('PROTOCOL', () => new FrameDecoder().push(rawFrame(FRAME_VERSION, 2, Buffer.from([0xff, 0xfe]), 0)))
})

test('the decoder rejects bytes after the frame and a truncated frame', () => {
  const bytes = frameBytes({ a: 1 }, new Uint8Array(10))
  expectCode('PROTOCOL', () => new FrameDecoder().push(Buffer.concat([bytes, Buffer.from([1])])))
  const decoder = new FrameDecoder()
  decoder.push(bytes)
  expectCode('PROTOCOL', () => { decoder.push(Buffer.from([1])) })
  const truncated = new FrameDecoder()
  truncated.push(bytes.subarray(0, bytes.byteLength - 1))
  assert.equal(truncated.done, false)
  expectCode('PROTOCOL', () => truncated.frame())
})

test('a declared body is not allocated before its bytes arrive', () => {
  // 64 peers each announcing a 16 MiB body and sending 10 bytes must cost
  // about 640 bytes, not 1 GiB.
  const before = process.memoryUsage().arrayBuffers
  const decoders = Array.from({ length: 64 }, () => {
    const d = new FrameDecoder()
    d.push(Buffer.concat([rawFrame(FRAME_VERSION, 2, Buffer.from('{}'), MAX_BODY_BYTES), new Uint8Array(10)]))
    return d
  })
  const grown = process.memoryUsage().arrayBuffers - before
  assert.ok(grown < 64 * 1024 * 1024, `64 half-sent frames took ${grown} bytes`)
  assert.equal(decoders.every((d) => !d.done && d.receivedBytes === 2 + 9 + 10), true)
})

test('many mode: back-to-back frames come out in order whatever the chunking; a bad header is rejected as strictly as in single mode', () => {
  const frames = Array.from({ length: 20 }, (_, i) => frameBytes({ i }, new Uint8Array(i * 100).fill(i)))
  const stream = Buffer.concat(frames)
  for (const chunkBytes of [1, 13, 999, stream.byteLength]) {
    const decoder = new FrameDecoder({ mode: 'many' })
    const out: number[] = []
    for (let at = 0; at < stream.byteLength; at += chunkBytes) {
      decoder.push(stream.subarray(at, at + chunkBytes))
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
        assert.equal(f.body.byteLength, (f.header.i as number) * 100)
        out.push(f.header.i as number)
      }
    }
    assert.deepEqual(out, frames.map((_, i) => i))
  }
  const bad = new FrameDecoder({ mode: 'many' })
  bad.push(rawFrame(FRAME_VERSION, 2, Buffer.from([0xff, 0xfe]), 0))
  expectCode('PROTOCOL', () => bad.next())
})
