/**
 * Replication of the metadata CRDT between nodes, over an injected transport
 * (the daemon wires it to libp2p; this module never imports the network).
 *
 * Two mechanisms:
 * 1. Push gossip: `commit(records)` applies records locally and pushes them
 *    to a random subset of the online peers (`gossipTargetCount`: every peer
 *    in a small cluster, about log2 N in a large one, never fewer than the
 *    quorum; a failed peer is replaced by an untried one); it resolves once
 *    `writeQuorum` of them acknowledged (each peer applies them, fsynced, in
 *    a group transaction before it answers) and undoes itself when that
 *    quorum is not reached. A push to a subset is flagged `forward`: its
 *    receiver forwards the records that were new to it, after answering, to
 *    as many random peers (not the sender, not the origin), so each node
 *    forwards a record at most once (meta/gossip.ts). Pushes to one peer are
 *    batched by bytes: while one push is on the wire, new records queue
 *    (bounded) and go in the next one, so many small puts cost few round
 *    trips; forwards have a queue of their own per peer (push-queues.ts).
 * 2. Anti-entropy: `syncWith(peer)` walks a Merkle tree over the records
 *    (4096 XOR-of-digest leaves, fan-out 16: levels of 1, 16, 256 and 4096
 *    hashes) top-down, exchanging only the hashes of subtrees that differ.
 *    A differing leaf that holds SUB_LEAF_MIN_RECORDS or more records here
 *    is compared one level lower, by the hashes of its 64 sub-leaves
 *    (computed from the leaf's rows when asked, not stored), and only the
 *    differing sub-leaves are summarised; a leaf with fewer is summarised
 *    whole. Then the records each side lacks are fetched. Bytes exchanged
 *    grow with the difference, not the table: at a million records a leaf
 *    holds ~244, and a replica that missed 2,000 writes was sent 44 MB of
 *    leaf summaries before the sub-leaves, 4.3 MB of sub-leaf hashes and
 *    summaries after (bench/catchup.ts, docs/PERFORMANCE.md).
 *
 * Sync requests (`header.op`):
 * - `hashes` {level, indices[]} → body: 32 bytes per index, in order
 * - `summaries` {leaves[]} → {served} body: JSON RecordSummary[] of the
 *   first `served` leaves (at least one), as many as fit SYNC_BODY_MAX_BYTES;
 *   the requester asks again for the rest
 * - `subhashes` {leaves[], ascending} → {served} body: for each of the
 *   first `served` leaves, the 32-byte hashes of its MERKLE_SUB_LEAVES
 *   sub-leaves, as many leaves as SUB_LEAF_READ_RECORDS records allow (a
 *   peer from before sub-leaves answers "unknown replication operation":
 *   the requester then summarises every leaf whole, and asks that peer for
 *   whole leaves for NO_SUB_LEAVES_MEMORY_MS)
 * - `subsummaries` {parts: [leaf, sub][], ascending} → {served} body: JSON
 *   RecordSummary[] of the first `served` sub-leaves, cut by bytes as
 *   `summaries` and by records read as `subhashes`
 * - `fetch` {} body: JSON [table, pk][] → {served} body: JSON MetaRecord[]
 *   for the first `served` keys (at least one; missing keys are skipped), as
 *   many as fit SYNC_BODY_MAX_BYTES; the requester asks again for the rest
 * - `push` {forward?, hop?} body: JSON MetaRecord[] → {applied}; with
 *   `forward: true` the receiver forwards the records new to it, in pushes
 *   with hop + 1 (none beyond MAX_GOSSIP_HOPS); an older peer ignores both
 * Every request and answer of anti-entropy is cut by encoded bytes, so none
 * exceeds the RPC frame limit whatever the table or record sizes (records are
 * limited on write to MAX_RECORD_BYTES, well below the budget). An answer
 * without `served` (an older peer) covers the whole request.
 */
import { CairnError, errorMessage } from '../util/errors.ts'
import { hlcWallMs } from '../util/hlc.ts'
import { batchByBytes } from './batch.ts'
import { compareRecords } from './crdt.ts'
import { DEFAULT_GOSSIP_FANOUT, MAX_GOSSIP_HOPS, gossipOrder, gossipTargetCount } from './gossip.ts'
import { GroupCommitter } from './group-commit.ts'
import { MAX_RECORDS_PER_MESSAGE, PushQueues } from './push-queues.ts'
import type { PushCounters } from './push-queues.ts'
import { MERKLE_LEAF_COUNT, MERKLE_SUB_LEAVES } from './store.ts'
import { DEFAULT_MAX_CLOCK_SKEW_MS, SkewTracker, formatSkewMs, splitBySkew } from './skew.ts'
import type { SkewRefusal } from './skew.ts'
import type { LeafParts, MetaStore, RecordSummary } from './store.ts'
import type { MetaRecord, MetaTable, VersionBody } from './types.ts'

export { MAX_PUSH_BATCH_BYTES, MAX_QUEUED_RECORDS_PER_PEER, MAX_RECORDS_PER_MESSAGE } from './push-queues.ts'

