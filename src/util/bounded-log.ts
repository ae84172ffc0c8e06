/**
 * A list that keeps only its newest entries: a report list fed by events a
 * peer or a failing disk can cause must not grow with them. Entries past the
 * capacity push out the oldest, and a counter says how many were dropped.
 */

/** Newest-first-kept list with a fixed capacity. */
export class BoundedLog<T> {
  readonly capacity: number
  #entries: T[] = []
  #dropped = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`BoundedLog capacity must be a positive integer, not ${capacity}`)
    this.capacity = capacity
  }

  /** Entries dropped to stay within the capacity since the start. */
  get dropped (): number { return this.#dropped + Math.max(0, this.#entries.length - this.capacity) }

  /**
   * Add an entry, dropping the oldest when full.
   *
   * @example
   * const log = new BoundedLog<string>(2); log.push('a'); log.push('b'); log.push('c') // ['b', 'c'], dropped 1
   */
  push (entry: T): void {
    this.#entries.push(entry)
    // Trimming only at twice the capacity keeps push amortised O(1) and
    // memory within 2 × capacity entries.
    if (this.#entries.length >= 2 * this.capacity) {
      const excess = this.#entries.length - this.capacity
      this.#entries = this.#entries.slice(excess)
      this.#dropped += excess
    }
  }

  /** A copy of the kept entries, oldest first. */
  list (): T[] {
    return this.#entries.slice(Math.max(0, this.#entries.length - this.capacity))
  }
}
