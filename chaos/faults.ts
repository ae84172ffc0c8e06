/**
 * The chaos harness's fault runner: carries out a schedule (schedule.ts) on
 * a local cluster at the planned times. Each fault starts at its time, lasts
 * its duration, and is then undone (restart, SIGCONT, a replacement node,
 * the quota restored). Stopping the runner ends the waits early, but every
 * fault already started is still undone.
 *
 * The schedule keeps the outage limits on paper; real restarts can take
 * longer than planned on a busy machine. So, before starting a fault, the
 * runner also checks the cluster as it is: the slot must be up and no more
 * than `maxDown` nodes may be down with it. It waits for that (at most
 * MAX_START_DELAY_MS) and otherwise skips the fault, which the summary
 * reports.
 */
import { openSync, closeSync, readdirSync, readSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { Prng } from '../src/sim/prng.ts'
import type { LocalCluster } from './local-cluster.ts'
import { RECOVERY_MS } from './schedule.ts'
import type { Fault, Schedule } from './schedule.ts'

/** Longest a fault waits past its planned time for the cluster to allow it. */
export const MAX_START_DELAY_MS = 20_000
/**
 * Longest a fault that destroys shards (wipe, flip) waits for the healers to
 * have repaired earlier damage. Repair time grows with the data stored, not
 * with the schedule: damaging a stripe again before it is rebuilt would test
 * more losses than any code survives, not the healer.
 */
export const MAX_DAMAGE_DELAY_MS = 180_000
/**
 * Shortest time a wiped or flipped node counts as *missed* (as the schedule
 * assumes); it stays missed after that until a healer scan that began after
 * the damage counts every object at full redundancy.
 */
export const DAMAGE_WINDOW_MS = 60_000
/** Time for the nodes to notice a killed node (heartbeat timeout plus margin) before a scan can see it. */
const LIVENESS_MARGIN_MS = 5_000
/** Attempts to restart a node before the fault is reported failed. */
const START_ATTEMPTS = 3
/** Poll interval while a fault waits to be allowed. */
const POLL_MS = 250
/** Shard file names: 64 lowercase hex characters (temp files start with a dot). */
const SHARD_NAME = /^[0-9a-f]{64}$/

/** What happened to one planned fault. */
export interface FaultOutcome {
  fault: Fault
  result: 'done' | 'skipped' | 'failed'
  /** Node it hit, when it ran. */
  node: string
  /** Actual start, from the start of the chaos phase. */
  startedMs?: number
  detail: string
  /** flip: shard files corrupted. */
  files?: number
}

/** Resolve after `ms`, or at once when `signal` aborts. */
function pause (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) { resolve(); return }
    const onAbort = (): void => { clearTimeout(timer); resolve() }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Every shard file under a node directory, sorted (so a seeded pick is reproducible on the same files). */
function shardFiles (dir: string): string[] {
  const root = join(dir, 'shards')
  let fanOut: string[]
  try { fanOut = readdirSync(root).sort() } catch { return [] }
  return fanOut.flatMap((sub) => {
    try { return readdirSync(join(root, sub)).filter((n) => SHARD_NAME.test(n)).sort().map((n) => join(root, sub, n)) } catch { return [] }
  })
}

/**
 * Flip bytes in `files` shard files of the node in `dir` (bit rot): each
 * chosen byte is XORed with a non-zero value, so it surely changes. Returns
 * the files hit.
 */
export function flipShardBytes (dir: string, files: number, bytesPerFile: number, seed: number): string[] {
  const rng = new Prng(seed)
  const all = shardFiles(dir)
  const hit: string[] = []
  for (let i = 0; i < files && all.length > 0; i++) {
    const [path] = all.splice(rng.int(all.length), 1) as [string]
    const size = statSync(path).size
    if (size === 0) continue
    const fd = openSync(path, 'r+')
    try {
      for (let b = 0; b < bytesPerFile; b++) {
        const at = rng.int(size)
        const byte = Buffer.alloc(1)
        readSync(fd, byte, 0, 1, at)
        byte[0] = (byte[0] as number) ^ (1 + rng.int(255))
        writeSync(fd, byte, 0, 1, at)
      }
    } finally {
      closeSync(fd)
    }
    hit.push(path)
  }
  return hit
}

/**
 * Runs one schedule.
 *
 * @example
 * const runner = new FaultRunner(cluster, schedule, log); const done = runner.run(signal); …; await done
 */
export class FaultRunner {
  readonly outcomes: FaultOutcome[] = []
  private readonly cluster: LocalCluster
  private readonly schedule: Schedule
  private readonly log: (line: string) => void
  /** Faults started and not yet undone. */
  private inProgress = 0
  /** Wipes waiting for the pool to be whole and no node down: other faults hold off meanwhile. */
  private wipesWaiting = 0
  /** Slots whose fault takes the node down, from the moment it is allowed (before the process state changes). */
  private readonly takenDown = new Set<number>()
  /** Slots whose shards were destroyed (wipe, flip), by when: they count as missed until healed. */
  private readonly damagedAt = new Map<number, number>()
  /** Start of the latest healer scan (minus the liveness margin) that counted no object below full redundancy. */
  private healedSinceMs = -Infinity
  private lastEndMs = -Infinity
  /** Slots restarted with a full quota, not yet restored, with their own quota. */
  private readonly fullSlots = new Map<number, number>()
  private startMs = 0

  constructor (cluster: LocalCluster, schedule: Schedule, log: (line: string) => void) {
    this.cluster = cluster
    this.schedule = schedule
    this.log = log
  }

  /** True while a fault is active or its node is still within RECOVERY_MS of recovering. */
  active (): boolean {
    return this.inProgress > 0 || Date.now() - this.lastEndMs < RECOVERY_MS
  }

  /** Carry out every fault; resolves once each has run (and been undone) or been skipped. */
  async run (signal: AbortSignal): Promise<void> {
    this.startMs = Date.now()
    await Promise.all(this.schedule.faults.map(async (f) => { await this.runOne(f, signal) }))
  }

  /** Nodes down now as the limits count them: not answering, or full. */
  private downNow (): number {
    return this.cluster.slots.filter((s) => s.state !== 'up' || this.fullSlots.has(s.index) || this.takenDown.has(s.index)).length
  }

  /** Slots missed now: down, or holding destroyed shards not known to be rebuilt yet. */
  private missedNow (): Set<number> {
    const out = new Set(this.cluster.slots.filter((s) => s.state !== 'up' || this.fullSlots.has(s.index) || this.takenDown.has(s.index)).map((s) => s.index))
    for (const [slot, at] of this.damagedAt) {
      if (Date.now() - at < DAMAGE_WINDOW_MS || this.healedSinceMs <= at) out.add(slot)
      else this.damagedAt.delete(slot)
    }
    return out
  }

  /**
   * The schedule's limits, checked against the cluster as it is (faults start
   * later than planned when they wait): the slot free, at most maxDown down
   * and at most maxMissed missed with this fault added.
   */
  private allowed (f: Fault): boolean {
    const slot = this.cluster.slots[f.slot]
    if (slot === undefined || slot.state !== 'up' || this.fullSlots.has(f.slot) || this.takenDown.has(f.slot) || this.damagedAt.has(f.slot)) return false
    const missed = this.missedNow()
    missed.add(f.slot)
    if (missed.size > this.schedule.limits.maxMissed) return false
    return f.kind === 'flip' || this.downNow() + 1 <= this.schedule.limits.maxDown
  }

  /** True when an up node's healer counts no object below full redundancy (or its status has no counts). */
  private async healed (): Promise<boolean> {
    for (const slot of this.cluster.slots) {
      if (slot.state !== 'up') continue
      try {
        const status = await this.cluster.status(slot.index)
        const o = status.objects
        if (o === undefined) return true
        if (o.degraded !== 0 || o.unavailable !== 0) return false
        // Counts from a scan that began before the latest damage (or before the nodes noticed it) prove nothing.
        const scanStartMs = status.repair === undefined ? -Infinity : status.repair.lastScanMs - status.repair.lastScanTookMs
        const since = scanStartMs - LIVENESS_MARGIN_MS
        const latestDamageMs = Math.max(-Infinity, ...this.damagedAt.values())
        if (since <= latestDamageMs) return false
        this.healedSinceMs = Math.max(this.healedSinceMs, since)
        return true
      } catch { /* try the next node */ }
    }
    return false
  }

  private async runOne (f: Fault, signal: AbortSignal): Promise<void> {
    await pause(this.startMs + f.atMs - Date.now(), signal)
    const destroys = f.kind === 'wipe' || f.kind === 'flip'
    const planned = Date.now()
    let giveUp = planned + (destroys ? MAX_DAMAGE_DELAY_MS : MAX_START_DELAY_MS)
    // A wipe needs a moment with every node up and nothing below full redundancy; under steady kills
    // and stops that moment rarely comes, so other faults hold off while a wipe waits (and the time
    // they hold does not count against their own delay, up to MAX_DAMAGE_DELAY_MS).
    const wipe = f.kind === 'wipe'
    if (wipe) this.wipesWaiting++
    try {
      while (!signal.aborted && Date.now() < giveUp) {
        const held = !wipe && this.wipesWaiting > 0
        if (held) giveUp = Math.min(giveUp + POLL_MS * 4, planned + MAX_DAMAGE_DELAY_MS)
        else {
          // Damaged slots are released by a healed scan; look for one while they block this fault.
          if (!destroys && this.damagedAt.size > 0 && !this.allowed(f)) await this.healed()
          if (this.allowed(f) && (!destroys || await this.healed())) break
        }
        await pause(POLL_MS * 4, signal)
      }
    } finally {
      if (wipe) this.wipesWaiting--
    }
    const node = this.cluster.slots[f.slot]?.name ?? `slot ${f.slot}`
    if (signal.aborted || (destroys && !await this.healed()) || !this.allowed(f)) {
      this.outcomes.push({ fault: f, result: 'skipped', node, detail: signal.aborted ? 'run stopped' : destroys ? 'the pool had not healed from earlier damage' : 'the cluster had not recovered from earlier faults' })
      this.log(`fault ${f.index}: ${f.kind} ${node} skipped (${this.outcomes.at(-1)?.detail ?? ''})`)
      return
    }
    const startedMs = Date.now() - this.startMs
    const takesDown = f.kind !== 'flip'
    if (takesDown) this.takenDown.add(f.slot)
    if (destroys) this.damagedAt.set(f.slot, Date.now())
    this.inProgress++
    this.log(`fault ${f.index}: ${f.kind} ${node}${f.durationMs > 0 ? ` for ${(f.durationMs / 1000).toFixed(1)} s` : ''}`)
    try {
      const { detail, files } = await this.apply(f, signal)
      this.outcomes.push({ fault: f, result: 'done', node, startedMs, detail, ...(files === undefined ? {} : { files }) })
    } catch (err) {
      this.outcomes.push({ fault: f, result: 'failed', node, startedMs, detail: (err as Error).message })
      this.log(`fault ${f.index} (${f.kind} ${node}) failed: ${(err as Error).message}`)
    } finally {
      if (takesDown) this.takenDown.delete(f.slot)
      this.inProgress--
      this.lastEndMs = Date.now()
    }
  }

  private async apply (f: Fault, signal: AbortSignal): Promise<{ detail: string, files?: number }> {
    const c = this.cluster
    switch (f.kind) {
      case 'kill':
        await c.kill(f.slot, 'SIGKILL')
        await pause(f.durationMs, signal)
        await this.restart(f.slot)
        return { detail: 'killed and restarted' }
      case 'stop':
        c.pause(f.slot)
        await pause(f.durationMs, signal)
        c.resume(f.slot)
        return { detail: 'stopped and continued' }
      case 'wipe': {
        const old = c.slots[f.slot]?.name
        await c.wipe(f.slot)
        await pause(f.durationMs, signal)
        await c.replace(f.slot)
        return { detail: `${old} deleted; ${c.slots[f.slot]?.name} joined in its place` }
      }
      case 'flip': {
        const hit = flipShardBytes(c.slots[f.slot]?.dir as string, f.files, f.bytesPerFile, f.seed)
        return { detail: hit.length === 0 ? 'no shard files to flip yet' : `${hit.length} shard files, ${f.bytesPerFile} bytes each`, files: hit.length }
      }
      case 'quota':
        return { detail: await this.fillQuota(f, signal) }
    }
  }

  /** A full disk: restart the node with its quota set to what it already uses, then restore it. */
  private async fillQuota (f: Fault, signal: AbortSignal): Promise<string> {
    const c = this.cluster
    const used = (await c.status(f.slot)).store.usedBytes
    const original = c.quota(f.slot)
    this.fullSlots.set(f.slot, original)
    await c.kill(f.slot, 'SIGTERM')
    c.setQuota(f.slot, Math.max(used, 1))
    await this.restart(f.slot)
    await pause(f.durationMs, signal)
    await this.restoreQuota(f.slot)
    return `quota ${used} bytes, then ${original} again`
  }

  /** Restart a full node with its own quota again. */
  private async restoreQuota (slot: number): Promise<void> {
    const original = this.fullSlots.get(slot)
    if (original === undefined) return
    await this.cluster.kill(slot, 'SIGTERM')
    this.cluster.setQuota(slot, original)
    this.fullSlots.delete(slot)
    await this.restart(slot)
  }

  /** Restore every quota a fault left full (one that failed half-way); the end phase calls this. */
  async restoreQuotas (): Promise<void> {
    for (const slot of [...this.fullSlots.keys()]) await this.restoreQuota(slot)
  }

  private async restart (slot: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      // A crash restart by the cluster may have got there first.
      if (this.cluster.slots[slot]?.child !== undefined) return
      try {
        await this.cluster.start(slot)
        return
      } catch (err) {
        if (attempt >= START_ATTEMPTS) throw err
        this.log(`restart of ${this.cluster.slots[slot]?.name} failed (${(err as Error).message}); retrying`)
      }
    }
  }

}
