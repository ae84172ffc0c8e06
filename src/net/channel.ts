/**
 * RPC channels: long-lived libp2p streams that carry many requests, so a
 * call costs one frame each way instead of a new stream, a protocol
 * negotiation and their allocations (measured here at ~1–2 ms of CPU per call
 * for stream-per-request). Each peer gets up to CHANNELS_PER_PEER channels,
 * opened lazily by the caller; calls go to the least busy one.
 *
 * ## Wire format (protocol `/cairn/channel/1.0.0`)
 * The caller opens the stream; afterwards it only sends requests and the
 * other side only sends responses. Every message is one frame of rpc-codec.ts
 * (version, JSON header ≤ 64 KiB, body ≤ 16 MiB). Request headers carry two
 * reserved fields: `_id` (integer, unique per channel) and `_p` (the Cairn
 * protocol id, e.g. `/cairn/shard/get/1.0.0`); the response carries the same
 * `_id`. Responses may come in any order. An error response has an `error`
 * field in its header (see rpc.ts). A frame that cannot be decoded closes
 * the channel; pending calls fail with PEER_ERROR and later calls open a new
 * channel.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { CairnError, errorMessage } from '../util/errors.ts'
import { encodeFramePrefix, FrameDecoder } from './rpc-codec.ts'
import type { Frame } from './rpc-codec.ts'
import { errorFromHeader, errorHeader } from './rpc.ts'
import type { CallOptions, NetLogger, RpcHandler, RpcResult } from './types.ts'

/** Protocol id of the channel stream. */
export const CHANNEL_PROTOCOL = '/cairn/channel/1.0.0'
/** Channels one caller keeps open to one peer: enough to overlap big transfers. */
export const CHANNELS_PER_PEER = 4
/** Largest number of channel streams one peer may open to us. */
export const MAX_INBOUND_CHANNELS = 64
/**
 * Requests one channel runs at once. Callers spread load over
 * CHANNELS_PER_PEER channels, and a small call takes well under a
 * millisecond; 32 keeps a busy peer fast while one peer can never have more
 * than MAX_INBOUND_CHANNELS × 32 handlers (and their buffers) here.
 */
export const MAX_HANDLERS_PER_CHANNEL = 32

/** Send one frame; the two sends are synchronous, so frames never interleave. */
async function writeFrame (stream: Stream, header: Record<string, unknown>, body: Uint8Array): Promise<void> {
  const prefix = encodeFramePrefix(header, body.byteLength)
  for (let i = 0; stream.writableNeedsDrain && i < 1_000_000; i++) await stream.onDrain()
  if (stream.status !== 'open' || stream.writeStatus !== 'writable') throw new CairnError('NODE_UNREACHABLE', 'the channel to the peer is closed')
  stream.send(prefix)
  if (body.byteLength > 0) stream.send(body)
}

interface Pending { resolve: (r: RpcResult) => void, reject: (e: unknown) => void, protocol: string }

/** The caller's end of one channel. */
export class ClientChannel {
  readonly stream: Stream
  readonly #peerId: string
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  closed = false

