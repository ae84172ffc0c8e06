/**
 * The replicator's outgoing pushes: one bounded queue per peer and route
 * (own writes apart from gossip forwards, so each message is one or the
 * other for the counters). While one push to a peer is on the wire, new
 * records for it queue and go in the next message, batched by bytes, so many
 * small writes cost few round trips. The wire format of `push` is specified
 * in replicator.ts.
 */
import { CairnError } from '../util/errors.ts'
import { batchByBytes } from './batch.ts'
import type { MetaRecord } from './types.ts'

/** Most records sent in one push or fetch message (keeps bodies well under the 16 MiB frame limit). */
export const MAX_RECORDS_PER_MESSAGE = 2000
/** Most bytes of records in one push message (well under the 16 MiB frame limit). */
export const MAX_PUSH_BATCH_BYTES = 4 * 1024 * 1024
/** Most records queued for one peer (own writes and forwards each); beyond it records are dropped and anti-entropy delivers them. */
export const MAX_QUEUED_RECORDS_PER_PEER = 20_000

/** How a queued push travels: own write or forward, whether its receiver forwards it, its hop count. */
export interface PushRoute { kind: 'own' | 'forward', forward: boolean, hop: number }

/** The counters a push updates (a part of ReplicationStats). */
export interface PushCounters {
  pushes: number
  recordsPushed: number
  pushBytesSent: number
  forwards: number
  recordsForwarded: number
  forwardBytesSent: number
  recordsDropped: number
}

/** Sends one push message and waits for the answer. */
export type PushCall = (peer: string, header: Record<string, unknown>, body: Uint8Array) => Promise<unknown>

interface PendingPush {
  peer: string
  route: PushRoute
  records: MetaRecord[]
  waiters: Array<{ resolve: () => void, reject: (err: Error) => void }>
}

const encoder = new TextEncoder()

/**
 * The JSON of each record pushed, made once: a commit enqueues the same
 * record objects for every peer, and sizing a batch then encoding it
 * stringified a small put's record (its inline ciphertext, kilobytes) twice
 * per peer. Records are never changed once committed, so the text stays true.
 */
const recordTexts = new WeakMap<MetaRecord, string>()

function recordJson (record: MetaRecord): string {
  let text = recordTexts.get(record)
  if (text === undefined) {
    text = JSON.stringify(record)
    recordTexts.set(record, text)
  }
  return text
}

function recordBytes (record: MetaRecord): number {
  return Buffer.byteLength(recordJson(record)) + 1
}

/**
 * Per-peer push queues.
 *
 * @example
 * const queues = new PushQueues(call, stats)
 * await queues.enqueue('peer-id', records, { kind: 'own', forward: false, hop: 0 }) // the peer applied them
 */
export class PushQueues {
  private readonly call: PushCall
  private readonly counters: PushCounters
  private readonly pending = new Map<string, PendingPush>()
  private readonly sending = new Set<string>()

  constructor (call: PushCall, counters: PushCounters) {
    this.call = call
    this.counters = counters
  }

  /** Queue `records` for `peer`; resolves once the peer answered the message that carried them. */
  async enqueue (peer: string, records: MetaRecord[], route: PushRoute): Promise<void> {
    const key = route.kind === 'own' ? peer : `${peer}\u0000forward`
    return await new Promise<void>((resolve, reject) => {
      let entry = this.pending.get(key)
      if (entry === undefined) {
        entry = { peer, route: { ...route }, records: [], waiters: [] }
        this.pending.set(key, entry)
      }
      if (entry.records.length + records.length > MAX_QUEUED_RECORDS_PER_PEER) {
        // A peer that fell this far behind is caught up by anti-entropy.
        this.counters.recordsDropped += records.length
        reject(new CairnError('PEER_ERROR', `push queue of ${peer} is full`, 'the peer is caught up by anti-entropy'))
        return
      }
      // One message for records of several routes: forwarded if any asks for it, the largest hop.
      entry.route.forward ||= route.forward
      entry.route.hop = Math.max(entry.route.hop, route.hop)
      entry.records.push(...records)
      entry.waiters.push({ resolve, reject })
      if (!this.sending.has(key)) void this.flush(key)
    })
  }

  private async flush (key: string): Promise<void> {
    this.sending.add(key)
    try {
      for (let entry = this.pending.get(key); entry !== undefined; entry = this.pending.get(key)) {
        this.pending.delete(key)
        const { peer, route } = entry
        const header = route.forward ? { op: 'push', forward: true, hop: route.hop } : { op: 'push' }
        try {
          for (const bytes of batchByBytes(entry.records, recordBytes, MAX_PUSH_BATCH_BYTES)) {
            for (let i = 0; i < bytes.length; i += MAX_RECORDS_PER_MESSAGE) {
              const batch = bytes.slice(i, i + MAX_RECORDS_PER_MESSAGE)
              const body = encoder.encode(`[${batch.map(recordJson).join(',')}]`)
              await this.call(peer, header, body)
              this.count(route, batch.length, body.length)
            }
          }
          for (const w of entry.waiters) w.resolve()
        } catch (err) {
          for (const w of entry.waiters) w.reject(err as Error)
        }
      }
    } finally {
      this.sending.delete(key)
    }
  }

  private count (route: PushRoute, records: number, bytes: number): void {
    const c = this.counters
    c.pushes++
    c.pushBytesSent += bytes
    c.recordsPushed += records
    if (route.kind !== 'forward') return
    c.forwards++
    c.forwardBytesSent += bytes
    c.recordsForwarded += records
  }
}
