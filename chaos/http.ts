/**
 * The chaos harness's client of a node's HTTP API (src/gateway/api.ts): JSON
 * calls, object put, get (hashed while streaming, never held in memory) and
 * delete. Every call has a time limit; every failure is an `ApiError` whose
 * `code` is Cairn's error code, `TIMEOUT` or `NETWORK`, so the workload can
 * tell a refusal from a node that is not there.
 */
import { createHash } from 'node:crypto'

/** Where a node's API is: its URL and bearer token (from DIR/api.json). */
export interface NodeApi {
  url: string
  token: string
}

/** The parts of the API's VersionInfo the harness records. */
export interface VersionAnswer {
  id: string
  sha256: string
  size: number
  deleteMarker: boolean
  current?: boolean
}

/** What a get read: the version served, the sha256 it claims, and the sha256 and size of the bytes that arrived. */
export interface GetAnswer {
  version: string
  claimedSha256: string
  sha256: string
  size: number
}

/** A failed API call. */
export class ApiError extends Error {
  /** Cairn's error code (NOT_FOUND, NOT_ENOUGH_NODES, …), or TIMEOUT, NETWORK, HTTP_<status>. */
  readonly code: string

  constructor (code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
  }
}

/** Time limit of a small JSON call (status, config, versions). */
export const JSON_TIMEOUT_MS = 10_000
/**
 * Time limit of an object put or get: long enough for a several-MiB object
 * to wait out a stopped node (up to 15 s) and a slow commit on 2 busy cores.
 */
export const OBJECT_TIMEOUT_MS = 90_000
/** Characters of an error body kept in messages. */
const MAX_ERROR_TEXT_CHARS = 300

function objectPath (bucket: string, key: string, version?: string): string {
  const q = new URLSearchParams({ bucket, key })
  if (version !== undefined) q.set('version', version)
  return `/object?${q.toString()}`
}

function failure (err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const e = err as Error & { cause?: { code?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return new ApiError('TIMEOUT', 'no answer in time')
  return new ApiError('NETWORK', `${e.message}${e.cause?.code === undefined ? '' : ` (${e.cause.code})`}`)
}

async function errorOf (res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '')
  try {
    const e = (JSON.parse(text) as { error?: { code?: string, message?: string } }).error
    if (typeof e?.code === 'string') return new ApiError(e.code, e.message ?? '')
  } catch { /* not JSON */ }
  return new ApiError(`HTTP_${res.status}`, text.slice(0, MAX_ERROR_TEXT_CHARS))
}

async function send (api: NodeApi, method: string, path: string, body: Buffer | string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
  const limit = AbortSignal.timeout(timeoutMs)
  try {
    const res = await fetch(`${api.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}) },
      ...(body === undefined ? {} : { body }),
      signal: signal === undefined ? limit : AbortSignal.any([limit, signal])
    })
    if (res.status !== 200) throw await errorOf(res)
    return res
  } catch (err) {
    throw failure(err)
  }
}

/**
 * A JSON call.
 *
 * @example
 * const status = await apiJson<Record<string, unknown>>(api, 'GET', '/status')
 */
export async function apiJson<T> (api: NodeApi, method: string, path: string, body?: unknown, timeoutMs = JSON_TIMEOUT_MS): Promise<T> {
  const res = await send(api, method, path, body === undefined ? undefined : JSON.stringify(body), timeoutMs)
  try {
    return await res.json() as T
  } catch (err) {
    throw failure(err)
  }
}

/** Store `data` as a new version of bucket/key. */
export async function putObject (api: NodeApi, bucket: string, key: string, data: Buffer, signal?: AbortSignal): Promise<VersionAnswer> {
  const res = await send(api, 'PUT', objectPath(bucket, key), data, OBJECT_TIMEOUT_MS, signal)
  try {
    return await res.json() as VersionAnswer
  } catch (err) {
    throw failure(err)
  }
}

/** Write a delete marker for bucket/key. */
export async function deleteObject (api: NodeApi, bucket: string, key: string, signal?: AbortSignal): Promise<VersionAnswer> {
  const res = await send(api, 'DELETE', objectPath(bucket, key), undefined, OBJECT_TIMEOUT_MS, signal)
  try {
    return await res.json() as VersionAnswer
  } catch (err) {
    throw failure(err)
  }
}

/** Read bucket/key (the current version, or `version`), hashing the bytes as they arrive. */
export async function getObject (api: NodeApi, bucket: string, key: string, version?: string, signal?: AbortSignal): Promise<GetAnswer> {
  const res = await send(api, 'GET', objectPath(bucket, key, version), undefined, OBJECT_TIMEOUT_MS, signal)
  const hash = createHash('sha256')
  let size = 0
  try {
    if (res.body !== null) {
      for await (const chunk of res.body) {
        hash.update(chunk)
        size += chunk.byteLength
      }
    }
  } catch (err) {
    throw failure(err)
  }
  return { version: res.headers.get('x-cairn-version') ?? '', claimedSha256: res.headers.get('x-cairn-sha256') ?? '', sha256: hash.digest('hex'), size }
}

/** Every version of bucket/key, newest first (NOT_FOUND when it has none). */
export async function listVersions (api: NodeApi, bucket: string, key: string): Promise<VersionAnswer[]> {
  return await apiJson<VersionAnswer[]>(api, 'GET', `/versions?${new URLSearchParams({ bucket, key }).toString()}`)
}
