/**
 * The get path: manifest → for each stripe, fetch shards in parallel from the
 * best k holders (local first, data shards before parity, so decoding is a
 * copy when nothing is missing), verify every shard's SHA-256, fall back to
 * further holders on any failure, decode, decrypt, and stream out in order.
 * A bounded number of stripes is fetched ahead, so memory stays flat. An
 * out-of-record stripe list (form `segments`) is read segment by segment as
 * the reader reaches it (stripe-list.ts). A multipart version (form `parts`)
 * is the concatenation of its parts, each with its own data key and nonce
 * base; its stripes flow through the same fetch-ahead window across part
 * boundaries (parts.ts). A read may start at a byte offset: whole parts and
 * stripes before it are skipped without fetching a shard.
 */
import { unwrapDataKey, decryptStripe, sha256Hex, TAG_SIZE_BYTES } from '../crypto/index.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import type { Manifest, StripeManifest } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import { decodeStripeParts } from './stripe.ts'
import { stripesOf } from './stripe-list.ts'
import { partsOf } from './parts.ts'
import type { ClusterView, ShardIO } from './types.ts'
import type { HolderLookup } from '../meta/locations.ts'

/** Stripes fetched ahead of the one being streamed out. */
export const GET_STRIPES_AHEAD = 2
/** Segments of an out-of-record stripe list fetched ahead (each is up to ~4 MiB of list). */
export const GET_SEGMENTS_AHEAD = 1

/** What a get needs. */
export interface GetContext {
  cluster: ClusterView
  shards: ShardIO
  masterKey: Buffer
  /** Called when a holder served bytes that do not match the shard's hash. */
  onBadShard?: (node: string, hash: string) => void
  /** Called when fetching a shard from a holder failed (the read goes on with other holders). */
  onShardFailure?: (node: string, hash: string, err: Error) => void
  /** Current holders of a shard (the version's location record over its manifest); default: the manifest's list. */
  holders?: HolderLookup
}

/** One place a shard can be fetched from. */
interface Candidate { index: number, hash: string, node: string }

/** What decoding the stripes of one manifest (a version, or one part of it) needs. */
interface StripeKeys { k: number, m: number, codec: ErasureCodecName | undefined, dataKey: Buffer, nonceBase: Buffer }

/** One stripe to fetch, with its keys, its index in its manifest and the plaintext bytes to drop from its front. */
interface StripeJob { stripe: StripeManifest, index: number, keys: StripeKeys, skipBytes: number }

function keysOf (ctx: GetContext, manifest: Manifest): StripeKeys {
  return { k: manifest.k, m: manifest.m, codec: manifest.codec, dataKey: unwrapDataKey(ctx.masterKey, manifest.wrappedKey), nonceBase: Buffer.from(manifest.nonceBase, 'base64') }
}

/** The stripes of a non-multipart manifest from plaintext offset `offsetBytes` on (earlier ones are skipped unfetched). */
async function * stripeJobs (ctx: GetContext, manifest: Manifest, label: string, offsetBytes: number, signal?: AbortSignal): AsyncGenerator<StripeJob> {
  const keys = keysOf(ctx, manifest)
  let position = 0
  let index = 0
  for await (const stripe of stripesOf(manifest, (blob) => readObject(ctx, blob, `${label} (stripe list)`, signal, GET_SEGMENTS_AHEAD))) {
    const plainBytes = stripe.cipherBytes - TAG_SIZE_BYTES
    if (position + plainBytes > offsetBytes || (plainBytes === 0 && position >= offsetBytes)) yield { stripe, index, keys, skipBytes: Math.max(0, offsetBytes - position) }
    position += plainBytes
    index++
  }
}

/** The stripes of a version of any form, parts one after the other, from `offsetBytes` on. */
async function * jobsOf (ctx: GetContext, manifest: Manifest, label: string, offsetBytes: number, signal?: AbortSignal): AsyncGenerator<StripeJob> {
  if (manifest.form !== 'parts') {
    yield * stripeJobs(ctx, manifest, label, offsetBytes, signal)
    return
  }
  let position = 0
  for await (const part of partsOf(manifest, (blob) => readObject(ctx, blob, `${label} (part list)`, signal, GET_SEGMENTS_AHEAD))) {
    if (position + part.size > offsetBytes) yield * stripeJobs(ctx, part.manifest, `${label} part ${part.number}`, Math.max(0, offsetBytes - position), signal)
    position += part.size
  }
}

/**
 * Stream the plaintext of a version described by `manifest`, from byte
 * `offsetBytes` on (default: the whole object), one buffer per stripe (what
 * a stripe-list or part-list reader parses as one segment).
 *
 * @example
 * for await (const chunk of readObject(ctx, manifest, 'photos/a.jpg')) out.write(chunk)
 */
