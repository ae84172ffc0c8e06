/**
 * Keeps V8's young generation small while a node starts.
 *
 * Loading ~1,000 modules allocates fast, so V8 grows the new space to its
 * maximum (two 16 MiB semi-spaces) during start-up, and the pages it touched
 * stay resident for the life of the process: about 17 MiB of an idle node's
 * RSS (docs/PERFORMANCE.md). Holding the growth factor at 1 while the node
 * starts keeps the new space at its initial size; releasing it once the node
 * runs lets the new space grow again under load exactly as before, so put
 * and get throughput are not traded for idle memory. `v8.setFlagsFromString`
 * takes effect for this flag at run time (the maximum size itself is fixed
 * when the heap is created, which is why it is not used).
 */
import { setFlagsFromString } from 'node:v8'

/** V8's default `--semi-space-growth-factor` (`node --v8-options`, V8 13 in Node 24). */
export const V8_DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 2

/**
 * Stop the young generation from growing (call before loading the daemon).
 *
 * @example
 * holdYoungGeneration(); const { Daemon } = await import('./daemon.ts')
 */
export function holdYoungGeneration (): void {
  setFlagsFromString('--semi-space-growth-factor=1')
}

/**
 * Let the young generation grow under load again (call once the node runs).
 *
 * @example
 * const daemon = await Daemon.start(dir, log); releaseYoungGeneration()
 */
export function releaseYoungGeneration (): void {
  setFlagsFromString(`--semi-space-growth-factor=${releasedGrowthFactor()}`)
}

/** Benchmark override of the growth factor a running node uses (bench/memory.ts compares them). */
export const SEMI_SPACE_GROWTH_FACTOR_ENV = 'CAIRN_SEMI_SPACE_GROWTH_FACTOR'

function releasedGrowthFactor (): number {
  const value = Number(process.env[SEMI_SPACE_GROWTH_FACTOR_ENV])
  return Number.isInteger(value) && value >= 1 && value <= 8 ? value : V8_DEFAULT_SEMI_SPACE_GROWTH_FACTOR
}
