/**
 * Cutting a list into messages that each fit a byte budget: the wire limit is
 * on bytes (the RPC frame), so batches are made by encoded size, not count.
 */
import { CairnError } from '../util/errors.ts'

/**
 * Split `items` into consecutive batches whose summed `sizeOf` is at most
 * `maxBytes`. An item larger than `maxBytes` on its own is an error (it could
 * never be sent). Order is kept; no batch is empty.
 *
 * @example
 * for (const batch of batchByBytes(records, (r) => Buffer.byteLength(JSON.stringify(r)) + 1, 1 << 20)) await send(batch)
 */
export function batchByBytes<T> (items: readonly T[], sizeOf: (item: T) => number, maxBytes: number): T[][] {
  const out: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const item of items) {
    const size = sizeOf(item)
    if (size > maxBytes) {
      throw new CairnError('TOO_LARGE', `one item of ${size} bytes exceeds the ${maxBytes}-byte message budget`, 'this is a bug: records are limited on write to well below the message budget')
    }
    if (current.length > 0 && bytes + size > maxBytes) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(item)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}
