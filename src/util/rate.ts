/**
 * Byte rates as people write them in settings: a whole number, a byte unit
 * and an optional `/s` (`512KiB/s`, `20MB/s`, `1GB`, `4096`). Pure: parse to
 * bytes per second, format back with the largest exact unit.
 */
import { CairnError } from './errors.ts'

/** Bytes per unit, largest first within each family (formatRate picks the first that divides exactly). */
const UNITS: ReadonlyArray<[string, number]> = [
  ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024],
  ['GB', 1e9], ['MB', 1e6], ['KB', 1e3], ['kB', 1e3], ['B', 1]
]

const RATE_PATTERN = /^(\d{1,13})\s*(GiB|MiB|KiB|GB|MB|KB|kB|B)?(\/s)?$/

/**
 * Parse a rate into bytes per second; throws BAD_INPUT when malformed.
 *
 * @example
 * parseRate('20MB/s') // 20000000
 */
export function parseRate (text: string): number {
  const match = RATE_PATTERN.exec(text.trim())
  const unit = match === null ? undefined : UNITS.find(([name]) => name === (match[2] ?? 'B'))
  const value = match === null || unit === undefined ? NaN : Number(match[1]) * unit[1]
  if (!Number.isSafeInteger(value)) {
    throw new CairnError('BAD_INPUT', `${JSON.stringify(text)} is not a rate`, 'write a whole number and a byte unit, e.g. 20MB/s, 512KiB/s or 1GB/s')
  }
  return value
}

/**
 * Format bytes per second with the largest unit that represents them exactly.
 *
 * @example
 * formatRate(20e6) // '20MB/s'
 */
export function formatRate (bytesPerSecond: number): string {
  const unit = UNITS.find(([name, size]) => name !== 'kB' && bytesPerSecond >= size && bytesPerSecond % size === 0) ?? ['B', 1]
  return `${bytesPerSecond / unit[1]}${unit[0]}/s`
}