export async function * readObject (ctx: GetContext, manifest: Manifest, label: string, signal?: AbortSignal, stripesAhead = GET_STRIPES_AHEAD, offsetBytes = 0): AsyncGenerator<Buffer> {
  for await (const pieces of readStripes(ctx, manifest, label, signal, stripesAhead, offsetBytes)) yield pieces.length === 1 ? pieces[0] as Buffer : Buffer.concat(pieces)
}

/**
 * readObject for a byte stream (an object's body): each stripe's plaintext
 * in the pieces it was decrypted in, one per data shard, never joined (a
 * 4 MiB copy per stripe less on every get).
 *
 * @example
 * for await (const chunk of readObjectPieces(ctx, manifest, 'photos/a.jpg')) res.write(chunk)
 */
export async function * readObjectPieces (ctx: GetContext, manifest: Manifest, label: string, signal?: AbortSignal, stripesAhead = GET_STRIPES_AHEAD, offsetBytes = 0): AsyncGenerator<Buffer> {
  for await (const pieces of readStripes(ctx, manifest, label, signal, stripesAhead, offsetBytes)) yield * pieces
}

/** The first `skip` bytes of `pieces` dropped. */
function skipped (pieces: Buffer[], skip: number): Buffer[] {
  if (skip <= 0) return pieces
  const out: Buffer[] = []
  let left = skip
  for (const piece of pieces) {
    if (left >= piece.length) { left -= piece.length; continue }
    out.push(left > 0 ? piece.subarray(left) : piece)
    left = 0
  }
  return out.length === 0 ? [Buffer.alloc(0)] : out
}

/** Every stripe's plaintext from `offsetBytes` on, as the pieces it was decrypted in, `stripesAhead` stripes fetched ahead. */
async function * readStripes (ctx: GetContext, manifest: Manifest, label: string, signal: AbortSignal | undefined, stripesAhead: number, offsetBytes: number): AsyncGenerator<Buffer[]> {
  if (manifest.inline !== undefined) {
    const keys = keysOf(ctx, manifest)
    yield [decryptStripe(keys.dataKey, keys.nonceBase, 0, Buffer.from(manifest.inline, 'base64')).subarray(offsetBytes)]
    return
  }
  const source = jobsOf(ctx, manifest, label, offsetBytes, signal)
  const health = new ReadHealth()
  const ahead: Array<Promise<Buffer[]>> = []
  let exhausted = false
  const fill = async (): Promise<void> => {
    while (!exhausted && ahead.length < stripesAhead) {
      const r = await source.next()
      if (r.done === true) {
        exhausted = true
        return
      }
      const job = r.value
      const p = fetchStripe(ctx, job, label, signal, health).then((pieces) => skipped(pieces, job.skipBytes))
      p.catch(() => {})
      ahead.push(p)
    }
  }
  try {
    await fill()
    while (ahead.length > 0) {
      const pieces = await (ahead.shift() as Promise<Buffer[]>)
      await fill()
      yield pieces
    }
  } finally {
    await source.return(undefined)
  }
}

/**
 * What one read learned about holders: a holder that failed or was still
 * busy when a stripe had to hedge around it is asked last for the read's
 * later stripes, so one stalled or failing node costs a read one hedge
 * delay, not one per stripe.
 */