/** Fan-out of the Merkle tree. */
export const MERKLE_FANOUT = 16
/** Depth of the leaf level (16^3 = 4096 leaves). */
export const MERKLE_LEAF_LEVEL = 3
/** Longest wait for a commit's quorum before it is undone. */
export const COMMIT_QUORUM_TIMEOUT_MS = 10_000
/** Default writeQuorum when no setting is wired (the cluster setting's default). */
export const DEFAULT_WRITE_QUORUM = 1
/**
 * While a commit lacks its quorum, this often it pushes to as many more
 * untried peers as acknowledgements are missing: a chosen peer that hangs
 * (a frozen PC still counted online for up to 3 s of missed heartbeats) must
 * not hold up a write that other peers could acknowledge, as it would not
 * have when every write went to every peer. Two seconds: longer than a
 * push takes on a busy office LAN, so a slow peer rarely costs an extra push.
 */
export const GOSSIP_HEDGE_MS = 2000
/** Most leaves whose summaries (or sub-leaf hashes: 2 KiB per leaf) are asked for in one request. */
export const MAX_LEAVES_PER_REQUEST = 512
/** Most sub-leaves whose summaries are asked for in one request. */
export const MAX_SUB_LEAVES_PER_REQUEST = 4096
/**
 * Local records a differing leaf must hold to be compared by its sub-leaves
 * before its summaries are asked for. Below this the sub-leaf hashes (2 KiB)
 * cost about as much as the summaries of the whole leaf (~120 B each).
 */
export const SUB_LEAF_MIN_RECORDS = 32
/**
 * Records a `subhashes` or `subsummaries` answer reads at most (at least
 * one leaf's): the leaves' rows are read and hashed synchronously, ~3.5 µs
 * a record, so this bounds how long one request holds the event loop
 * (~60 ms) whatever the table size; the requester asks again for the rest.
 */
export const SUB_LEAF_READ_RECORDS = 16_384
/** How long a peer that answered "unknown replication operation" to a sub-leaf request is asked for whole leaves only. */
export const NO_SUB_LEAVES_MEMORY_MS = 10 * 60_000
/**
 * Byte budget of one anti-entropy message body (fetch and summaries answers,
 * fetch keys, sync pushes): a quarter of the 16 MiB RPC frame limit, and four
 * times the largest record a node writes.
 */
export const SYNC_BODY_MAX_BYTES = 4 * 1024 * 1024
/** Most keys in one fetch request (each key is at most ~2 KiB). */
export const MAX_FETCH_KEYS = MAX_RECORDS_PER_MESSAGE
/** Most peers a recall (a read of a record not here yet) asks at once when the writer cannot answer. */
export const RECALL_PEERS = 6
/** Longest wait for the peers of one recall round. */
export const RECALL_TIMEOUT_MS = 2_000

/** How the replicator talks to peers. */
export interface MetaTransport {
  /** Peers reachable (and responsive) now. */
  onlinePeers: () => string[]
  /** Other members of the roster, online or not (caps the quorum in small clusters). */
  memberCount?: () => number
  /** Send one replication message and wait for the answer. */
  call: (peer: string, header: Record<string, unknown>, body: Uint8Array, signal?: AbortSignal) => Promise<{ header: Record<string, unknown>, body: Uint8Array }>
}

/**
 * Traffic counters, for status and for the anti-entropy report. The push
 * counters (PushCounters): push messages this node sent, its own writes and
 * forwards together, with their records and body bytes; of those, the
 * forwards of records other nodes wrote (gossip); records dropped from a
 * full queue (anti-entropy delivers them).
 */
export interface ReplicationStats extends PushCounters {
  /** Push messages this node received (and their body bytes). */
  pushesReceived: number
  pushBytesReceived: number
  syncs: number
  syncBytesSent: number
  syncBytesReceived: number
  recordsPulled: number
  recordsSentBySync: number
  lastSyncMs: number
  /** Commits that missed their quorum and were undone. */
  undoneCommits: number
}

/** How commits are acknowledged and undone, and which clocks are trusted. */
export interface ReplicatorOptions {
  /** Other nodes that must hold a commit before it is acknowledged (the writeQuorum setting). */
  writeQuorum?: () => number
  /** A new HLC timestamp, for the compensating records of a failed commit (no undo without it). */
  now?: () => string
  /** This node's id, the origin of compensating records. */
  selfId?: string
  /** The cluster's `maxClockSkew` (default DEFAULT_MAX_CLOCK_SKEW_MS): records stamped further ahead of this node's clock are not applied. */
  maxClockSkewMs?: () => number
  /** This node's wall clock (default Date.now). */
  wallClock?: () => number
  /** Told about refused records, at most once per origin per SKEW_LOG_INTERVAL_MS (for the log). */
  onClockSkew?: (refusal: SkewRefusal, via: 'push' | 'pull') => void
  /** The gossipFanout setting (default DEFAULT_GOSSIP_FANOUT): the fewest peers a write is pushed to; 0 pushes to every peer. */
  gossipFanout?: () => number
  /** Random numbers in [0, 1) for the choice of peers (default Math.random). */
  random?: () => number
  /** Records one sub-leaf request reads at most (default SUB_LEAF_READ_RECORDS; tests make it small). */
  subLeafReadRecords?: number
}

/** The pushes of one commit or publish: peers in the order they are tried, and how far. */
interface Spread {
  /** Peers pushed to so far. */
  sent: Set<string>
  /** Push to `count` more untried peers (fewer when none are left); returns how many. */
  more: (count: number) => number
  /** Try no further peers (a failed commit). */
  stop: () => void
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function jsonBody (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function parseJson (body: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(body))
  } catch {
    throw new CairnError('PROTOCOL', 'replication message body is not valid JSON', 'the peer runs an incompatible or broken version of Cairn')
  }
}

