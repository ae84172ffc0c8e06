/**
 * The frame codec of Cairn's RPC protocols (see rpc.ts for the exchange).
 *
 * ## Frame, version 1
 *
 * | field          | size            | meaning                                           |
 * | -------------- | --------------- | ------------------------------------------------- |
 * | version        | u8              | always 1; anything else is rejected               |
 * | header length  | u32 big-endian  | 0 < n <= MAX_HEADER_BYTES (64 KiB)                |
 * | header         | n bytes         | UTF-8 JSON, must parse to a plain object          |
 * | body length    | u32 big-endian  | 0 <= m <= MAX_BODY_BYTES (16 MiB)                 |
 * | body           | m bytes         | opaque bytes (shard data, encoded metadata, ...)  |
 *
 * A stream carries exactly one frame in each direction. The decoder checks
 * every length before it allocates anything, and rejects with CairnError
 * PROTOCOL: another version, a header or body length over its limit, an empty
 * header, a header that is not UTF-8 JSON of an object, bytes after the frame,
 * and a stream that ends before the frame is complete. The encoder refuses
 * oversize frames with CairnError TOO_LARGE before anything is sent.
 */

import { CairnError } from '../util/errors.ts'
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from './constants.ts'

/** The frame version this code writes and the only one it reads. */
export const FRAME_VERSION = 1

/** Bytes before the header: version (1) and header length (4). */
const LEAD_BYTES = 5
/** Bytes of the body length field. */
const BODY_LENGTH_BYTES = 4

/** A decoded frame. */
export interface Frame {
  header: Record<string, unknown>
  body: Uint8Array
}

/** Limits a decoder or encoder enforces; the defaults are the protocol's. */
export interface FrameLimits {
  maxHeaderBytes: number
  maxBodyBytes: number
}

const DEFAULT_LIMITS: FrameLimits = { maxHeaderBytes: MAX_HEADER_BYTES, maxBodyBytes: MAX_BODY_BYTES }

/**
 * Encode everything of a frame except the body bytes: send the result, then
 * the body itself, so the body is never copied.
 *
 * @example
 * stream.send(encodeFramePrefix({ cid }, body.byteLength)); stream.send(body)
 */
export function encodeFramePrefix (header: Record<string, unknown>, bodyBytes: number, limits: FrameLimits = DEFAULT_LIMITS): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8')
  if (json.byteLength > limits.maxHeaderBytes) {
    throw new CairnError('TOO_LARGE', `RPC header is ${json.byteLength} bytes, the limit is ${limits.maxHeaderBytes}`, 'send large values in the body')
  }
  if (bodyBytes > limits.maxBodyBytes) {
    throw new CairnError('TOO_LARGE', `RPC body is ${bodyBytes} bytes, the limit is ${limits.maxBodyBytes}`, 'split the data into several requests')
  }
  const prefix = new Uint8Array(LEAD_BYTES + json.byteLength + BODY_LENGTH_BYTES)
  const view = new DataView(prefix.buffer)
  view.setUint8(0, FRAME_VERSION)
  view.setUint32(1, json.byteLength)
  prefix.set(json, LEAD_BYTES)
  view.setUint32(LEAD_BYTES + json.byteLength, bodyBytes)
  return prefix
}

/**
 * Incremental decoder of one frame: feed it chunks as they arrive, then take
 * the frame once `done`.
 *
 * @example
 * const decoder = new FrameDecoder()
 * for await (const chunk of stream) { decoder.push(chunk); if (decoder.done) break }
 * const { header, body } = decoder.frame()
 */
export class FrameDecoder {
  readonly #limits: FrameLimits
  #pending: Uint8Array[] = []
  #pendingBytes = 0
  #header: Record<string, unknown> | undefined
  #body: Uint8Array | undefined
  #bodyFilled = 0
  #done = false

  constructor (limits: FrameLimits = DEFAULT_LIMITS) {
    this.#limits = limits
  }

