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

test('a many-frames decoder splits back-to-back frames whatever the chunking, and rejects bad UTF-8 as strictly', () => {
  const frames = [frameBytes({ _id: 1 }, new Uint8Array(5).fill(1)), frameBytes({ _id: 2 }, new Uint8Array(0)), frameBytes({ _id: 3, t: 'ü' }, new Uint8Array(70_000).fill(3))]
  const stream = Buffer.concat(frames)
  for (const chunkBytes of [1, 3, 13, 4096, stream.byteLength]) {
    const decoder = new FrameDecoder({ manyFrames: true })
    const seen: Array<{ id: unknown, bytes: number, last: number | undefined }> = []
    for (let at = 0; at < stream.byteLength; at += chunkBytes) {
      decoder.push(stream.subarray(at, at + chunkBytes))
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) seen.push({ id: f.header._id, bytes: f.body.byteLength, last: f.body.at(-1) })
    }
    assert.deepEqual(seen, [{ id: 1, bytes: 5, last: 1 }, { id: 2, bytes: 0, last: undefined }, { id: 3, bytes: 70_000, last: 3 }])
    assert.equal(decoder.bufferedBytes, 0)
  }
  // The lenient splitter of channel.ts decoded invalid UTF-8 as U+FFFD; the one decoder refuses it.
  expectCode('PROTOCOL', () => new FrameDecoder({ manyFrames: true }).push(rawFrame(FRAME_VERSION, 4, Buffer.from([0x22, 0xff, 0xfe, 0x22]), 0)))
})

test('a declared body is not allocated before it arrives: 16 MiB declared, 10 bytes sent, ~10 bytes held', () => {
  const prefix = encodeFramePrefix({ a: 1 }, MAX_BODY_BYTES)
  const decoders = Array.from({ length: 64 }, () => new FrameDecoder())
  const before = process.memoryUsage().arrayBuffers
  for (const decoder of decoders) {
    decoder.push(Buffer.from(prefix))
    decoder.push(Buffer.alloc(10))
  }
  const grownBytes = process.memoryUsage().arrayBuffers - before
  for (const decoder of decoders) assert.equal(decoder.bufferedBytes, 10)
  // 64 decoders that each allocated the declared body would hold 1 GiB.
  assert.ok(grownBytes < 16 * 1024 * 1024, `decoders hold ${grownBytes} bytes`)
})
