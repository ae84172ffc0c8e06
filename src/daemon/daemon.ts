/**
 * The daemon: the composition root that wires one node's layers together —
 * shard store, metadata replica, libp2p node, replication, engine and the
 * HTTP API — and runs them until stopped.
 */
import { join } from 'node:path'
import type { Server } from 'node:http'
import { startApi } from '../gateway/api.ts'
import { startS3 } from '../gateway/s3/server.ts'
import { Engine, nodeTag } from '../engine/engine.ts'
import { MetaStore } from '../meta/store.ts'
import { Replicator } from '../meta/replicator.ts'
import { gossipOrder } from '../meta/gossip.ts'
import type { BucketBody, MetaRecord, NodeBody } from '../meta/types.ts'
import { coordinatorFor } from '../cluster/placement.ts'
import { formatDuration } from '../util/duration.ts'
import { createNetNode } from '../net/node.ts'
import { versionStates } from './collection.ts'
import { nodeKeyFromBytes } from '../net/keys.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'
import { createShardStore } from '../store/index.ts'
import type { ShardStore } from '../store/types.ts'
import { CairnError, errorMessage } from '../util/errors.ts'
import { HybridClock } from '../util/hlc.ts'
import { RecentList } from '../util/recent-list.ts'
import { loadNodeFiles, saveNodeConfig, secureNodeDir, writeApiConfig } from './config.ts'
import { freePort, portIsFree } from './ports.ts'
import type { NodeFiles } from './config.ts'
import { encodeInvite } from './invite.ts'
import { Membership } from './membership.ts'
import { createLocalShards, createShardIO, serveShards } from './shard-io.ts'
import type { LocalShards } from './shard-io.ts'
import { collectIntervalMs, createCollector, orphanGraceMs } from './collection.ts'
import { Healer } from './healer.ts'
import { AUDIT_INTERVAL_ENV, Auditor, withoutExcluded } from './auditor.ts'
import type { Scrubber } from '../heal/scrub.ts'
import { createNodeScrubber } from './scrubbing.ts'
import { Workers } from './workers.ts'
import { formatRate } from '../util/rate.ts'
import type { ShardCollector } from '../heal/collector.ts'
import { buildStatus, objectHealthReport } from './status.ts'
import { Faults } from './faults.ts'
import { startHeartbeats } from './heartbeat.ts'
import { watchForWake } from './wake.ts'
import { ClusterSettings } from '../cluster/cluster-settings.ts'
import type { Liveness } from '../cluster/liveness.ts'
import { ClockOffsets, seedClock, skewLogLine } from './clock.ts'
import { startPresence } from './presence.ts'
import { setNodeAttr } from './node-admin.ts'
import { decommissionNode, startRebalance } from './decommission.ts'
import { MOVE_ACTIVE_INTERVAL_MS, MOVE_IDLE_INTERVAL_MS, Mover } from './mover.ts'
import type { Presence } from './presence.ts'

/** How often a periodic anti-entropy round runs, besides the round with each peer on connect. */
export const ANTI_ENTROPY_INTERVAL_MS = 15_000
/**
 * Peers one periodic round reconciles with, chosen at random: a record push
 * gossip missed is held by nearly every peer, so a few of them find it as
 * surely as all; with every peer, each idle node compared Merkle trees
 * with N − 1 peers and served N − 1 comparisons every round (issue 12).
 * Up to 7 nodes every peer is still in every round.
 */