/** XOR of the hashes of `count` consecutive leaves from `first`. */
function xorRange (leaves: Buffer[], first: number, count: number): Buffer {
  const out = Buffer.alloc(32)
  for (let i = first; i < first + count; i++) {
    const leaf = leaves[i] as Buffer
    for (let b = 0; b < 32; b++) out[b] = (out[b] as number) ^ (leaf[b] as number)
  }
  return out
}

/** The hash of node `index` at `level` (0 = root) of the tree over `leaves`. */
export function treeHash (leaves: Buffer[], level: number, index: number): Buffer {
  const span = MERKLE_FANOUT ** (MERKLE_LEAF_LEVEL - level)
  return xorRange(leaves, index * span, span)
}

/**
 * Keeps one node's metadata replica in step with its peers.
 *
 * @example
 * const replicator = new Replicator(meta, transport)
 * await replicator.commit([record]) // durable here and on writeQuorum peers; gossip spreads it to the rest
 */
export class Replicator {
  readonly stats: ReplicationStats = { pushes: 0, recordsPushed: 0, pushBytesSent: 0, forwards: 0, recordsForwarded: 0, forwardBytesSent: 0, pushesReceived: 0, pushBytesReceived: 0, syncs: 0, syncBytesSent: 0, syncBytesReceived: 0, recordsPulled: 0, recordsSentBySync: 0, lastSyncMs: 0, undoneCommits: 0, recordsDropped: 0 }
  private readonly meta: MetaStore
  private readonly transport: MetaTransport
  private readonly queues: PushQueues
  private readonly onChange: ((records: MetaRecord[]) => void) | undefined
  /** Records refused for clock skew, per origin (for status). */
  readonly skew = new SkewTracker()
  private readonly options: ReplicatorOptions
  private readonly group: GroupCommitter

  /** Peers that do not know sub-leaves, until when (NO_SUB_LEAVES_MEMORY_MS). */
  private readonly noSubLeaves = new Map<string, number>()

  private subLeafReadRecords (): number {
    return Math.max(1, this.options.subLeafReadRecords ?? SUB_LEAF_READ_RECORDS)
  }

  /** Admits leaves to one sub-leaf answer while their records fit SUB_LEAF_READ_RECORDS (the first always). */
  private leafReadBudget (): (leaf: number, first: boolean) => boolean {
    const counts = this.meta.leafCounts()
    const budget = this.subLeafReadRecords()
    let read = 0
    return (leaf, first) => {
      const n = counts[leaf] ?? 0
      if (!first && read + n > budget) return false
      read += n
      return true
    }
  }

  constructor (meta: MetaStore, transport: MetaTransport, onChange?: (records: MetaRecord[]) => void, options: ReplicatorOptions = {}) {
    this.meta = meta
    this.transport = transport
    this.onChange = onChange
    this.group = new GroupCommitter(meta, onChange)
    this.options = options
    this.queues = new PushQueues(async (peer, header, body) => await transport.call(peer, header, body), this.stats)
  }

  /** Group-commit counters (transactions, records). */
  get groupStats (): { transactions: number, records: number } {
    return this.group.stats
  }

  /**
   * Commit `records` all or nothing as a client sees it: apply them here
   * (fsynced, in a group transaction), push them to `gossipTargetCount`
   * random online peers (at least the quorum; every peer in a small cluster),
   * and resolve once `writeQuorum` other nodes hold them durably; the pushes
   * to the rest, and their forwards, go on in the background. A peer that
   * refuses is replaced at once by an untried one, so refusals fail a commit
   * only where they failed it when every write went to every peer; while the
   * quorum is missing (chosen peers hang) as many more peers as
   * acknowledgements are missing are tried every GOSSIP_HEDGE_MS. When the quorum is not
   * reached (peers fail, or COMMIT_QUORUM_TIMEOUT_MS passes) the commit is
   * undone: for each record, its previous local state is written again with
   * a new HLC (a tombstone when there was none), so the undo wins over the
   * record on every replica that received it, and the commit rejects.
   */
  async commit (records: MetaRecord[], signal?: AbortSignal): Promise<void> {
    const before = records.map((r) => this.meta.get(r.table, r.pk))
    // The local fsync and the pushes run at once; the commit is acknowledged
    // only when both are done, so its latency is one fsync round, not two.
    const local = this.group.apply(records)
    local.catch(() => { /* awaited below */ })
    const peers = this.transport.onlinePeers()
    const needed = Math.min(this.options.writeQuorum?.() ?? DEFAULT_WRITE_QUORUM, this.transport.memberCount?.() ?? peers.length)
    const sent = new Set<string>()
    try {
      await Promise.all([local, this.replicate(records, peers, needed, sent, signal)])
    } catch (err) {
      await this.undo(records, before, sent)
      throw err
    }
  }

  /**
   * Apply `records` here (fsynced) and spread them to the online peers in
   * the background (gossip, as a commit), with no quorum and no undo: for
   * records that must spread whoever is online, such as a node's own roster
   * entry at start.
   */
  async publish (records: MetaRecord[]): Promise<void> {
    await this.group.apply(records)
    this.spreadInBackground(records, this.transport.onlinePeers(), new Set())
  }

  /** Peers a write is pushed to, and a node forwards new records to, out of `peerCount` online. */
  private targetCount (peerCount: number): number {
    return gossipTargetCount(peerCount, this.options.gossipFanout?.() ?? DEFAULT_GOSSIP_FANOUT)
  }

