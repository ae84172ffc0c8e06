/**
 * Cairn's request/response layer over libp2p streams, used for every cluster
 * protocol (shard put/get/delete, metadata push, node info, ...).
 *
 * ## Exchange
 *
 * One request and one response per libp2p stream, on the protocol id the
 * engine chose (see PROTOCOLS; the `/1.0.0` suffix versions each protocol):
 *
 * 1. The caller opens a stream for the protocol (multistream-select), writes
 *    one request frame and closes its writing side.
 * 2. The server reads exactly one frame (REQUEST_READ_TIMEOUT_MS), runs the
 *    handler, writes one response frame (RESPONSE_WRITE_TIMEOUT_MS) and closes.
 * 3. The caller reads exactly one frame. The whole call is bounded by
 *    `timeoutMs` (DEFAULT_CALL_TIMEOUT_MS).
 *
 * Frames are specified in rpc-codec.ts: version u8 = 1, u32be header length,
 * UTF-8 JSON header (<= 64 KiB), u32be body length, body (<= 16 MiB).
 *
 * ## Errors
 *
 * A response header whose `error` member is an object
 * `{ code, message, hint? }` is an error response; `error` is therefore a
 * reserved header key for successful responses. The server sends one when
 * the handler throws (a CairnError keeps its code; anything else becomes
 * INTERNAL), when the request frame is malformed (PROTOCOL), or when the
 * handler's response is too large (TOO_LARGE). The caller re-throws it as a
 * CairnError with the same code (an unknown code becomes PEER_ERROR) and
 * `details: { peerId, protocol }`. Other failures on the caller side:
 * TOO_LARGE before sending an oversize request; NODE_UNREACHABLE when no
 * connection to the peer is open or it drops during the call; PEER_ERROR when
 * the peer does not serve the protocol, resets the stream or exceeds the
 * per-protocol stream limit; TIMEOUT after `timeoutMs`; PROTOCOL for a
 * malformed response. A caller's own abort signal rejects with its reason.
 * A failing handler never takes the node down: every error is caught and
 * answered or logged.
 *
 * Bodies are sent as the caller's Uint8Array without copying; the caller must
 * not modify a body until its call settles.
 */

import { CairnError, errorMessage, isErrorCode } from '../util/errors.ts'
import { MAX_STREAMS_PER_PROTOCOL, REQUEST_READ_TIMEOUT_MS, RESPONSE_WRITE_TIMEOUT_MS } from './constants.ts'
import { FrameDecoder, encodeFramePrefix } from './rpc-codec.ts'
import type { Frame } from './rpc-codec.ts'
import type { CallOptions, NetLogger, RpcHandler, RpcResponse, RpcResult } from './types.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** Protocol ids of Cairn's cluster protocols. */
export const PROTOCOLS = {
  shardPut: '/cairn/shard/put/1.0.0',
  shardGet: '/cairn/shard/get/1.0.0',
  shardRelease: '/cairn/shard/release/1.0.0',
  shardAudit: '/cairn/shard/audit/1.0.0',
  metaPush: '/cairn/meta/push/1.0.0',
  metaSync: '/cairn/meta/sync/1.0.0',
  versionState: '/cairn/meta/version-state/1.0.0',
  healLost: '/cairn/heal/lost/1.0.0',
  nodeInfo: '/cairn/node/info/1.0.0',
  heartbeat: '/cairn/node/heartbeat/1.0.0'
} as const

/** Stream limits applied to every Cairn protocol, in each direction, per connection. */
export const RPC_STREAM_LIMITS = { maxInboundStreams: MAX_STREAMS_PER_PROTOCOL, maxOutboundStreams: MAX_STREAMS_PER_PROTOCOL } as const

const EMPTY_BODY = new Uint8Array(0)

