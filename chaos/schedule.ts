/**
 * The chaos harness's fault schedule (pure): a list of timed faults computed
 * before the run from (seed, minutes, nodes, k, m) alone, so that the same
 * seed gives the same schedule on every machine and a failing run can be
 * replayed. Nothing here touches a process or a file.
 *
 * Every fault hits one slot (a position in the cluster: node-3's slot holds
 * node-3, and after a dead disk its replacement) and has two intervals:
 * - down, [atMs, downUntilMs): the node cannot serve or take shards (killed,
 *   stopped, being replaced, or full), plus RECOVERY_MS for it to restart and
 *   reconnect;
 * - damaged, [atMs, damagedUntilMs): some of its shards are gone (a dead
 *   disk, flipped bytes) until the healer has had HEAL_ALLOWANCE_MS to
 *   rebuild them.
 * A fault "misses" its node while either interval is open. The schedule
 * keeps, at every instant (see `outageLimits`):
 * - nodes down <= min(m, nodes - happiness): a put still finds happiness =
 *   k+1 online nodes, and a read still finds k shards;
 * - nodes missed <= m: every stripe keeps k readable shards even if each
 *   missed node held one of its shards;
 * - one fault at a time per slot (a node is not killed while stopped).
 */
import { Prng } from '../src/sim/prng.ts'

/** What a fault does to its node. */
export type FaultKind = 'kill' | 'stop' | 'wipe' | 'flip' | 'quota'

/** Every kind, in the order the summary prints them. */
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'stop', 'wipe', 'flip', 'quota']

/** What each kind means, for the summary and --help. */
export const FAULT_DOCS: Readonly<Record<FaultKind, string>> = {
  kill: 'SIGKILL, restarted after a while',
  stop: 'SIGSTOP (a hung PC), SIGCONT after a while',
  wipe: 'SIGKILL and delete the data directory (a dead disk); a fresh node joins in its place',
  flip: 'flip bytes in a few of its shard files',
  quota: 'restart with the quota set to what it already uses (a full disk), restored after a while'
}

/** One planned fault. */
export interface Fault {
  /** Position in the schedule (0-based). */
  index: number
  kind: FaultKind
  /** Cluster slot hit (0-based: slot 0 is node-1). */
  slot: number
  /** Start, from the start of the chaos phase. */
  atMs: number
  /** How long the fault itself lasts: until restart, SIGCONT, the replacement's start, or the quota's restore (0 for flip). */
  durationMs: number
  /** End of the interval in which the node counts as down (atMs when it never is). */
  downUntilMs: number
  /** End of the interval in which its shards count as damaged (atMs when none are). */
  damagedUntilMs: number
  /** flip only: shard files to corrupt and bytes flipped in each (0 otherwise). */
  files: number
  bytesPerFile: number
  /** Seed of the fault's runtime choices (which shard files a flip hits). */
  seed: number
}

/** The simultaneous outages the code tolerates. */
export interface OutageLimits {
  /** Distinct online nodes a put needs (k+1, the default `happiness`). */
  happiness: number
  /** Most nodes down at once. */
  maxDown: number
  /** Most nodes down or with damaged shards at once. */
  maxMissed: number
}

/** What the schedule is computed from. */
export interface ScheduleInput {
  seed: number
  minutes: number
  nodes: number
  k: number
  m: number
}

/** A computed schedule. */
export interface Schedule {
  input: ScheduleInput
  limits: OutageLimits
  /** Length of the chaos phase (faults start and end inside it). */
  totalMs: number
  faults: Fault[]
}

/** Workload-only time before the first fault, so there is data to break. */
export const WARMUP_MS = 15_000
/** Mean time between the planned starts of two faults (exponential gaps, cut at FAULT_GAP_MAX_MS so a short run is never idle). */
export const FAULT_GAP_MEAN_MS = 4_000
export const FAULT_GAP_MAX_MS = 12_000
/** A node counts as down this long after its fault ends: restart, reconnect, first heartbeats. */
export const RECOVERY_MS = 10_000
/**
 * Damaged shards count against the limits this long after the damage
 * (after the replacement node is up, for a dead disk): `deadAfter` (20 s in
 * the harness) plus time to notice and rebuild them.
 */