  private get random (): () => number {
    return this.options.random ?? Math.random
  }

  /**
   * Pushes of `records` to the peers of `order`, in that order, as many at a
   * time as `more` asks for; a failed push is replaced by the next untried
   * peer, so the records still reach that many nodes.
   */
  private spread (records: MetaRecord[], order: readonly string[], forward: boolean, onAck: () => void, onError: (err: unknown) => void, sent = new Set<string>()): Spread {
    let next = 0
    let stopped = false
    const more = (count: number): number => {
      let launched = 0
      while (!stopped && launched < count && next < order.length) {
        const peer = order[next++] as string
        sent.add(peer)
        launched++
        this.queues.enqueue(peer, records, { kind: 'own', forward, hop: 0 }).then(onAck, (err: unknown) => {
          onError(err)
          more(1)
        })
      }
      return launched
    }
    return { sent, more, stop: () => { stopped = true } }
  }

  /** Spread `records` to the fanout of `peers`, those in `first` before the others; failures are left to anti-entropy. */
  private spreadInBackground (records: MetaRecord[], peers: string[], first: ReadonlySet<string>): void {
    const count = Math.max(this.targetCount(peers.length), peers.filter((p) => first.has(p)).length)
    this.spread(records, gossipOrder(peers, first, this.random), count < peers.length, () => {}, () => {}).more(count)
  }

