/**
 * Scrubbing: a node re-reads and re-hashes every shard it stores, on a
 * schedule, spending at most a set share of its disk time (after a read that
 * took t, it rests t × (1/share − 1)). The store quarantines a shard whose
 * bytes no longer match its name; a shard the node is tagged to hold but
 * whose file is gone is missing. Both are "lost": the node reports them to
 * the healers (daemon/healer.ts), which rebuild them from other shards. A
 * lost shard stops being reported once no live version places it here any
 * more (it was rebuilt elsewhere) or once it is back.
 */
import { errorMessage } from '../util/errors.ts'

/** What the scrubber works on; the daemon wires the store and the owner table. */
export interface ScrubInit {
  listShards: (signal?: AbortSignal) => AsyncIterable<string>
  /** Read and verify a shard: its size, or null when missing or corrupt (the store quarantines it). */
  verify: (hash: string, signal?: AbortSignal) => Promise<number | null>
  has: (hash: string) => Promise<boolean>
  /** Hashes the store has quarantined. */
  quarantined: () => string[]
  /** Hashes this node is tagged to hold. */
  ownedHashes: () => string[]
  /** True while some live version places `hash` on this node (or cannot tell). */
  expectedHere: (hash: string) => boolean
  /** Forget the owner tags of a shard that is neither here nor expected (the node keeps tags young enough to be a put in flight). */
  forget: (hash: string) => void
  /** Largest share of disk time to spend, in (0, 1]. */
  share: () => number
  log?: (message: string) => void
}

/** Counters for `cairn workers`. */
export interface ScrubStats {
  passes: number
  /** Shards and bytes verified in the current or last pass. */
  checked: number
  checkedBytes: number
  /** Distinct shards found corrupt since the daemon started, by a scrub or by a read that re-hashed them. */
  corruptFound: number
  /** Of those, found by the scrub itself. */
  corruptFoundByScrub: number
  missingFound: number
  lastPassMs: number
  lastError: string
}

/**
 * The scrubber of one node.
 *
 * @example
 * const scrubber = new Scrubber(init); await scrubber.pass(); scrubber.lost()
 */
export class Scrubber {
  readonly stats: ScrubStats = { passes: 0, checked: 0, checkedBytes: 0, corruptFound: 0, corruptFoundByScrub: 0, missingFound: 0, lastPassMs: 0, lastError: '' }
  private readonly init: ScrubInit
  private missing = new Set<string>()
  private readonly corrupt = new Set<string>()
  private lostCache: string[] = []
  private running: Promise<void> | undefined

  constructor (init: ScrubInit) {
    this.init = init
  }

  /** A shard was found corrupt (by the scrub, or by the store while serving a read). */
  noteCorrupt (hash: string): void {
    this.corrupt.add(hash)
    this.stats.corruptFound = this.corrupt.size
  }

  /** A shard found absent outside a pass (an audit asked for it); reported lost at the next refresh while expected here. */
  noteMissing (hash: string): void {
    if (this.missing.has(hash)) return
    this.missing.add(hash)
    this.stats.missingFound++
  }

  /** Shards this node should hold but cannot serve, as of the last pass or refresh. */
  lost (): string[] {
    return this.lostCache
  }

  /** One full pass; concurrent calls share it. */
  async pass (signal?: AbortSignal): Promise<ScrubStats> {
    this.running ??= this.run(signal).finally(() => { this.running = undefined })
    await this.running
    return this.stats
  }

  private async run (signal?: AbortSignal): Promise<void> {
    this.stats.checked = 0
    this.stats.checkedBytes = 0
    const quarantinedBefore = new Set(this.init.quarantined())
    try {
      for await (const hash of this.init.listShards(signal)) {
        signal?.throwIfAborted()
        const started = performance.now()
        const size = await this.init.verify(hash, signal)
        const tookMs = performance.now() - started
        this.stats.checked++
        if (size !== null) this.stats.checkedBytes += size
        else if (!quarantinedBefore.has(hash) && this.init.quarantined().includes(hash)) {
          this.noteCorrupt(hash)
          this.stats.corruptFoundByScrub++
          this.init.log?.(`scrub: shard ${hash.slice(0, 12)} is corrupt; quarantined, it will be rebuilt`)
        }
        const share = Math.min(1, Math.max(0.001, this.init.share()))
        if (share < 1) await rest(tookMs * (1 / share - 1), signal)
      }
      const missing = new Set<string>()
      for (const hash of this.init.ownedHashes()) {
        if (await this.init.has(hash)) continue
        missing.add(hash)
        if (!this.missing.has(hash) && !this.init.quarantined().includes(hash) && this.init.expectedHere(hash)) {
          this.stats.missingFound++
          this.init.log?.(`scrub: shard ${hash.slice(0, 12)} is missing; it will be rebuilt`)
        }
      }
      this.missing = missing
      this.stats.passes++
      this.stats.lastPassMs = Date.now()
      this.stats.lastError = ''
    } catch (err) {
      if (signal?.aborted === true) return
      this.stats.lastError = errorMessage(err)
      this.init.log?.(`scrub failed: ${this.stats.lastError}`)
    }
    await this.refresh()
  }

  /** Recompute the lost list (cheap: no shard is read); drops what is back or no longer expected here. */
  async refresh (): Promise<string[]> {
    const out: string[] = []
    for (const hash of new Set([...this.missing, ...this.init.quarantined()])) {
      if (await this.init.has(hash)) { this.missing.delete(hash); continue }
      if (this.init.expectedHere(hash)) { out.push(hash); continue }
      this.missing.delete(hash)
      this.init.forget(hash)
    }
    this.lostCache = out.sort()
    return this.lostCache
  }
}

async function rest (ms: number, signal?: AbortSignal): Promise<void> {
  if (!(ms > 0)) return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, Math.min(ms, 60_000))
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
