/**
 * The chaos harness's workload: a few concurrent clients doing puts (tiny
 * inline objects up to objects of several 4 MiB stripes), overwrites,
 * deletes, gets of the current version and gets of older versions, each
 * through a node picked at random among those running. Every
 * acknowledgement goes to the ledger; every read is judged against it.
 *
 * Each client owns its keys (`c<client>/k<n>`), so a key's writes are issued
 * one after another and the ledger knows their order. A client's choices
 * (key, operation, size, bytes) come from its own seeded generator; which
 * node serves it, and how the cluster answers, depend on timing.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { Prng } from '../src/sim/prng.ts'
import { ApiError, deleteObject, getObject, putObject } from './http.ts'
import type { NodeApi } from './http.ts'
import { judgeRead } from './ledger.ts'
import type { Ledger } from './ledger.ts'

/** Operations of the workload. */
export type OpKind = 'put' | 'overwrite' | 'delete' | 'get' | 'getVersion'
export const OP_KINDS: readonly OpKind[] = ['put', 'overwrite', 'delete', 'get', 'getVersion']

/** Outcomes of one kind of operation. */
export interface OpCounts {
  ok: number
  /** Failed with no fault active (or refused for another reason). */
  failed: number
  /** Failed while a fault was active or recovering. */
  unavailable: number
  /** A read of an older version than the latest acknowledged one (a replica behind), or of a version whose put failed. */
  stale: number
  /** A read that returned wrong bytes: always a loss. */
  wrong: number
}

/** A wrong read, reported in the summary. */
export interface WrongRead {
  key: string
  version: string
  detail: string
  atMs: number
}

/** What the workload needs. */
export interface WorkloadInit {
  clients: number
  seed: number
  bucket: string
  /** A running node to send the next request to (undefined when none is). */
  pickNode: (rng: Prng) => NodeApi | undefined
  /** True while a fault is active or its node is still recovering. */
  faultActive: () => boolean
  ledger: Ledger
  /** Milliseconds since the start of the run. */
  clockMs: () => number
}

/** Keys each client writes: few enough that keys get overwritten and deleted often. */
export const KEYS_PER_CLIENT = 12
/** Mean pause between two operations of a client, so the nodes keep CPU for healing on 2 cores. */
export const THINK_MEAN_MS = 150
/** Longest pause between two operations. */
const MAX_THINK_MS = 1_000
/** Pause when no node is running to take a request. */
const NO_NODE_PAUSE_MS = 500
/** Object sizes: [share of puts, smallest bytes, largest bytes]; inline (<= 16 KiB) up to three 4 MiB stripes. */
export const SIZE_CLASSES: ReadonlyArray<readonly [number, number, number]> = [
  [0.35, 0, 16 * 1024],
  [0.30, 16 * 1024 + 1, 1024 * 1024],
  [0.25, 1024 * 1024 + 1, 4 * 1024 * 1024],
  [0.10, 4 * 1024 * 1024 + 1, 10 * 1024 * 1024]
]
/** Operation mix on a key that already has a version: [share, kind]; what remains is a get. */
const MIX: ReadonlyArray<readonly [number, 'write' | 'delete' | 'getVersion']> = [[0.35, 'write'], [0.10, 'delete'], [0.15, 'getVersion']]

function emptyCounts (): OpCounts {
  return { ok: 0, failed: 0, unavailable: 0, stale: 0, wrong: 0 }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function pickSize (rng: Prng): number {
  let r = rng.next()
  for (const [share, min, max] of SIZE_CLASSES) {
    if (r < share) return min + rng.int(max - min + 1)
    r -= share
  }
  return 0
}

/** `size` pseudo-random bytes from `rng` (an AES-CTR key stream: fast, and the same for the same seed). */
export function objectBytes (rng: Prng, size: number): Buffer {
  const key = Buffer.alloc(16)
  const iv = Buffer.alloc(16)
  for (let i = 0; i < 4; i++) { key.writeUInt32LE(rng.nextUint32(), i * 4); iv.writeUInt32LE(rng.nextUint32(), i * 4) }
  const cipher = createCipheriv('aes-128-ctr', key, iv)
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()])
}

/**
 * The running workload.
 *
 * @example
 * const w = new Workload(init); w.start(); …; await w.stop()
 */
export class Workload {
  readonly counts: Record<OpKind, OpCounts> = { put: emptyCounts(), overwrite: emptyCounts(), delete: emptyCounts(), get: emptyCounts(), getVersion: emptyCounts() }
  /** Error codes of failed operations, with how often each occurred. */
  readonly errors = new Map<string, number>()
  readonly wrongReads: WrongRead[] = []
  private readonly init: WorkloadInit
  private stopping = false
  private running: Array<Promise<void>> = []

  constructor (init: WorkloadInit) {
    this.init = init
  }

  /** Start every client. */
  start (): void {
    this.running = Array.from({ length: this.init.clients }, async (_, c) => { await this.client(c) })
  }