  /** Push to the fanout of `peers` (at least `needed`); resolve once `needed` of them acknowledged. */
  private async replicate (records: MetaRecord[], peers: string[], needed: number, sent: Set<string>, signal?: AbortSignal): Promise<void> {
    const count = Math.max(needed, this.targetCount(peers.length))
    let acks = 0
    const errors: string[] = []
    let settle: ((err?: Error) => void) | undefined
    const spread = this.spread(records, gossipOrder(peers, new Set(), this.random), count < peers.length, () => {
      if (++acks === needed) settle?.()
    }, (err: unknown) => {
      // A background push failure is healed by anti-entropy; it only matters while the quorum is missing.
      errors.push(errorMessage(err))
      if (peers.length - errors.length < needed) settle?.(new CairnError('PEER_ERROR', `the metadata could not be replicated to ${needed} other node(s) (${errors[0] ?? 'unknown'})`, 'check that other nodes are online (cairn status) and retry'))
    }, sent)
    spread.more(count)
    if (needed <= 0) return
    if (peers.length < needed) {
      spread.stop()
      throw new CairnError('PEER_ERROR', `the metadata reached no quorum: ${peers.length} other node(s) online, writeQuorum needs ${needed}`, 'bring nodes online (cairn status) or lower writeQuorum (cairn config set writeQuorum N) and retry')
    }
    await new Promise<void>((resolve, reject) => {
      let done = false
      const finish = (err?: Error): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        clearInterval(hedge)
        signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else {
          // A failed commit is undone: pushing it to more peers would only spread what the undo reverts.
          spread.stop()
          reject(err)
        }
      }
      settle = finish
      const onAbort = (): void => { finish(new CairnError('TIMEOUT', 'the write was cancelled before it reached a quorum of nodes', 'retry the write')) }
      const timer = setTimeout(() => {
        finish(new CairnError('TIMEOUT', `the metadata reached ${acks} of the ${needed} other node(s) writeQuorum needs within ${COMMIT_QUORUM_TIMEOUT_MS} ms`, 'check that other nodes are online and responsive (cairn status) and retry'))
      }, COMMIT_QUORUM_TIMEOUT_MS)
      const hedge = setInterval(() => { spread.more(needed - acks) }, GOSSIP_HEDGE_MS)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Write the compensating records of a failed commit and spread them, first to the peers the commit reached (best effort). */
  private async undo (records: readonly MetaRecord[], before: ReadonlyArray<MetaRecord | undefined>, sent: ReadonlySet<string>): Promise<void> {
    const now = this.options.now
    if (now === undefined) return
    // A record at the lowest HLC (an implicit bucket creation) is a default
    // that any real write overrides; a tombstone undoing it would need a real
    // clock and would then delete what others wrote, so it stays.
    // A bucket (re)created by a put is never undone either: the previous state
    // is a tombstone or nothing, and writing it again with a new clock would
    // delete the bucket under a concurrent put that succeeded elsewhere; an
    // empty bucket left behind is harmless.
    const undoable = (r: MetaRecord, i: number): boolean => hlcWallMs(r.hlc) > 0 && !(r.table === 'bucket' && !r.tombstone && (before[i] === undefined || before[i]?.tombstone === true))
    const undo: MetaRecord[] = records.filter(undoable).map((r) => {
      const previous = before[records.indexOf(r)]
      if (previous !== undefined) return { ...previous, hlc: now(), origin: this.options.selfId ?? r.origin }
      // No previous state: a tombstone. A version's tombstone carries no
      // manifest, so no holder deletes the shards at once: a replica that
      // applied the version may still be serving it; orphan collection removes
      // them after the grace period.
      const body = r.table === 'version' ? { ...(r.body as VersionBody), manifest: undefined } : r.body
      return { ...r, hlc: now(), origin: this.options.selfId ?? r.origin, tombstone: true, body }
    })
    this.stats.undoneCommits++
    if (undo.length === 0) return
    // Queued after the commit's own group transaction, so it lands after it here.
    await this.group.apply(undo).catch(() => { /* a failing disk: the pushes below still revert the peers */ })
    // The peers the commit was pushed to may hold the record (and have
    // forwarded it): they get the undo first, in their queue behind the
    // record, and forward it as new, so it follows the record's paths.
    this.spreadInBackground(undo, this.transport.onlinePeers(), sent)
  }

  /**
   * Forward `records`, new to this node, received from `sender` at `hop`, to
   * the fanout of the other online peers (not the sender, not the origin), in
   * the background. Each record is forwarded once at most: only the first
   * copy of it changes the replica.
   */
  private forward (records: MetaRecord[], sender: string, hop: number): void {
    if (records.length === 0 || hop + 1 > MAX_GOSSIP_HOPS) return
    const online = this.transport.onlinePeers()
    const origins = new Set(records.map((r) => r.origin))
    const single = origins.size === 1
    const candidates = online.filter((p) => p !== sender && p !== this.options.selfId && !(single && origins.has(p)))
    const targets = gossipOrder(candidates, new Set(), this.random).slice(0, this.targetCount(online.length))
    // Receivers forward again only if some candidate was left out.
    const forward = targets.length < candidates.length
    for (const peer of targets) {
      const batch = single ? records : records.filter((r) => r.origin !== peer)
      if (batch.length > 0) this.queues.enqueue(peer, batch, { kind: 'forward', forward, hop: hop + 1 }).catch(() => { /* anti-entropy delivers it */ })
    }
  }

  /** Serve one replication request from a peer. */
  async handle (header: Record<string, unknown>, body: Uint8Array, peer = 'unknown'): Promise<{ header: Record<string, unknown>, body?: Uint8Array }> {
    const op = header.op
    if (op === 'push') {
      this.stats.pushesReceived++
      this.stats.pushBytesReceived += body.length
      const records = parseJson(body)
      if (!Array.isArray(records) || records.length > MAX_RECORDS_PER_MESSAGE) throw new CairnError('PROTOCOL', 'push body must be an array of at most 2000 records', 'upgrade the peer')
      this.refuseTooFarAhead(records as MetaRecord[], peer)
      // The answer (the acknowledgement a writer counts for its quorum) goes
      // only after the group transaction holding these records is fsynced.
      const changed = await this.group.apply(records as MetaRecord[])
      if (header.forward === true && changed.length > 0) {
        const hop = gossipHop(header.hop)
        // After the answer: forwarding must not delay the acknowledgement a writer counts.
        setImmediate(() => { this.forward(changed, peer, hop) })
      }
      return { header: { applied: changed.length } }
    }
    if (op === 'hashes') {
      const level = header.level
      const indices = header.indices
      if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > MERKLE_LEAF_LEVEL || !Array.isArray(indices) || indices.length > MERKLE_LEAF_COUNT) {
        throw new CairnError('PROTOCOL', 'bad hashes request', 'upgrade the peer')
      }
      const leaves = this.meta.merkleLeaves()
      const max = MERKLE_FANOUT ** level
      const out = Buffer.alloc(32 * indices.length)
      indices.forEach((index, i) => {
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= max) throw new CairnError('PROTOCOL', 'bad tree index', 'upgrade the peer')
        treeHash(leaves, level, index).copy(out, i * 32)
      })
      return { header: {}, body: out }
    }
    if (op === 'summaries') {
      const leaves = header.leaves
      if (!Array.isArray(leaves) || leaves.length > MAX_LEAVES_PER_REQUEST || !leaves.every(isLeaf)) {
        throw new CairnError('PROTOCOL', 'bad summaries request', 'upgrade the peer')
      }
      const answer = new SummaryAnswer()
      for (const leaf of leaves as number[]) if (!answer.add(this.meta.summaries([leaf]))) break
      return answer.message()
    }
    if (op === 'subhashes') {
      const leaves = header.leaves
      if (!Array.isArray(leaves) || leaves.length > MAX_LEAVES_PER_REQUEST || !leaves.every(isLeaf) || !ascending(leaves)) {
        throw new CairnError('PROTOCOL', 'bad subhashes request', 'upgrade the peer')
      }
      const admit = this.leafReadBudget()
      const hashes: Buffer[] = []
      for (const leaf of leaves) {
        if (!admit(leaf, hashes.length === 0)) break
        hashes.push(...this.meta.leafParts(leaf).hashes)
      }
      return { header: { served: hashes.length / MERKLE_SUB_LEAVES }, body: Buffer.concat(hashes) }
    }
    if (op === 'subsummaries') {
      const parts = header.parts
      if (!Array.isArray(parts) || parts.length > MAX_SUB_LEAVES_PER_REQUEST || !parts.every(isPart) || !ascending(parts.map(([leaf, sub]) => leaf * MERKLE_SUB_LEAVES + sub))) {
        throw new CairnError('PROTOCOL', 'bad subsummaries request', 'upgrade the peer')
      }
      const admit = this.leafReadBudget()
      const answer = new SummaryAnswer()
      // Parts come in order, so each leaf is read once.
      let cached: { leaf: number, parts: LeafParts } | undefined
      for (const [leaf, sub] of parts) {
        if (cached?.leaf !== leaf) {
          if (!admit(leaf, answer.served === 0)) break
          cached = { leaf, parts: this.meta.leafParts(leaf, false) }
        }
        if (!answer.add(cached.parts.summaries[sub] as RecordSummary[])) break
      }
      return answer.message()
    }
    if (op === 'fetch') {
      const keys = parseJson(body)
      if (!Array.isArray(keys) || keys.length > MAX_FETCH_KEYS) throw new CairnError('PROTOCOL', 'bad fetch request', 'upgrade the peer')
      const out: string[] = []
      let bytes = 2
      let served = 0
      for (const k of keys) {
        if (!Array.isArray(k) || typeof k[0] !== 'string' || typeof k[1] !== 'string') throw new CairnError('PROTOCOL', 'bad fetch key', 'upgrade the peer')
        const r = this.meta.get(k[0] as MetaTable, k[1])
        if (r !== undefined) {
          const text = JSON.stringify(r)
          const size = Buffer.byteLength(text) + 1
          if (served > 0 && bytes + size > SYNC_BODY_MAX_BYTES) break
          out.push(text)
          bytes += size
        }
        served++
      }
      return { header: { served }, body: encoder.encode(`[${out.join(',')}]`) }
    }
    throw new CairnError('PROTOCOL', `unknown replication operation ${String(op)}`, 'upgrade Cairn on both nodes')
  }

