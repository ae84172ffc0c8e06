/**
 * Re-chunk a byte stream into fixed-size stripes without growing memory:
 * at most one stripe plus one incoming chunk is held at a time.
 */
import { CairnError } from '../util/errors.ts'

/**
 * Bytes the first stripe's buffer starts with; it grows 4× at a time up to
 * the stripe size. A 4 KiB put allocated a whole 4 MiB stripe, and at
 * hundreds of puts a second that external memory drove the writer's GC
 * (copying a grown first stripe costs at most a third of a stripe, once).
 */
export const FIRST_STRIPE_BYTES = 64 * 1024

/** A buffer 4× `buffer`'s size (at most `limit`) holding its bytes. */
function grown (buffer: Buffer<ArrayBuffer>, limit: number): Buffer<ArrayBuffer> {
  const next = Buffer.allocUnsafe(Math.min(limit, buffer.length * 4))
  buffer.copy(next)
  return next
}

/**
 * Yield buffers of exactly `stripeSizeBytes` (the last may be shorter; an
 * empty input yields nothing).
 *
 * @example
 * for await (const stripe of stripes(req, 4 << 20)) encode(stripe)
 */
export async function * stripes (source: AsyncIterable<Uint8Array>, stripeSizeBytes: number, maxTotalBytes = Number.MAX_SAFE_INTEGER): AsyncGenerator<Buffer> {
  let current = Buffer.allocUnsafe(Math.min(stripeSizeBytes, FIRST_STRIPE_BYTES))
  let filled = 0
  let total = 0
  for await (const chunk of source) {
    total += chunk.length
    if (total > maxTotalBytes) throw new CairnError('TOO_LARGE', `the object is larger than ${maxTotalBytes} bytes`, 'split it into smaller objects')
    let offset = 0
    while (offset < chunk.length) {
      if (filled === current.length) current = grown(current, stripeSizeBytes)
      const n = Math.min(chunk.length - offset, current.length - filled)
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
