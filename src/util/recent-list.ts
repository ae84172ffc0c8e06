/**
 * A list that keeps only the newest `capacity` entries and counts the ones
 * it dropped: for reports and events that must never grow without bound
 * however long a node runs or however many a peer causes.
 */
import { assert } from './errors.ts'

/**
 * The newest entries, oldest first, with a count of what fell off.
 *
 * @example
 * const reports = new RecentList<string>(1000); reports.push('x'); reports.items()
 */
export class RecentList<T> {
  readonly capacity: number
  #items: T[] = []
  #dropped = 0

  constructor (capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, 'capacity must be a positive integer')
    this.capacity = capacity
  }

  /** Add an entry, dropping the oldest when full. */
  push (item: T): void {
    this.#items.push(item)
    // Trimmed in batches so a full list costs one splice per capacity/8 pushes, not per push.
    if (this.#items.length > this.capacity + Math.ceil(this.capacity / 8)) {
      const excess = this.#items.length - this.capacity
      this.#items.splice(0, excess)
      this.#dropped += excess
    }
  }

  /** The kept entries, oldest first (a copy). */
  items (): T[] {
    const extra = Math.max(0, this.#items.length - this.capacity)
    return this.#items.slice(extra)
  }

  /** Entries dropped so far to keep the bound. */
  get dropped (): number {
    return this.#dropped + Math.max(0, this.#items.length - this.capacity)
  }
}
