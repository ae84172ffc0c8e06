/**
 * The healer of one node: every scan it judges the health of every stored
 * object version (for status), and repairs the versions it coordinates —
 * one deterministic coordinator per version, the first of the rendezvous
 * order of `repair/<versionId>` over the online nodes, so every node agrees
 * without talking and a crashed coordinator's work passes to the next one.
 *
 * A shard is lost when its holder is dead (presence), when the holder's
 * scrub reports it missing or corrupt (`/cairn/heal/lost/1.0.0`), or when
 * the holder failed an audit on it (daemon/auditor.ts). A stripe is
 * repaired when its live shards fall below the repair threshold, or when some
 * shard was never placed (a degraded put); shards on asleep or suspect nodes
 * are live, so transient absence moves no bytes. Rebuilt shards go to online
 * nodes holding no live shard of the stripe; the version's `location` record
 * (committed with the write quorum) then names them, and the old holders'
 * collectors delete their stale copies. The scan holds no state that a crash
 * could lose: what is not done is found again by the next scan of whichever
 * node coordinates the version then.
 *
 * Wire: /cairn/heal/lost/1.0.0 header {v:1} → header {v:1, count, truncated},
 * body JSON string[] of shard hashes this node should hold but cannot serve.
 */
import { coordinatorFor } from '../cluster/placement.ts'
import { commitLocation } from './location-commit.ts'
import type { PlacementNode } from '../cluster/placement.ts'
import type { StripeManifest, VersionBody } from '../meta/types.ts'
import { holderLookup, withHolders } from '../meta/locations.ts'
import { objectState, needsRepair, stripeHealth } from '../heal/health.ts'
import type { HealthFacts, ObjectState, StripeHealth } from '../heal/health.ts'
import { repairStripe } from '../heal/repair.ts'
import { deriveRepairThreshold } from '../heal/policy.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import { errorMessage } from '../util/errors.ts'
import { RateLimiter } from '../util/rate-limiter.ts'
import type { Daemon } from './daemon.ts'
import type { ErasureCodecName } from '../erasure/index.ts'

/** Most lost-shard hashes one answer carries. */
export const MAX_LOST_REPORT = 100_000
/** Stripes repaired between two commits of a version's location record (progress survives a crash). */
export const STRIPES_PER_COMMIT = 16
/** Versions judged between two yields to the event loop (heartbeats and calls go on during a long scan). */
const YIELD_EVERY = 500
/** Versions one coordinator repairs at once (most endangered first; each repairs its stripes in order). */
export const REPAIR_VERSIONS_IN_FLIGHT = 4
/** Stripes of out-of-record stripe lists kept in memory for health scans. */
const STRIPE_CACHE_MAX = 200_000

/** Object counts for `cairn status` (contract: total, healthy, degraded, unavailable). */
export interface ObjectCounts { total: number, healthy: number, degraded: number, unavailable: number }

/** What the healer did, for `cairn workers` and status. */
export interface HealerStats {
  scans: number
  lastScanMs: number
  lastScanTookMs: number
  objects: ObjectCounts
  /** Live shards below which a stripe is repaired. */
  repairThreshold: number
  /** Versions this node coordinated a repair of, shards it rebuilt, bytes it read and wrote for repairs. */
  repairedVersions: number
  repairedShards: number
  repairReadBytes: number
  repairWrittenBytes: number
  /** Versions needing repair that had to wait (no free node, too few shards online). */
  waiting: number
  lastError: string
}

/** The health of one version, for `cairn health`. */
export interface VersionHealth {
  state: ObjectState
  stripes: Array<{ index: number, list: boolean, health: StripeHealth, shards: Array<{ index: number, hash: string, holders: string[] }> }>
}

/** The healer of a node. */
export class Healer {
  readonly stats: HealerStats = { scans: 0, lastScanMs: 0, lastScanTookMs: 0, objects: { total: 0, healthy: 0, degraded: 0, unavailable: 0 }, repairThreshold: 0, repairedVersions: 0, repairedShards: 0, repairReadBytes: 0, repairWrittenBytes: 0, waiting: 0, lastError: '' }
  private readonly d: Daemon
  /** The repairRate limit, shared with the mover (daemon/mover.ts) so moves and repairs together keep to it. */
  readonly limiter: RateLimiter
  /** Lost shards reported by each node at the last scan. */
  private lost = new Map<string, Set<string>>()
  /** Data stripes of out-of-record stripe lists, by version (immutable once written). */
  private readonly listCache = new Map<string, StripeManifest[]>()
  private cachedStripes = 0
  /** Versions whose repair runs now (never twice at once). */
  private readonly active = new Set<string>()
  private running: Promise<void> | undefined
  /** Shards this node should hold but cannot serve (set by the scrubber). */
  localLost: () => string[] = () => []
  /** Recompute them (a shard rebuilt here is no longer lost). */
  refreshLocalLost: () => Promise<unknown> = async () => {}
  /** Shards nodes failed audits on and are still named for (set by the auditor): node → hashes; counted as lost. */
  auditLost: () => ReadonlyMap<string, ReadonlySet<string>> = () => new Map()
  /** Online nodes that may coordinate versions (set by the auditor: not those failing audits). */
  coordinationNodes: () => PlacementNode[] = () => this.d.membership.onlineNodes()
  /** Nodes that must receive no rebuilt shard (set by the auditor: they fail audits). */
  placementExcluded: (nodeId: string) => boolean = () => false

