/**
 * A node's HTTP API from tests: URL and token read fresh from the node's
 * api.json (a restarted node rewrites it), every request bounded in time.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Time limit of one request made by a test. */
export const API_TIMEOUT_MS = 60_000

/** A response: status, JSON body when it parses, raw bytes. */
export interface Answer { status: number, json: unknown, body: Buffer }

/** Call `method path` (under /api/v1) on the node in `dir`. */
export async function api (dir: string, method: string, path: string, body?: Buffer | string, timeoutMs = API_TIMEOUT_MS): Promise<Answer> {
  const a = JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  const res = await fetch(`${a.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${a.token}` }, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(timeoutMs) })
  const bytes = Buffer.from(await res.arrayBuffer())
  let json: unknown
  try { json = JSON.parse(bytes.toString('utf8')) } catch { json = undefined }
  return { status: res.status, json, body: bytes }
}

/** Query string of bucket (and key). */
export const q = (bucket: string, key?: string): string => `bucket=${encodeURIComponent(bucket)}${key === undefined ? '' : `&key=${encodeURIComponent(key)}`}`

/** Hex SHA-256. */
export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Object counts of a node's status. */
export interface ObjectCounts { total: number, healthy: number, degraded: number, unavailable: number }

/** The parts of status the healing tests read. */
export interface HealStatus {
  objects: ObjectCounts
  nodes: Array<{ name: string, id: string, online: boolean, self: boolean, state?: string, orphanBytes?: number }>
  repair: { threshold: number, repairedShards: number, repairReadBytes: number, repairWrittenBytes: number, lastScanMs: number, lastScanTookMs: number }
  scrub: { corruptFound: number, corruptFoundByScrub: number, missingFound: number, passes: number, lost: number }
}

/** The status document of the node in `dir`. */
export async function healStatus (dir: string): Promise<HealStatus> {
  const a = await api(dir, 'GET', '/status')
  if (a.status !== 200) throw new Error(`status of ${dir}: HTTP ${a.status} ${a.body.toString('utf8').slice(0, 200)}`)
  return a.json as HealStatus
}