export const ANTI_ENTROPY_PEERS_PER_ROUND = 6
/** After a wake (wake.ts), how often and how many times the node checks for a peer it has heard from again before its catch-up round. */
export const WAKE_PEER_WAIT_MS = 250
export const WAKE_PEER_WAIT_TRIES = 40
/** How often open multipart uploads are checked against `multipartExpiry`. */
export const MULTIPART_SWEEP_INTERVAL_MS = 60_000
/** Test and demo override of MULTIPART_SWEEP_INTERVAL_MS (milliseconds). */
export const MULTIPART_SWEEP_INTERVAL_ENV = 'CAIRN_MULTIPART_SWEEP_INTERVAL_MS'
/** How often buckets with a retention setting are swept for expired versions. */
export const RETENTION_SWEEP_INTERVAL_MS = 60_000
/** Corruption reports kept for status; older ones are counted, not kept (a failing disk can produce thousands). */
export const MAX_BAD_SHARD_REPORTS = 1000
/** Shortest time between two log lines about failed shard fetches of one holder with one error code. */
export const SHARD_FAILURE_LOG_MS = 10_000
/** Set to `off` to carry shards over libp2p streams instead of the bulk lane (benchmarks compare both). */
export const BULK_LANE_VARIABLE = 'CAIRN_BULK_LANE'
/** How often peers' free space is refreshed, at least (clusters of up to 11 nodes). */
export const CAPACITY_REFRESH_INTERVAL_MS = 10_000
/**
 * Refresh interval added per peer beyond that, so an idle node asks about one
 * peer per second at most instead of every peer every 10 s (a holder refuses
 * shards beyond its quota itself, so a slightly older free space is safe).
 */
export const CAPACITY_REFRESH_MS_PER_PEER = 1000
/** How often the healer judges every object and repairs what this node coordinates. */
export const REPAIR_INTERVAL_MS = 30_000

/** A test and demo override in milliseconds from the environment, or undefined. */
function envMs (name: string): number | undefined {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  return Number.isFinite(value) && value > 0 ? value : undefined
}

/** A log line sink (stderr by default). */
export type Log = (message: string) => void

/** A running node. */
export class Daemon {
  readonly files: NodeFiles
  readonly log: Log
  readonly clock = new HybridClock()
  readonly clockOffsets = new ClockOffsets()
  meta!: MetaStore
  store!: ShardStore
  net!: NetNode
  membership!: Membership
  replicator!: Replicator
  engine!: Engine
  localShards!: LocalShards
  collector!: ShardCollector
  healer!: Healer
  /** Decommissions and the rebalance job (daemon/mover.ts). */
  mover!: Mover
  /** Audits of the holders of the shards this node coordinates (daemon/auditor.ts). */
  auditor!: Auditor
  scrubber!: Scrubber
  /** Every background task of the node (`cairn workers`). */
  readonly workers: Workers
  settings!: ClusterSettings
  /** Every member's state (online, asleep, suspect, dead) and availability. */
  presence!: Presence
  /** Test-only fault switch (off unless CAIRN_TEST_FAULTS is set). */
  readonly faults = Faults.fromEnv()
  /** Heartbeat answers of peers (presence dates absences from them). */
  liveness: Liveness | undefined
  private stopHeartbeats: (() => void) | undefined
  private stopWakeWatch: (() => void) | undefined
  private server: Server | undefined
  private s3Server: Server | undefined
  private readonly syncing = new Set<string>()
  /** Anti-entropy rounds run one at a time, so a node catching up pulls each record once, not once per peer. */
  private syncQueue: Promise<void> = Promise.resolve()
  private readonly badShardReports = new RecentList<{ hash: string, atMs: number, by: string }>(MAX_BAD_SHARD_REPORTS)
  private stopped = false
  /** When a read's shard failure was last logged, per holder and error code (one line per SHARD_FAILURE_LOG_MS). */
  private readonly shardFailureLogged = new Map<string, number>()

  constructor (files: NodeFiles, log: Log) {
    this.files = files
    this.log = log
    this.workers = new Workers(log)
  }

  /** Load DIR and start every component. */
  static async start (dir: string, log: Log): Promise<Daemon> {
    const daemon = new Daemon(loadNodeFiles(dir), log)
    await daemon.run()
    return daemon
  }