  constructor (d: Daemon) {
    this.d = d
    this.limiter = new RateLimiter(() => d.settings.repairRate())
  }

  /** Serve this node's lost-shard report. */
  async register (): Promise<void> {
    await this.d.net.handle(PROTOCOLS.healLost, async () => {
      await this.refreshLocalLost()
      const all = this.localLost()
      const lost = all.slice(0, MAX_LOST_REPORT)
      return { header: { v: 1, count: lost.length, truncated: all.length > lost.length }, body: Buffer.from(JSON.stringify(lost)) }
    })
  }

  /**
   * The repair threshold in force: the repairThreshold setting, else derived
   * from the readability target and the planning availability of every
   * member not dead (heal/policy.ts; conservative while histories are short).
   */
  threshold (): number {
    const { k, m } = this.d.files.cluster
    const set = this.d.settings.repairThresholdOverride()
    if (set !== undefined) return set
    const availability = this.d.membership.roster().filter((n) => this.d.presence.state(n.id) !== 'dead' && this.d.membership.adminState(n.id) !== 'decommissioned').map((n) => this.d.presence.expectedAvailability(n.id))
    if (availability.length === 0) return k + m
    return deriveRepairThreshold({ k, m, availability, target: this.d.settings.target() })
  }

  /** One scan; concurrent calls share it. */
  async scanNow (signal?: AbortSignal): Promise<HealerStats> {
    this.running ??= this.scan(signal).finally(() => { this.running = undefined })
    await this.running
    return this.stats
  }

  /** True when `node` reported `hash` lost (its scrub) or failed an audit on it, as of the last scan. */
  isLost (node: string, hash: string): boolean {
    return this.lost.get(node)?.has(hash) === true
  }

  /** Member states of the scan in progress (computed once per node and scan). */
  private stateCache = new Map<string, boolean>()

  private facts (holders: HealthFacts['holders']): HealthFacts {
    const members = this.d.membership.memberIds()
    const dead = (n: string): boolean => {
      let v = this.stateCache.get(n)
      if (v === undefined) {
        v = !members.has(n) || this.d.presence.state(n) === 'dead' || this.d.membership.adminState(n) === 'decommissioned'
        this.stateCache.set(n, v)
      }
      return v
    }
    return {
      holders,
      isDead: dead,
      isOnline: (n) => this.d.membership.isOnline(n),
      isLost: (n, hash) => this.lost.get(n)?.has(hash) === true
    }
  }

