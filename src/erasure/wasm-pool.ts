/**
 * A small pool of worker threads for the wasm codec (wasm-worker.ts). Workers
 * start on the first task, are reused, hold the process open only while they
 * have work, and a worker that dies fails its pending tasks and is replaced
 * on the next task.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { CairnError } from '../util/errors.ts'

/**
 * Most codec worker threads: one per core, at most 2. The put path keeps four
 * stripes in flight and the get path two ahead, so two workers keep both
 * cores of a small office PC busy without taking memory for idle threads.
 */
export const WASM_WORKERS_MAX = 2

/** One coding task. `bytes` is transferred to the worker (the caller must not reuse it). */
export type WasmTask =
  | { id: number, op: 'encode', k: number, m: number, shardSizeBytes: number, bytes: Uint8Array }
  | { id: number, op: 'reconstruct', k: number, m: number, shardSizeBytes: number, bytes: Uint8Array, flags: Uint8Array }

/** The answer to a task: the coded bytes, or the error message. */
export type WasmReply = { id: number, bytes: Uint8Array } | { id: number, error: string }

interface Pending { resolve: (bytes: Uint8Array) => void, reject: (err: Error) => void }

interface PoolWorker { worker: Worker, pending: Map<number, Pending> }

// The compiled build (dist/) holds wasm-worker.js beside this file, the sources wasm-worker.ts.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './wasm-worker.ts' : './wasm-worker.js', import.meta.url)
const workers: PoolWorker[] = []
let nextId = 1

function startWorker (): PoolWorker {
  const entry: PoolWorker = { worker: new Worker(WORKER_URL), pending: new Map() }
  entry.worker.unref()
  entry.worker.on('message', (reply: WasmReply) => {
    const task = entry.pending.get(reply.id)
    if (task === undefined) return
    entry.pending.delete(reply.id)
    if (entry.pending.size === 0) entry.worker.unref()
    if ('error' in reply) task.reject(new CairnError('INTERNAL', `the wasm Reed-Solomon codec failed: ${reply.error}`, 'report this as a bug'))
    else task.resolve(reply.bytes)
  })
  const fail = (err: Error): void => {
    const index = workers.indexOf(entry)
    if (index >= 0) workers.splice(index, 1)
    for (const task of entry.pending.values()) task.reject(new CairnError('INTERNAL', `the wasm Reed-Solomon worker died: ${err.message}`, 'retry; report this as a bug if it repeats'))
    entry.pending.clear()
  }
  entry.worker.on('error', fail)
  entry.worker.on('exit', (code) => { fail(new Error(`exit code ${code}`)) })
  workers.push(entry)
  return entry
}

function pickWorker (): PoolWorker {
  const limit = Math.max(1, Math.min(WASM_WORKERS_MAX, availableParallelism()))
  const idle = workers.find((w) => w.pending.size === 0)
  if (idle !== undefined) return idle
  if (workers.length < limit) return startWorker()
  return workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a))
}

/**
 * Run one task on a worker; resolves with the coded bytes.
 *
 * @example
 * const parity = await runWasmTask({ op: 'encode', k: 32, m: 97, shardSizeBytes, bytes: data })
 */
export function runWasmTask (task: DistributiveOmit<WasmTask, 'id'>): Promise<Uint8Array> {
  const entry = pickWorker()
  const id = nextId++
  return new Promise((resolve, reject) => {
    entry.pending.set(id, { resolve, reject })
    entry.worker.ref()
    const message = { ...task, id } as WasmTask
    const transfer = [message.bytes.buffer as ArrayBuffer]
    if (message.op === 'reconstruct') transfer.push(message.flags.buffer as ArrayBuffer)
    entry.worker.postMessage(message, transfer)
  })
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