  private async run (): Promise<void> {
    const { node, cluster, secret, dir } = this.files
    secureNodeDir(dir)
    this.store = createShardStore({
      dir,
      quotaBytes: node.quotaBytes,
      onCorrupt: (hash) => {
        this.badShardReports.push({ hash, atMs: Date.now(), by: 'local-check' })
        this.scrubber?.noteCorrupt(hash)
        this.log(`corrupt shard ${hash} detected on ${node.name}: quarantined, it will not be served`)
      }
    })
    await this.store.open()
    this.meta = MetaStore.open(join(dir, 'meta.db'))
    const clockWarning = seedClock(this.clock, this.meta)
    if (clockWarning !== undefined) this.log(clockWarning)
    this.localShards = createLocalShards(this.store, this.meta, this.shardLies())
    await this.ensurePorts()
    const privateKey = nodeKeyFromBytes(Buffer.from(node.peerKey, 'base64'))
    this.net = await createNetNode({
      privateKey,
      clusterKey: Buffer.from(secret.clusterKey, 'base64'),
      listen: [`/ip4/${node.host}/tcp/${node.listenPort}`],
      // Shard bytes are ciphertext, content-addressed and checked by every receiver: net/bulk.ts.
      bulkProtocols: process.env[BULK_LANE_VARIABLE] === 'off' ? [] : [PROTOCOLS.shardPut, PROTOCOLS.shardGet],
      bootstrap: this.bootstrapAddrs(),
      mdns: node.mdns,
      logger: { info: (m) => this.log(m), warn: (m) => this.log(`warning: ${m}`) }
    })
    const heartbeats = await startHeartbeats(this.net)
    this.liveness = heartbeats.liveness
    this.stopHeartbeats = heartbeats.stop
    this.membership = new Membership({
      selfId: this.net.peerId,
      selfName: node.name,
      k: cluster.k,
      m: cluster.m,
      meta: this.meta,
      connected: () => this.responsivePeers(),
      happiness: () => this.settings.happiness(),
      inlineMaxBytes: () => this.settings.inlineMaxBytes(),
      selfCapacity: () => ({ ...this.store.stats(), corruptShards: this.store.stats().corruptCount, atMs: Date.now() })
    })
    this.settings = new ClusterSettings({
      records: () => this.meta.live('setting'),
      commit: async (records, signal) => { await this.replicator.commit(records, signal) },
      now: () => this.clock.now(),
      selfId: this.net.peerId,
      code: { k: cluster.k, m: cluster.m },
      memberCount: () => this.membership.memberIds().size
    })
    this.replicator = new Replicator(this.meta, {
      onlinePeers: () => this.memberPeers(),
      memberCount: () => [...this.membership.memberIds()].filter((id) => id !== this.net.peerId).length,
      call: async (peer, header, body, signal) => await this.net.call(peer, PROTOCOLS.metaSync, header, body, signal === undefined ? {} : { signal })
    }, (records) => { this.observe(records) }, {
      writeQuorum: () => this.settings.writeQuorum(),
      now: () => this.clock.now(),
      selfId: this.net.peerId,
      maxClockSkewMs: () => this.settings.maxClockSkewMs(),
      gossipFanout: () => this.settings.gossipFanout(),
      onClockSkew: (refusal, via) => { this.log(skewLogLine(refusal, via, (id) => this.membership.nodeName(id))) }
    })
    this.engine = new Engine({
      // Nodes that fail audits get no new shards.
      cluster: withoutExcluded(this.membership, (id) => this.auditor?.excluded(id) === true),
      shards: createShardIO(this.net.peerId, this.store, this.localShards, this.net),
      meta: this.meta,
      committer: this.replicator,
      clock: this.clock,
      masterKey: Buffer.from(secret.masterKey, 'base64'),
      onBadShard: (holder, hash) => { this.log(`shard ${hash.slice(0, 12)} from ${this.membership.nodeName(holder)} failed its hash check`) },
      onShardFailure: (holder, hash, err) => { this.logShardFailure(holder, hash, err) },
      recall: async (keys, writerTag, signal) => await this.replicator.recall(keys, this.memberPeers().filter((p) => nodeTag(p) === writerTag), signal)
    })
    this.healer = new Healer(this)
    this.mover = new Mover(this)
    this.scrubber = this.createScrubber()
    // A lying peer (test fault) reports no loss of its own: only audits can catch it.
    this.healer.localLost = () => this.faults.hidesLosses() ? [] : this.scrubber.lost()
    this.auditor = new Auditor(this)
    this.healer.auditLost = () => this.auditor.failedShards()
    this.healer.placementExcluded = (id) => this.auditor.excluded(id)
    this.healer.coordinationNodes = () => this.auditor.coordinationNodes()
    this.healer.refreshLocalLost = async () => await this.scrubber.refresh()
    await this.registerProtocols()
    await this.net.start()
    this.net.onPeer((peer, connected) => {
      if (connected) { void this.onPeerConnected(peer) } else this.clockOffsets.forget(peer) // it may come back with another clock
    })
    await this.publishSelf()
    this.presence = startPresence(this)
    this.keepMesh()
    const { server, port } = await startApi({
      engine: this.engine,
      token: this.files.apiToken,
      status: async () => await buildStatus(this),
      invite: () => this.invite(),
      availability: () => this.availability(),
      settings: this.settings,
      workers: () => this.workers.list(),
      setNodeAttr: async (name, attr, value, signal) => await setNodeAttr(this, name, attr, value, signal),
      decommission: async (name, signal) => await decommissionNode(this, name, signal),
      rebalance: async (signal) => await startRebalance(this, signal),
      objectHealth: async (bucket, key, version, signal) => await objectHealthReport(this, bucket, key, version, signal),
      ...(this.faults.enabled ? { faults: (value: unknown) => this.faults.set(value) } : {}),
      log: this.log
    }, node.apiPort)
    this.server = server
    const s3 = await startS3({ engine: this.engine, log: this.log }, node.s3Port ?? 0)
    this.s3Server = s3.server
    writeApiConfig(dir, { url: `http://127.0.0.1:${port}`, token: this.files.apiToken, pid: process.pid, s3: this.s3Url() })
    this.collector = createCollector(this)
    this.addWorkers()
    this.workers.start()
    this.stopWakeWatch = watchForWake({ onWake: (gapMs) => { void this.onWake(gapMs) } })
    for (const peer of this.net.connectedPeers()) void this.onPeerConnected(peer)
    this.log(`node ${node.name} (${this.net.peerId}) started: API http://127.0.0.1:${port}, p2p ${this.net.multiaddrs().join(' ')}`)
  }

