/**
 * The mover of one node: carries out decommissions (`cairn node
 * decommission`: every shard off a member while it is still up) and the
 * rebalance job (`cairn rebalance`: used space evened out after nodes
 * join). Both are replicated records — a member's `nodeattr` state
 * `decommissioning`, the `job` record `rebalance` — so they survive restarts
 * and every node's mover sees them.
 *
 * Each pass walks every stored version (the node's full metadata replica)
 * and plans the moves the way every other node does (heal/balance.ts for a
 * rebalance; for a decommission, every live shard copy on a leaving member),
 * then executes those of the versions it coordinates — the coordinator of
 * `repair/<versionId>`, the node that also repairs it, so the two never
 * commit the same version's location at once (daemon/location-commit.ts).
 * A move copies the shard (heal/move.ts), commits the location record
 * naming the new holder, and leaves the old copy to its holder's collector,
 * which deletes it only once the new holder serves it: no object is below
 * its redundancy at any moment. A crash loses nothing: what was not
 * committed is planned again by the next pass of whichever node coordinates
 * the version then.
 *
 * A decommission is done when no live version's location names the member
 * any more; the coordinator of `decommission/<node id>` then records the
 * state `decommissioned`. The rebalance is done when its plan is empty; the
 * coordinator of `rebalance` records the job `done`. Decommissions go first:
 * the rebalance waits while one is in progress.
 */
import { coordinatorFor } from '../cluster/placement.ts'
import { BalancePlanner } from '../heal/balance.ts'
import type { BalanceMove, BalanceNode, BalanceStripe } from '../heal/balance.ts'
import type { HealthFacts } from '../heal/health.ts'
import { moveShards } from '../heal/move.ts'
import type { ShardMove } from '../heal/move.ts'
import { repairTargets } from '../heal/repair.ts'
import { holderLookup } from '../meta/locations.ts'
import { nodeAttrPk } from '../meta/node-attrs.ts'
import type { JobBody, MetaRecord, StripeManifest, VersionBody } from '../meta/types.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { errorMessage } from '../util/errors.ts'
import type { Daemon } from './daemon.ts'
import { commitLocation } from './location-commit.ts'
import { REPAIR_VERSIONS_IN_FLIGHT, STRIPES_PER_COMMIT } from './healer.ts'

/** Time between two passes while a move is in progress, and while none is (checking is cheap). */
export const MOVE_ACTIVE_INTERVAL_MS = 2_000
export const MOVE_IDLE_INTERVAL_MS = 10_000
/** Longest time a moved copy waits for the location record that names it (far below any orphan grace period). */
export const MOVE_COMMIT_AFTER_MS = 1_000
/** Versions walked between two yields to the event loop. */
const YIELD_EVERY = 200

/** Progress of one member's decommission. */
export interface DecommissionProgress { id: string, name: string, state: 'decommissioning' | 'decommissioned', shardsLeft: number, bytesLeft: number }

/** Progress of the rebalance job. */
export interface RebalanceProgress {
  state: 'none' | 'waiting' | 'running' | 'done'
  startedMs: number
  doneMs: number
  /** Shards and bytes the last pass planned to move (the whole cluster's plan). */
  shardsLeft: number
  bytesLeft: number
  /** Largest deviation of a node's used space from its target, as a fraction of the target, at the last pass. */
  maxDeviation: number
}

/** What the mover did, for `cairn status` and `cairn workers`. */
export interface MoverStats {
  passes: number
  lastPassMs: number
  lastPassTookMs: number
  decommission: DecommissionProgress[]
  rebalance: RebalanceProgress
  /** Shards and bytes this node moved since it started. */
  movedShards: number
  movedBytes: number
  lastError: string
}

interface Work { versionId: string, body: VersionBody, stripes: Array<{ stripe: StripeManifest, index: number, codec: ErasureCodecName | undefined, moves: ShardMove[] }> }

