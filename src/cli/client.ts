/**
 * The CLI's client of a node's HTTP API. It finds the node through its data
 * directory (`--node DIR` or CAIRN_NODE), reads the URL and token from
 * `api.json`, and turns every failure into a CairnError with a clear hint.
 */
import { http } from '../util/node-http.ts'
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { readApiConfig } from '../daemon/config.ts'
import type { ApiConfig } from '../daemon/config.ts'
import { CairnError, isErrorCode } from '../util/errors.ts'
import { SIZE_HINT_HEADER } from '../gateway/http-util.ts'

/** How long the CLI waits for a node to answer a small request. */
export const API_TIMEOUT_MS = 60_000

/** A connection to one node's API. */
export interface ApiClient {
  api: ApiConfig
  dir: string
  json: <T>(method: string, path: string, query?: Record<string, string | undefined>) => Promise<T>
  upload: <T>(path: string, query: Record<string, string>, body: Readable, sizeHint?: number) => Promise<T>
  sendJson: <T>(method: string, path: string, query: Record<string, string>, value: unknown) => Promise<T>
  download: (path: string, query: Record<string, string | undefined>) => Promise<IncomingMessage>
}

function buildPath (path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v)
  const qs = params.toString()
  return `/api/v1${path}${qs === '' ? '' : `?${qs}`}`
}

function unreachable (dir: string, err: Error): CairnError {
  return new CairnError('NODE_UNREACHABLE', `cannot reach the node in ${dir} (${err.message})`, 'is it running? start it with `cairn start --node DIR`')
}

async function readBody (res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Turn an error answer into a CairnError. */
async function errorOf (res: IncomingMessage): Promise<CairnError> {
  const text = await readBody(res)
  try {
    const e = (JSON.parse(text) as { error?: { code?: string, message?: string, hint?: string, details?: Record<string, unknown> } }).error
    if (e !== undefined && isErrorCode(e.code)) return new CairnError(e.code, e.message ?? 'unknown error', e.hint, e.details)
  } catch { /* not JSON */ }
  return new CairnError('PEER_ERROR', `the node answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, 'see the node log')
}

/**
 * A client for the node whose data directory is `dir`.
 *
 * @example
 * const client = connect('/data/node-1'); await client.json('GET', '/status')
 */
export function connect (dir: string): ApiClient {
  const api = readApiConfig(dir)
  const url = new URL(api.url)
  const base = { host: url.hostname, port: Number(url.port), headers: { authorization: `Bearer ${api.token}` } }

  const send = async (method: string, path: string, opts: { body?: Readable, json?: string, timeoutMs?: number, sizeHint?: number } = {}): Promise<IncomingMessage> =>
    await new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...base.headers }
      if (opts.body !== undefined) { headers.expect = '100-continue'; headers['content-type'] = 'application/octet-stream' }
      // The body goes chunked (a file may change size while it is read); the node uses the size only to decide how early it can refuse.
      if (opts.sizeHint !== undefined) headers[SIZE_HINT_HEADER] = String(opts.sizeHint)
      const req = http.request({ ...base, method, path, headers }, resolve)
      req.on('error', (err) => { reject(unreachable(dir, err)) })
      if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => { req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)) })
      if (opts.body === undefined) { req.end(opts.json); return }
      const body = opts.body
      // Data is sent only after the node agreed to take it (100 Continue).
      req.on('continue', () => {
        body.on('error', (err) => { req.destroy(err) })
        body.pipe(req)
      })
    })

  return {
    api,
    dir,
    async json<T> (method: string, path: string, query?: Record<string, string | undefined>): Promise<T> {
      const res = await send(method, buildPath(path, query), { timeoutMs: API_TIMEOUT_MS })
      if ((res.statusCode ?? 500) >= 400) throw await errorOf(res)
      return JSON.parse(await readBody(res)) as T
    },
    async upload<T> (path: string, query: Record<string, string>, body: Readable, sizeHint?: number): Promise<T> {
      const res = await send('PUT', buildPath(path, query), { body, ...(sizeHint === undefined ? {} : { sizeHint }) })
      if ((res.statusCode ?? 500) >= 400) { body.destroy(); throw await errorOf(res) }
      return JSON.parse(await readBody(res)) as T
    },
    async sendJson<T> (method: string, path: string, query: Record<string, string>, value: unknown): Promise<T> {
      const res = await send(method, buildPath(path, query), { json: JSON.stringify(value), timeoutMs: API_TIMEOUT_MS })
      if ((res.statusCode ?? 500) >= 400) throw await errorOf(res)
      return JSON.parse(await readBody(res)) as T
    },
    async download (path: string, query: Record<string, string | undefined>): Promise<IncomingMessage> {
      const res = await send('GET', buildPath(path, query))
      if ((res.statusCode ?? 500) >= 400) throw await errorOf(res)
      return res
    }
  }
}
