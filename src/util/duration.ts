/**
 * Durations as people write them in settings and flags: a whole number and
 * one unit, `ms`, `s`, `m`, `h` or `d` (`500ms`, `30s`, `5m`, `1h`, `2d`).
 * Pure: parse to milliseconds, format back to the largest exact unit.
 */
import { CairnError } from './errors.ts'

/** Milliseconds per unit, largest first (formatDuration picks the first that divides exactly). */
const UNIT_MS: ReadonlyArray<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]]
/** Longest duration accepted (about 27 years), so arithmetic on it stays exact. */
export const MAX_DURATION_MS = 1e12

const DURATION_PATTERN = /^(\d{1,13})(ms|s|m|h|d)$/

/**
 * Parse a duration into milliseconds; throws BAD_INPUT when malformed.
 *
 * @example
 * parseDuration('5m') // 300000
 */
export function parseDuration (text: string): number {
  const match = DURATION_PATTERN.exec(text.trim())
  const unit = UNIT_MS.find(([name]) => name === match?.[2])
  const ms = match === null || unit === undefined ? NaN : Number(match[1]) * unit[1]
  if (!Number.isSafeInteger(ms) || ms > MAX_DURATION_MS) {
    throw new CairnError('BAD_INPUT', `${JSON.stringify(text)} is not a duration`, 'write a whole number and a unit: 500ms, 30s, 5m, 1h or 2d')
  }
  return ms
}

/**
 * Format milliseconds with the largest unit that represents them exactly.
 *
 * @example
 * formatDuration(300000) // '5m'
 */
export function formatDuration (ms: number): string {
  if (ms === 0) return '0s'
  const unit = UNIT_MS.find(([, size]) => ms % size === 0) ?? ['ms', 1]
  return `${ms / unit[1]}${unit[0]}`
}
