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
 * field in its header (see rpc.ts). A request beyond MAX_CONCURRENT_HANDLERS_PER_CHANNEL running handlers
 * waits: the channel stops reading until one finishes. A frame that cannot be decoded closes
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
 * Requests of one inbound channel whose handlers may run at once. A caller
 * spreads its calls over CHANNELS_PER_PEER channels and the engine keeps up
 * to ~64 requests in flight per peer (16 per channel), so 32 leaves headroom
 * and normal traffic never waits; a peer's worst case is MAX_INBOUND_CHANNELS
 * times this many handlers. Beyond it the channel stops reading (the muxer's
 * flow control then holds the caller back) rather than answering BUSY: the
 * caller's call simply takes longer and needs no retry logic.
 */
export const MAX_CONCURRENT_HANDLERS_PER_CHANNEL = 32

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
    const decoder = new FrameDecoder({ manyFrames: true })
    try {
      for await (const chunk of this.stream) {
        decoder.push(chunk)
        for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) this.#deliver(frame)
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
  const decoder = new FrameDecoder({ manyFrames: true })
  const slots = new HandlerSlots(MAX_CONCURRENT_HANDLERS_PER_CHANNEL)
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
  try {
    for await (const chunk of stream) {
      decoder.push(chunk)
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        // Back-pressure: the next frame (and the next read) waits for a slot.
        await slots.acquire(signal)
        void answer(frame).finally(() => { slots.release() })
      }
    }
  } catch (err) {
    logger?.warn('rpc channel failed', { peerId, error: errorMessage(err) })
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    closed.abort()
  }
}

/** A counting semaphore for one channel's handlers; waiters are served in order. */
class HandlerSlots {
  readonly #limit: number
  #busy = 0
  readonly #waiting: Array<() => void> = []

  constructor (limit: number) {
    this.#limit = limit
  }

  /** Resolves once a slot is free; rejects when `signal` aborts first. */
  async acquire (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#busy < this.#limit) {
      this.#busy++
      return
    }
    // Only the channel's read loop waits here, so at most one waiter exists.
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(() => { signal.removeEventListener('abort', onAbort); this.#busy++; resolve() })
    })
  }

  release (): void {
    this.#busy--
    this.#waiting.shift()?.()
  }
}