  private async request (peer: string, header: Record<string, unknown>, body: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return (await this.requestFull(peer, header, body, signal)).body
  }

  private async requestFull (peer: string, header: Record<string, unknown>, body: Uint8Array, signal?: AbortSignal): Promise<{ header: Record<string, unknown>, body: Uint8Array }> {
    const sent = Buffer.byteLength(JSON.stringify(header)) + body.length
    const res = await this.transport.call(peer, header, body, signal)
    this.stats.syncBytesSent += sent
    this.stats.syncBytesReceived += Buffer.byteLength(JSON.stringify(res.header)) + res.body.length
    return res
  }

  /** Leaves whose hashes differ between this replica and `peer`. */
  private async differingLeaves (peer: string, signal?: AbortSignal): Promise<number[]> {
    const local = this.meta.merkleLeaves()
    let frontier = [0]
    for (let level = 0; level <= MERKLE_LEAF_LEVEL; level++) {
      const remote = await this.request(peer, { op: 'hashes', level, indices: frontier }, new Uint8Array(0), signal)
      if (remote.length !== 32 * frontier.length) throw new CairnError('PROTOCOL', 'peer answered a wrong number of tree hashes', 'upgrade the peer')
      const differing = frontier.filter((index, i) => !treeHash(local, level, index).equals(Buffer.from(remote.subarray(i * 32, i * 32 + 32))))
      if (level === MERKLE_LEAF_LEVEL || differing.length === 0) return level === MERKLE_LEAF_LEVEL ? differing : []
      frontier = differing.flatMap((index) => Array.from({ length: MERKLE_FANOUT }, (_, c) => index * MERKLE_FANOUT + c))
    }
    return []
  }

  /**
   * One anti-entropy round with `peer`: afterwards this replica holds the
   * union of both (and, with `push`, so does the peer). Returns the number of
   * records pulled and pushed. The daemon pulls only: every node runs rounds
   * with every peer, so pushing as well would send each difference twice.
   */
  async syncWith (peer: string, options: { push?: boolean, signal?: AbortSignal } = {}): Promise<{ pulled: number, pushed: number }> {
    const signal = options.signal
    const leaves = await this.differingLeaves(peer, signal)
    const counts = leaves.length === 0 ? new Uint32Array(0) : this.meta.leafCounts()
    // A leaf with many records here is compared a level lower first (its
    // sub-leaves' hashes), so only the few records that differ are
    // summarised; a leaf with few (a new replica's) is summarised whole.
    let fine = leaves.filter((leaf) => (counts[leaf] ?? 0) >= SUB_LEAF_MIN_RECORDS)
    const coarse = leaves.filter((leaf) => (counts[leaf] ?? 0) < SUB_LEAF_MIN_RECORDS)
    const total = { pulled: 0, pushed: 0 }
    const add = (r: { pulled: number, pushed: number }): void => { total.pulled += r.pulled; total.pushed += r.pushed }
    if ((this.noSubLeaves.get(peer) ?? 0) > Date.now()) {
      coarse.push(...fine)
      fine = []
    }
    const budget = this.subLeafReadRecords()
    for (let i = 0; i < fine.length;) {
      // As many leaves as the peer reads within its budget, if its leaves hold what these do.
      let end = i + 1
      for (let read = counts[fine[i] as number] ?? 0; end < fine.length && end - i < MAX_LEAVES_PER_REQUEST && read + (counts[fine[end] as number] ?? 0) <= budget; end++) read += counts[fine[end] as number] ?? 0
      const asked = fine.slice(i, end)
      let res: { header: Record<string, unknown>, body: Uint8Array }
      try {
        res = await this.requestFull(peer, { op: 'subhashes', leaves: asked }, new Uint8Array(0), signal)
      } catch (err) {
        if (!errorMessage(err).includes('unknown replication operation')) throw err
        // A peer from before sub-leaves: every leaf left is summarised whole, and for a while in later rounds too.
        this.noSubLeaves.set(peer, Date.now() + NO_SUB_LEAVES_MEMORY_MS)
        coarse.push(...fine.slice(i))
        fine = []
        break
      }
      const served = asked.slice(0, servedCount(res.header, asked.length))
      const remoteHashes = res.body
      if (remoteHashes.length !== 32 * MERKLE_SUB_LEAVES * served.length) throw new CairnError('PROTOCOL', 'peer answered a wrong number of sub-leaf hashes', 'upgrade the peer')
      i += served.length
      const differing: Array<[number, number]> = []
      const local = new Map<number, RecordSummary[]>()
      served.forEach((leaf, j) => {
        const parts = this.meta.leafParts(leaf)
        parts.hashes.forEach((hash, sub) => {
          const at = (j * MERKLE_SUB_LEAVES + sub) * 32
          if (hash.equals(remoteHashes.subarray(at, at + 32))) return
          differing.push([leaf, sub])
          local.set(leaf * MERKLE_SUB_LEAVES + sub, parts.summaries[sub] as RecordSummary[])
        })
      })
      for (let d = 0; d < differing.length;) {
        const group = differing.slice(d, d + MAX_SUB_LEAVES_PER_REQUEST)
        const answer = await this.requestFull(peer, { op: 'subsummaries', parts: group }, new Uint8Array(0), signal)
        const covered = group.slice(0, servedCount(answer.header, group.length))
        d += covered.length
        add(await this.reconcile(peer, parseJson(answer.body) as RecordSummary[], covered.flatMap(([leaf, sub]) => local.get(leaf * MERKLE_SUB_LEAVES + sub) ?? []), options.push === true, signal))
      }
    }
    for (let i = 0; i < coarse.length;) {
      const asked = coarse.slice(i, i + MAX_LEAVES_PER_REQUEST)
      const res = await this.requestFull(peer, { op: 'summaries', leaves: asked }, new Uint8Array(0), signal)
      const group = asked.slice(0, servedCount(res.header, asked.length))
      i += group.length
      add(await this.reconcile(peer, parseJson(res.body) as RecordSummary[], this.meta.summaries(group), options.push === true, signal))
    }
    this.stats.syncs++
    this.stats.recordsPulled += total.pulled
    this.stats.recordsSentBySync += total.pushed
    this.stats.lastSyncMs = Date.now()
    return total
  }

