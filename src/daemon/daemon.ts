/**
 * The daemon: the composition root that wires one node's layers together —
 * shard store, metadata replica, libp2p node, replication, engine and the
 * HTTP API — and runs them until stopped.
 */
import { join } from 'node:path'
import type { Server } from 'node:http'
import { startApi } from '../gateway/api.ts'
import { Engine } from '../engine/engine.ts'
import { MetaStore } from '../meta/store.ts'
import { Replicator } from '../meta/replicator.ts'
import type { BucketBody, Manifest, MetaRecord, NodeBody, VersionBody } from '../meta/types.ts'
import { coordinatorFor } from '../cluster/placement.ts'
import { hourOfWeek, summarizeAvailability } from '../cluster/availability.ts'
import { createNetNode } from '../net/node.ts'
import { nodeKeyFromBytes } from '../net/keys.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'
import { createShardStore } from '../store/index.ts'
import type { ShardStore } from '../store/types.ts'
import { errorMessage } from '../util/errors.ts'
import { HybridClock } from '../util/hlc.ts'
import { loadNodeFiles, saveNodeConfig, writeApiConfig } from './config.ts'
import { freePort, portIsFree } from './ports.ts'
import type { NodeFiles } from './config.ts'
import { encodeInvite } from './invite.ts'
import { Membership } from './membership.ts'
import { createShardIO, serveShards } from './shard-io.ts'
import { buildStatus } from './status.ts'

/** How often every peer is reconciled by anti-entropy, besides on connect. */
export const ANTI_ENTROPY_INTERVAL_MS = 15_000
/** How often buckets with a retention setting are swept for expired versions. */
export const RETENTION_SWEEP_INTERVAL_MS = 60_000
/** How often the mesh keeper looks for roster members this node is not connected to. */
export const MESH_CHECK_INTERVAL_MS = 2_000
/** Longest wait between two dial attempts to one unreachable member. */
export const MESH_MAX_BACKOFF_MS = 30_000
/** Time allowed for one dial of the mesh keeper. */
export const MESH_DIAL_TIMEOUT_MS = 5_000
/** How often the online state of every member is recorded for the availability history. */
export const AVAILABILITY_SAMPLE_INTERVAL_MS = 60_000
/** How often peers' free space is refreshed. */
export const CAPACITY_REFRESH_INTERVAL_MS = 10_000

/** A log line sink (stderr by default). */
export type Log = (message: string) => void

/** A running node. */
export class Daemon {
  readonly files: NodeFiles
  readonly log: Log
  readonly clock = new HybridClock()
  meta!: MetaStore
  store!: ShardStore
  net!: NetNode
  membership!: Membership
  replicator!: Replicator
  engine!: Engine
  private server: Server | undefined
  private readonly timers: NodeJS.Timeout[] = []
  private readonly syncing = new Set<string>()
  /** Anti-entropy rounds run one at a time, so a node catching up pulls each record once, not once per peer. */
  private syncQueue: Promise<void> = Promise.resolve()
  private readonly meshBackoff = new Map<string, { nextMs: number, delayMs: number }>()
  private readonly badShardReports: Array<{ hash: string, atMs: number, by: string }> = []
  private stopped = false

  constructor (files: NodeFiles, log: Log) {
    this.files = files
    this.log = log
  }

  /** Load DIR and start every component. */
  static async start (dir: string, log: Log): Promise<Daemon> {
    const daemon = new Daemon(loadNodeFiles(dir), log)
    await daemon.run()
    return daemon
  }