/** The mover of a node. */
export class Mover {
  readonly stats: MoverStats = { passes: 0, lastPassMs: 0, lastPassTookMs: 0, decommission: [], rebalance: { state: 'none', startedMs: 0, doneMs: 0, shardsLeft: 0, bytesLeft: 0, maxDeviation: 0 }, movedShards: 0, movedBytes: 0, lastError: '' }
  private readonly d: Daemon
  private running: Promise<void> | undefined

  constructor (d: Daemon) {
    this.d = d
  }

  /** Members being decommissioned now. */
  leaving (): string[] {
    return this.d.membership.roster().filter((m) => this.d.membership.adminState(m.id) === 'decommissioning').map((m) => m.id)
  }

  /** The rebalance job record, when there is one. */
  job (): JobBody | undefined {
    const r = this.d.meta.get('job', 'rebalance')
    return r === undefined || r.tombstone ? undefined : r.body as JobBody
  }

  /** True while a decommission or the rebalance is in progress. */
  active (): boolean {
    return this.leaving().length > 0 || this.job()?.state === 'running'
  }

  /** One pass; concurrent calls share it. */
  async passNow (signal?: AbortSignal): Promise<MoverStats> {
    this.running ??= this.pass(signal).finally(() => { this.running = undefined })
    await this.running
    return this.stats
  }

  private async pass (signal?: AbortSignal): Promise<void> {
    const started = Date.now()
    try {
      const leaving = this.leaving()
      const job = this.job()
      if (leaving.length > 0) await this.decommissionPass(new Set(leaving), signal)
      else this.stats.decommission = this.decommissioned()
      if (job !== undefined) await this.rebalancePass(job, leaving.length > 0, signal)
      else this.stats.rebalance = { state: 'none', startedMs: 0, doneMs: 0, shardsLeft: 0, bytesLeft: 0, maxDeviation: 0 }
      this.stats.lastError = ''
    } catch (err) {
      if (signal?.aborted === true) return
      this.stats.lastError = errorMessage(err)
      this.d.log(`mover pass failed: ${this.stats.lastError}`)
    }
    this.stats.passes++
    this.stats.lastPassMs = Date.now()
    this.stats.lastPassTookMs = Date.now() - started
  }

  private decommissioned (): DecommissionProgress[] {
    return this.d.membership.roster().filter((m) => this.d.membership.adminState(m.id) === 'decommissioned').map((m) => ({ id: m.id, name: m.body.name, state: 'decommissioned', shardsLeft: 0, bytesLeft: 0 }))
  }

  /** Health facts for one version's holders (dead: not a member, presence dead, or decommissioned). */
  private facts (versionId: string): HealthFacts {
    const members = this.d.membership.memberIds()
    return {
      holders: holderLookup(this.d.engine.location(versionId)),
      isDead: (n) => !members.has(n) || this.d.presence.state(n) === 'dead' || this.d.membership.adminState(n) === 'decommissioned',
      isOnline: (n) => this.d.membership.isOnline(n),
      isLost: () => false
    }
  }