  /**
   * Given the peer's summaries and this replica's of the same leaves or
   * sub-leaves: pull what the peer has newer, and with `push` give it what
   * this replica has newer or it lacks.
   */
  private async reconcile (peer: string, remote: RecordSummary[], mine: RecordSummary[], push: boolean, signal?: AbortSignal): Promise<{ pulled: number, pushed: number }> {
    const local = new Map(mine.map((s) => [`${s.table}\u0000${s.pk}`, s]))
    const want: Array<[string, string]> = []
    for (const r of remote) {
      const id = `${r.table}\u0000${r.pk}`
      const have = local.get(id)
      local.delete(id)
      if (have === undefined || summaryNewer(r, have)) want.push([r.table, r.pk])
      else if (summaryNewer(have, r)) local.set(id, have)
    }
    const pulled = await this.pull(peer, want, signal)
    if (!push) return { pulled, pushed: 0 }
    // What is left in `local` is missing or older on the peer.
    const give = [...local.values()].map((s) => this.meta.get(s.table, s.pk)).filter((r): r is MetaRecord => r !== undefined)
    for (const batch of batchByBytes(give, cappedJsonBytes, SYNC_BODY_MAX_BYTES)) {
      for (let j = 0; j < batch.length; j += MAX_RECORDS_PER_MESSAGE) {
        await this.request(peer, { op: 'push' }, jsonBody(batch.slice(j, j + MAX_RECORDS_PER_MESSAGE)), signal)
      }
    }
    return { pulled, pushed: give.length }
  }

  private async pull (peer: string, want: Array<[string, string]>, signal?: AbortSignal): Promise<number> {
    let n = 0
    for (const keys of batchByBytes(want, jsonBytes, SYNC_BODY_MAX_BYTES)) {
      for (let i = 0; i < keys.length;) {
        const part = keys.slice(i, i + MAX_FETCH_KEYS)
        const res = await this.requestFull(peer, { op: 'fetch' }, jsonBody(part), signal)
        i += servedCount(res.header, part.length)
        n += this.applyFetched(res.body, peer)
      }
    }
    return n
  }

  /** Apply the records of a fetch answer from `peer`; returns how many changed here. */
  private applyFetched (body: Uint8Array, peer: string): number {
    const records = parseJson(body)
    if (!Array.isArray(records)) throw new CairnError('PROTOCOL', 'fetch answer is not an array', 'upgrade the peer')
    const changed = this.meta.apply(this.skipTooFarAhead(records as MetaRecord[], peer))
    if (changed.length > 0) this.onChange?.(changed)
    return changed.length
  }

  /**
   * Fetch `keys` (at most MAX_FETCH_KEYS) from peers now, for a read that
   * names a record this replica has not received yet: a version written
   * through another node a moment ago, whose push or gossip is still on its
   * way (a quorum need not include this node). The online peers of `first`
   * (the version's writer, which holds it once the put was answered) are
   * asked first; only when none of them answers are up to RECALL_PEERS other
   * online peers asked at once. What they send is applied as an
   * anti-entropy pull applies it. Returns how many records changed here; a
   * peer that fails or takes longer than RECALL_TIMEOUT_MS is skipped, never
   * an error, so the read answers as it would have without the recall.
   */
  async recall (keys: ReadonlyArray<[MetaTable, string]>, first: readonly string[], signal?: AbortSignal): Promise<number> {
    const online = this.transport.onlinePeers()
    const writers = online.filter((p) => first.includes(p))
    const ask = async (peers: readonly string[]): Promise<{ answered: number, changed: number }> => {
      const wait = AbortSignal.any([AbortSignal.timeout(RECALL_TIMEOUT_MS), ...(signal === undefined ? [] : [signal])])
      let answered = 0
      let changed = 0
      await Promise.all(peers.map(async (peer) => {
        try {
          const res = await this.requestFull(peer, { op: 'fetch' }, jsonBody(keys.slice(0, MAX_FETCH_KEYS)), wait)
          changed += this.applyFetched(res.body, peer)
          answered++
        } catch { /* skipped: another peer, or anti-entropy, brings the record */ }
      }))
      return { answered, changed }
    }
    if (writers.length > 0) {
      const r = await ask(writers)
      if (r.answered > 0) return r.changed
    }
    const others = online.filter((p) => !first.includes(p))
    const sample = gossipOrder(others, new Set(), this.random).slice(0, RECALL_PEERS)
    return (await ask(sample)).changed
  }