  constructor (stream: Stream, peerId: string, onClose: () => void) {
    this.stream = stream
    this.#peerId = peerId
    void this.#read().finally(() => {
      this.closed = true
      onClose()
      for (const p of this.#pending.values()) p.reject(new CairnError('NODE_UNREACHABLE', `the connection to ${peerId} closed during ${p.protocol}`, 'the node may have gone offline; retry on another node', { peerId, protocol: p.protocol }))
      this.#pending.clear()
    })
  }

  get inFlight (): number { return this.#pending.size }

  async #read (): Promise<void> {
    const splitter = new FrameDecoder({ mode: 'many' })
    try {
      for await (const chunk of this.stream) {
        if (chunk instanceof Uint8Array) splitter.push(chunk)
        else for (const c of chunk) splitter.push(c)
        for (let frame = splitter.next(); frame !== undefined; frame = splitter.next()) this.#deliver(frame)
      }
    } catch (err) {
      this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  #deliver (frame: Frame): void {
    const id = frame.header._id
    const pending = typeof id === 'number' ? this.#pending.get(id) : undefined
    if (pending === undefined) return // a late answer to a call that timed out
    this.#pending.delete(id as number)
    const { _id: _, ...header } = frame.header
    const error = errorFromHeader(header, this.#peerId, pending.protocol)
    if (error !== undefined) pending.reject(error)
    else pending.resolve({ header, body: frame.body })
  }

  /** Send a request and wait for its response. */
  async call (protocol: string, header: Record<string, unknown>, body: Uint8Array, options: CallOptions & { timeoutMs: number }): Promise<RpcResult> {
    const id = this.#nextId++
    return await new Promise<RpcResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new CairnError('TIMEOUT', `call ${protocol} to ${this.#peerId} timed out after ${options.timeoutMs} ms`, 'the peer may be overloaded; retry', { peerId: this.#peerId, protocol }))
      }, options.timeoutMs)
      const onAbort = (): void => { this.#pending.delete(id); clearTimeout(timer); reject(options.signal?.reason) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const settle = <T>(fn: (v: T) => void) => (v: T): void => { clearTimeout(timer); options.signal?.removeEventListener('abort', onAbort); fn(v) }
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject), protocol })
      writeFrame(this.stream, { ...header, _id: id, _p: protocol }, body).catch((err: unknown) => {
        this.#pending.get(id)?.reject(err instanceof CairnError ? err : new CairnError('NODE_UNREACHABLE', `cannot send ${protocol} to ${this.#peerId}: ${errorMessage(err)}`, 'the node may have gone offline', { peerId: this.#peerId, protocol }))
        this.#pending.delete(id)
      })
    })
  }
}

/** Serve one inbound channel: every request frame runs its protocol's handler. */
export async function serveChannel (stream: Stream, connection: Connection, handlers: ReadonlyMap<string, RpcHandler>, nodeSignal: AbortSignal, logger?: NetLogger): Promise<void> {
  const peerId = connection.remotePeer.toString()
  const closed = new AbortController()
  const signal = AbortSignal.any([closed.signal, nodeSignal])
  const splitter = new FrameDecoder({ mode: 'many' })
  const answer = async (frame: Frame): Promise<void> => {
    const { _id: id, _p: protocol, ...header } = frame.header
    let response: { header: Record<string, unknown>, body?: Uint8Array }
    const handler = typeof protocol === 'string' ? handlers.get(protocol) : undefined
    if (handler === undefined) {
      response = { header: errorHeader(new CairnError('PEER_ERROR', `this node does not serve ${String(protocol)}`, 'run the same Cairn version on every node')) }
    } else {
      try {
        response = await handler({ peerId, protocol: protocol as string, header, body: frame.body, signal })
      } catch (err) {
        response = { header: errorHeader(err) }
      }
    }
    try {
      await writeFrame(stream, { ...response.header, _id: id }, response.body ?? new Uint8Array(0))
    } catch (err) {
      try {
        await writeFrame(stream, { ...errorHeader(err), _id: id }, new Uint8Array(0))
      } catch { /* the channel is gone */ }
    }
  }
  // At most MAX_HANDLERS_PER_CHANNEL requests run at once; further frames
  // wait here, which stops reading the stream, so the muxer's window fills
  // and the caller is slowed down instead of this node's memory growing.
  let running = 0
  let slotFreed: (() => void) | undefined
  const admit = async (frame: Frame): Promise<void> => {
    // Bounded: each pass waits for one handler to finish.
    while (running >= MAX_HANDLERS_PER_CHANNEL) await new Promise<void>((resolve) => { slotFreed = resolve })
    running++
    void answer(frame).finally(() => {
      running--
      const wake = slotFreed
      slotFreed = undefined
      wake?.()
    })
  }
  try {
    for await (const chunk of stream) {
      if (chunk instanceof Uint8Array) splitter.push(chunk)
      else for (const c of chunk) splitter.push(c)
      for (let frame = splitter.next(); frame !== undefined; frame = splitter.next()) await admit(frame)
    }
  } catch (err) {
    logger?.warn('rpc channel failed', { peerId, error: errorMessage(err) })
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    closed.abort()
  }
}
