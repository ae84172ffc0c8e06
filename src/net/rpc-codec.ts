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
 * A stream carries exactly one frame in each direction (rpc.ts), or a
 * sequence of frames (the channels of channel.ts); one decoder serves both.
 * It checks every length as soon as it arrives and allocates nothing ahead
 * of the bytes received, and rejects with CairnError PROTOCOL: another
 * version, a header or body length over its limit, an empty header, a header
 * that is not strict UTF-8 JSON of an object, bytes after a single frame, and
 * a stream that ends before the frame is complete. The encoder refuses
 * oversize frames with CairnError TOO_LARGE before anything is sent.
 */

import { CairnError } from '../util/errors.ts'
import { ChunkQueue } from './chunk-queue.ts'
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

/** How a decoder is used. */
export interface FrameDecoderOptions {
  /** Limits; the protocol's by default. */
  limits?: FrameLimits
  /**
   * `single` (default): the stream carries exactly one frame; a byte after it
   * is a PROTOCOL error. `many`: frames follow each other (RPC channels);
   * take them with `next()`.
   */
  mode?: 'single' | 'many'
}

/**
 * The one incremental frame decoder of every Cairn protocol: feed it chunks
 * as they arrive and take frames as they complete. It keeps received chunks
 * as views and joins them only once a whole frame is there, so a peer that
 * announces a 16 MiB body and sends 10 bytes costs 10 bytes; lengths and the
 * header are checked as soon as their bytes arrive, before anything else.
 *
 * @example
 * const decoder = new FrameDecoder()
 * for await (const chunk of stream) { decoder.push(chunk); if (decoder.done) break }
 * const { header, body } = decoder.frame()
 * // many frames: const d = new FrameDecoder({ mode: 'many' }); d.push(c); for (let f = d.next(); f; f = d.next()) use(f)
 */
export class FrameDecoder {
  readonly #limits: FrameLimits
  readonly #single: boolean
  readonly #queue = new ChunkQueue()
  #frame: Frame | undefined

  constructor (options: FrameDecoderOptions = {}) {
    this.#limits = options.limits ?? DEFAULT_LIMITS
    this.#single = (options.mode ?? 'single') === 'single'
  }

  /** Single mode: true once the whole frame has been received. */
  get done (): boolean { return this.#frame !== undefined }

  /** Bytes received and not yet returned as part of a frame. */
  get receivedBytes (): number { return this.#queue.length }

  /** Feed the next chunk(s) of the stream; throws PROTOCOL as soon as the bytes are malformed. */
  push (data: Uint8Array | Iterable<Uint8Array>): void {
    if (data instanceof Uint8Array) this.#pushChunk(data)
    else for (const chunk of data) this.#pushChunk(chunk)
  }

  /** Single mode: the decoded frame; throws PROTOCOL when the stream ended inside it. */
  frame (): Frame {
    if (this.#frame === undefined) {
      throw new CairnError('PROTOCOL', `RPC stream ended inside a frame after ${this.receivedBytes} bytes`, 'the peer closed the stream early; retry')
    }
    return this.#frame
  }

  /** Many mode: the next whole frame, or undefined until more bytes arrive. */
  next (): Frame | undefined {
    const size = this.#frameBytes()
    if (size === undefined || this.#queue.length < size.total) return undefined
    const bytes = this.#queue.peek(size.total)
    const header = parseHeader(bytes.subarray(LEAD_BYTES, size.bodyAt - BODY_LENGTH_BYTES))
    // The body is a view into the received (or joined) bytes, never reused.
    const body = bytes.subarray(size.bodyAt)
    this.#queue.consume(size.total)
    return { header, body }
  }

  #pushChunk (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    if (this.#single && this.#frame !== undefined) throw new CairnError('PROTOCOL', 'RPC stream carries bytes after its frame', 'the peer runs an incompatible Cairn version')
    this.#queue.push(chunk)
    if (!this.#single) {
      this.#frameBytes()
      return
    }
    this.#frame = this.next()
    if (this.#frame !== undefined && this.#queue.length > 0) throw new CairnError('PROTOCOL', 'RPC stream carries bytes after its frame', 'the peer runs an incompatible Cairn version')
  }

  /** Validate the lead of the first queued frame as far as it has arrived; its sizes once known. */
  #frameBytes (): { bodyAt: number, total: number } | undefined {
    if (this.#queue.length < LEAD_BYTES) return undefined
    const lead = this.#queue.peek(LEAD_BYTES)
    const version = lead.readUInt8(0)
    if (version !== FRAME_VERSION) {
      throw new CairnError('PROTOCOL', `RPC frame version ${version} is not supported (this node speaks ${FRAME_VERSION})`, 'run the same Cairn version on every node')
    }
    const headerBytes = lead.readUInt32BE(1)
    if (headerBytes === 0 || headerBytes > this.#limits.maxHeaderBytes) {
      throw new CairnError('PROTOCOL', `RPC header length ${headerBytes} is outside 1..${this.#limits.maxHeaderBytes}`, 'the peer sent a malformed or oversize frame')
    }
    const bodyAt = LEAD_BYTES + headerBytes + BODY_LENGTH_BYTES
    if (this.#queue.length < bodyAt) return undefined
    const bodyBytes = this.#queue.peek(bodyAt).readUInt32BE(bodyAt - BODY_LENGTH_BYTES)
    if (bodyBytes > this.#limits.maxBodyBytes) {
      throw new CairnError('PROTOCOL', `RPC body length ${bodyBytes} exceeds the limit of ${this.#limits.maxBodyBytes}`, 'the peer sent an oversize frame')
    }
    return { bodyAt, total: bodyAt + bodyBytes }
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
