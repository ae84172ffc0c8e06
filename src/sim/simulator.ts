/**
 * The discrete-event churn simulator. Nodes go up and down as a churn model
 * says, fail for good at random, are declared dead by the real policy
 * (`heal/policy.ts`), and objects are placed and repaired by the real
 * placement (`cluster/placement.ts`) and repair decisions, with a bandwidth
 * limit on each repair coordinator.
 *
 * Scale: objects are spread over a bounded number of placement groups; every
 * object of a group shares the group's k + m holders (one HRW placement of the
 * key `pg/<g>`), and per-group live/online counts live in typed arrays. Events
 * are node transitions, so an event costs work proportional to the groups on
 * that node. docs/DURABILITY.md discusses what this approximation keeps.
 */
import type { PlacementNode } from '../cluster/placement.ts'
import type { PlacementPolicy } from './planner.ts'
import { chooseRepairTargets, decideRepair, repairTransferBytes } from '../heal/policy.ts'
import { assert } from '../util/errors.ts'
import type { ChurnModel } from './churn.ts'
import { HOURS_PER_WEEK, hourOfWeekProfile } from './churn.ts'
import { EventQueue } from './event-queue.ts'
import { placeWithCandidates, topCandidates } from './fast-placement.ts'
import type { EligibleRoster } from './fast-placement.ts'
import { Prng } from './prng.ts'
import { PROFILE_WEEKS } from './scenario.ts'
import { summarize } from './sim-stats.ts'
import type { SimResult } from './sim-stats.ts'

/** Best-scored nodes remembered per group (at least), so a repair places without rehashing the roster. */
const GROUP_CANDIDATES = 64

const TOGGLE = 0
const DEAD_CHECK = 1
const FAIL = 2
const REPAIR_DONE = 3
const SAMPLE = 4

const GROUP_OK = 0
const GROUP_REPAIRING = 1
const GROUP_LOST = 2

/** Everything a simulation run needs. */
export interface SimConfig {
  model: ChurnModel
  objects: number
  days: number
  k: number
  m: number
  seed: number
  /** Placement groups; objects are spread evenly over them. */
  groups: number
  /** Zones; node i is in zone i mod zones (1 = no zones). */
  zones: number
  /** Nodes 0..anchors-1 are always-on anchors holding at least k shards of every group. */
  anchors: number
  deadAfterHours: number
  repairThreshold: number
  /** Mean time to permanent failure, days; Infinity for none. */
  mttfDays: number
  objectBytes: number
  /** Repair bandwidth of one coordinator, bytes per second. */
  repairBytesPerSecond: number
  /** Interval between readability samples, minutes. */
  sampleMinutes: number
  /**
   * `profile`: every node carries the weekly profile it would have learnt
   * (PROFILE_WEEKS of its schedule) and placement uses it, as the daemon does
   * with measured presence; `rendezvous` (default): plain weighted rendezvous.
   */
  placement?: PlacementPolicy
}

export type { PlacementPolicy } from './planner.ts'

/**
 * What a node would have measured of itself: the weekly profile of its
 * schedule over PROFILE_WEEKS (the mean only for the independent model,
 * whose schedule is drawn as the run goes), 1 for an anchor.
 */
function learntAvailability (model: ChurnModel, node: number, anchor: boolean): { profile: number[] } | { availability: number } {
  if (anchor) return { availability: 1 }
  if (model.name === 'independent') return { availability: model.meanAvailability(node) }
  return { profile: Array.from(hourOfWeekProfile(model, node, PROFILE_WEEKS)) }
}

/** Mutable state of a run; methods are the event handlers. */
class Simulation {
  readonly config: SimConfig
  readonly n: number
  readonly nodeCount: number
  readonly now = { hours: 0 }
  readonly queue = new EventQueue()
  readonly rng: Prng
  readonly online: Uint8Array
  readonly dead: Uint8Array
  readonly failed: Uint8Array
  readonly toggleGeneration: Int32Array
  readonly downGeneration: Int32Array
  readonly busyUntil: Float64Array
  readonly nodeSlots: number[][]
  readonly holders: Int32Array
  readonly onlineCount: Int32Array
  readonly liveCount: Int32Array
  readonly objectsIn: Int32Array
  readonly groupState: Uint8Array
  readonly pending: Uint8Array
  readonly candidates: Int32Array
  readonly perGroupCandidates: number
  readonly eligibleInZone: Int32Array
  readonly placementNodes: PlacementNode[]
  readonly roster: EligibleRoster
  readonly endHours: number
  readonly shardBytes: number
  eligibleZones = 0
  initialPlacement = true
  readableObjects = 0
  lostObjects = 0
  repairBytes = 0
  repairs = 0
  deadDeclarations = 0
  permanentFailures = 0
  fastPlacements = 0
  fullPlacements = 0
  readonly samples: number[] = []
  readonly onlineSamples: number[] = []

