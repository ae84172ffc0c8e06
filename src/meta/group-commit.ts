/**
 * Group commit: the records of every commit() and incoming push that arrive
 * while the event loop is busy are merged into one SQLite transaction (one
 * fsync with synchronous=FULL) on the next turn of the loop. Each caller
 * learns which of its own records changed the replica (a record two callers
 * brought is counted for the first).
 */
import type { MetaStore } from './store.ts'
import type { MetaRecord } from './types.ts'

/** Most records merged into one transaction (bounds the time the loop is held). */
export const MAX_GROUP_RECORDS = 20_000

interface Waiting { records: readonly MetaRecord[], resolve: (changed: MetaRecord[]) => void, reject: (err: Error) => void }

function identity (r: MetaRecord): string {
  return `${r.table}\u0000${r.pk}\u0000${r.hlc}\u0000${r.origin}\u0000${r.tombstone ? 1 : 0}`
}

/**
 * Applies records to a replica in shared transactions.
 *
 * @example
 * const changed = await new GroupCommitter(meta).apply(records)
 */
export class GroupCommitter {
  /** Transactions run and records they carried, for the benchmark and status. */
  readonly stats = { transactions: 0, records: 0 }
  private readonly meta: MetaStore
  private readonly onChange: ((records: MetaRecord[]) => void) | undefined
  private queue: Waiting[] = []
  private scheduled = false

  constructor (meta: MetaStore, onChange?: (records: MetaRecord[]) => void) {
    this.meta = meta
    this.onChange = onChange
  }

  /** Apply `records` durably (in the next group transaction); resolves to those that changed the replica. */
  async apply (records: readonly MetaRecord[]): Promise<MetaRecord[]> {
    return await new Promise<MetaRecord[]>((resolve, reject) => {
      this.queue.push({ records, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => { this.run() })
      }
    })
  }

  private run (): void {
    this.scheduled = false
    let count = 0
    let take = 0
    while (take < this.queue.length && (take === 0 || count + (this.queue[take] as Waiting).records.length <= MAX_GROUP_RECORDS)) {
      count += (this.queue[take] as Waiting).records.length
      take++
    }
    const group = this.queue.slice(0, take)
    this.queue = this.queue.slice(take)
    if (this.queue.length > 0) {
      this.scheduled = true
      setImmediate(() => { this.run() })
    }
    let changed: MetaRecord[]
    try {
      changed = this.meta.apply(group.flatMap((w) => w.records))
      this.stats.transactions++
      this.stats.records += count
    } catch {
      // One bad batch (a broken peer's push) must not fail the others: apply each alone.
      for (const w of group) this.applyAlone(w)
      return
    }
    const ids = new Set(changed.map(identity))
    if (changed.length > 0) this.onChange?.(changed)
    // A record that changed the replica is told to the first caller that
    // brought it only: two pushes of one record in one transaction changed
    // it once, and gossip forwards what changed (once per node).
    for (const w of group) w.resolve(w.records.filter((r) => ids.delete(identity(r))))
  }

  private applyAlone (w: Waiting): void {
    try {
      const changed = this.meta.apply(w.records)
      this.stats.transactions++
      this.stats.records += w.records.length
      if (changed.length > 0) this.onChange?.(changed)
      w.resolve(changed)
    } catch (err) {
      w.reject(err as Error)
    }
  }
}