  /** Every periodic task, as workers (see workers.ts). */
  private addWorkers (): void {
    this.workers.add({ name: 'anti-entropy', intervalMs: () => ANTI_ENTROPY_INTERVAL_MS, run: async () => { await this.antiEntropyRound() }, describe: () => ({ stats: { ...this.replicator.stats } }) })
    this.workers.add({ name: 'capacity', intervalMs: () => Math.max(CAPACITY_REFRESH_INTERVAL_MS, this.net.connectedPeers().length * CAPACITY_REFRESH_MS_PER_PEER), run: async () => { await this.refreshCapacities() } })
    this.workers.add({ name: 'retention', intervalMs: () => RETENTION_SWEEP_INTERVAL_MS, run: async () => { await this.retentionSweep() } })
    this.workers.add({ name: 'multipart-expiry', intervalMs: () => envMs(MULTIPART_SWEEP_INTERVAL_ENV) ?? MULTIPART_SWEEP_INTERVAL_MS, run: async (signal) => { await this.multipartSweep(signal) } })
    this.workers.add({
      name: 'collect',
      intervalMs: collectIntervalMs,
      firstRunMs: 0,
      run: async () => { await this.collector.collectNow() },
      describe: () => {
        const c = this.collector.stats
        return { progress: `live ${c.liveBytes} B, orphan ${c.orphanBytes} B, pending ${c.pendingBytes} B`, stats: { ...c }, lastError: c.lastError }
      }
    })
    // CAIRN_REPAIR_INTERVAL_MS and CAIRN_SCRUB_INTERVAL_MS shorten the schedules for tests and demos.
    this.workers.add({
      name: 'repair',
      intervalMs: () => envMs('CAIRN_REPAIR_INTERVAL_MS') ?? REPAIR_INTERVAL_MS,
      firstRunMs: Math.min(5000, envMs('CAIRN_REPAIR_INTERVAL_MS') ?? 5000),
      run: async (signal) => {
        await this.scrubber.refresh()
        await this.healer.scanNow(signal)
      },
      describe: () => {
        const h = this.healer.stats
        const o = h.objects
        return { progress: `${o.healthy} healthy, ${o.degraded} degraded, ${o.unavailable} unavailable of ${o.total}; ${h.repairedShards} shards rebuilt here`, rateLimit: formatRate(this.settings.repairRate()), stats: { ...h }, lastError: h.lastError }
      }
    })
    // CAIRN_AUDIT_INTERVAL_MS shortens it for tests and demos.
    this.workers.add({
      name: 'audit',
      intervalMs: () => envMs(AUDIT_INTERVAL_ENV) ?? this.settings.auditIntervalMs(),
      firstRunMs: envMs(AUDIT_INTERVAL_ENV) ?? 60_000,
      run: async (signal) => { await this.auditor.roundNow(signal) },
      describe: () => {
        const a = this.auditor.stats
        return { progress: `${a.stripes} stripes audited, ${a.challenges} shard challenges: ${a.passes} passed, ${a.failures} failed, ${a.skipped} not counted`, rateLimit: formatRate(this.settings.repairRate()), stats: { ...a }, lastError: a.lastError }
      }
    })
    this.workers.add({
      name: 'move',
      intervalMs: () => (this.mover.active() ? MOVE_ACTIVE_INTERVAL_MS : MOVE_IDLE_INTERVAL_MS),
      firstRunMs: Math.min(5000, envMs('CAIRN_REPAIR_INTERVAL_MS') ?? 5000),
      run: async (signal) => { await this.mover.passNow(signal) },
      describe: () => {
        const st = this.mover.stats
        const leaving = st.decommission.filter((x) => x.state === 'decommissioning').map((x) => `${x.name}: ${x.shardsLeft} shards (${x.bytesLeft} B) left`)
        const rebalance = st.rebalance.state === 'none' ? [] : [`rebalance ${st.rebalance.state}: ${st.rebalance.shardsLeft} shards (${st.rebalance.bytesLeft} B) left`]
        const progress = [...leaving, ...rebalance].join('; ')
        return { progress: progress === '' ? 'nothing to move' : progress, rateLimit: formatRate(this.settings.repairRate()), stats: { ...st }, lastError: st.lastError }
      }
    })
    this.workers.add({
      name: 'scrub',
      intervalMs: () => envMs('CAIRN_SCRUB_INTERVAL_MS') ?? this.settings.scrubIntervalMs(),
      run: async (signal) => { await this.scrubber.pass(signal) },
      describe: () => {
        const st = this.scrubber.stats
        return { progress: `${st.checked} shards (${st.checkedBytes} B) verified this pass; ${this.scrubber.lost().length} lost`, rateLimit: `${Math.round(this.settings.scrubShare() * 100)}% of disk time`, stats: { ...st }, lastError: st.lastError }
      }
    })
  }