  /** A push carrying any record stamped too far ahead is refused whole: nothing of it is applied. */
  private refuseTooFarAhead (records: MetaRecord[], peer: string): void {
    const limitMs = this.maxClockSkewMs()
    const split = splitBySkew(records, this.wallMs(), limitMs)
    if (split.tooFarAhead.length === 0) return
    this.noteSkew(split.tooFarAhead, peer, 'push', split.maxAheadMs)
    throw new CairnError('CLOCK_SKEW',
      `clock skew: ${split.tooFarAhead.length} record(s) stamped ${formatSkewMs(split.maxAheadMs)} ahead of the receiving node's clock, more than maxClockSkew (${formatSkewMs(limitMs)}): the writing node's clock is ahead; nothing was applied`,
      'fix the clock of the writing node (NTP); its records are applied once they are within maxClockSkew')
  }

  /** The records of an anti-entropy fetch that may be applied now; the rest are fetched again by a later round. */
  private skipTooFarAhead (records: MetaRecord[], peer: string): MetaRecord[] {
    const split = splitBySkew(records, this.wallMs(), this.maxClockSkewMs())
    if (split.tooFarAhead.length > 0) this.noteSkew(split.tooFarAhead, peer, 'pull', split.maxAheadMs)
    return split.acceptable
  }

  private noteSkew (refused: MetaRecord[], peer: string, via: 'push' | 'pull', aheadMs: number): void {
    for (const due of this.skew.note(refused, peer, via, aheadMs, this.wallMs())) this.options.onClockSkew?.(due, via)
  }

  private maxClockSkewMs (): number {
    return this.options.maxClockSkewMs?.() ?? DEFAULT_MAX_CLOCK_SKEW_MS
  }

  private wallMs (): number {
    return (this.options.wallClock ?? Date.now)()
  }
}

/** Bytes `value` takes in a JSON array (its encoding plus a comma). */
function jsonBytes (value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value)) + 1
}

/** Like jsonBytes, but a record bigger than the budget (written before the limit existed) counts as exactly the budget, so it travels alone. */
function cappedJsonBytes (value: unknown): number {
  return Math.min(jsonBytes(value), SYNC_BODY_MAX_BYTES)
}

/** The hop count of a forwarded push; a missing or malformed one is treated as the last hop (not forwarded again). */
function gossipHop (hop: unknown): number {
  return typeof hop === 'number' && Number.isInteger(hop) && hop >= 0 && hop <= MAX_GOSSIP_HOPS ? hop : MAX_GOSSIP_HOPS
}

/** The summaries of an answer, cut at SYNC_BODY_MAX_BYTES: `add` takes a leaf's or sub-leaf's while they fit (the first always). */
class SummaryAnswer {
  private readonly out: RecordSummary[] = []
  private bytes = 2
  served = 0

  add (part: RecordSummary[]): boolean {
    const partBytes = part.reduce((n, r) => n + jsonBytes(r), 0)
    if (this.served > 0 && this.bytes + partBytes > SYNC_BODY_MAX_BYTES) return false
    this.out.push(...part)
    this.bytes += partBytes
    this.served++
    return true
  }

  message (): { header: Record<string, unknown>, body: Uint8Array } {
    return { header: { served: this.served }, body: jsonBody(this.out) }
  }
}

function isLeaf (value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < MERKLE_LEAF_COUNT
}

function isPart (value: unknown): value is [number, number] {
  return Array.isArray(value) && value.length === 2 && isLeaf(value[0]) && Number.isInteger(value[1]) && (value[1] as number) >= 0 && (value[1] as number) < MERKLE_SUB_LEAVES
}

/** Whether `values` are strictly increasing (a request names each leaf or sub-leaf once, in order). */
function ascending (values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || v > (values[i - 1] as number))
}

/** How many items of a request of `asked` an answer covers (all, from a peer that does not say). */

function servedCount (header: Record<string, unknown>, asked: number): number {
  const served = header.served
  if (served === undefined) return asked
  if (typeof served !== 'number' || !Number.isInteger(served) || served < 1 || served > asked) {
    throw new CairnError('PROTOCOL', `peer answered a bad served count ${String(served)} for ${asked} items`, 'upgrade the peer')
  }
  return served
}

function summaryNewer (a: RecordSummary, b: RecordSummary): boolean {
  const ra = { v: 1 as const, table: a.table, pk: a.pk, hlc: a.hlc, origin: a.origin, tombstone: a.tombstone, body: {} as never }
  const rb = { ...ra, hlc: b.hlc, origin: b.origin, tombstone: b.tombstone }
  return compareRecords(ra, rb) > 0
}
