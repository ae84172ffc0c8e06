/**
 * Collects dropped Buffers before they pile up in a node's RSS.
 *
 * A put or a get moves every object byte through several Buffers (the
 * stripe, its ciphertext and parity, the shards on the wire, the decrypted
 * stripe), about 2.5 bytes of Buffer per object byte. Their memory lives
 * outside the V8 heap and is freed only when V8 collects the small wrapper
 * objects, which it does, for memory outside the heap, once about 64 MiB
 * more of it is held than after the last full collection. So during a large
 * transfer a node holds up to ~64 MiB of dropped Buffers on top of the live
 * ones: most of the gap between its peak RSS and the 200 MiB that issue 12
 * allows (docs/PERFORMANCE.md, "Peak RSS").
 *
 * The governor samples V8's count of that memory (`v8.getHeapStatistics()`,
 * ~1.5 µs) every SAMPLE_MS while it grows (IDLE_SAMPLE_MS otherwise) and
 * runs a full collection once it has grown by `limitBytes` since the last
 * one, so the dropped Buffers held stay below that bound instead of V8's.
 * The price measured: 15–25% more node CPU per byte moved during
 * transfers, more than its collections alone explain (a 48 MiB limit ran a
 * third as many and cost as much), so it is off unless
 * CAIRN_EXTERNAL_GARBAGE_MIB sets a limit; the count and the time they took
 * are in `cairn status --json` (`node.memory.governor`).
 *
 * V8's `gc()` is reached through `--expose-gc`, set at run time with
 * `v8.setFlagsFromString` before the first context that reads it.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * Default growth of memory outside the heap that triggers a collection: 0,
 * off. At 32 MiB it took the largest node's peak RSS during a 1 GiB put and
 * get from ~205 to ~195 MiB (median) but cost the nodes 15–25% more CPU
 * per byte moved, and at 48 MiB the same CPU for less: on a desktop PC the
 * CPU is the scarcer of the two (docs/PERFORMANCE.md). Set
 * CAIRN_EXTERNAL_GARBAGE_MIB (e.g. 32) where memory is.
 */
export const EXTERNAL_GARBAGE_LIMIT_BYTES = 0
/** How often the governor samples while that memory grows (a transfer runs). */
export const SAMPLE_MS = 25
/** How often it samples otherwise (an idle node wakes for it 10 times a second). */
export const IDLE_SAMPLE_MS = 100
/** Growth between two samples that counts as a transfer running. */
const ACTIVE_GROWTH_BYTES = 1024 * 1024
/** The limit in MiB (0 or unset: off). */
export const EXTERNAL_GARBAGE_ENV = 'CAIRN_EXTERNAL_GARBAGE_MIB'

/** What the governor did, for `cairn status`. */
export interface GovernorStats {
  limitBytes: number
  /** Full collections it ran, and the time they took. */
  collections: number
  collectionMs: number
}

const stats: GovernorStats = { limitBytes: 0, collections: 0, collectionMs: 0 }

/** The governor's counters (limitBytes 0: not running). */
export function governorStats (): GovernorStats {
  return { ...stats }
}

/** The limit from the environment, or the default. */
export function externalGarbageLimitBytes (env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[EXTERNAL_GARBAGE_ENV]
  if (raw === undefined || raw === '') return EXTERNAL_GARBAGE_LIMIT_BYTES
  const mib = Number(raw)
  return Number.isFinite(mib) && mib >= 0 ? Math.round(mib * 1024 * 1024) : EXTERNAL_GARBAGE_LIMIT_BYTES
}

/**
 * Start the governor for this process; returns its stop function (a no-op when the limit is 0).
 *
 * @example
 * const stop = startExternalMemoryGovernor(); ...; stop()
 */
export function startExternalMemoryGovernor (limitBytes = externalGarbageLimitBytes()): () => void {
  if (limitBytes <= 0) return () => {}
  let gc: (() => void) | undefined
  try {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined
  } catch { gc = undefined }
  // Without it the node runs as V8 would on its own.
  if (typeof gc !== 'function') return () => {}
  const collect = gc
  stats.limitBytes = limitBytes
  let base = getHeapStatistics().external_memory
  let last = base
  let timer: ReturnType<typeof setTimeout> | undefined
  const sample = (): void => {
    const now = getHeapStatistics().external_memory
    const growing = now - last >= ACTIVE_GROWTH_BYTES
    last = now
    if (now < base) base = now
    else if (now - base >= limitBytes) {
      const started = performance.now()
      collect()
      stats.collectionMs += performance.now() - started
      stats.collections++
      base = last = getHeapStatistics().external_memory
    }
    timer = setTimeout(sample, growing ? SAMPLE_MS : IDLE_SAMPLE_MS)
    timer.unref()
  }
  sample()
  return () => { clearTimeout(timer); stats.limitBytes = 0 }
}
