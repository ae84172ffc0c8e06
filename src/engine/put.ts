/**
 * The put path: plaintext stream → stripes → AES-256-GCM → Reed-Solomon k+m
 * → shards named by SHA-256 → one shard per distinct node (weighted
 * rendezvous placement over the nodes online now) → manifest committed to
 * the metadata replicas. With fewer than k+m nodes online but at least
 * `happiness`, a stripe stores one shard on each online node and records
 * the others with no holder (the version is degraded); the healer places
 * them when nodes allow. Placement follows the stripe rule of
 * cluster/placement.ts (k shards on anchors when there are any, a zone limit,
 * two shards of one stripe never on one PC). A bounded number of stripes is in flight, so memory
 * stays flat whatever the object size. Tiny objects are encrypted and stored
 * inline in the manifest instead of being erasure coded. A large object's
 * stripe list goes out of the record into a blob written by the same stripe
 * path (stripe-list.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import { placeStripe } from '../cluster/placement.ts'
import type { PlacementNode } from '../cluster/placement.ts'
import { encryptStripe, generateDataKey, wrapDataKey } from '../crypto/index.ts'
import { chooseCodec } from '../erasure/index.ts'
import type { Manifest, StripeManifest, VersionBody } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import { encodeStripe, STRIPE_SIZE_BYTES } from './stripe.ts'
import { stripes } from './chunker.ts'
import { StripeListWriter } from './stripe-list.ts'
import type { ClusterView, ShardIO } from './types.ts'
import { INLINE_CEILING_BYTES } from '../cluster/inline-limit.ts'

/** Stripes encoded and being sent at once: bounds memory at ~this × 1.5 × stripe size. */
export const PUT_STRIPES_IN_FLIGHT = 2
/** Largest object accepted by one put (5 TiB, S3's limit). */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 4

/** What a put needs besides the data. */
export interface PutContext {
  cluster: ClusterView
  shards: ShardIO
  masterKey: Buffer
}

/** The result of encoding and placing an object's data. */
export interface StoredData {
  size: number
  sha256: string
  manifest: Manifest
  /** Every (node, shard) written, for clean-up when the put fails later. */
  written: Array<{ node: string, hash: string }>
  /** Shards recorded without a holder (a degraded put); the healer places them. */
  unplaced: number
  /** Placement rules (anchors, zones) this put could not honour, one line each. */
  placementNotes: string[]
  /** The version the shards were written for. */
  versionId: string
}

/** Options of storeObjectData. */
export interface StoreOptions {
  /** Store a tiny object inline in the manifest (default true; multipart parts are never inline). */
  inline?: boolean
  /** Largest body accepted (default MAX_OBJECT_BYTES); a larger one fails with TOO_LARGE and stores nothing. */
  maxBytes?: number
}

/** Distinct nodes a put needs: the cluster's happiness, within [k, k+m]. */
export function happinessOf (cluster: ClusterView): number {
  const full = cluster.k + cluster.m
  return Math.min(full, Math.max(cluster.k, cluster.happiness?.() ?? full))
}

/**
 * Objects up to this size are stored inline in metadata (replicated to every
 * node): the cluster's limit, which shrinks as it grows (cluster/inline-limit.ts).
 */
export function inlineMaxOf (cluster: ClusterView): number {
  return Math.min(INLINE_CEILING_BYTES, cluster.inlineMaxBytes?.() ?? INLINE_CEILING_BYTES)
}

/** Refuse early, before any data is read, when fewer than `happiness` distinct nodes are online. */
export function checkPlacementPossible (cluster: ClusterView): PlacementNode[] {
  const online = cluster.onlineNodes()
  const needed = happinessOf(cluster)
  if (online.length < needed) {
    const names = online.map((n) => cluster.nodeName(n.id) || n.id.slice(-8)).join(', ')
    throw new CairnError('NOT_ENOUGH_NODES',
      `cannot store: ${online.length} node(s) online (${names}); a put needs ${needed} distinct nodes online (happiness ${needed}, ${cluster.k}+${cluster.m} coding)`,
      'bring more nodes online (cairn status shows which are offline) and retry, or lower the setting with `cairn config set happiness N` (at least k)', { online: online.length, needed })
  }
  return online
}

/**
 * Encode `body` and store its shards; does not commit metadata.
 *
 * @example
 * const data = await storeObjectData(ctx, versionId, fileStream)
 */
