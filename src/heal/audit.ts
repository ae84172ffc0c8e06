/**
 * Shard audits, the pure parts: the challenge digest, the verdict on an
 * answer, who audits whom, the score and the standing a node's counts give
 * it, random sampling, and the expected bytes of a stripe's shards.
 *
 * An audit sends a holder a fresh random nonce and shard hashes; the holder
 * answers sha256(nonce ‖ shard bytes) per shard, which it can compute only
 * while it holds the bytes (the nonce is new, so nothing can be computed in
 * advance). The auditor knows the right answer without trusting anyone:
 * shards are content-addressed, so it reads k shards of the stripe from any
 * holders (each checked against its hash), rebuilds the others with the
 * erasure code (deterministic; each checked against its hash too) and hashes
 * the nonce with each. See docs/AUDITS.md for the protocol and the costs.
 */
import { createHash } from 'node:crypto'
import { sha256Hex } from '../crypto/index.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { rebuildShards } from '../erasure/rebuild.ts'
import type { StripeManifest } from '../meta/types.ts'
import { CairnError, errorMessage } from '../util/errors.ts'

/** Bytes of a challenge nonce: fresh random per challenge, never reused. */
export const AUDIT_NONCE_BYTES = 32

/** What the auditor concludes from one answer. */
export type AuditVerdict = 'pass' | 'wrong' | 'missing'

/** What a node's audit counts make it. */
export type AuditStanding = 'unaudited' | 'ok' | 'failing'

/**
 * The answer to a challenge for one shard: hex sha256(nonce ‖ bytes).
 *
 * @example
 * auditDigest(randomBytes(32), shardBytes) // '3f1c…'
 */
export function auditDigest (nonce: Uint8Array, bytes: Uint8Array): string {
  return createHash('sha256').update(nonce).update(bytes).digest('hex')
}

/**
 * The verdict on a holder's answer: its digest, or null for "missing".
 *
 * @example
 * auditVerdict(expected, expected) // 'pass'
 */
export function auditVerdict (expected: string, answer: string | null): AuditVerdict {
  if (answer === null) return 'missing'
  return answer === expected ? 'pass' : 'wrong'
}

/**
 * The auditor of `subject`'s shards of one version, given the version's
 * coordinator order (online nodes in rendezvous order of `repair/<versionId>`):
 * the first node of the order that is not the subject. So the coordinator
 * audits every other holder, and the next node audits the coordinator — no
 * holder ever audits itself.
 *
 * @example
 * auditorOf(['a', 'b', 'c'], 'c') // 'a'
 * auditorOf(['a', 'b', 'c'], 'a') // 'b'
 */
export function auditorOf (order: readonly string[], subject: string): string | undefined {
  return order.find((id) => id !== subject)
}

/** Passed share of audits, or null before the first audit. */
export function auditScore (tally: { audits: number, failures: number }): number | null {
  return tally.audits === 0 ? null : (tally.audits - tally.failures) / tally.audits
}

/**
 * A node's standing: `failing` (it gets no new shards) once it has had at
 * least `minAudits` audits and passed fewer than `minScore` of them; `ok`
 * when audited and not failing; `unaudited` before any audit.
 *
 * @example
 * auditStanding({ audits: 12, failures: 12 }, 0.9, 10) // 'failing'
 * auditStanding({ audits: 5, failures: 5 }, 0.9, 10) // 'ok' (too few audits yet)
 */
export function auditStanding (tally: { audits: number, failures: number } | undefined, minScore: number, minAudits: number): AuditStanding {
  if (tally === undefined || tally.audits === 0) return 'unaudited'
  const score = auditScore(tally) as number
  return tally.audits >= minAudits && score < minScore ? 'failing' : 'ok'
}

/**
 * Keep a uniform random sample of at most `size` items from a stream
 * (reservoir sampling, algorithm R): memory stays `size` however long the stream.
 *
 * @example
 * const r = new Reservoir<string>(16, Math.random); for (const x of xs) r.offer(x); r.items()
 */