  /** The lying-peer faults (shards=discard|forge) when the test fault switch is on. */
  /** Log a read's failed shard fetch, at most once per holder and error code per SHARD_FAILURE_LOG_MS. */
  private logShardFailure (holder: string, hash: string, err: Error): void {
    const code = err instanceof CairnError ? err.code : 'ERROR'
    const key = `${holder} ${code}`
    const now = Date.now()
    if (now - (this.shardFailureLogged.get(key) ?? -Infinity) < SHARD_FAILURE_LOG_MS) return
    if (this.shardFailureLogged.size > 1000) this.shardFailureLogged.clear()
    this.shardFailureLogged.set(key, now)
    this.log(`warning: a read could not fetch shard ${hash.slice(0, 12)} from ${this.membership.nodeName(holder) || holder}: ${err.message} (read on from other holders; similar failures of this holder are not logged for ${SHARD_FAILURE_LOG_MS / 1000} s)`)
  }

  private shardLies (): { discards: () => boolean, forges: () => boolean } | undefined {
    if (!this.faults.enabled) return undefined
    return { discards: () => this.faults.discardsShards(), forges: () => this.faults.forgesShards() }
  }

  private createScrubber (): Scrubber {
    return createNodeScrubber({
      store: this.store,
      meta: this.meta,
      self: this.net.peerId,
      listsHolder: (ownerId, hash, node) => this.engine.listsHolder(ownerId, hash, node),
      graceMs: () => orphanGraceMs(this),
      share: () => this.settings.scrubShare(),
      log: this.log
    })
  }