export async function storeObjectData (ctx: PutContext, versionId: string, body: AsyncIterable<Uint8Array>, signal?: AbortSignal, options: StoreOptions = {}): Promise<StoredData> {
  const { k, m } = ctx.cluster
  // Checked at the first stripe that is erasure coded: an object small
  // enough to be inline needs only the metadata quorum, not happiness nodes.
  let placeable: PlacementNode[] | undefined
  const online = (): PlacementNode[] => (placeable ??= checkPlacementPossible(ctx.cluster))
  const { manifest, dataKey, nonceBase } = newManifest(k, m, ctx.masterKey)
  const digest = createHash('sha256')
  const written: StoredData['written'] = []
  const tally: PutTally = { unplaced: 0, notes: new Set(), full: new Set() }
  // Stripes complete in order (the oldest in flight is awaited first) and go to the list writer.
  const list = new StripeListWriter(manifest, ctx.masterKey, async (keys, i, plain) => await storeStripe(ctx, online(), keys.dataKey, keys.nonceBase, versionId, i, plain, written, tally, signal))
  const inFlight: Array<Promise<StripeManifest>> = []
  let size = 0
  let index = 0
  let pendingInline: Buffer | undefined
  // Read once, so every stripe of this put sees the same limit.
  const inlineMax = options.inline === false ? -1 : inlineMaxOf(ctx.cluster)
  try {
    for await (const plain of stripes(body, STRIPE_SIZE_BYTES, options.maxBytes ?? MAX_OBJECT_BYTES)) {
      signal?.throwIfAborted()
      digest.update(plain)
      size += plain.length
      if (index === 0 && plain.length <= inlineMax) {
        // Possibly a tiny object: decide once we know whether more follows.
        pendingInline = Buffer.from(plain)
        index++
        continue
      }
      if (pendingInline !== undefined) {
        inFlight.push(handled(storeStripe(ctx, online(), dataKey, nonceBase, versionId, 0, pendingInline, written, tally, signal)))
        pendingInline = undefined
      }
      inFlight.push(handled(storeStripe(ctx, online(), dataKey, nonceBase, versionId, index, plain, written, tally, signal)))
      index++
      if (inFlight.length >= PUT_STRIPES_IN_FLIGHT) await list.add(await (inFlight.shift() as Promise<StripeManifest>))
    }
    if (pendingInline !== undefined) {
      sealInline(manifest, dataKey, nonceBase, pendingInline)
    }
    while (inFlight.length > 0) await list.add(await (inFlight.shift() as Promise<StripeManifest>))
    await list.finish()
  } catch (err) {
    await Promise.allSettled(inFlight)
    await releaseShards(ctx.shards, written, versionId)
    throw err
  }
  return { size, sha256: digest.digest('hex'), manifest, written, versionId, unplaced: tally.unplaced, placementNotes: [...(tally.notes ?? [])] }
}

/**
 * The manifest of a new version, with no stripes yet: a fresh data key
 * (wrapped with the master key) and nonce base.
 *
 * @example
 * const { manifest, dataKey, nonceBase } = newManifest(4, 2, masterKey)
 */
export function newManifest (k: number, m: number, masterKey: Buffer): { manifest: Manifest, dataKey: Buffer, nonceBase: Buffer } {
  const dataKey = generateDataKey()
  const nonceBase = randomBytes(8)
  const manifest: Manifest = { k, m, codec: chooseCodec(k, m), stripeSizeBytes: STRIPE_SIZE_BYTES, wrappedKey: wrapDataKey(masterKey, dataKey), nonceBase: nonceBase.toString('base64'), stripes: [] }
  return { manifest, dataKey, nonceBase }
}

/** Store a tiny object's plaintext inline in its manifest (encrypted as stripe 0). */
export function sealInline (manifest: Manifest, dataKey: Buffer, nonceBase: Buffer, plain: Uint8Array): void {
  manifest.inline = encryptStripe(dataKey, nonceBase, 0, plain).toString('base64')
}

/** Mark a promise as handled now (it is awaited later), so an early rejection never crashes the process. */
function handled<T> (p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}

/** What the stripes of one put report besides their manifests (callers that do not report notes may leave them out). */
export interface PutTally {
  unplaced: number
  /** Placement rules not honoured (anchors, zones), each line once. */
  notes?: Set<string>
  /** Names of nodes that refused a shard because their quota or disk is full. */
  full?: Set<string>
}

/** Most placement notes one put reports. */
const MAX_PLACEMENT_NOTES = 8

/**
 * Encode, place and write one stripe (of object data, of a stripe-list blob
 * or of a part-list blob); returns its manifest entry. Every shard written is
 * pushed onto `written` (for clean-up when the caller fails later).
 */