export class Reservoir<T> {
  private readonly size: number
  private readonly random: () => number
  private readonly kept: T[] = []
  private seen = 0

  constructor (size: number, random: () => number) {
    this.size = size
    this.random = random
  }

  offer (item: T): void {
    this.seen++
    if (this.kept.length < this.size) { this.kept.push(item); return }
    const j = Math.floor(this.random() * this.seen)
    if (j < this.size) this.kept[j] = item
  }

  items (): T[] {
    return [...this.kept]
  }
}

/** Where a stripe's shard bytes can be read (holders online and not known to have lost it). */
export interface ShardSource { index: number, node: string }

/** What computing a stripe's expected shards needs. */
export interface ExpectedShardsInit {
  k: number
  m: number
  codec?: ErasureCodecName
  /** Read one shard from one node; any failure means "try another". */
  fetch: (node: string, hash: string, signal?: AbortSignal) => Promise<Uint8Array>
  signal?: AbortSignal
}

/**
 * Every shard of `stripe` (k+m buffers), from k shards read from `sources`
 * (in order, k at a time in parallel) and checked against their hashes,
 * the rest rebuilt and checked too. Throws NOT_ENOUGH_SHARDS when k cannot
 * be read, CORRUPT_SHARD when a rebuilt shard does not match its hash (a
 * damaged manifest: nobody is blamed). Also returns the bytes read.
 *
 * @example
 * const { shards } = await expectedShards(stripe, sources, { k: 4, m: 2, fetch })
 */
export async function expectedShards (stripe: StripeManifest, sources: readonly ShardSource[], init: ExpectedShardsInit): Promise<{ shards: Buffer[], readBytes: number }> {
  const { k, m } = init
  const slots: Array<Buffer | null> = stripe.shards.map(() => null)
  let have = 0
  let readBytes = 0
  let cursor = 0
  const failures: string[] = []
  // Each pass starts at least one untried source, so there are at most sources.length passes.
  while (have < k && cursor < sources.length) {
    const batch: ShardSource[] = []
    const picked = new Set<number>()
    while (batch.length < k - have && cursor < sources.length) {
      const s = sources[cursor++] as ShardSource
      if (slots[s.index] !== null || picked.has(s.index)) continue
      picked.add(s.index)
      batch.push(s)
    }
    await Promise.all(batch.map(async ({ index, node }) => {
      const ref = stripe.shards[index]
      if (ref === undefined) return
      try {
        const bytes = await init.fetch(node, ref.hash, init.signal)
        readBytes += bytes.length
        if (sha256Hex(bytes) !== ref.hash) throw new CairnError('CORRUPT_SHARD', 'hash mismatch')
        if (slots[index] === null) { slots[index] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength); have++ }
      } catch (err) {
        init.signal?.throwIfAborted()
        failures.push(`${node.slice(-8)}: ${errorMessage(err)}`)
      }
    }))
  }
  if (have < k) throw new CairnError('NOT_ENOUGH_SHARDS', `the audit could read only ${have} of the ${k} shards it needs (${failures.slice(0, 4).join('; ')})`, 'the stripe is audited again in a later round')
  const size = stripe.shardSizeBytes > 0 ? stripe.shardSizeBytes : (slots.find((s) => s !== null)?.length ?? 0)
  const all = slots.every((s) => s !== null) ? slots as Buffer[] : await rebuildShards(slots, { k, m, ...(init.codec === undefined ? {} : { codec: init.codec }), shardSizeBytes: size })
  all.forEach((bytes, index) => {
    if (sha256Hex(bytes) !== stripe.shards[index]?.hash) {
      throw new CairnError('CORRUPT_SHARD', `rebuilt shard ${index} does not match its recorded hash`, 'the version\'s manifest or its shards are damaged; report it')
    }
  })
  return { shards: all, readBytes }
}