export const HEAL_ALLOWANCE_MS = 60_000
/** Range of each kind's duration [min, max] in milliseconds. */
export const DURATION_RANGE_MS: Readonly<Record<FaultKind, readonly [number, number]>> = {
  kill: [4_000, 15_000],
  // Longer than the 3 s liveness timeout, so peers do notice the hang.
  stop: [5_000, 15_000],
  // Time from the dead disk to the replacement node's start.
  wipe: [3_000, 8_000],
  flip: [0, 0],
  quota: [10_000, 20_000]
}
/** Shard files a flip corrupts [min, max], and bytes flipped in each. */
export const FLIP_FILES_RANGE: readonly [number, number] = [1, 4]
export const FLIP_BYTES_RANGE: readonly [number, number] = [1, 8]
/** Relative frequency of each kind once every kind has been planned once. */
export const KIND_WEIGHTS: Readonly<Record<FaultKind, number>> = { kill: 3, stop: 2, wipe: 1, flip: 2, quota: 1 }
/** Most faults one schedule holds (a 30-minute run plans a few hundred). */
export const MAX_FAULTS = 2_000
/** Most placement attempts, so generation always ends. */
const MAX_ATTEMPTS = 20_000

/**
 * The outage limits of a cluster of `nodes` with k+m coding.
 *
 * @example
 * outageLimits(6, 4, 2) // { happiness: 5, maxDown: 1, maxMissed: 2 }
 */
export function outageLimits (nodes: number, k: number, m: number): OutageLimits {
  const happiness = k + 1
  return { happiness, maxDown: Math.max(0, Math.min(m, nodes - happiness)), maxMissed: m }
}

/** A random integer in [min, max]. */
function between (rng: Prng, [min, max]: readonly [number, number]): number {
  return min + rng.int(max - min + 1)
}

function weightedKind (rng: Prng): FaultKind {
  const total = FAULT_KINDS.reduce((sum, kind) => sum + KIND_WEIGHTS[kind], 0)
  let pick = rng.next() * total
  for (const kind of FAULT_KINDS) {
    pick -= KIND_WEIGHTS[kind]
    if (pick < 0) return kind
  }
  return FAULT_KINDS[FAULT_KINDS.length - 1] as FaultKind
}

/** End of the slot's occupation by a fault: no other fault may hit the slot before it. */
function slotBusyUntil (f: Fault): number {
  return Math.max(f.downUntilMs, f.atMs + 1)
}

function isDown (f: Fault, atMs: number): boolean {
  return f.atMs <= atMs && atMs < f.downUntilMs
}

function isMissed (f: Fault, atMs: number): boolean {
  return f.atMs <= atMs && atMs < Math.max(f.downUntilMs, f.damagedUntilMs)
}

/** Times at which the load of `faults` can change inside [fromMs, toMs): its start and every later fault start. */
function loadPoints (faults: readonly Fault[], fromMs: number, toMs: number): number[] {
  return [fromMs, ...faults.map((f) => f.atMs).filter((t) => t > fromMs && t < toMs)]
}

/** True when `candidate` added to `faults` keeps the limits and the slot rule. */
function fits (faults: readonly Fault[], candidate: Fault, limits: OutageLimits): boolean {
  const end = Math.max(candidate.downUntilMs, candidate.damagedUntilMs, candidate.atMs + 1)
  for (const f of faults) {
    if (f.slot === candidate.slot && f.atMs < slotBusyUntil(candidate) && candidate.atMs < slotBusyUntil(f)) return false
  }
  const all = [...faults, candidate]
  for (const t of loadPoints(all, candidate.atMs, end)) {
    if (all.filter((f) => isDown(f, t)).length > limits.maxDown) return false
    if (all.filter((f) => isMissed(f, t)).length > limits.maxMissed) return false
  }
  return true
}

/** Draw a fault of `kind` at `atMs` (slot chosen later). */
function drawFault (rng: Prng, index: number, kind: FaultKind, atMs: number): Fault {
  const durationMs = between(rng, DURATION_RANGE_MS[kind])
  const downUntilMs = kind === 'flip' ? atMs : atMs + durationMs + RECOVERY_MS
  const damagedUntilMs = kind === 'wipe' || kind === 'flip' ? atMs + durationMs + HEAL_ALLOWANCE_MS : atMs
  const flip = kind === 'flip'
  return {
    index,
    kind,
    slot: 0,
    atMs,
    durationMs,
    downUntilMs,
    damagedUntilMs,
    files: flip ? between(rng, FLIP_FILES_RANGE) : 0,
    bytesPerFile: flip ? between(rng, FLIP_BYTES_RANGE) : 0,
    seed: rng.nextUint32()
  }
}

/** Shift a drawn fault to start at `atMs`. */
function movedTo (f: Fault, atMs: number): Fault {
  const shift = atMs - f.atMs
  return { ...f, atMs, downUntilMs: f.downUntilMs + shift, damagedUntilMs: f.damagedUntilMs + shift }
}

