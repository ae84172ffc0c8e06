/**
 * ShardIO over the local store (for this node) and the cluster protocols
 * (for peers). Also the protocol handlers that serve this node's shards.
 *
 * Wire (see net/rpc.ts for framing):
 * - /cairn/shard/put/1.0.0     header {v:1, hash, versionId}  body shard bytes → {v:1}
 * - /cairn/shard/get/1.0.0     header {v:1, hash}                        → {v:1} body shard bytes
 * - /cairn/shard/release/1.0.0 header {v:1, hash, versionId}             → {v:1, deleted}
 * A put records (hash, versionId, caller) as an owner of the shard before
 * the file is written, so a shard on disk always has an owner its
 * collector can check (src/heal/collector.ts). A release drops one owner and
 * deletes the file only when no owner is left. A shard the holder cannot
 * serve (absent, or failing its hash check) is a NOT_FOUND / CORRUPT_SHARD
 * error; bytes are never served unverified (except by a test-only lying
 * peer, `ShardLies`, which audits exist to catch: docs/AUDITS.md).
 */
import type { ShardIO } from '../engine/types.ts'
import type { MetaStore } from '../meta/store.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'
import type { ShardStore } from '../store/types.ts'
import { CairnError } from '../util/errors.ts'
import { forgedBytes } from './faults.ts'

/** Time allowed for one shard transfer before the holder is treated as failed. */
export const SHARD_CALL_TIMEOUT_MS = 20_000
/** Time allowed to connect to a holder that is not connected yet (e.g. just after this node started). */
export const HOLDER_DIAL_TIMEOUT_MS = 3_000
/** Longest version id accepted in a shard request (an HLC, a dash and a node tag are ~26 characters). */
const MAX_VERSION_ID_CHARS = 128

function hashOf (header: Record<string, unknown>): string {
  if (header.v !== 1 || typeof header.hash !== 'string') throw new CairnError('PROTOCOL', 'shard request needs {v:1, hash}', 'upgrade the peer')
  return header.hash
}

function versionOf (header: Record<string, unknown>): string {
  const id = header.versionId
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_VERSION_ID_CHARS) throw new CairnError('PROTOCOL', 'shard put and release need {versionId}', 'upgrade the peer')
  return id
}

/** Connect to `nodeId` first when needed; a failure surfaces as the call's own NODE_UNREACHABLE. */
async function reach (net: NetNode, nodeId: string): Promise<void> {
  if (net.connectedPeers().includes(nodeId)) return
  await net.dial(nodeId, { signal: AbortSignal.timeout(HOLDER_DIAL_TIMEOUT_MS) }).catch(() => {})
}

/** How a test-only lying peer treats shards (daemon/faults.ts `shards=`); absent on every honest node. */
export interface ShardLies {
  /** Acknowledge stores and keep nothing; answer gets with not-found. */
  discards: () => boolean
  /** Serve other bytes than the stored ones. */
  forges: () => boolean
}

/** The local side of the shard protocols, shared by this node's own I/O and the handlers that serve peers. */
export interface LocalShards {
  /** Record the owner, then store the shard durably. */
  put: (hash: string, bytes: Uint8Array, versionId: string, writer: string, signal?: AbortSignal) => Promise<void>
  /** Drop `versionId`'s claim; delete the file when nobody claims it any more. */
  release: (hash: string, versionId: string) => Promise<boolean>
}

/** Owner-tagged local shard operations over the store and the owner table. */
export function createLocalShards (store: ShardStore, meta: MetaStore, lies?: ShardLies): LocalShards {
  return {
    async put (hash, bytes, versionId, writer, signal) {
      if (lies?.discards() === true) return // a lying peer: acknowledged, nothing kept, no owner tag (so no scrub finds it missing)
      // The owner row goes in synchronously before store.put takes the
      // shard's lock, so a collector that re-reads owners and deletes in one
      // tick is always ordered before or after this put, never inside it.
      meta.addShardOwner(hash, versionId, writer, Date.now())
      await store.put(hash, bytes, signal === undefined ? {} : { signal })
    },
    async release (hash, versionId) {
      const left = meta.removeShardOwner(hash, versionId)
      if (left.length > 0) return false
      return await store.delete(hash)
    }
  }
}

/** ShardIO for the engine. */
export function createShardIO (selfId: string, store: ShardStore, local: LocalShards, net: NetNode): ShardIO {
  return {
    async put (nodeId, hash, bytes, versionId, signal) {
      if (nodeId === selfId) return await local.put(hash, bytes, versionId, selfId, signal)
      await reach(net, nodeId)
      await net.call(nodeId, PROTOCOLS.shardPut, { v: 1, hash, versionId }, bytes, { bulk: true, timeoutMs: SHARD_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
    },
    async get (nodeId, hash, signal) {
      if (nodeId === selfId) {
        const bytes = await store.get(hash)
        if (bytes === null) throw new CairnError('NOT_FOUND', `shard ${hash.slice(0, 12)} is not on this node`)
        return bytes
      }
      await reach(net, nodeId)
      const res = await net.call(nodeId, PROTOCOLS.shardGet, { v: 1, hash }, undefined, { bulk: true, timeoutMs: SHARD_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
      return res.body
    },
    async release (nodeId, hash, versionId, signal) {
      if (nodeId === selfId) { await local.release(hash, versionId); return }
      await net.call(nodeId, PROTOCOLS.shardRelease, { v: 1, hash, versionId }, undefined, { timeoutMs: SHARD_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
    }
  }
}

/** Serve this node's shards to peers. */
export async function serveShards (store: ShardStore, local: LocalShards, net: NetNode, lies?: ShardLies): Promise<void> {
  await net.handle(PROTOCOLS.shardPut, async (req) => {
    await local.put(hashOf(req.header), req.body, versionOf(req.header), req.peerId, req.signal)
    return { header: { v: 1 } }
  })
  await net.handle(PROTOCOLS.shardGet, async (req) => {
    const hash = hashOf(req.header)
    const bytes = lies?.discards() === true ? null : await store.get(hash)
    if (bytes !== null && lies?.forges() === true) return { header: { v: 1 }, body: forgedBytes(bytes) }
    if (bytes === null) throw new CairnError('NOT_FOUND', `shard ${hash.slice(0, 12)} is not on this node (missing or failed its hash check)`)
    return { header: { v: 1 }, body: bytes }
  })
  await net.handle(PROTOCOLS.shardRelease, async (req) => {
    return { header: { v: 1, deleted: await local.release(hashOf(req.header), versionOf(req.header)) } }
  })
}
