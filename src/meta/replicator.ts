/**
 * Replication of the metadata CRDT between nodes, over an injected transport
 * (the daemon wires it to libp2p; this module never imports the network).
 *
 * Two mechanisms:
 * 1. Push: `commit(records)` applies records locally and pushes them to every
 *    online peer, waiting for their acknowledgements (each peer applies them
 *    in one SQLite transaction before it answers). Pushes to one peer are
 *    batched: while one push is on the wire, new records queue and go in the
 *    next one (group commit), so many small puts cost few round trips.
 * 2. Anti-entropy: `syncWith(peer)` walks a Merkle tree over the records
 *    (4096 XOR-of-digest leaves, fan-out 16: levels of 1, 16, 256 and 4096
 *    hashes) top-down, exchanging only the hashes of subtrees that differ,
 *    then record summaries of the differing leaves, then the records each
 *    side lacks. Bytes exchanged grow with the difference, not the table.
 *
 * Sync requests (`header.op`):
 * - `hashes` {level, indices[]} → body: 32 bytes per index, in order
 * - `summaries` {leaves[]} → {served} body: JSON RecordSummary[] of the
 *   first `served` leaves (at least one), as many as fit SYNC_BODY_MAX_BYTES;
 *   the requester asks again for the rest
 * - `fetch` {} body: JSON [table, pk][] → {served} body: JSON MetaRecord[]
 *   for the first `served` keys (at least one; missing keys are skipped), as
 *   many as fit SYNC_BODY_MAX_BYTES; the requester asks again for the rest
 * - `push` {} body: JSON MetaRecord[] → {applied}
 * Every request and answer of anti-entropy is cut by encoded bytes, so none
 * exceeds the RPC frame limit whatever the table or record sizes (records are
 * limited on write to MAX_RECORD_BYTES, well below the budget). An answer
 * without `served` (an older peer) covers the whole request.
 */
import { CairnError, errorMessage } from '../util/errors.ts'
import { batchByBytes } from './batch.ts'
import { compareRecords } from './crdt.ts'
import { MERKLE_LEAF_COUNT } from './store.ts'
import type { MetaStore, RecordSummary } from './store.ts'
import type { MetaRecord, MetaTable } from './types.ts'

/** Fan-out of the Merkle tree. */
export const MERKLE_FANOUT = 16
/** Depth of the leaf level (16^3 = 4096 leaves). */
export const MERKLE_LEAF_LEVEL = 3
/** Most records sent in one push or fetch message (keeps bodies well under the 16 MiB frame limit). */
export const MAX_RECORDS_PER_MESSAGE = 2000
/** Most leaves whose summaries are asked for in one request. */
export const MAX_LEAVES_PER_REQUEST = 512
/**
 * Byte budget of one anti-entropy message body (fetch and summaries answers,
 * fetch keys, sync pushes): a quarter of the 16 MiB RPC frame limit, and four
 * times the largest record a node writes.
 */
export const SYNC_BODY_MAX_BYTES = 4 * 1024 * 1024
/** Most keys in one fetch request (each key is at most ~2 KiB). */
export const MAX_FETCH_KEYS = MAX_RECORDS_PER_MESSAGE

/** How the replicator talks to peers. */
export interface MetaTransport {
  /** Peers reachable now. */
  onlinePeers: () => string[]
  /** Send one replication message and wait for the answer. */
  call: (peer: string, header: Record<string, unknown>, body: Uint8Array, signal?: AbortSignal) => Promise<{ header: Record<string, unknown>, body: Uint8Array }>
}

/** Traffic counters, for status and for the anti-entropy report. */
export interface ReplicationStats {
  pushes: number
  recordsPushed: number
  syncs: number
  syncBytesSent: number
  syncBytesReceived: number
  recordsPulled: number
  recordsSentBySync: number
  lastSyncMs: number
}

interface PendingPush { records: MetaRecord[], waiters: Array<{ resolve: () => void, reject: (err: Error) => void }> }

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
 * await replicator.commit([record]) // durable here and on every online peer
 */
export class Replicator {
  readonly stats: ReplicationStats = { pushes: 0, recordsPushed: 0, syncs: 0, syncBytesSent: 0, syncBytesReceived: 0, recordsPulled: 0, recordsSentBySync: 0, lastSyncMs: 0 }
  private readonly meta: MetaStore
  private readonly transport: MetaTransport
  private readonly pending = new Map<string, PendingPush>()
  private readonly sending = new Set<string>()
  private readonly onChange: ((records: MetaRecord[]) => void) | undefined

  constructor (meta: MetaStore, transport: MetaTransport, onChange?: (records: MetaRecord[]) => void) {
    this.meta = meta
    this.transport = transport
    this.onChange = onChange
  }

  /** Apply locally, push to every online peer, resolve once at least one peer (when any is online) holds them. */
  async commit (records: MetaRecord[], _signal?: AbortSignal): Promise<void> {
    const changed = this.meta.apply(records)
    if (changed.length > 0) this.onChange?.(changed)
    const peers = this.transport.onlinePeers()
    if (peers.length === 0) return
    const results = await Promise.allSettled(peers.map(async (peer) => { await this.enqueuePush(peer, records) }))
    const ok = results.filter((r) => r.status === 'fulfilled').length
    if (ok === 0) {
      const reason = results.map((r) => (r.status === 'rejected' ? errorMessage(r.reason) : '')).filter(Boolean)[0] ?? 'unknown'
      throw new CairnError('PEER_ERROR', `the metadata could not be replicated to any other node (${reason})`, 'check that other nodes are online (cairn status) and retry')
    }
  }