  /**
   * A port taken by another program since the node was created would stop
   * the node for good: move to a free one instead, save it, and say so. Peers
   * learn the new address from this node's roster record.
   */
  private async ensurePorts (): Promise<void> {
    const node = this.files.node
    let changed = false
    if (!await portIsFree(node.listenPort, node.host)) {
      const port = await freePort(node.host)
      this.log(`warning: p2p port ${node.listenPort} on ${node.host} is taken; listening on ${port} instead (saved in node.json)`)
      node.listenPort = port
      changed = true
    }
    if (node.s3Port === undefined || !await portIsFree(node.s3Port)) {
      const port = await freePort()
      if (node.s3Port !== undefined) this.log(`warning: S3 port ${node.s3Port} is taken; serving S3 on ${port} instead (see api.json)`)
      node.s3Port = port
      changed = true
    }
    if (!await portIsFree(node.apiPort)) {
      const port = await freePort()
      this.log(`warning: API port ${node.apiPort} is taken; serving on ${port} instead (see api.json)`)
      node.apiPort = port
      changed = true
    }
    if (changed) saveNodeConfig(this.files.dir, node)
  }

  /** Bootstrap addresses: the configured ones plus every known member's (so any live member brings a restarted node back in). */
  private bootstrapAddrs (): string[] {
    const own = `/ip4/${this.files.node.host}/tcp/${this.files.node.listenPort}`
    const known = this.meta.live('node').flatMap((r) => (r.body as NodeBody).addrs)
    return [...new Set([...this.files.node.bootstrap, ...known])].filter((a) => !a.startsWith(own + '/'))
  }

  /** Connected peers that answered a heartbeat recently (a hung peer is not online). */
  private responsivePeers (): string[] {
    const now = Date.now()
    return this.net.connectedPeers().filter((p) => this.liveness?.responsive(p, now) !== false)
  }

  /** Responsive connected peers that are roster members. */
  memberPeers (): string[] {
    const members = this.membership.memberIds()
    return this.responsivePeers().filter((p) => members.has(p))
  }

  private observe (records: MetaRecord[]): void {
    for (const r of records) this.clock.observe(r.hlc)
    if (records.some((r) => r.table === 'node' || r.table === 'nodeattr')) this.membership.invalidate()
    // A decommission or rebalance started elsewhere: move at once rather than at the next idle check.
    if (records.some((r) => r.table === 'job' || (r.table === 'nodeattr' && r.pk.endsWith('/state')))) void this.workers.trigger('move')
    if (records.some((r) => r.table === 'setting')) this.settings.invalidate()
    // A version removed (retention, an undone commit): the collector deletes
    // the shards no other live version claims, after the grace period.
    if (records.some((r) => (r.table === 'version' || r.table === 'upload' || r.table === 'mpart') && r.tombstone)) void this.collector?.collectNow()
    // Members learnt from the roster are dialled at once; the redial loop retries.
    if (records.some((r) => r.table === 'node')) this.keepMesh()
  }

  /** Hand every roster member's addresses to the net layer's redial loop, so the cluster becomes and stays a full mesh. */
  private keepMesh (): void {
    const others = this.membership.roster().filter((m) => m.id !== this.net.peerId)
    this.net.keepConnected(others.flatMap((m) => m.body.addrs))
  }

  /** Measured availability of every member (each one's published history), for `cairn plan --node`. */
  availability (): Record<string, unknown> {
    return {
      k: this.files.cluster.k,
      m: this.files.cluster.m,
      nodes: this.membership.roster().map((m) => {
        const measured = this.presence.measured(m.id)
        // What placement uses: the published history's profile in UTC hours (absent while too short).
        const placementProfile = this.membership.placementNode(m.id)?.profile
        return { id: m.id, name: m.body.name, zone: m.body.zone, anchor: m.body.anchor, online: this.membership.isOnline(m.id), ...measured, ...(placementProfile === undefined ? {} : { placementProfile }) }
      })
    }
  }