  constructor (config: SimConfig) {
    this.config = config
    this.n = config.k + config.m
    const nodes = config.model.nodes
    this.nodeCount = nodes
    this.rng = new Prng(config.seed)
    this.online = new Uint8Array(nodes)
    this.dead = new Uint8Array(nodes)
    this.failed = new Uint8Array(nodes)
    this.toggleGeneration = new Int32Array(nodes)
    this.downGeneration = new Int32Array(nodes)
    this.busyUntil = new Float64Array(nodes)
    this.nodeSlots = Array.from({ length: nodes }, () => [])
    this.holders = new Int32Array(config.groups * this.n).fill(-1)
    this.onlineCount = new Int32Array(config.groups)
    this.liveCount = new Int32Array(config.groups)
    this.objectsIn = new Int32Array(config.groups)
    this.groupState = new Uint8Array(config.groups)
    this.pending = new Uint8Array(config.groups)
    this.perGroupCandidates = Math.min(nodes, Math.max(GROUP_CANDIDATES, 2 * this.n + 16))
    this.candidates = new Int32Array(config.groups * this.perGroupCandidates)
    this.eligibleInZone = new Int32Array(config.zones)
    this.endHours = config.days * 24
    this.shardBytes = Math.ceil(config.objectBytes / config.k)
    this.placementNodes = Array.from({ length: nodes }, (_, i) => ({
      id: `n${i}`,
      weight: 1,
      zone: config.zones > 1 ? `z${i % config.zones}` : '',
      anchor: i < config.anchors,
      // Anchors are always on in the simulator, whatever the model says.
      ...(config.placement === 'profile' ? learntAvailability(config.model, i, i < config.anchors) : {})
    }))
    this.roster = {
      nodes: this.placementNodes,
      indexOf: new Map(this.placementNodes.map((node, i) => [node.id, i])),
      eligible: (i) => this.initialPlacement ? this.failed[i] === 0 : this.isEligible(i),
      eligibleZones: () => this.initialPlacement ? Math.min(config.zones, nodes) : this.eligibleZones,
      anchors: Array.from({ length: Math.min(config.anchors, nodes) }, (_, i) => i)
    }
  }

  /** Eligible to receive rebuilt shards: online, alive, not declared dead. */
  isEligible (node: number): boolean {
    return this.online[node] === 1 && this.dead[node] === 0 && this.failed[node] === 0
  }

  setEligible (node: number, before: boolean): void {
    const after = this.isEligible(node)
    if (before === after) return
    const zone = node % this.config.zones
    const count = (this.eligibleInZone[zone] as number) + (after ? 1 : -1)
    this.eligibleInZone[zone] = count
    if (after && count === 1) this.eligibleZones++
    if (!after && count === 0) this.eligibleZones--
  }

  start (): void {
    const { model, mttfDays } = this.config
    for (let i = 0; i < this.nodeCount; i++) {
      const anchor = i < this.config.anchors
      this.online[i] = anchor || model.isOnlineAt(i, 0) ? 1 : 0
      this.setEligible(i, false)
      if (!anchor) this.scheduleToggle(i)
      const failAt = Number.isFinite(mttfDays) ? this.rng.exponential(mttfDays * 24) : Infinity
      if (failAt < this.endHours) this.queue.push(failAt, FAIL, i, 0)
    }
    this.placeGroups()
    this.queue.push(0, SAMPLE, 0, 0)
  }

  scheduleToggle (node: number): void {
    const next = this.config.model.nextToggle(node, this.now.hours, this.online[node] === 1)
    assert(next > this.now.hours, 'a churn model must move time forward')
    if (next < this.endHours) this.queue.push(next, TOGGLE, node, this.toggleGeneration[node] as number)
  }

  placeGroups (): void {
    const { groups, objects, k } = this.config
    const perCandidates = this.perGroupCandidates
    for (let g = 0; g < groups; g++) {
      this.objectsIn[g] = Math.floor(objects / groups) + (g < objects % groups ? 1 : 0)
      const top = topCandidates(`pg/${g}`, this.placementNodes, perCandidates)
      this.candidates.set(top, g * perCandidates)
      const chosen = this.place(g)
      for (let s = 0; s < chosen.length; s++) this.assign(g, s, chosen[s] as number)
      if ((this.onlineCount[g] as number) >= k) this.readableObjects += this.objectsIn[g] as number
    }
    this.initialPlacement = false
  }

