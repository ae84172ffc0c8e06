/**
 * A queue of received byte chunks that frame parsers read from: peek at the
 * first n bytes (copied only when they span chunks, and then joined once so
 * the next peek does not copy again) and consume them.
 */

/** Received bytes not yet parsed. */
export class ChunkQueue {
  #chunks: Buffer[] = []
  #bytes = 0

  /** Bytes queued. */
  get length (): number { return this.#bytes }

  /** Queue a chunk (kept as a view, not copied). */
  push (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.#bytes += chunk.byteLength
  }

  /** The first `n` queued bytes as one buffer; callers check `length >= n` first. */
  peek (n: number): Buffer {
    const first = this.#chunks[0] as Buffer
    if (first.byteLength >= n) return first.subarray(0, n)
    let count = 0
    let bytes = 0
    while (bytes < n) bytes += (this.#chunks[count++] as Buffer).byteLength
    const joined = Buffer.concat(this.#chunks.slice(0, count), bytes)
    this.#chunks.splice(0, count, joined)
    return joined.subarray(0, n)
  }

  /** Drop the first `n` bytes. */
  consume (n: number): void {
    this.#bytes -= n
    while (n > 0) {
      const first = this.#chunks[0] as Buffer
      if (first.byteLength <= n) { this.#chunks.shift(); n -= first.byteLength } else { this.#chunks[0] = first.subarray(n); n = 0 }
    }
  }
}