  /** Abort multipart uploads abandoned for longer than `multipartExpiry`; each upload by its coordinator only. */
  private async multipartSweep (signal?: AbortSignal): Promise<void> {
    const online = this.membership.onlineNodes()
    const expired = await this.engine.multipart.expire(this.settings.multipartExpiryMs(), (uploadId) => !this.stopped && coordinatorFor(`multipart/${uploadId}`, online) === this.net.peerId, signal)
    if (expired > 0) this.log(`aborted ${expired} multipart upload(s) open for longer than ${formatDuration(this.settings.multipartExpiryMs())}`)
  }

  /**
   * Expire versions in buckets with retention, and superseded `null`
   * versions (left by concurrent writers) in Unversioned or Suspended
   * buckets; run by each bucket's coordinator only.
   */
  private async retentionSweep (): Promise<void> {
    const online = this.membership.onlineNodes()
    for (const record of this.meta.live('bucket')) {
      const body = record.body as BucketBody
      if ((body.retention === undefined && (body.versioning ?? 'Enabled') === 'Enabled') || coordinatorFor(`retention/${record.pk}`, online) !== this.net.peerId) continue
      for (const key of this.engine.keysWithHistory(record.pk)) {
        if (this.stopped) return
        await this.engine.applyRetention(record.pk, key).catch((err) => { this.log(`retention of ${record.pk}/${key} failed: ${errorMessage(err)}`) })
      }
    }
  }

  private async registerProtocols (): Promise<void> {
    await serveShards(this.store, this.localShards, this.net, this.shardLies())
    await this.healer.register()
    await this.auditor.register()
    await this.net.handle(PROTOCOLS.versionState, async (req) => ({ header: { v: 1, states: versionStates(this.meta, req.header.ids, (id) => this.engine.isWriting(id)) } }))
    await this.net.handle(PROTOCOLS.metaSync, async (req) => {
      await this.faults.beforeMetaRequest(req.header.op)
      return await this.replicator.handle(req.header, req.body, req.peerId)
    })
    await this.net.handle(PROTOCOLS.nodeInfo, async () => {
      await this.scrubber.refresh()
      const s = this.store.stats()
      const c = this.collector?.stats
      return { header: { v: 1, name: this.files.node.name, wallMs: Date.now(), usedBytes: s.usedBytes, quotaBytes: s.quotaBytes, corruptShards: s.corruptCount, liveBytes: c?.liveBytes ?? 0, orphanBytes: c?.orphanBytes ?? 0, lostShards: this.healer.localLost().length } }
    })
  }

  /** Write (or refresh) this node's roster record. */
  /** This node's S3 endpoint. */
  s3Url (): string {
    return `http://127.0.0.1:${this.files.node.s3Port ?? 0}`
  }

  private async publishSelf (): Promise<void> {
    const { node } = this.files
    const body: NodeBody = { name: node.name, addrs: this.net.multiaddrs(), s3: this.s3Url(), zone: node.zone, anchor: node.anchor, quotaBytes: node.quotaBytes, joinedMs: Date.now() }
    const existing = this.meta.get('node', this.net.peerId)
    if (existing !== undefined) body.joinedMs = (existing.body as NodeBody).joinedMs
    if (existing !== undefined) body.presence = (existing.body as NodeBody).presence // presence republishes it
    const record: MetaRecord = { v: 1, table: 'node', pk: this.net.peerId, hlc: this.clock.now(), origin: this.net.peerId, tombstone: false, body }
    // Published, not committed: a node starting while its peers are off must
    // not undo its own new addresses for want of a quorum.
    await this.replicator.publish([record]).catch((err) => { this.log(`roster update not saved: ${errorMessage(err)}`) })
  }

  private async onPeerConnected (peer: string): Promise<void> {
    await this.syncPeer(peer)
    await this.refreshCapacity(peer)
  }

  private async syncPeer (peer: string): Promise<void> {
    if (this.syncing.has(peer) || this.stopped || !this.faults.syncAllowed()) return
    this.syncing.add(peer)
    const round = this.syncQueue.then(async () => { await this.syncRound(peer) })
    this.syncQueue = round.catch(() => {})
    await round
  }