export async function storeStripe (ctx: PutContext, online: PlacementNode[], dataKey: Buffer, nonceBase: Buffer, versionId: string,
  stripeIndex: number, plain: Buffer, written: StoredData['written'], tally: PutTally, signal?: AbortSignal): Promise<StripeManifest> {
  const { k, m } = ctx.cluster
  const needed = happinessOf(ctx.cluster)
  const encoded = await encodeStripe(plain, { k, m, codec: chooseCodec(k, m), dataKey, nonceBase, stripeIndex })
  const key = `${versionId}/${stripeIndex}`
  // The stripe rule (cluster/placement.ts): k shards on anchors when there are
  // any, anchor slots first so the data shards sit there; fewer targets than
  // k+m when fewer nodes are online (data shards get them first).
  const placement = placeStripe({ key, count: k + m, anchorShards: k }, online)
  const notes = tally.notes ??= new Set()
  const fullNodes = tally.full ??= new Set()
  for (const note of placement.notes) if (notes.size < MAX_PLACEMENT_NOTES) notes.add(note)
  const current: Array<string | undefined> = encoded.shards.map((_, j) => placement.nodes[j])
  const byId = new Map(online.map((n) => [n.id, n]))
  const failed = new Set<string>()
  const stripe: StripeManifest = { cipherBytes: encoded.cipherBytes, shardSizeBytes: encoded.shardSizeBytes, shards: encoded.hashes.map((hash) => ({ hash, nodes: [] })) }
  const failures: string[] = []
  // A node that fails mid-put is replaced by the stripe rule applied to the
  // other slots' nodes (computed synchronously, so two slots never pick the same spare).
  const replacement = (j: number): string | undefined => {
    const held = current.flatMap((id, i) => i === j || id === undefined ? [] : [byId.get(id) as PlacementNode])
    const candidates = online.filter((n) => !failed.has(n.id) && ctx.cluster.isOnline(n.id))
    return placeStripe({ key, count: held.length + 1, anchorShards: k, held, avoid: failed }, candidates).nodes[0]
  }
  await Promise.all(encoded.shards.map(async (shard, j) => {
    const hash = encoded.hashes[j] as string
    while (current[j] !== undefined) {
      const node = current[j] as string
      try {
        await ctx.shards.put(node, hash, shard, versionId, signal)
        written.push({ node, hash })
        stripe.shards[j] = { hash, nodes: [node] }
        return
      } catch (err) {
        if (err instanceof CairnError && (err.code === 'CORRUPT_SHARD' || err.code === 'BAD_INPUT')) throw err
        signal?.throwIfAborted()
        const name = ctx.cluster.nodeName(node) || node.slice(-8)
        if (err instanceof CairnError && err.code === 'QUOTA_EXCEEDED') fullNodes.add(name)
        failures.push(`${name}: ${(err as Error).message}`)
        failed.add(node)
        current[j] = undefined
        current[j] = replacement(j)
      }
    }
  }))
  const placed = stripe.shards.filter((s) => s.nodes.length > 0).length
  if (placed < needed) {
    if (fullNodes.size > 0) {
      const full = [...fullNodes].sort()
      throw new CairnError('QUOTA_EXCEEDED', `cannot store stripe ${stripeIndex}: the pool is full — ${full.join(', ')} ${full.length === 1 ? 'has' : 'have'} no free space, so only ${placed} of ${k + m} shards found a node and a put needs ${needed}`,
        'free space (delete objects, shorten retention) or raise the quota of the full nodes, or add nodes; cairn status shows capacity per node', { placed, needed, fullNodes: full })
    }
    throw new CairnError('NOT_ENOUGH_NODES', `cannot store stripe ${stripeIndex}: only ${placed} of ${k + m} shards found a node, and a put needs ${needed} (happiness)${failures.length > 0 ? ` (${failures.slice(0, 4).join('; ')})` : ''}`,
      'bring more nodes online (cairn status shows which are offline) and retry', { placed, needed })
  }
  tally.unplaced += k + m - placed
  return stripe
}

/**
 * Best-effort release of the shards a failed put wrote: each holder drops
 * this version's claim and deletes the file unless another version claims
 * it. What this misses (an unreachable holder) the holder's collector finds.
 */
export async function releaseShards (io: ShardIO, shards: ReadonlyArray<{ node: string, hash: string }>, versionId: string): Promise<void> {
  await Promise.allSettled(shards.map(async (s) => { await io.release(s.node, s.hash, versionId) }))
}

/** The version record body for stored data. */
export function versionBody (bucket: string, key: string, nodeName: string, data: StoredData): VersionBody {
  return { bucket, key, size: data.size, timeMs: Date.now(), nodeName, deleteMarker: false, sha256: data.sha256, manifest: data.manifest }
}