/** The first slot (in a seeded order) where `f` fits, or undefined. */
function placeOnSlot (rng: Prng, faults: readonly Fault[], f: Fault, nodes: number, limits: OutageLimits): Fault | undefined {
  const first = rng.int(nodes)
  for (let i = 0; i < nodes; i++) {
    const candidate = { ...f, slot: (first + i) % nodes }
    if (fits(faults, candidate, limits)) return candidate
  }
  return undefined
}

/**
 * Compute the schedule. The first faults are one of each kind (in a seeded
 * order), so even a short run exercises every kind that fits; then kinds are
 * drawn by KIND_WEIGHTS. A fault that does not fit at its drawn time waits
 * for the next moment a running fault releases its share of the limits.
 *
 * @example
 * const s = buildSchedule({ seed: 1, minutes: 3, nodes: 6, k: 4, m: 2 })
 */
export function buildSchedule (input: ScheduleInput): Schedule {
  const limits = outageLimits(input.nodes, input.k, input.m)
  const totalMs = Math.round(input.minutes * 60_000)
  const rng = new Prng(input.seed)
  const firstKinds = [...FAULT_KINDS]
  for (let i = firstKinds.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[firstKinds[i], firstKinds[j]] = [firstKinds[j] as FaultKind, firstKinds[i] as FaultKind]
  }
  const faults: Fault[] = []
  let t = WARMUP_MS
  for (let attempt = 0; attempt < MAX_ATTEMPTS && faults.length < MAX_FAULTS && limits.maxDown > 0; attempt++) {
    t += Math.round(Math.min(FAULT_GAP_MAX_MS, rng.exponential(FAULT_GAP_MEAN_MS)))
    if (t >= totalMs) break
    const kind = firstKinds.shift() ?? weightedKind(rng)
    const drawn = drawFault(rng, faults.length, kind, t)
    const placed = placeEarliest(rng, faults, drawn, input.nodes, limits, totalMs)
    if (placed === undefined) continue
    faults.push(placed)
    t = placed.atMs
  }
  return { input, limits, totalMs, faults }
}

/** Place `drawn` on a slot at its time or at the next release point after it, ending inside the run; undefined when it cannot. */
function placeEarliest (rng: Prng, faults: readonly Fault[], drawn: Fault, nodes: number, limits: OutageLimits, totalMs: number): Fault | undefined {
  const releases = [...new Set(faults.flatMap((f) => [f.downUntilMs, f.damagedUntilMs, f.atMs + 1]))].filter((r) => r > drawn.atMs).sort((a, b) => a - b)
  for (const at of [drawn.atMs, ...releases]) {
    if (at + drawn.durationMs > totalMs) return undefined
    const placed = placeOnSlot(rng, faults, movedTo(drawn, at), nodes, limits)
    if (placed !== undefined) return placed
  }
  return undefined
}

/**
 * Every way `schedule` breaks its own rules (empty when it keeps them): the
 * outage limits at every instant, one fault at a time per slot, faults inside
 * [WARMUP_MS, totalMs], slots inside the cluster.
 *
 * @example
 * assert.deepEqual(scheduleViolations(buildSchedule(input)), [])
 */
export function scheduleViolations (schedule: Schedule): string[] {
  const { faults, limits, totalMs } = schedule
  const out: string[] = []
  for (const f of faults) {
    if (f.atMs < WARMUP_MS || f.atMs + f.durationMs > totalMs) out.push(`fault ${f.index} (${f.kind}) runs outside [${WARMUP_MS}, ${totalMs}] ms`)
    if (!Number.isInteger(f.slot) || f.slot < 0 || f.slot >= schedule.input.nodes) out.push(`fault ${f.index} hits slot ${f.slot} of ${schedule.input.nodes}`)
    for (const g of faults) {
      if (g.index > f.index && g.slot === f.slot && g.atMs < slotBusyUntil(f) && f.atMs < slotBusyUntil(g)) out.push(`faults ${f.index} and ${g.index} overlap on slot ${f.slot}`)
    }
    const down = faults.filter((g) => isDown(g, f.atMs)).length
    const missed = faults.filter((g) => isMissed(g, f.atMs)).length
    if (down > limits.maxDown) out.push(`${down} nodes down at ${f.atMs} ms (limit ${limits.maxDown})`)
    if (missed > limits.maxMissed) out.push(`${missed} nodes missed at ${f.atMs} ms (limit ${limits.maxMissed})`)
  }
  return out
}

/** How many faults of each kind the schedule holds. */
export function faultCounts (faults: readonly Fault[]): Record<FaultKind, number> {
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>
  for (const f of faults) counts[f.kind]++
  return counts
}