  private async syncRound (peer: string): Promise<void> {
    try {
      const { pulled, pushed } = await this.replicator.syncWith(peer)
      if (pulled + pushed > 0) this.log(`anti-entropy with ${this.membership.nodeName(peer) || peer}: pulled ${pulled}, pushed ${pushed} records`)
    } catch (err) {
      if (!this.stopped) this.log(`anti-entropy with ${peer} failed: ${errorMessage(err)}`)
    } finally {
      this.syncing.delete(peer)
    }
  }

  /**
   * The node ran again after `gapMs` away (the PC slept, the process was
   * stopped): its peers pushed the writes of that time to others, so it
   * catches up now instead of at its next periodic round. It first waits
   * (bounded) for a heartbeat answer, since a peer it has not heard from
   * since before the gap does not count as online yet.
   */
  private async onWake (gapMs: number): Promise<void> {
    if (this.stopped) return
    this.log(`resumed after ${(gapMs / 1000).toFixed(1)} s away (the PC slept or the process was stopped): running anti-entropy now`)
    try {
      for (let i = 0; i < WAKE_PEER_WAIT_TRIES && !this.stopped && this.memberPeers().length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, WAKE_PEER_WAIT_MS))
      }
      if (!this.stopped) await this.workers.trigger('anti-entropy')
    } catch (err) {
      // The periodic round catches up instead.
      if (!this.stopped) this.log(`catch-up after the absence failed: ${errorMessage(err)}`)
    }
  }

  private async antiEntropyRound (): Promise<void> {
    // Responsive members only: a round with a hung peer would hold the queue until its timeout.
    for (const peer of gossipOrder(this.memberPeers()).slice(0, ANTI_ENTROPY_PEERS_PER_ROUND)) await this.syncPeer(peer)
  }

  private async refreshCapacity (peer: string): Promise<void> {
    try {
      const sentMs = Date.now()
      const res = await this.net.call(peer, PROTOCOLS.nodeInfo, { v: 1 }, undefined, { timeoutMs: 5000 })
      const h = res.header
      if (typeof h.wallMs === 'number') this.clockOffsets.add(peer, sentMs, h.wallMs, Date.now())
      if (typeof h.usedBytes === 'number' && typeof h.quotaBytes === 'number') {
        this.membership.capacity.set(peer, { usedBytes: h.usedBytes, quotaBytes: h.quotaBytes, corruptShards: Number(h.corruptShards ?? 0), liveBytes: Number(h.liveBytes ?? 0), orphanBytes: Number(h.orphanBytes ?? 0), lostShards: Number(h.lostShards ?? 0), atMs: Date.now() })
      }
    } catch { /* an unreachable peer keeps its last known capacity */ }
  }

  private async refreshCapacities (): Promise<void> {
    await Promise.all(this.memberPeers().map(async (p) => { await this.refreshCapacity(p) }))
  }

  /** A join token naming this node (and every online member) as bootstrap. */
  invite (): string {
    const { cluster, secret } = this.files
    const addrs = [...this.net.multiaddrs(), ...this.membership.roster().filter((m) => m.id !== this.net.peerId && this.membership.isOnline(m.id)).flatMap((m) => m.body.addrs)]
    return encodeInvite({ v: 1, clusterId: cluster.clusterId, k: cluster.k, m: cluster.m, createdMs: cluster.createdMs, clusterKey: secret.clusterKey, masterKey: secret.masterKey, bootstrap: addrs })
  }

  /** Local corruption reports, for status. */
  badShards (): Array<{ hash: string, atMs: number, by: string }> {
    return this.badShardReports.items()
  }

  /** Corruption reports dropped to keep the list bounded. */
  badShardsDropped (): number {
    return this.badShardReports.dropped
  }

  /** Stop everything cleanly. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.stopWakeWatch?.()
    await this.workers.stop()
    this.stopHeartbeats?.()
    this.presence?.stop()
    for (const server of [this.server, this.s3Server]) {
      await new Promise<void>((resolve) => { if (server === undefined) resolve(); else { server.close(() => { resolve() }); server.closeAllConnections() } })
    }
    await this.net.stop().catch(() => {})
    await this.store.close().catch(() => {})
    this.meta.close()
  }
}