/** Read exactly one frame from `stream`; aborting `signal` aborts the stream. */
export async function readFrame (stream: Stream, signal: AbortSignal): Promise<Frame> {
  const decoder = new FrameDecoder()
  const onAbort = (): void => { stream.abort(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
  signal.throwIfAborted()
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const chunk of stream) {
      decoder.push(chunk)
      if (decoder.done) break
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  signal.throwIfAborted()
  return decoder.frame()
}

/** Write one frame (prefix, then the body as is) and close the writing side. */
export async function writeFrame (stream: Stream, prefix: Uint8Array, body: Uint8Array, signal: AbortSignal): Promise<void> {
  if (!stream.send(prefix)) await stream.onDrain({ signal })
  if (body.byteLength > 0 && !stream.send(body)) await stream.onDrain({ signal })
  await stream.close({ signal })
}

/** The header of an error response for any thrown value. */
export function errorHeader (err: unknown): Record<string, unknown> {
  if (err instanceof CairnError) {
    return { error: { code: err.code, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) } }
  }
  return { error: { code: 'INTERNAL', message: `handler failed: ${errorMessage(err)}` } }
}

/** The CairnError an error response stands for, or undefined for a success response. */
export function errorFromHeader (header: Record<string, unknown>, peerId: string, protocol: string): CairnError | undefined {
  const error = header.error
  if (typeof error !== 'object' || error === null) return undefined
  const { code, message, hint } = error as Record<string, unknown>
  const text = typeof message === 'string' ? message : 'peer reported an error without a message'
  return new CairnError(isErrorCode(code) ? code : 'PEER_ERROR', text, typeof hint === 'string' ? hint : undefined, { peerId, protocol })
}

/** Context the server side needs besides the stream. */
export interface ServeContext {
  protocol: string
  handler: RpcHandler
  /** Aborted when the node stops. */
  nodeSignal: AbortSignal
  logger?: NetLogger
}

/**
 * Serve one inbound stream: read the request, run the handler, answer.
 * Never throws: a failure is answered as an error response or, when the
 * stream is broken, ends in a stream abort and a log line.
 */
export async function serveStream (stream: Stream, connection: Connection, context: ServeContext): Promise<void> {
  const callerGone = new AbortController()
  const onClose = (): void => { callerGone.abort(new CairnError('PEER_ERROR', 'the caller closed the stream')) }
  stream.addEventListener('close', onClose)
  const peerId = connection.remotePeer.toString()
  try {
    let response: RpcResponse
    try {
      const readSignal = AbortSignal.any([callerGone.signal, context.nodeSignal, AbortSignal.timeout(REQUEST_READ_TIMEOUT_MS)])
      const request = await readFrame(stream, readSignal)
      response = await runHandler(context.handler, { peerId, protocol: context.protocol, ...request, signal: AbortSignal.any([callerGone.signal, context.nodeSignal]) })
    } catch (err) {
      if (!(err instanceof CairnError) || stream.status !== 'open') throw err
      response = { header: errorHeader(err) }
    }
    await sendResponse(stream, response, AbortSignal.any([callerGone.signal, context.nodeSignal, AbortSignal.timeout(RESPONSE_WRITE_TIMEOUT_MS)]))
  } catch (err) {
    context.logger?.warn('rpc request failed', { protocol: context.protocol, peerId, error: errorMessage(err) })
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    stream.removeEventListener('close', onClose)
  }
}

async function runHandler (handler: RpcHandler, request: Parameters<RpcHandler>[0]): Promise<RpcResponse> {
  try {
    const response = await handler(request)
    if (typeof response !== 'object' || response === null || typeof response.header !== 'object' || response.header === null) {
      return { header: errorHeader(new CairnError('INTERNAL', `handler of ${request.protocol} returned no response header`)) }
    }
    return response
  } catch (err) {
    return { header: errorHeader(err) }
  }
}

async function sendResponse (stream: Stream, response: RpcResponse, signal: AbortSignal): Promise<void> {
  const body = response.body ?? EMPTY_BODY
  let prefix: Uint8Array
  try {
    prefix = encodeFramePrefix(response.header, body.byteLength)
  } catch (err) {
    await writeFrame(stream, encodeFramePrefix(errorHeader(err), 0), EMPTY_BODY, signal)
    return
  }
  await writeFrame(stream, prefix, body, signal)
  // The request may not have been read to its end (an error answered early);
  // drop whatever else arrives rather than buffering it.
  if (stream.readStatus === 'readable' || stream.readStatus === 'paused') await stream.closeRead({ signal })
}

/**
 * Send one request on a new stream of `connection` and return the response.
 * See the module header for the errors.
 */
export async function callOnConnection (connection: Connection, protocol: string, header: Record<string, unknown>, body: Uint8Array, options: CallOptions & { timeoutMs: number }): Promise<RpcResult> {
  const peerId = connection.remotePeer.toString()
  const prefix = encodeFramePrefix(header, body.byteLength)
  const timeout = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  let stream: Stream | undefined
  try {
    stream = await connection.newStream(protocol, { signal, ...RPC_STREAM_LIMITS })
    const reading = readFrame(stream, signal)
    // A server may answer early (e.g. reject a malformed request) and stop
    // reading; its answer matters more than our failed write.
    const writeError = await writeFrame(stream, prefix, body, signal).then(() => undefined, (err: unknown) => err)
    const response = await reading.catch((err: unknown) => { throw writeError ?? err })
    const remoteError = errorFromHeader(response.header, peerId, protocol)
    if (remoteError !== undefined) throw remoteError
    return response
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    throw translateCallError(err, { connection, peerId, protocol, timeout, timeoutMs: options.timeoutMs, callerSignal: options.signal })
  }
}

interface CallContext {
  connection: Connection
  peerId: string
  protocol: string
  timeout: AbortSignal
  timeoutMs: number
  callerSignal: AbortSignal | undefined
}

function translateCallError (err: unknown, context: CallContext): unknown {
  const { peerId, protocol } = context
  const details = { peerId, protocol }
  if (context.callerSignal?.aborted === true) return context.callerSignal.reason
  if (context.timeout.aborted) {
    return new CairnError('TIMEOUT', `call ${protocol} to ${peerId} timed out after ${context.timeoutMs} ms`, 'the peer may be overloaded; retry or raise timeoutMs', details)
  }
  if (err instanceof CairnError) return err
  const name = err instanceof Error ? err.name : ''
  if (name === 'UnsupportedProtocolError') {
    return new CairnError('PEER_ERROR', `peer ${peerId} does not serve ${protocol}`, 'run the same Cairn version on every node', details)
  }
  if (name === 'TooManyOutboundProtocolStreamsError' || name === 'TooManyInboundProtocolStreamsError') {
    return new CairnError('PEER_ERROR', `too many concurrent ${protocol} requests to ${peerId}: ${errorMessage(err)}`, 'limit concurrent requests per peer', details)
  }
  if (context.connection.status !== 'open') {
    return new CairnError('NODE_UNREACHABLE', `connection to ${peerId} closed during ${protocol}: ${errorMessage(err)}`, 'the node went offline; retry on another node', details)
  }
  return new CairnError('PEER_ERROR', `${protocol} to ${peerId} failed: ${errorMessage(err)}`, 'retry; if it persists, check the peer\'s log', details)
}