  /** Every live erasure-coded version with its stripes, in version-id order (the same on every node). */
  private async * versions (signal?: AbortSignal): AsyncGenerator<{ id: string, body: VersionBody, stripes: Array<{ stripe: StripeManifest, index: number, codec: ErasureCodecName | undefined }> }> {
    let seen = 0
    for (const record of this.d.meta.codedVersionsPaged()) {
      signal?.throwIfAborted()
      const body = record.body as VersionBody
      if (body.deleteMarker || body.manifest === undefined || body.manifest.inline !== undefined) continue
      if (++seen % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
      const stripes: Array<{ stripe: StripeManifest, index: number, codec: ErasureCodecName | undefined }> = []
      try {
        for await (const s of this.d.healer.stripes(record.pk, body, signal)) stripes.push({ stripe: s.stripe, index: s.index, codec: s.codec })
      } catch (err) {
        signal?.throwIfAborted()
        this.d.log(`mover: cannot read the stripes of ${body.bucket}/${body.key} (${record.pk}): ${errorMessage(err)}`)
        continue
      }
      yield { id: record.pk, body, stripes }
    }
  }

  private coordinates (versionId: string): boolean {
    return coordinatorFor(`repair/${versionId}`, this.d.healer.coordinationNodes()) === this.d.net.peerId
  }

  /** Move every live shard copy off the leaving members; record a member decommissioned once nothing names it. */
  private async decommissionPass (leaving: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    const left = new Map<string, { shards: number, bytes: number }>([...leaving].map((id) => [id, { shards: 0, bytes: 0 }]))
    const work: Work[] = []
    for await (const v of this.versions(signal)) {
      const facts = this.facts(v.id)
      const mine = this.coordinates(v.id)
      const item: Work = { versionId: v.id, body: v.body, stripes: [] }
      for (const s of v.stripes) {
        const gone: number[] = []
        const from = new Map<number, string>()
        s.stripe.shards.forEach((ref, index) => {
          const live = facts.holders(ref).filter((n) => !facts.isDead(n))
          for (const n of live) {
            const count = left.get(n)
            if (count === undefined) continue
            count.shards++
            count.bytes += s.stripe.shardSizeBytes
            from.set(index, n)
          }
          if (from.has(index)) gone.push(index)
        })
        if (!mine || gone.length === 0) continue
        // Targets by the stripe rule, as if the leaving copies were gone (the same rule repair uses).
        const without: HealthFacts = { ...facts, isDead: (n) => leaving.has(n) || facts.isDead(n) }
        const targets = repairTargets(s.stripe, `${v.id}/${s.index}`, gone, {
          k: v.body.manifest?.k ?? 0,
          facts: without,
          candidates: () => this.d.membership.onlineNodes().filter((n) => this.d.presence.state(n.id) !== 'dead' && !this.d.healer.placementExcluded(n.id)),
          member: (id) => this.d.membership.placementNode(id),
          log: this.d.log
        })
        const moves = targets.map(({ index, node }) => ({ index, hash: s.stripe.shards[index]?.hash ?? '', from: from.get(index) ?? '', to: node }))
        if (moves.length > 0) item.stripes.push({ ...s, moves })
      }
      if (item.stripes.length > 0) work.push(item)
    }
    const progress: DecommissionProgress[] = this.d.membership.roster().filter((m) => leaving.has(m.id)).map((m) => ({ id: m.id, name: m.body.name, state: 'decommissioning', shardsLeft: left.get(m.id)?.shards ?? 0, bytesLeft: left.get(m.id)?.bytes ?? 0 }))
    this.stats.decommission = [...progress, ...this.decommissioned()]
    await this.execute(work, signal)
    for (const [id, count] of left) {
      if (count.shards > 0 || coordinatorFor(`decommission/${id}`, this.d.healer.coordinationNodes()) !== this.d.net.peerId) continue
      await this.recordDecommissioned(id, signal)
    }
  }

  private async recordDecommissioned (id: string, signal?: AbortSignal): Promise<void> {
    const record: MetaRecord = { v: 1, table: 'nodeattr', pk: nodeAttrPk(id, 'state'), hlc: this.d.clock.now(), origin: this.d.net.peerId, tombstone: false, body: { value: 'decommissioned' } }
    await this.d.replicator.commit([record], signal)
    this.d.membership.invalidate()
    this.d.log(`${this.d.membership.nodeName(id)} is decommissioned: no object names it any more; its collector deletes what it still holds`)
  }

  /** Plan the whole rebalance (heal/balance.ts) and carry out this node's part; record the job done when nothing is left to move. */
  private async rebalancePass (job: JobBody, waiting: boolean, signal?: AbortSignal): Promise<void> {
    const base = { startedMs: job.startedMs, doneMs: job.doneMs }
    if (job.state === 'done') { this.stats.rebalance = { ...this.stats.rebalance, state: 'done', ...base, shardsLeft: 0, bytesLeft: 0 }; return }
    if (waiting) { this.stats.rebalance = { ...this.stats.rebalance, state: 'waiting', ...base }; return }
    const planner = new BalancePlanner(this.balanceNodes())
    for await (const v of this.versions(signal)) for (const s of this.balanceStripes(v)) planner.account(s)
    planner.freeze()
    const maxDeviation = planner.maxDeviation()
    const work: Work[] = []
    for await (const v of this.versions(signal)) {
      const mine = this.coordinates(v.id)
      const item: Work = { versionId: v.id, body: v.body, stripes: [] }
      const byIndex = new Map(v.stripes.map((s) => [`${v.id}/${s.index}/${s.stripe.shards[0]?.hash ?? ''}`, s]))
      for (const bs of this.balanceStripes(v)) {
        const moves: BalanceMove[] = planner.decide(bs)
        const s = byIndex.get(bs.key)
        if (!mine || moves.length === 0 || s === undefined) continue
        item.stripes.push({ ...s, moves: moves.map((mv) => ({ index: mv.index, hash: mv.hash, from: mv.from, to: mv.to })) })
      }
      if (item.stripes.length > 0) work.push(item)
    }
    this.stats.rebalance = { state: 'running', ...base, shardsLeft: planner.plannedShards, bytesLeft: planner.plannedBytes, maxDeviation }
    await this.execute(work, signal)
    if (planner.plannedShards === 0 && coordinatorFor('rebalance', this.d.healer.coordinationNodes()) === this.d.net.peerId) {
      const record: MetaRecord = { v: 1, table: 'job', pk: 'rebalance', hlc: this.d.clock.now(), origin: this.d.net.peerId, tombstone: false, body: { ...job, state: 'done', doneMs: Date.now() } }
      await this.d.replicator.commit([record], signal)
      this.stats.rebalance = { ...this.stats.rebalance, state: 'done', doneMs: Date.now() }
      this.d.log(`rebalance done: every node within ${(maxDeviation * 100).toFixed(1)}% of its share`)
    }
  }

  /** Members taking part in a rebalance: active (not leaving), not dead, not failing audits. */
  private balanceNodes (): BalanceNode[] {
    return this.d.membership.roster()
      .filter((m) => this.d.membership.placeable(m.id) && this.d.presence.state(m.id) !== 'dead' && !this.d.healer.placementExcluded(m.id))
      .map((m) => ({ id: m.id, quotaBytes: (m.id === this.d.net.peerId ? this.d.store.stats().quotaBytes : this.d.membership.capacity.get(m.id)?.quotaBytes) ?? m.body.quotaBytes, online: this.d.membership.isOnline(m.id), anchor: m.body.anchor, zone: m.body.zone ?? '' }))
  }

  private balanceStripes (v: { id: string, stripes: Array<{ stripe: StripeManifest, index: number }> }): BalanceStripe[] {
    const facts = this.facts(v.id)
    return v.stripes.map((s) => ({
      versionId: v.id,
      key: `${v.id}/${s.index}/${s.stripe.shards[0]?.hash ?? ''}`,
      shards: s.stripe.shards.map((ref, index) => ({ index, hash: ref.hash, sizeBytes: s.stripe.shardSizeBytes, holders: facts.holders(ref).filter((n) => !facts.isDead(n)) }))
    }))
  }

  /** Carry out planned moves, a few versions at once, committing each version's location every few stripes. */
  private async execute (work: readonly Work[], signal?: AbortSignal): Promise<void> {
    let next = 0
    await Promise.all(Array.from({ length: Math.min(REPAIR_VERSIONS_IN_FLIGHT, work.length) }, async () => {
      while (next < work.length) {
        const item = work[next++] as Work
        signal?.throwIfAborted()
        if (this.d.meta.versionState(item.versionId) !== 'live' || !this.coordinates(item.versionId)) continue
        try {
          await this.moveVersion(item, signal)
        } catch (err) {
          signal?.throwIfAborted()
          this.d.log(`move of ${item.body.bucket}/${item.body.key} (${item.versionId}) failed: ${errorMessage(err)}; retried next pass`)
        }
      }
    }))
  }

  /**
   * Move one version's planned shards, stripe by stripe. A copy not yet
   * named by a location record is young on its new holder only for the
   * grace period (then its collector takes it for an orphan), so copies are
   * never left uncommitted across a wait: the rate limit is taken for a
   * whole stripe before its copies, and what is pending is committed before
   * any wait for the limit, after STRIPES_PER_COMMIT stripes, and once
   * MOVE_COMMIT_AFTER_MS have passed since the first uncommitted copy.
   */
  private async moveVersion (item: Work, signal?: AbortSignal): Promise<void> {
    const { k, m } = item.body.manifest ?? { k: 0, m: 0 }
    const limiter = this.d.healer.limiter
    let pending = new Map<string, string[]>()
    // The member each pending copy leaves and its size, for the progress once committed.
    let leftBehind: Array<{ from: string, bytes: number }> = []
    let stripes = 0
    let firstMs = 0
    const flush = async (): Promise<void> => {
      if (pending.size === 0) return
      await commitLocation(this.d, item.versionId, pending, signal)
      this.noteMoved(leftBehind)
      pending = new Map()
      leftBehind = []
      stripes = 0
    }
    for (const s of item.stripes) {
      // Coordination passed to another node (one came online): it plans this version from now on.
      if (!this.coordinates(item.versionId)) break
      // Read from the old holder and written to the new one: twice the shard bytes.
      const bytes = 2 * s.moves.length * s.stripe.shardSizeBytes
      if (limiter.wouldWait(bytes)) await flush()
      await limiter.take(bytes, signal)
      const result = await moveShards(s.stripe, `${item.versionId}/${s.index}`, s.moves, {
        selfId: this.d.net.peerId,
        k,
        m,
        ...(s.codec === undefined ? {} : { codec: s.codec }),
        versionId: item.versionId,
        shards: this.d.engine.shardIO,
        facts: this.facts(item.versionId),
        // Taken above for the copies; a rebuild (the old holder failed) reads k shards more, unthrottled.
        throttle: async () => {},
        ...(signal === undefined ? {} : { signal }),
        log: this.d.log
      })
      this.stats.movedShards += result.movedShards
      this.stats.movedBytes += result.movedBytes
      if (result.moves.size === 0) continue
      if (pending.size === 0) firstMs = Date.now()
      for (const [hash, holders] of result.moves) {
        pending.set(hash, holders)
        for (const move of s.moves) if (move.hash === hash) leftBehind.push({ from: move.from, bytes: s.stripe.shardSizeBytes })
      }
      if (++stripes >= STRIPES_PER_COMMIT || Date.now() - firstMs >= MOVE_COMMIT_AFTER_MS) await flush()
    }
    await flush()
  }

  /**
   * Count committed moves off leaving members in the progress at once: a
   * pass recounts from the location records only when it starts, and a pass
   * can take minutes under a low repairRate, so `--wait` and status would
   * otherwise show one figure for all that time. Moves other nodes
   * coordinate show at this node's next pass.
   */
  private noteMoved (moved: ReadonlyArray<{ from: string, bytes: number }>): void {
    for (const { from, bytes } of moved) {
      const entry = this.stats.decommission.find((x) => x.id === from && x.state === 'decommissioning')
      if (entry === undefined) continue
      entry.shardsLeft = Math.max(0, entry.shardsLeft - 1)
      entry.bytesLeft = Math.max(0, entry.bytesLeft - bytes)
    }
  }
}
