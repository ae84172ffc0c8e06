/**
 * Re-chunk a byte stream into fixed-size stripes without growing memory:
 * at most one stripe plus one incoming chunk is held at a time.
 */
import { CairnError } from '../util/errors.ts'

/**
 * Yield buffers of exactly `stripeSizeBytes` (the last may be shorter; an
 * empty input yields nothing).
 *
 * @example
 * for await (const stripe of stripes(req, 4 << 20)) encode(stripe)
 */
export async function * stripes (source: AsyncIterable<Uint8Array>, stripeSizeBytes: number, maxTotalBytes = Number.MAX_SAFE_INTEGER): AsyncGenerator<Buffer> {
  let current = Buffer.allocUnsafe(stripeSizeBytes)
  let filled = 0
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (total > maxTotalBytes) throw new CairnError('TOO_LARGE', `the object is larger than ${maxTotalBytes} bytes`, 'split it into smaller objects')
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, stripeSizeBytes - filled)
      current.set(chunk.subarray(offset, offset + n), filled)
      filled += n
      offset += n
      if (filled === stripeSizeBytes) {
        yield current
        current = Buffer.allocUnsafe(stripeSizeBytes)
        filled = 0
      }
    }
  }
  if (filled > 0) yield current.subarray(0, filled)
}