  private async scan (signal?: AbortSignal): Promise<void> {
    const started = Date.now()
    const counts: ObjectCounts = { total: 0, healthy: 0, degraded: 0, unavailable: 0 }
    let waiting = 0
    try {
      this.lost = await this.gatherLost(signal)
      const threshold = this.threshold()
      this.stats.repairThreshold = threshold
      const self = this.d.net.peerId
      const live = new Set<string>()
      const todo: Array<{ id: string, body: VersionBody, live: number }> = []
      let seen = 0
      this.stateCache = new Map()
      // Inline versions are in every replica's metadata: healthy, and counted without reading them.
      const inline = this.d.meta.inlineVersionCount()
      counts.total += inline
      counts.healthy += inline
      for (const record of this.d.meta.codedVersionsPaged()) {
        signal?.throwIfAborted()
        if (++seen % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve))
        const body = record.body as VersionBody
        if (body.deleteMarker || body.manifest === undefined || body.manifest.inline !== undefined) continue
        live.add(record.pk)
        counts.total++
        const health = await this.versionHealth(record.pk, signal).catch(() => undefined)
        if (health === undefined && this.d.meta.versionState(record.pk) !== 'live') { counts.total--; continue } // removed meanwhile
        const state = health?.state ?? 'unavailable'
        counts[state]++
        if (health === undefined || !health.stripes.some((s) => needsRepair(s.health, body.manifest?.k ?? 0, threshold))) continue
        if (coordinatorFor(`repair/${record.pk}`, this.coordinationNodes()) !== self) continue
        todo.push({ id: record.pk, body, live: Math.min(...health.stripes.map((s) => s.health.live)) })
      }
      // Counts are published before the repairs, which may take long.
      this.stats.objects = counts
      // The most endangered versions first: fewest live shards in their worst stripe.
      todo.sort((a, b) => a.live - b.live || (a.id < b.id ? -1 : 1))
      // A few versions at once: one stripe's repair waits on round trips to several nodes, so a lone
      // repair leaves the network and the CPUs idle; the shared rate limit still bounds the bytes.
      let next = 0
      await Promise.all(Array.from({ length: Math.min(REPAIR_VERSIONS_IN_FLIGHT, todo.length) }, async () => {
        while (next < todo.length) {
          const item = todo[next++] as typeof todo[number]
          signal?.throwIfAborted()
          if (this.d.meta.versionState(item.id) !== 'live') continue
          try {
            const outcome = await this.repairVersion(item.id, item.body, threshold, signal)
            if (outcome === 'waiting') waiting++
          } catch (err) {
            // One version that cannot be repaired (its location commit refused, no quorum) does not stop the others.
            signal?.throwIfAborted()
            this.d.log(`repair of ${item.body.bucket}/${item.body.key} (${item.id}) failed: ${errorMessage(err)}; retried next scan`)
          }
        }
      }))
      await this.dropStaleLocations(live)
      for (const id of [...this.listCache.keys()]) if (!live.has(id)) this.forgetList(id)
      this.stats.lastError = ''
    } catch (err) {
      if (signal?.aborted === true) return
      this.stats.lastError = errorMessage(err)
      this.d.log(`healer scan failed: ${this.stats.lastError}`)
    }
    this.stats.objects = counts
    this.stats.waiting = waiting
    this.stats.scans++
    this.stats.lastScanMs = Date.now()
    this.stats.lastScanTookMs = Date.now() - started
  }

  /** Ask every online member that reports lost shards which ones; this node's own come from its scrubber. */
  private async gatherLost (signal?: AbortSignal): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>()
    out.set(this.d.net.peerId, new Set(this.localLost()))
    await Promise.all(this.d.memberPeers().map(async (peer) => {
      if ((this.d.membership.capacity.get(peer)?.lostShards ?? 0) === 0) return
      try {
        const res = await this.d.net.call(peer, PROTOCOLS.healLost, { v: 1 }, undefined, { timeoutMs: 10_000, ...(signal === undefined ? {} : { signal }) })
        const list: unknown = JSON.parse(Buffer.from(res.body).toString('utf8'))
        if (Array.isArray(list)) out.set(peer, new Set(list.filter((h): h is string => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))))
      } catch (err) {
        // Keep what it said last time: a shard it lost stays lost until it says otherwise.
        const before = this.lost.get(peer)
        if (before !== undefined) out.set(peer, before)
        this.d.log(`could not ask ${this.d.membership.nodeName(peer)} for its lost shards: ${errorMessage(err)}`)
      }
    }))
    // Shards a holder failed an audit on are lost there too, whatever it says.
    for (const [node, hashes] of this.auditLost()) {
      const set = new Set(out.get(node))
      for (const h of hashes) set.add(h)
      out.set(node, set)
    }
    return out
  }

  /** Every stripe of a live version with its health (reads the stripe list of a large version once). */
  async versionHealth (versionId: string, signal?: AbortSignal): Promise<VersionHealth | undefined> {
    const record = this.d.meta.get('version', versionId)
    const body = record?.body as VersionBody | undefined
    if (record === undefined || record.tombstone || body?.manifest === undefined) return undefined
    const { k, m } = body.manifest
    const lookup = holderLookup(this.d.engine.location(versionId))
    const facts = this.facts(lookup)
    const stripes: VersionHealth['stripes'] = []
    for await (const s of this.stripes(versionId, body, signal)) {
      stripes.push({ index: s.index, list: s.list, health: stripeHealth(s.stripe, facts), shards: s.stripe.shards.map((ref, index) => ({ index, hash: ref.hash, holders: lookup(ref) })) })
    }
    return { state: body.manifest.inline !== undefined ? 'healthy' : objectState(stripes.map((s) => s.health), k, m), stripes }
  }

  /** Every stripe of a version (stripe-list stripes first), out-of-record lists read once and cached. */
  async * stripes (versionId: string, body: VersionBody, signal?: AbortSignal): AsyncGenerator<{ stripe: StripeManifest, index: number, list: boolean, codec: ErasureCodecName | undefined }> {
    const manifest = body.manifest
    if (manifest === undefined) return
    if (manifest.form === 'parts') {
      // Read through the part list each time (not cached): inline for most uploads.
      yield * this.d.engine.stripesOf(versionId, signal)
      return
    }
    if (manifest.form !== 'segments') {
      for (const [index, stripe] of manifest.stripes.entries()) yield { stripe, index, list: false, codec: manifest.codec }
      return
    }
    for (const [index, stripe] of (manifest.stripeList?.manifest.stripes ?? []).entries()) yield { stripe, index, list: true, codec: manifest.stripeList?.manifest.codec }
    let data = this.listCache.get(versionId)
    if (data === undefined) {
      data = []
      for await (const s of this.d.engine.stripesOf(versionId, signal)) if (!s.list) data.push(s.stripe)
      this.remember(versionId, data)
    }
    for (const [index, stripe] of data.entries()) yield { stripe, index, list: false, codec: manifest.codec }
  }

  private remember (versionId: string, stripes: StripeManifest[]): void {
    if (stripes.length > STRIPE_CACHE_MAX) return
    while (this.cachedStripes + stripes.length > STRIPE_CACHE_MAX && this.listCache.size > 0) this.forgetList(this.listCache.keys().next().value as string)
    this.listCache.set(versionId, stripes)
    this.cachedStripes += stripes.length
  }

  private forgetList (versionId: string): void {
    this.cachedStripes -= this.listCache.get(versionId)?.length ?? 0
    this.listCache.delete(versionId)
  }

  /** Repair the stripes of one version that need it; commits the moves every few stripes. */
  private async repairVersion (versionId: string, body: VersionBody, threshold: number, signal?: AbortSignal): Promise<'repaired' | 'waiting' | 'busy'> {
    if (this.active.has(versionId) || body.manifest === undefined) return 'busy'
    this.active.add(versionId)
    const { k, m } = body.manifest
    let pending = new Map<string, string[]>()
    let pendingStripes = 0
    let rebuilt = 0
    let waited = false
    try {
      for await (const s of this.stripes(versionId, body, signal)) {
        const lookup = holderLookup(withHolders(this.d.engine.location(versionId), pending))
        const result = await repairStripe(s.stripe, `${versionId}/${s.index}`, {
          selfId: this.d.net.peerId,
          k,
          m,
          ...(s.codec === undefined ? {} : { codec: s.codec }),
          versionId,
          shards: this.d.engine.shardIO,
          facts: this.facts(lookup),
          candidates: () => this.d.membership.onlineNodes().filter((n) => this.d.presence.state(n.id) !== 'dead' && !this.placementExcluded(n.id)),
          member: (id) => this.d.membership.placementNode(id),
          threshold,
          throttle: async (bytes, sig) => { await this.limiter.take(bytes, sig) },
          ...(signal === undefined ? {} : { signal }),
          log: this.d.log
        }).catch((err: unknown) => {
          signal?.throwIfAborted()
          this.d.log(`repair of stripe ${s.index} of ${body.bucket}/${body.key} (${versionId}) failed: ${errorMessage(err)}`)
          return undefined
        })
        if (result === undefined) continue
        this.stats.repairReadBytes += result.readBytes
        this.stats.repairWrittenBytes += result.writtenBytes
        if (result.waiting !== '') waited = true
        if (result.moves.size === 0) continue
        for (const [hash, nodes] of result.moves) pending.set(hash, nodes)
        rebuilt += result.moves.size
        if (++pendingStripes >= STRIPES_PER_COMMIT) {
          await this.commitMoves(versionId, pending, signal)
          pending = new Map()
          pendingStripes = 0
        }
      }
      if (pending.size > 0) await this.commitMoves(versionId, pending, signal)
      if (rebuilt > 0) {
        this.stats.repairedVersions++
        this.stats.repairedShards += rebuilt
        this.d.log(`repaired ${body.bucket}/${body.key} (${versionId}): rebuilt ${rebuilt} shard(s)`)
      }
      return waited && rebuilt === 0 ? 'waiting' : 'repaired'
    } finally {
      this.active.delete(versionId)
    }
  }

  /** Record rebuilt shards' new holders in the version's location record (quorum commit, after any other commit of it here). */
  private async commitMoves (versionId: string, moves: ReadonlyMap<string, string[]>, signal?: AbortSignal): Promise<void> {
    await commitLocation(this.d, versionId, moves, signal)
  }

  /** Tombstone the location records of versions that are gone (by their coordinator, so once). */
  private async dropStaleLocations (liveVersions: ReadonlySet<string>): Promise<void> {
    const online = this.coordinationNodes()
    const stale = this.d.meta.live('location').filter((r) => !liveVersions.has(r.pk) && this.d.meta.versionState(r.pk) === 'tombstone' &&
      coordinatorFor(`repair/${r.pk}`, online) === this.d.net.peerId)
    if (stale.length === 0) return
    await this.d.replicator.commit(stale.map((r) => ({ ...r, hlc: this.d.clock.now(), origin: this.d.net.peerId, tombstone: true })))
  }
}