  private async run (): Promise<void> {
    const { node, cluster, secret, dir } = this.files
    this.store = createShardStore({
      dir,
      quotaBytes: node.quotaBytes,
      onCorrupt: (hash) => {
        this.badShardReports.push({ hash, atMs: Date.now(), by: 'local-check' })
        this.log(`corrupt shard ${hash} detected on ${node.name}: quarantined, it will not be served`)
      }
    })
    await this.store.open()
    this.meta = MetaStore.open(join(dir, 'meta.db'))
    await this.ensurePorts()
    const privateKey = nodeKeyFromBytes(Buffer.from(node.peerKey, 'base64'))
    this.net = await createNetNode({
      privateKey,
      clusterKey: Buffer.from(secret.clusterKey, 'base64'),
      listen: [`/ip4/${node.host}/tcp/${node.listenPort}`],
      bootstrap: this.bootstrapAddrs(),
      mdns: node.mdns,
      logger: { info: (m) => this.log(m), warn: (m) => this.log(`warning: ${m}`) }
    })
    this.membership = new Membership({
      selfId: this.net.peerId,
      selfName: node.name,
      k: cluster.k,
      m: cluster.m,
      meta: this.meta,
      connected: () => this.net.connectedPeers(),
      selfCapacity: () => ({ ...this.store.stats(), corruptShards: this.store.stats().corruptCount, atMs: Date.now() })
    })
    this.replicator = new Replicator(this.meta, {
      onlinePeers: () => this.memberPeers(),
      call: async (peer, header, body, signal) => await this.net.call(peer, PROTOCOLS.metaSync, header, body, signal === undefined ? {} : { signal })
    }, (records) => { this.observe(records) })
    this.engine = new Engine({
      cluster: this.membership,
      shards: createShardIO(this.net.peerId, this.store, this.net),
      meta: this.meta,
      committer: this.replicator,
      clock: this.clock,
      masterKey: Buffer.from(secret.masterKey, 'base64'),
      onBadShard: (holder, hash) => { this.log(`shard ${hash.slice(0, 12)} from ${this.membership.nodeName(holder)} failed its hash check`) }
    })
    await this.registerProtocols()
    await this.net.start()
    this.net.onPeer((peer, connected) => {
      if (connected) { void this.onPeerConnected(peer) }
    })
    await this.publishSelf()
    const { server, port } = await startApi({
      engine: this.engine,
      token: this.files.apiToken,
      status: async () => await buildStatus(this),
      invite: () => this.invite(),
      availability: () => this.availability(),
      log: this.log
    }, node.apiPort)
    this.server = server
    writeApiConfig(dir, { url: `http://127.0.0.1:${port}`, token: this.files.apiToken, pid: process.pid })
    this.timers.push(setInterval(() => { void this.antiEntropyRound() }, ANTI_ENTROPY_INTERVAL_MS))
    this.timers.push(setInterval(() => { void this.refreshCapacities() }, CAPACITY_REFRESH_INTERVAL_MS))
    this.timers.push(setInterval(() => { void this.retentionSweep() }, RETENTION_SWEEP_INTERVAL_MS))
    this.timers.push(setInterval(() => { void this.keepMesh() }, MESH_CHECK_INTERVAL_MS))
    // CAIRN_AVAILABILITY_SAMPLE_MS shortens the interval for tests and demos.
    const sampleMs = Number(process.env.CAIRN_AVAILABILITY_SAMPLE_MS ?? AVAILABILITY_SAMPLE_INTERVAL_MS)
    this.timers.push(setInterval(() => { this.sampleAvailability(sampleMs) }, sampleMs > 0 ? sampleMs : AVAILABILITY_SAMPLE_INTERVAL_MS))
    for (const peer of this.net.connectedPeers()) void this.onPeerConnected(peer)
    this.log(`node ${node.name} (${this.net.peerId}) started: API http://127.0.0.1:${port}, p2p ${this.net.multiaddrs().join(' ')}`)
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

  /** Connected peers that are roster members. */
  memberPeers (): string[] {
    const members = this.membership.memberIds()
    return this.net.connectedPeers().filter((p) => members.has(p))
  }

  private observe (records: MetaRecord[]): void {
    for (const r of records) this.clock.observe(r.hlc)
    if (records.some((r) => r.table === 'node')) this.membership.invalidate()
    // A version removed by retention: this node deletes the shards it holds.
    for (const r of records) {
      if (r.table !== 'version' || !r.tombstone) continue
      const manifest = (r.body as VersionBody).manifest
      if (manifest?.form === 'segments') {
        void this.deleteHeldShards(manifest)
        continue
      }
      const mine = (manifest?.stripes ?? []).flatMap((st) => st.shards.filter((sh) => sh.nodes.includes(this.net.peerId)).map((sh) => sh.hash))
      if (mine.length > 0) void this.deleteLocalShards(mine)
    }
    // Members learnt from the roster are dialled at once; the mesh keeper retries.
    if (records.some((r) => r.table === 'node' && !r.tombstone && r.pk !== this.net.peerId)) void this.keepMesh()
  }

  /**
   * Dial every roster member this node is not connected to, with a per-member
   * exponential backoff, so the cluster becomes and stays a full mesh whatever
   * order nodes start in.
   */
  private async keepMesh (): Promise<void> {
    const now = Date.now()
    const connected = new Set(this.net.connectedPeers())
    await Promise.all(this.membership.roster().map(async (member) => {
      if (member.id === this.net.peerId || connected.has(member.id) || this.stopped) {
        this.meshBackoff.delete(member.id)
        return
      }
      const state = this.meshBackoff.get(member.id) ?? { nextMs: 0, delayMs: 1000 }
      if (state.nextMs > now) return
      this.meshBackoff.set(member.id, { nextMs: now + state.delayMs, delayMs: Math.min(state.delayMs * 2, MESH_MAX_BACKOFF_MS) })
      for (const addr of member.body.addrs) {
        try {
          await this.net.dial(addr, { signal: AbortSignal.timeout(MESH_DIAL_TIMEOUT_MS) })
          this.meshBackoff.delete(member.id)
          return
        } catch { /* next address, or the next round */ }
      }
    }))
  }

  /** Record who was online over the last interval (the planner's measured availability). */
  private sampleAvailability (intervalMs: number): void {
    try {
      const samples = this.membership.roster().map((m) => ({ nodeId: m.id, online: this.membership.isOnline(m.id) }))
      this.meta.recordAvailability(samples, hourOfWeek(new Date()), intervalMs)
    } catch (err) {
      this.log(`could not record availability: ${errorMessage(err)}`)
    }
  }

  /** Measured availability of every member, for `cairn plan --node`. */
  availability (): Record<string, unknown> {
    const history = this.meta.availabilityHistory()
    return {
      k: this.files.cluster.k,
      m: this.files.cluster.m,
      nodes: this.membership.roster().map((m) => {
        const measured = summarizeAvailability(history.get(m.id) ?? [])
        return { id: m.id, name: m.body.name, zone: m.body.zone, anchor: m.body.anchor, online: this.membership.isOnline(m.id), ...measured }
      })
    }
  }

  /** Delete this node's shards of a removed version whose stripe list is out of the record (read from the pool first). */
  private async deleteHeldShards (manifest: Manifest): Promise<void> {
    const mine: string[] = []
    try {
      // Data shards come first and the blob's last, so deleting in batches never cuts the list being read.
      for await (const hash of this.engine.shardsHeldBy(manifest, this.net.peerId)) {
        mine.push(hash)
        if (mine.length >= 1024) await this.deleteLocalShards(mine.splice(0))
      }
    } catch (err) {
      this.log(`retention: could not read the stripe list of an expired version: ${errorMessage(err)}`)
    }
    await this.deleteLocalShards(mine)
  }

  private async deleteLocalShards (hashes: string[]): Promise<void> {
    let deleted = 0
    for (const hash of hashes) {
      try { if (await this.store.delete(hash)) deleted++ } catch (err) { this.log(`could not delete shard ${hash.slice(0, 12)}: ${errorMessage(err)}`) }
    }
    if (deleted > 0) this.log(`retention: deleted ${deleted} shard(s) of expired versions`)
  }

  /** Expire versions in buckets with retention; run by each bucket's coordinator only. */
  private async retentionSweep (): Promise<void> {
    const online = this.membership.onlineNodes()
    for (const record of this.meta.live('bucket')) {
      if ((record.body as BucketBody).retention === undefined || coordinatorFor(`retention/${record.pk}`, online) !== this.net.peerId) continue
      for (const key of this.engine.keysWithHistory(record.pk)) {
        if (this.stopped) return
        await this.engine.applyRetention(record.pk, key).catch((err) => { this.log(`retention of ${record.pk}/${key} failed: ${errorMessage(err)}`) })
      }
    }
  }

  private async registerProtocols (): Promise<void> {
    await serveShards(this.store, this.net)
    await this.net.handle(PROTOCOLS.metaSync, async (req) => this.replicator.handle(req.header, req.body))
    await this.net.handle(PROTOCOLS.nodeInfo, async () => {
      const s = this.store.stats()
      return { header: { v: 1, name: this.files.node.name, usedBytes: s.usedBytes, quotaBytes: s.quotaBytes, corruptShards: s.corruptCount } }
    })
  }

  /** Write (or refresh) this node's roster record. */
  private async publishSelf (): Promise<void> {
    const { node } = this.files
    const body: NodeBody = { name: node.name, addrs: this.net.multiaddrs(), zone: node.zone, anchor: node.anchor, quotaBytes: node.quotaBytes, joinedMs: Date.now() }
    const existing = this.meta.get('node', this.net.peerId)
    if (existing !== undefined) body.joinedMs = (existing.body as NodeBody).joinedMs
    const record: MetaRecord = { v: 1, table: 'node', pk: this.net.peerId, hlc: this.clock.now(), origin: this.net.peerId, tombstone: false, body }
    await this.replicator.commit([record]).catch((err) => { this.log(`roster update not yet replicated: ${errorMessage(err)}`) })
  }

  private async onPeerConnected (peer: string): Promise<void> {
    await this.syncPeer(peer)
    await this.refreshCapacity(peer)
  }

  private async syncPeer (peer: string): Promise<void> {
    if (this.syncing.has(peer) || this.stopped) return
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

  private async antiEntropyRound (): Promise<void> {
    for (const peer of this.net.connectedPeers()) await this.syncPeer(peer)
  }

  private async refreshCapacity (peer: string): Promise<void> {
    try {
      const res = await this.net.call(peer, PROTOCOLS.nodeInfo, { v: 1 }, undefined, { timeoutMs: 5000 })
      const h = res.header
      if (typeof h.usedBytes === 'number' && typeof h.quotaBytes === 'number') {
        this.membership.capacity.set(peer, { usedBytes: h.usedBytes, quotaBytes: h.quotaBytes, corruptShards: Number(h.corruptShards ?? 0), atMs: Date.now() })
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
    return [...this.badShardReports]
  }

  /** Stop everything cleanly. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    await new Promise<void>((resolve) => { if (this.server === undefined) resolve(); else { this.server.close(() => { resolve() }); this.server.closeAllConnections() } })
    await this.net.stop().catch(() => {})
    await this.store.close().catch(() => {})
    this.meta.close()
  }
}