  /** Let every client finish its operation in flight, then stop. */
  async stop (): Promise<void> {
    this.stopping = true
    await Promise.all(this.running)
  }

  /** Operations issued so far. */
  total (): number {
    return Object.values(this.counts).reduce((sum, c) => sum + c.ok + c.failed + c.unavailable + c.stale + c.wrong, 0)
  }

  private async client (c: number): Promise<void> {
    const rng = new Prng(this.init.seed * 7919 + c + 1)
    // Bounded by stop(): each round is one operation with a time limit.
    while (!this.stopping) {
      const node = this.init.pickNode(rng)
      if (node === undefined) { await sleep(NO_NODE_PAUSE_MS); continue }
      await this.operation(rng, node, `c${c}/k${rng.int(KEYS_PER_CLIENT)}`)
      await sleep(Math.min(MAX_THINK_MS, rng.exponential(THINK_MEAN_MS)))
    }
  }

  private async operation (rng: Prng, node: NodeApi, key: string): Promise<void> {
    const latest = this.init.ledger.latest(key)
    const record = this.init.ledger.get(key)
    if (latest === undefined && (record === undefined || record.unackedSha256.size === 0)) return await this.put(rng, node, key, 'put')
    let r = rng.next()
    for (const [share, what] of MIX) {
      if (r < share) {
        if (what === 'write') return await this.put(rng, node, key, latest === undefined || latest.deleteMarker ? 'put' : 'overwrite')
        if (what === 'delete' && latest !== undefined && !latest.deleteMarker) return await this.delete(node, key)
        const kept = record?.acked.filter((v) => !v.deleteMarker) ?? []
        if (what === 'getVersion' && kept.length > 0) return await this.get(node, key, 'getVersion', (kept[rng.int(kept.length)] as { id: string }).id)
        break
      }
      r -= share
    }
    await this.get(node, key, 'get')
  }

  private failed (kind: OpKind, err: unknown): void {
    const code = err instanceof ApiError ? err.code : 'HARNESS'
    this.errors.set(`${kind} ${code}`, (this.errors.get(`${kind} ${code}`) ?? 0) + 1)
    if (this.init.faultActive()) this.counts[kind].unavailable++
    else this.counts[kind].failed++
  }

  private async put (rng: Prng, node: NodeApi, key: string, kind: 'put' | 'overwrite'): Promise<void> {
    const data = objectBytes(rng, pickSize(rng))
    const sha256 = createHash('sha256').update(data).digest('hex')
    try {
      const info = await putObject(node, this.init.bucket, key, data)
      this.init.ledger.ack({ key, id: info.id, sha256, size: data.length, deleteMarker: false, ackedMs: this.init.clockMs() })
      if (info.sha256 === sha256 && info.size === data.length) this.counts[kind].ok++
      else this.wrong(kind, key, info.id, `acknowledged ${info.size} bytes hashing to ${info.sha256.slice(0, 12)} for ${data.length} bytes hashing to ${sha256.slice(0, 12)}`)
    } catch (err) {
      this.init.ledger.unacked(key, sha256)
      this.failed(kind, err)
    }
  }

  private async delete (node: NodeApi, key: string): Promise<void> {
    try {
      const info = await deleteObject(node, this.init.bucket, key)
      this.init.ledger.ack({ key, id: info.id, sha256: '', size: 0, deleteMarker: true, ackedMs: this.init.clockMs() })
      this.counts.delete.ok++
    } catch (err) {
      this.init.ledger.unacked(key, undefined)
      this.failed('delete', err)
    }
  }

  private async get (node: NodeApi, key: string, kind: 'get' | 'getVersion', version?: string): Promise<void> {
    const latest = this.init.ledger.latest(key)
    try {
      const read = await getObject(node, this.init.bucket, key, version)
      const verdict = judgeRead(this.init.ledger.get(key), read, version)
      if (verdict.kind === 'wrong') this.wrong(kind, key, verdict.version, verdict.detail)
      else if (verdict.kind === 'stale') this.counts[kind].stale++
      else this.counts[kind].ok++
    } catch (err) {
      const code = err instanceof ApiError ? err.code : ''
      // The latest acknowledged write was a delete: not found is the right answer.
      if (version === undefined && latest?.deleteMarker === true && code === 'NOT_FOUND') { this.counts[kind].ok++; return }
      // A replica that has not yet received the version (replication is asynchronous past the write quorum).
      if (code === 'NOT_FOUND' || code === 'NO_SUCH_VERSION' || code === 'NO_SUCH_BUCKET') { this.counts[kind].stale++; return }
      this.failed(kind, err)
    }
  }

  private wrong (kind: OpKind, key: string, version: string, detail: string): void {
    this.counts[kind].wrong++
    this.wrongReads.push({ key, version, detail, atMs: this.init.clockMs() })
  }
}