  place (g: number): number[] {
    const per = this.perGroupCandidates
    const request = { key: `pg/${g}`, count: this.n, minAnchors: this.config.anchors > 0 ? this.config.k : 0, readShards: this.config.k }
    const result = placeWithCandidates(request, this.candidates.subarray(g * per, (g + 1) * per), this.roster)
    if (result.fast) this.fastPlacements++
    else this.fullPlacements++
    return result.nodes
  }

  assign (g: number, slot: number, node: number): void {
    this.holders[g * this.n + slot] = node
    this.nodeSlots[node]?.push(g * this.n + slot)
    this.liveCount[g] = (this.liveCount[g] as number) + 1
    if (this.online[node] === 1) this.onlineCount[g] = (this.onlineCount[g] as number) + 1
  }

  /** The node's current slots, dropping stale entries (slots reassigned since). */
  slotsOf (node: number): number[] {
    const list = (this.nodeSlots[node] as number[]).filter((slot) => this.holders[slot] === node)
    this.nodeSlots[node] = list
    return list
  }

  toggle (node: number, generation: number): void {
    if (generation !== this.toggleGeneration[node] || this.failed[node] === 1) return
    if (this.online[node] === 1) this.goDown(node)
    else this.goUp(node)
    this.scheduleToggle(node)
  }

  goDown (node: number): void {
    const before = this.isEligible(node)
    this.online[node] = 0
    this.setEligible(node, before)
    const generation = (this.downGeneration[node] as number) + 1
    this.downGeneration[node] = generation
    const checkAt = this.now.hours + this.config.deadAfterHours
    if (checkAt < this.endHours) this.queue.push(checkAt, DEAD_CHECK, node, generation)
    const k = this.config.k
    for (const slot of this.slotsOf(node)) {
      const g = (slot / this.n) | 0
      const online = (this.onlineCount[g] as number) - 1
      this.onlineCount[g] = online
      if (online === k - 1 && this.groupState[g] !== GROUP_LOST) this.readableObjects -= this.objectsIn[g] as number
    }
  }

  goUp (node: number): void {
    const before = this.isEligible(node)
    const wasDead = this.dead[node] === 1
    this.online[node] = 1
    this.downGeneration[node] = (this.downGeneration[node] as number) + 1
    // A node declared dead that comes back still has the shards nobody rebuilt yet: they count again.
    this.dead[node] = 0
    this.setEligible(node, before)
    const k = this.config.k
    const slots = this.slotsOf(node)
    for (const slot of slots) {
      const g = (slot / this.n) | 0
      if (wasDead) this.liveCount[g] = (this.liveCount[g] as number) + 1
      const online = (this.onlineCount[g] as number) + 1
      this.onlineCount[g] = online
      if (online === k && this.groupState[g] !== GROUP_LOST) this.readableObjects += this.objectsIn[g] as number
    }
    for (const slot of slots) {
      const g = (slot / this.n) | 0
      if (this.pending[g] === 1) this.evaluate(g)
    }
  }

  deadCheck (node: number, generation: number): void {
    if (generation !== this.downGeneration[node] || this.online[node] === 1 || this.dead[node] === 1) return
    this.dead[node] = 1
    this.deadDeclarations++
    const groups: number[] = []
    for (const slot of this.slotsOf(node)) {
      const g = (slot / this.n) | 0
      this.liveCount[g] = (this.liveCount[g] as number) - 1
      groups.push(g)
    }
    for (const g of groups) this.evaluate(g)
  }

  /** Shards of a group on nodes that have not failed for good (the truth the daemon cannot see). */
  survivingShards (g: number): number {
    let count = 0
    for (let s = 0; s < this.n; s++) {
      const holder = this.holders[g * this.n + s] as number
      if (holder >= 0 && this.failed[holder] === 0) count++
    }
    return count
  }

  fail (node: number): void {
    this.failed[node] = 1
    this.permanentFailures++
    this.toggleGeneration[node] = (this.toggleGeneration[node] as number) + 1
    if (this.online[node] === 1) this.goDown(node)
  }

  decision (g: number): ReturnType<typeof decideRepair> {
    const { k, m, repairThreshold } = this.config
    return decideRepair({ liveShards: this.liveCount[g] as number, onlineShards: this.onlineCount[g] as number, k, m, repairThreshold })
  }

  evaluate (g: number): void {
    if (this.groupState[g] !== GROUP_OK) return
    const decision = this.decision(g)
    this.pending[g] = 0
    if (decision.action === 'lost') {
      // Fewer than k live shards: lost for good only if the missing holders really failed;
      // otherwise wait for a holder declared dead to come back.
      if (this.survivingShards(g) < this.config.k) {
        this.groupState[g] = GROUP_LOST
        this.lostObjects += this.objectsIn[g] as number
      } else {
        this.pending[g] = 1
      }
    } else if (decision.action === 'wait') {
      this.pending[g] = 1
    } else if (decision.action === 'repair') {
      this.startRepair(g, decision.rebuildShards)
    }
  }

