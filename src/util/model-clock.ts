/**
 * The model clock: the time in which presence is measured — hours of the
 * week, absences, `deadAfter`. Normally it is the wall clock. With the test
 * variable CAIRN_TEST_HOUR_MS it runs faster: one model hour lasts that many
 * real milliseconds, so a test can live through nights and weeks in minutes.
 *
 * Every process maps wall time to model time with the same formula
 * (`MODEL_EPOCH_MS + (wallMs − MODEL_EPOCH_MS) × speed`), so nodes and tests
 * started at different moments agree on model time to within their clock
 * skew times the speed. Pure apart from reading the wall clock.
 */
import { CairnError } from './errors.ts'

/** Milliseconds in an hour of model time (model time is in milliseconds like wall time). */
export const HOUR_MS = 3_600_000
/** Environment variable: real milliseconds per model hour (tests and demos only). */
export const TEST_HOUR_VARIABLE = 'CAIRN_TEST_HOUR_MS'
/**
 * Shortest model hour accepted: at 100 ms per hour model time runs 36,000
 * times faster than wall time and stays a safe integer (below 2^53 ms) until
 * about 2032, counted from the epoch below.
 */
export const MIN_TEST_HOUR_MS = 100
/** Where model time and wall time coincide (2025-01-01T00:00Z); a recent date keeps fast model times small. */
export const MODEL_EPOCH_MS = Date.UTC(2025, 0, 1)

/** Wall time mapped to model time. */
export interface ModelClock {
  /** Real milliseconds per model hour (HOUR_MS on the wall clock). */
  readonly hourMs: number
  /** Model milliseconds per real millisecond (1 on the wall clock). */
  readonly speed: number
  /** True when the clock runs faster than the wall clock (a test). */
  readonly compressed: boolean
  /** Model time now. */
  now: () => number
  /** Model time of wall time `wallMs`. */
  fromWall: (wallMs: number) => number
  /** Real milliseconds that `modelMs` of model time take. */
  realDurationMs: (modelMs: number) => number
  /**
   * Local time minus UTC in minutes, for hours of the week: the machine's
   * own offset on the wall clock, 0 on a compressed clock (where local time
   * means nothing and every node must agree on the hour).
   */
  utcOffsetMin: () => number
}

/**
 * A model clock with `hourMs` real milliseconds per model hour.
 *
 * @example
 * const clock = modelClock(1000) // one model hour per second
 * clock.realDurationMs(3_600_000) // 1000
 */
export function modelClock (hourMs: number = HOUR_MS): ModelClock {
  if (!(Number.isFinite(hourMs) && hourMs >= MIN_TEST_HOUR_MS && hourMs <= HOUR_MS)) {
    throw new CairnError('CONFIG', `a model hour of ${hourMs} ms is outside ${MIN_TEST_HOUR_MS}..${HOUR_MS} ms`, `set ${TEST_HOUR_VARIABLE} to a number of milliseconds in that range, or unset it`)
  }
  const speed = HOUR_MS / hourMs
  const fromWall = (wallMs: number): number => speed === 1 ? wallMs : Math.round(MODEL_EPOCH_MS + (wallMs - MODEL_EPOCH_MS) * speed)
  return {
    hourMs,
    speed,
    compressed: speed !== 1,
    now: () => fromWall(Date.now()),
    fromWall,
    realDurationMs: (modelMs) => modelMs / speed,
    utcOffsetMin: () => speed === 1 ? -new Date().getTimezoneOffset() : 0
  }
}

/**
 * The model clock the environment asks for: compressed when
 * CAIRN_TEST_HOUR_MS is set, the wall clock otherwise. Throws CONFIG for a
 * malformed value.
 *
 * @example
 * const clock = modelClockFromEnv({ CAIRN_TEST_HOUR_MS: '500' }); clock.speed // 7200
 */
export function modelClockFromEnv (env: Record<string, string | undefined> = process.env): ModelClock {
  const text = env[TEST_HOUR_VARIABLE]
  if (text === undefined || text === '') return modelClock(HOUR_MS)
  return modelClock(Number(text))
}
