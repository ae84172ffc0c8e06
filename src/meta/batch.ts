/**
 * Batching by encoded size (pure): split a list into consecutive groups whose
 * summed sizes stay within a byte budget, so no message built from one group
 * can exceed the frame limit whatever the record sizes.
 */

/**
 * Split `items` into consecutive batches of at most `maxBytes` by `sizeOf`.
 * An item larger than `maxBytes` on its own forms a batch of one (the caller
 * enforces the record size limit on write).
 *
 * @example
 * batchByBytes([3, 3, 3], (n) => n, 6) // [[3, 3], [3]]
 */
export function batchByBytes<T> (items: readonly T[], sizeOf: (item: T) => number, maxBytes: number): T[][] {
  const out: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const item of items) {
    const size = sizeOf(item)
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