  startRepair (g: number, rebuild: number): void {
    let coordinator = -1
    for (let s = 0; s < this.n && coordinator < 0; s++) {
      const holder = this.holders[g * this.n + s] as number
      if (holder >= 0 && this.online[holder] === 1) coordinator = holder
    }
    assert(coordinator >= 0, 'a repair needs an online holder')
    const bytes = repairTransferBytes(this.shardBytes, this.config.k, rebuild) * (this.objectsIn[g] as number)
    const begin = Math.max(this.now.hours, this.busyUntil[coordinator] as number)
    const done = begin + bytes / this.config.repairBytesPerSecond / 3600
    this.busyUntil[coordinator] = done
    this.groupState[g] = GROUP_REPAIRING
    if (done < this.endHours) this.queue.push(done, REPAIR_DONE, g, 0)
  }

  finishRepair (g: number): void {
    if (this.groupState[g] !== GROUP_REPAIRING) return
    this.groupState[g] = GROUP_OK
    const decision = this.decision(g)
    if (decision.action !== 'repair') { this.evaluate(g); return }
    const liveHolders: number[] = []
    const empty: number[] = []
    for (let s = 0; s < this.n; s++) {
      const holder = this.holders[g * this.n + s] as number
      if (holder >= 0 && this.dead[holder] === 0) liveHolders.push(holder)
      else empty.push(s)
    }
    const targets = chooseRepairTargets(this.place(g), liveHolders, decision.rebuildShards)
    const wasReadable = (this.onlineCount[g] as number) >= this.config.k
    for (let i = 0; i < targets.length; i++) this.assign(g, empty[i] as number, targets[i] as number)
    if (!wasReadable && (this.onlineCount[g] as number) >= this.config.k) this.readableObjects += this.objectsIn[g] as number
    this.repairBytes += repairTransferBytes(this.shardBytes, this.config.k, targets.length) * (this.objectsIn[g] as number)
    this.repairs++
    // Too few eligible nodes to rebuild everything: try again when a holder returns.
    if (targets.length < decision.rebuildShards) this.pending[g] = 1
  }

  sample (): void {
    this.samples.push(this.readableObjects / this.config.objects)
    let up = 0
    for (let i = 0; i < this.nodeCount; i++) up += this.online[i] as number
    this.onlineSamples.push(up / this.nodeCount)
    const next = this.now.hours + this.config.sampleMinutes / 60
    if (next < this.endHours) this.queue.push(next, SAMPLE, 0, 0)
  }

  run (): void {
    this.start()
    for (;;) {
      const event = this.queue.pop()
      if (event === undefined) break
      this.now.hours = event.time
      switch (event.kind) {
        case TOGGLE: this.toggle(event.target, event.generation); break
        case DEAD_CHECK: this.deadCheck(event.target, event.generation); break
        case FAIL: this.fail(event.target); break
        case REPAIR_DONE: this.finishRepair(event.target); break
        case SAMPLE: this.sample(); break
        default: assert(false, `unknown event kind ${event.kind}`)
      }
    }
  }
}

/**
 * Run one simulation.
 *
 * @example
 * simulate({ model: new OfficeModel(300, 1), objects: 10000, days: 28, k: 4, m: 8, ... }).readable.mean
 */
export function simulate (config: SimConfig): SimResult {
  assert(config.groups >= 1 && config.groups <= config.objects, 'groups must be in [1, objects]')
  assert(config.k + config.m <= config.model.nodes, 'k + m must not exceed the number of nodes')
  assert(config.zones >= 1, 'zones must be at least 1')
  const started = performance.now()
  const sim = new Simulation(config)
  sim.run()
  const perDay = Math.max(1, Math.round(24 * 60 / config.sampleMinutes))
  const perWeek = Math.max(1, Math.round(HOURS_PER_WEEK * 60 / config.sampleMinutes))
  return summarize({
    samples: sim.samples,
    onlineSamples: sim.onlineSamples,
    samplesPerDay: perDay,
    samplesPerWeek: perWeek,
    sampleMinutes: config.sampleMinutes,
    lostObjects: sim.lostObjects,
    objects: config.objects,
    repairBytes: sim.repairBytes,
    repairs: sim.repairs,
    nodes: sim.nodeCount,
    days: config.days,
    overhead: (config.k + config.m) / config.k,
    deadDeclarations: sim.deadDeclarations,
    permanentFailures: sim.permanentFailures,
    groups: config.groups,
    fullPlacements: sim.fullPlacements,
    fastPlacements: sim.fastPlacements,
    elapsedSeconds: (performance.now() - started) / 1000
  })
}