export class ReadHealth {
  readonly #demoted = new Set<string>()
  demote (node: string): void { this.#demoted.add(node) }
  isDemoted (node: string): boolean { return this.#demoted.has(node) }
}

/** A shard fetch still running this long after the stripe's first shard arrived (and at least HEDGE_MIN_MS after it began) gets a parallel fetch of another shard. */
export const HEDGE_FACTOR = 4
/** Least time before hedging: below it a busy holder is just busy. */
export const HEDGE_MIN_MS = 1500
/** Hedge even when no shard of the stripe has arrived by then. */
export const HEDGE_NOTHING_MS = 5000

function rankCandidates (ctx: GetContext, stripe: StripeManifest, k: number, health: ReadHealth): Candidate[] {
  const out: Candidate[] = []
  stripe.shards.forEach((shard, index) => {
    for (const node of ctx.holders?.(shard) ?? shard.nodes) out.push({ index, hash: shard.hash, node })
  })
  const score = (c: Candidate): number =>
    (c.node === ctx.cluster.selfId ? 0 : 4) + (ctx.cluster.isOnline(c.node) ? 0 : 100) + (health.isDemoted(c.node) ? 50 : 0) + (c.index < k ? 0 : 1)
  return out.sort((a, b) => score(a) - score(b) || a.index - b.index)
}

/**
 * Fetch k verified shards of one stripe and decode it. k fetches start at
 * once, from the best-ranked holders; a failed fetch is replaced by the next
 * candidate; a fetch that lags (HEDGE_FACTOR × the first arrival's time, at
 * least HEDGE_MIN_MS; HEDGE_NOTHING_MS when nothing arrived) gets another
 * shard fetched beside it, and whichever k arrive first are used. Fetches
 * still running when the stripe is complete are aborted.
 */
async function fetchStripe (ctx: GetContext, job: StripeJob, label: string, signal: AbortSignal | undefined, health: ReadHealth): Promise<Buffer[]> {
  const { stripe, index: stripeIndex } = job
  const { k, m, codec, dataKey, nonceBase } = job.keys
  signal?.throwIfAborted()
  const candidates = rankCandidates(ctx, stripe, k, health)
  const got: Array<Buffer | null> = new Array(k + m).fill(null)
  const failures: string[] = []
  const done = new AbortController()
  const fetchSignal = signal === undefined ? done.signal : AbortSignal.any([signal, done.signal])
  const started = performance.now()
  /** Shard indices fetched or being fetched, and the holders of running fetches. */
  const busy = new Set<number>()
  const running = new Map<object, string>()
  const attempted = new Set<Candidate>()
  let have = 0
  let hedge: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined
  let hedged = false
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const finish = (err?: Error): void => {
        if (settled) return
        settled = true
        if (err === undefined) resolve(); else reject(err)
      }
      const launch = (): boolean => {
        // The best candidate not yet asked whose shard is not in hand or on its way.
        for (const c of candidates) {
          if (attempted.has(c) || busy.has(c.index)) continue
          attempted.add(c)
          busy.add(c.index)
          const ticket = {}
          running.set(ticket, c.node)
          fetchOne(c).finally(() => { running.delete(ticket) }).then(settle, (err: unknown) => {
            busy.delete(c.index)
            if (signal?.aborted === true) { finish(signal.reason as Error); return }
            if (fetchSignal.aborted) return // the stripe is complete: this fetch was cut short
            const error = err instanceof Error ? err : new Error(String(err))
            health.demote(c.node)
            failures.push(`${ctx.cluster.nodeName(c.node) || c.node.slice(-8)}: ${error.message}`)
            try {
              ctx.onShardFailure?.(c.node, c.hash, error)
            } catch { /* a failing listener must not stall the read */ }
            // A failed fetch is replaced by the next candidate.
            launch()
            settle()
          }).catch((err: unknown) => { finish(err instanceof Error ? err : new Error(String(err))) })
          return true
        }
        return false
      }
      /** Done with k shards; failed when nothing is running and no candidate is left. */
      const settle = (): void => {
        if (have >= k) { finish(); return }
        if (running.size > 0 || launch()) return
        finish(new CairnError('NOT_ENOUGH_SHARDS',
          `cannot read ${label}: stripe ${stripeIndex} has only ${have} of ${k + m} shards reachable and ${k} are needed (${failures.slice(0, 6).join('; ') || 'the manifest lists fewer holders'})`,
          'bring the offline nodes back (cairn status lists them) and retry', { reachable: have, needed: k, total: k + m, stripe: stripeIndex }))
      }
      const onHedge = (): void => {
        hedge = undefined
        if (settled || have >= k) return
        hedged = true
        // Every other holder still busy is slow for this read; fetch other shards beside them.
        for (const node of running.values()) if (node !== ctx.cluster.selfId) health.demote(node)
        for (let i = running.size; i > 0 && launch(); i--) { /* one extra fetch per lagging one */ }
        // The extra fetches may lag too: look again later.
        hedge = setTimeout(onHedge, HEDGE_NOTHING_MS)
      }
      const fetchOne = async (c: Candidate): Promise<void> => {
        const bytes = await ctx.shards.get(c.node, c.hash, fetchSignal)
        if (sha256Hex(bytes) !== c.hash) {
          ctx.onBadShard?.(c.node, c.hash)
          throw new CairnError('CORRUPT_SHARD', 'hash mismatch')
        }
        if (got[c.index] === null && have < k) {
          got[c.index] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
          have++
          if (have === 1 && have < k && !hedged) {
            clearTimeout(hedge)
            const elapsed = performance.now() - started
            hedge = setTimeout(onHedge, Math.max(HEDGE_MIN_MS - elapsed, HEDGE_FACTOR * elapsed - elapsed, 0))
          }
        }
      }
      onAbort = () => { finish(signal?.reason as Error) }
      signal?.addEventListener('abort', onAbort, { once: true })
      hedge = setTimeout(onHedge, HEDGE_NOTHING_MS)
      for (let i = 0; i < k; i++) {
        if (!launch()) break
      }
      settle()
    })
  } finally {
    clearTimeout(hedge)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    done.abort(new CairnError('TIMEOUT', 'the stripe was complete without this shard'))
  }
  return await decodeStripeParts(got, { k, m, codec, dataKey, nonceBase, stripeIndex, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes })
}
