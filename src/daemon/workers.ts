/**
 * Background workers: every periodic task of a node (anti-entropy, repair,
 * scrub, orphan collection, retention, …) runs as a worker of one kind —
 * a name, a state, an interval, counters, the last error, and what it
 * reports of its progress and rate limit — so the daemon only wires them,
 * `stop()` ends them all, and `cairn workers` lists them (as Garage's
 * `worker list` does). A worker runs again `intervalMs` after its previous
 * run ended, never twice at once; `trigger` runs it now (or right after the
 * run in progress).
 */
import { errorMessage } from '../util/errors.ts'

/** Longest wait in `stop()` for running workers to end. */
export const STOP_WAIT_MS = 3000

/** What a worker is doing. */
export type WorkerState = 'idle' | 'running' | 'stopped'

/** One worker as `cairn workers --json` prints it. */
export interface WorkerInfo {
  name: string
  state: WorkerState
  intervalMs: number
  runs: number
  /** Start of the last run (ms since the epoch; 0 before the first). */
  lastRunMs: number
  lastDurationMs: number
  /** Next scheduled start (0 while running or stopped). */
  nextRunMs: number
  lastError: string
  /** A line on the current or last run, e.g. "412 of 1200 shards". */
  progress: string
  /** The rate limit in force, e.g. "20MB/s", or '' when none. */
  rateLimit: string
  /** Worker-specific counters. */
  stats: Record<string, unknown>
}

/** What a worker is made of. */
export interface WorkerSpec {
  name: string
  /** Time between the end of a run and the next start (read after every run). */
  intervalMs: () => number
  run: (signal: AbortSignal) => Promise<void>
  /** Delay before the first run (default: the interval). */
  firstRunMs?: number
  /** What it reports; a thrown error or a non-empty `lastError` shows as the worker's last error. */
  describe?: () => { progress?: string, rateLimit?: string, stats?: Record<string, unknown>, lastError?: string }
}

interface Slot {
  spec: WorkerSpec
  state: WorkerState
  runs: number
  lastRunMs: number
  lastDurationMs: number
  nextRunMs: number
  lastError: string
  timer: NodeJS.Timeout | undefined
  current: Promise<void> | undefined
  again: boolean
}

/**
 * The workers of one node.
 *
 * @example
 * const workers = new Workers(log); workers.add({ name: 'scrub', intervalMs: () => 60_000, run }); workers.start()
 */
export class Workers {
  private readonly slots = new Map<string, Slot>()
  private readonly abort = new AbortController()
  private readonly log: (message: string) => void
  private started = false

  constructor (log: (message: string) => void) {
    this.log = log
  }

  /** Register a worker (before or after `start`). */
  add (spec: WorkerSpec): void {
    const slot: Slot = { spec, state: 'idle', runs: 0, lastRunMs: 0, lastDurationMs: 0, nextRunMs: 0, lastError: '', timer: undefined, current: undefined, again: false }
    this.slots.set(spec.name, slot)
    if (this.started) this.schedule(slot, spec.firstRunMs ?? spec.intervalMs())
  }

  /** Schedule every worker's first run. */
  start (): void {
    this.started = true
    for (const slot of this.slots.values()) this.schedule(slot, slot.spec.firstRunMs ?? slot.spec.intervalMs())
  }

  private schedule (slot: Slot, delayMs: number): void {
    if (this.abort.signal.aborted) return
    clearTimeout(slot.timer)
    const ms = Number.isFinite(delayMs) && delayMs >= 0 ? delayMs : 60_000
    slot.nextRunMs = Date.now() + ms
    slot.timer = setTimeout(() => { void this.runSlot(slot) }, ms)
  }

  private async runSlot (slot: Slot): Promise<void> {
    if (this.abort.signal.aborted) return
    if (slot.current !== undefined) {
      slot.again = true
      await slot.current
      return
    }
    clearTimeout(slot.timer)
    slot.state = 'running'
    slot.nextRunMs = 0
    slot.lastRunMs = Date.now()
    slot.current = (async () => {
      try {
        await slot.spec.run(this.abort.signal)
        slot.lastError = ''
      } catch (err) {
        if (!this.abort.signal.aborted) {
          slot.lastError = errorMessage(err)
          this.log(`worker ${slot.spec.name} failed: ${slot.lastError}`)
        }
      }
    })()
    await slot.current
    slot.current = undefined
    slot.runs++
    slot.lastDurationMs = Date.now() - slot.lastRunMs
    if (this.abort.signal.aborted) {
      slot.state = 'stopped'
      return
    }
    slot.state = 'idle'
    if (slot.again) {
      slot.again = false
      this.schedule(slot, 0)
    } else {
      this.schedule(slot, slot.spec.intervalMs())
    }
  }

  /** Run a worker now (or once more right after its run in progress); resolves when that run ends. */
  async trigger (name: string): Promise<void> {
    const slot = this.slots.get(name)
    if (slot === undefined || this.abort.signal.aborted) return
    await this.runSlot(slot)
  }

  /** Every worker with its state and counters. */
  list (): WorkerInfo[] {
    return [...this.slots.values()].map((slot) => {
      let described: ReturnType<NonNullable<WorkerSpec['describe']>> = {}
      try { described = slot.spec.describe?.() ?? {} } catch (err) { described = { lastError: errorMessage(err) } }
      return {
        name: slot.spec.name,
        state: slot.state,
        intervalMs: slot.spec.intervalMs(),
        runs: slot.runs,
        lastRunMs: slot.lastRunMs,
        lastDurationMs: slot.lastDurationMs,
        nextRunMs: slot.nextRunMs,
        lastError: slot.lastError !== '' ? slot.lastError : described.lastError ?? '',
        progress: described.progress ?? '',
        rateLimit: described.rateLimit ?? '',
        stats: described.stats ?? {}
      }
    })
  }

  /** Stop every worker: no new runs; running ones are aborted and awaited. */
  async stop (): Promise<void> {
    this.abort.abort(new Error('the node is stopping'))
    for (const slot of this.slots.values()) {
      clearTimeout(slot.timer)
      slot.nextRunMs = 0
    }
    // A run that ignores the abort (a call waiting out its own timeout) is not waited for long.
    const settled = Promise.allSettled([...this.slots.values()].map(async (s) => { await s.current }))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, STOP_WAIT_MS) })])
    clearTimeout(timer)
    for (const slot of this.slots.values()) slot.state = 'stopped'
  }
}