  /** True once a whole frame has been received. */
  get done (): boolean { return this.#done }

  /** Bytes received so far that are not yet part of a decoded field, plus body bytes. */
  get receivedBytes (): number { return this.#pendingBytes + this.#bodyFilled }

  /** Feed the next chunk of the stream. */
  push (data: Uint8Array | Iterable<Uint8Array>): void {
    if (data instanceof Uint8Array) {
      this.#pushChunk(data)
      return
    }
    for (const chunk of data) this.#pushChunk(chunk)
  }

  /** The decoded frame; only valid when `done`. */
  frame (): Frame {
    if (!this.#done || this.#header === undefined || this.#body === undefined) {
      throw new CairnError('PROTOCOL', `RPC stream ended inside a frame after ${this.receivedBytes} bytes`, 'the peer closed the stream early; retry')
    }
    return { header: this.#header, body: this.#body }
  }

  #pushChunk (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    if (this.#done) throw new CairnError('PROTOCOL', 'RPC stream carries bytes after its frame', 'the peer runs an incompatible Cairn version')
    if (this.#body !== undefined) {
      this.#fillBody(chunk)
      return
    }
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.byteLength
    this.#parsePrefix()
  }

  #fillBody (chunk: Uint8Array): void {
    const body = this.#body as Uint8Array
    const room = body.byteLength - this.#bodyFilled
    if (chunk.byteLength > room) throw new CairnError('PROTOCOL', 'RPC stream carries bytes after its frame', 'the peer runs an incompatible Cairn version')
    body.set(chunk, this.#bodyFilled)
    this.#bodyFilled += chunk.byteLength
    if (this.#bodyFilled === body.byteLength) this.#done = true
  }

  /** Decode version, header and body length once enough bytes are pending. */
  #parsePrefix (): void {
    if (this.#pendingBytes < LEAD_BYTES) return
    const pending = this.#pending.length === 1 ? this.#pending[0] as Uint8Array : Buffer.concat(this.#pending)
    this.#pending = [pending]
    const view = new DataView(pending.buffer, pending.byteOffset, pending.byteLength)
    const version = view.getUint8(0)
    if (version !== FRAME_VERSION) {
      throw new CairnError('PROTOCOL', `RPC frame version ${version} is not supported (this node speaks ${FRAME_VERSION})`, 'run the same Cairn version on every node')
    }
    const headerBytes = view.getUint32(1)
    if (headerBytes === 0 || headerBytes > this.#limits.maxHeaderBytes) {
      throw new CairnError('PROTOCOL', `RPC header length ${headerBytes} is outside 1..${this.#limits.maxHeaderBytes}`, 'the peer sent a malformed or oversize request')
    }
    const bodyLengthAt = LEAD_BYTES + headerBytes
    if (pending.byteLength < bodyLengthAt + BODY_LENGTH_BYTES) return
    const bodyBytes = view.getUint32(bodyLengthAt)
    if (bodyBytes > this.#limits.maxBodyBytes) {
      throw new CairnError('PROTOCOL', `RPC body length ${bodyBytes} exceeds the limit of ${this.#limits.maxBodyBytes}`, 'the peer sent an oversize request')
    }
    this.#header = parseHeader(pending.subarray(LEAD_BYTES, bodyLengthAt))
    this.#body = new Uint8Array(bodyBytes)
    this.#pending = []
    this.#pendingBytes = 0
    if (bodyBytes === 0) this.#done = true
    const rest = pending.subarray(bodyLengthAt + BODY_LENGTH_BYTES)
    if (rest.byteLength > 0) this.#pushChunk(rest)
  }
}

function parseHeader (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new CairnError('PROTOCOL', 'RPC header is not valid UTF-8 JSON', 'the peer sent a malformed request')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CairnError('PROTOCOL', 'RPC header must be a JSON object', 'the peer sent a malformed request')
  }
  return value as Record<string, unknown>
}