  private async enqueuePush (peer: string, records: MetaRecord[]): Promise<void> {
    return await new Promise<void>((resolve, reject) => {
      let entry = this.pending.get(peer)
      if (entry === undefined) {
        entry = { records: [], waiters: [] }
        this.pending.set(peer, entry)
      }
      entry.records.push(...records)
      entry.waiters.push({ resolve, reject })
      if (!this.sending.has(peer)) void this.flush(peer)
    })
  }

  private async flush (peer: string): Promise<void> {
    this.sending.add(peer)
    try {
      for (let entry = this.pending.get(peer); entry !== undefined; entry = this.pending.get(peer)) {
        this.pending.delete(peer)
        try {
          for (let i = 0; i < entry.records.length; i += MAX_RECORDS_PER_MESSAGE) {
            const batch = entry.records.slice(i, i + MAX_RECORDS_PER_MESSAGE)
            await this.transport.call(peer, { op: 'push' }, jsonBody(batch))
            this.stats.pushes++
            this.stats.recordsPushed += batch.length
          }
          for (const w of entry.waiters) w.resolve()
        } catch (err) {
          for (const w of entry.waiters) w.reject(err as Error)
        }
      }
    } finally {
      this.sending.delete(peer)
    }
  }

  /** Serve one replication request from a peer. */
  handle (header: Record<string, unknown>, body: Uint8Array): { header: Record<string, unknown>, body?: Uint8Array } {
    const op = header.op
    if (op === 'push') {
      const records = parseJson(body)
      if (!Array.isArray(records) || records.length > MAX_RECORDS_PER_MESSAGE) throw new CairnError('PROTOCOL', 'push body must be an array of at most 2000 records', 'upgrade the peer')
      const changed = this.meta.apply(records as MetaRecord[])
      if (changed.length > 0) this.onChange?.(changed)
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
      if (!Array.isArray(leaves) || leaves.length > MAX_LEAVES_PER_REQUEST || !leaves.every((l) => Number.isInteger(l) && l >= 0 && l < MERKLE_LEAF_COUNT)) {
        throw new CairnError('PROTOCOL', 'bad summaries request', 'upgrade the peer')
      }
      const out: RecordSummary[] = []
      let bytes = 2
      let served = 0
      for (const leaf of leaves as number[]) {
        const part = this.meta.summaries([leaf])
        const partBytes = part.reduce((n, r) => n + jsonBytes(r), 0)
        if (served > 0 && bytes + partBytes > SYNC_BODY_MAX_BYTES) break
        out.push(...part)
        bytes += partBytes
        served++
      }
      return { header: { served }, body: jsonBody(out) }
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
    let pulled = 0
    let pushed = 0
    for (let i = 0; i < leaves.length;) {
      const asked = leaves.slice(i, i + MAX_LEAVES_PER_REQUEST)
      const res = await this.requestFull(peer, { op: 'summaries', leaves: asked }, new Uint8Array(0), signal)
      const group = asked.slice(0, servedCount(res.header, asked.length))
      i += group.length
      const remote = parseJson(res.body) as RecordSummary[]
      const local = new Map(this.meta.summaries(group).map((s) => [`${s.table}\u0000${s.pk}`, s]))
      const want: Array<[string, string]> = []
      for (const r of remote) {
        const id = `${r.table}\u0000${r.pk}`
        const mine = local.get(id)
        local.delete(id)
        if (mine === undefined || summaryNewer(r, mine)) want.push([r.table, r.pk])
        else if (summaryNewer(mine, r)) local.set(id, mine)
      }
      pulled += await this.pull(peer, want, signal)
      if (options.push !== true) continue
      // What is left in `local` is missing or older on the peer.
      const give = [...local.values()].map((s) => this.meta.get(s.table, s.pk)).filter((r): r is MetaRecord => r !== undefined)
      for (const batch of batchByBytes(give, cappedJsonBytes, SYNC_BODY_MAX_BYTES)) {
        for (let j = 0; j < batch.length; j += MAX_RECORDS_PER_MESSAGE) {
          await this.request(peer, { op: 'push' }, jsonBody(batch.slice(j, j + MAX_RECORDS_PER_MESSAGE)), signal)
        }
      }
      pushed += give.length
    }
    this.stats.syncs++
    this.stats.recordsPulled += pulled
    this.stats.recordsSentBySync += pushed
    this.stats.lastSyncMs = Date.now()
    return { pulled, pushed }
  }

  private async pull (peer: string, want: Array<[string, string]>, signal?: AbortSignal): Promise<number> {
    let n = 0
    for (const keys of batchByBytes(want, jsonBytes, SYNC_BODY_MAX_BYTES)) {
      for (let i = 0; i < keys.length;) {
        const part = keys.slice(i, i + MAX_FETCH_KEYS)
        const res = await this.requestFull(peer, { op: 'fetch' }, jsonBody(part), signal)
        i += servedCount(res.header, part.length)
        const records = parseJson(res.body)
        if (!Array.isArray(records)) throw new CairnError('PROTOCOL', 'fetch answer is not an array', 'upgrade the peer')
        const changed = this.meta.apply(records as MetaRecord[])
        if (changed.length > 0) this.onChange?.(changed)
        n += changed.length
      }
    }
    return n
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
