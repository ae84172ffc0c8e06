/**
 * Small HTTP helpers of the gateway: JSON answers, error answers mapped from
 * CairnError codes, bearer-token checks in constant time.
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { CairnError } from '../util/errors.ts'

/** Send `value` as JSON with `status`. */
export function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/** Send an error as `{error:{code,message,hint}}` with the code's HTTP status. */
export function sendError (res: ServerResponse, err: unknown): void {
  const e = err instanceof CairnError ? err : new CairnError('INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`, 'see the node log; report a bug if it persists')
  if (res.headersSent) {
    res.destroy(e)
    return
  }
  sendJson(res, e.httpStatus, e.toJSON())
}

/** True when the request carries `Authorization: Bearer <token>`. */
export function hasToken (req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? ''
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '')
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

/** A required query parameter; BAD_INPUT when absent. */
export function queryParam (url: URL, name: string): string {
  const value = url.searchParams.get(name)
  if (value === null) throw new CairnError('BAD_INPUT', `missing query parameter ${name}`, `add ?${name}=…`)
  return value
}

/** Time a client has to send the request headers (Node's default is 60 s). */
export const HEADERS_TIMEOUT_MS = 60_000
/**
 * A connection on which no byte moves for this long is closed. It is the
 * only limit on a request: a long upload or download that keeps moving bytes
 * is never cut (Node's own `requestTimeout`, 300 s for the whole request,
 * is turned off), while a stalled client frees its socket and its put fails
 * without committing anything.
 */
export const IDLE_TIMEOUT_MS = 120_000
/** Test override of IDLE_TIMEOUT_MS (milliseconds). */
export const IDLE_TIMEOUT_ENV = 'CAIRN_HTTP_IDLE_TIMEOUT_MS'

/**
 * Apply Cairn's HTTP timeouts to a server: no limit on a request's total
 * length, an idle limit on every socket.
 *
 * @example
 * applyServerTimeouts(createServer(handler))
 */
export function applyServerTimeouts (server: Server): void {
  const override = Number(process.env[IDLE_TIMEOUT_ENV] ?? '')
  const idleMs = Number.isFinite(override) && override > 0 ? override : IDLE_TIMEOUT_MS
  server.requestTimeout = 0
  server.headersTimeout = Math.min(HEADERS_TIMEOUT_MS, idleMs)
  // With no 'timeout' listener, Node destroys a socket idle for this long.
  server.timeout = idleMs
}

/** Idle time after which a kept-alive connection without a request is closed. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000

/**
 * Apply Cairn's timeouts to `server` and listen on `host`:`port` (0 picks a
 * free port); resolves with the port in use.
 *
 * @example
 * const { port } = await listen(createServer(handler), 0, '127.0.0.1')
 */
export async function listen (server: Server, port: number, host: string): Promise<{ server: Server, port: number }> {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
  applyServerTimeouts(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  return { server, port: typeof address === 'object' && address !== null ? address.port : port }
}

/** Header with the size of a chunked upload body as its sender knows it (a file's size at open); a hint only, the body decides. */
export const SIZE_HINT_HEADER = 'x-cairn-size'

/** The body size a request declares (Content-Length, else the size hint), or undefined when absent or not a number. */
export function declaredLength (req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'] ?? req.headers[SIZE_HINT_HEADER]
  const value = Array.isArray(raw) ? raw[0] : raw
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined
  return Number(value)
}
