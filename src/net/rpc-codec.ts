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
 * A stream of rpc.ts carries exactly one frame in each direction; a channel
 * (channel.ts) carries many back to back. The decoder checks every length
 * before it keeps anything, never allocates a body ahead of its bytes, and
 * rejects with CairnError
 * PROTOCOL: another version, a header or body length over its limit, an empty
 * header, a header that is not UTF-8 JSON of an object, bytes after the frame
 * (one-frame streams), and a stream that ends before the frame is complete. The encoder refuses
 * oversize frames with CairnError TOO_LARGE before anything is sent.
 */

import { CairnError } from '../util/errors.ts'
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from './constants.ts'
import { ChunkQueue } from './chunk-queue.ts'

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

/** Options of a FrameDecoder: the limits, and whether a stream carries one frame or many. */
export interface FrameDecoderOptions extends Partial<FrameLimits> {
  /**
   * False (the default) for the one-frame-per-stream exchange of rpc.ts:
   * bytes after the first frame are rejected. True for channel.ts, where a
   * stream carries any number of frames back to back.
   */
  manyFrames?: boolean
}

/**
 * The one incremental frame decoder of Cairn (rpc.ts and channel.ts): feed it
 * chunks as they arrive and take whole frames out. It is strict (a header
 * that is not valid UTF-8 JSON of an object is rejected) and never allocates
 * ahead of data: body chunks are kept as they arrive and joined once the body
 * is complete, so a peer that declares 16 MiB and sends 10 bytes costs 10
 * bytes. Prefix bytes held while a length or header is incomplete are
 * bounded by MAX_HEADER_BYTES plus the two length fields.
 *
 * @example
 * const decoder = new FrameDecoder({ manyFrames: true })
 * for await (const chunk of stream) {
 *   decoder.push(chunk)
 *   for (let f = decoder.next(); f !== undefined; f = decoder.next()) handle(f)
 * }
 */
export class FrameDecoder {
  readonly #limits: FrameLimits
  readonly #manyFrames: boolean
  readonly #prefix = new ChunkQueue()
  #header: Record<string, unknown> | undefined
  #bodyBytes = 0
  #bodyChunks: Uint8Array[] = []
  #bodyReceived = 0
  readonly #ready: Frame[] = []
  #framesDecoded = 0

  constructor (options: FrameDecoderOptions = {}) {
    this.#limits = { maxHeaderBytes: options.maxHeaderBytes ?? MAX_HEADER_BYTES, maxBodyBytes: options.maxBodyBytes ?? MAX_BODY_BYTES }
    this.#manyFrames = options.manyFrames ?? false
  }

  /** True once a whole frame has been received (one-frame use). */
  get done (): boolean { return this.#framesDecoded > 0 }

  /** Bytes held that are not yet part of a whole frame: what a slow or lying peer costs. */
  get bufferedBytes (): number { return this.#prefix.length + this.#bodyReceived }

  /** Bytes received so far of the frame in progress (kept for error messages). */
  get receivedBytes (): number { return this.bufferedBytes }

  /** Feed the next chunk (or chunks) of the stream. */
  push (data: Uint8Array | Iterable<Uint8Array>): void {
    if (data instanceof Uint8Array) {
      this.#pushChunk(data)
      return
    }
    for (const chunk of data) this.#pushChunk(chunk)
  }

  /** The next whole frame, or undefined until more bytes arrive (many-frames use). */
  next (): Frame | undefined {
    return this.#ready.shift()
  }

  /** The decoded frame of a one-frame stream; only valid when `done`. */
  frame (): Frame {
    const frame = this.#ready[0]
    if (frame === undefined) {
      throw new CairnError('PROTOCOL', `RPC stream ended inside a frame after ${this.receivedBytes} bytes`, 'the peer closed the stream early; retry')
    }
    return frame
  }

  #pushChunk (chunk: Uint8Array): void {
    // Each step consumes some bytes of the first chunk, so the loop ends
    // within (chunk bytes + chunks) steps.
    const work: Uint8Array[] = [chunk]
    for (let rest = work.shift(); rest !== undefined; rest = work.shift()) {
      if (rest.byteLength === 0) continue
      if (!this.#manyFrames && this.#framesDecoded > 0) throw new CairnError('PROTOCOL', 'RPC stream carries bytes after its frame', 'the peer runs an incompatible Cairn version')
      if (this.#header === undefined) work.unshift(...this.#takePrefix(rest))
      else work.unshift(this.#takeBody(rest))
    }
  }

  /** Queue prefix bytes and decode the prefix once it is whole; returns the chunks after it. */
  #takePrefix (chunk: Uint8Array): Uint8Array[] {
    this.#prefix.push(chunk)
    if (this.#prefix.length < LEAD_BYTES) return []
    const lead = this.#prefix.peek(LEAD_BYTES)
    const version = lead[0] as number
    if (version !== FRAME_VERSION) {
      throw new CairnError('PROTOCOL', `RPC frame version ${version} is not supported (this node speaks ${FRAME_VERSION})`, 'run the same Cairn version on every node')
    }
    const headerBytes = lead.readUInt32BE(1)
    if (headerBytes === 0 || headerBytes > this.#limits.maxHeaderBytes) {
      throw new CairnError('PROTOCOL', `RPC header length ${headerBytes} is outside 1..${this.#limits.maxHeaderBytes}`, 'the peer sent a malformed or oversize request')
    }
    const prefixBytes = LEAD_BYTES + headerBytes + BODY_LENGTH_BYTES
    if (this.#prefix.length < prefixBytes) return []
    const prefix = this.#prefix.peek(prefixBytes)
    const bodyBytes = prefix.readUInt32BE(LEAD_BYTES + headerBytes)
    if (bodyBytes > this.#limits.maxBodyBytes) {
      throw new CairnError('PROTOCOL', `RPC body length ${bodyBytes} exceeds the limit of ${this.#limits.maxBodyBytes}`, 'the peer sent an oversize request')
    }
    const header = parseHeader(prefix.subarray(LEAD_BYTES, LEAD_BYTES + headerBytes))
    // What follows the prefix is body (or the next frame): hand it back as
    // views, so body bytes are never copied into the prefix queue.
    this.#prefix.consume(prefixBytes)
    const after = this.#prefix.takeAll()
    this.#header = header
    this.#bodyBytes = bodyBytes
    if (bodyBytes === 0) this.#finish()
    return after
  }

  /** Keep body bytes as they come; returns the bytes after this frame. */
  #takeBody (chunk: Uint8Array): Uint8Array {
    const room = this.#bodyBytes - this.#bodyReceived
    const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk
    this.#bodyChunks.push(part)
    this.#bodyReceived += part.byteLength
    if (this.#bodyReceived === this.#bodyBytes) this.#finish()
    return chunk.subarray(part.byteLength)
  }

  #finish (): void {
    const chunks = this.#bodyChunks
    const body = chunks.length === 1 ? chunks[0] as Uint8Array : Buffer.concat(chunks, this.#bodyReceived)
    this.#ready.push({ header: this.#header as Record<string, unknown>, body: chunks.length === 0 ? new Uint8Array(0) : body })
    this.#framesDecoded++
    this.#header = undefined
    this.#bodyBytes = 0
    this.#bodyChunks = []
    this.#bodyReceived = 0
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
