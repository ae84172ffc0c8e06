/**
 * ShardIO over the local store (for this node) and the cluster protocols
 * (for peers). Also the protocol handlers that serve this node's shards.
 *
 * Wire (see net/rpc.ts for framing):
 * - /cairn/shard/put/1.0.0    header {v:1, hash}  body shard bytes → {v:1}
 * - /cairn/shard/get/1.0.0    header {v:1, hash}                    → {v:1} body shard bytes
 * - /cairn/shard/delete/1.0.0 header {v:1, hash}                    → {v:1, deleted}
 * A shard the holder cannot serve (absent, or failing its hash check) is a
 * NOT_FOUND / CORRUPT_SHARD error; bytes are never served unverified.
 */
import type { ShardIO } from '../engine/types.ts'
import { PROTOCOLS } from '../net/rpc.ts'
import type { NetNode } from '../net/types.ts'
import type { ShardStore } from '../store/types.ts'
import { CairnError } from '../util/errors.ts'

/** Time allowed for one shard transfer before the holder is treated as failed. */
export const SHARD_CALL_TIMEOUT_MS = 20_000

function hashOf (header: Record<string, unknown>): string {
  if (header.v !== 1 || typeof header.hash !== 'string') throw new CairnError('PROTOCOL', 'shard request needs {v:1, hash}', 'upgrade the peer')
  return header.hash
}

/** Time allowed to connect to a holder that is not connected yet (e.g. just after this node started). */
export const HOLDER_DIAL_TIMEOUT_MS = 3_000

/** Connect to `nodeId` first when needed; a failure surfaces as the call's own NODE_UNREACHABLE. */
async function reach (net: NetNode, nodeId: string): Promise<void> {
  if (net.connectedPeers().includes(nodeId)) return
  await net.dial(nodeId, { signal: AbortSignal.timeout(HOLDER_DIAL_TIMEOUT_MS) }).catch(() => {})
}

/** ShardIO for the engine. */
export function createShardIO (selfId: string, store: ShardStore, net: NetNode): ShardIO {
  return {
    async put (nodeId, hash, bytes, signal) {
      if (nodeId === selfId) return await store.put(hash, bytes, signal === undefined ? {} : { signal })
      await reach(net, nodeId)
      await net.call(nodeId, PROTOCOLS.shardPut, { v: 1, hash }, bytes, { bulk: true, timeoutMs: SHARD_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
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
    async delete (nodeId, hash, signal) {
      if (nodeId === selfId) { await store.delete(hash); return }
      await net.call(nodeId, PROTOCOLS.shardDelete, { v: 1, hash }, undefined, { bulk: true, timeoutMs: SHARD_CALL_TIMEOUT_MS, ...(signal === undefined ? {} : { signal }) })
    }
  }
}

/** Serve this node's shards to peers. */
export async function serveShards (store: ShardStore, net: NetNode): Promise<void> {
  await net.handle(PROTOCOLS.shardPut, async (req) => {
    await store.put(hashOf(req.header), req.body, { signal: req.signal })
    return { header: { v: 1 } }
  })
  await net.handle(PROTOCOLS.shardGet, async (req) => {
    const hash = hashOf(req.header)
    const bytes = await store.get(hash)
    if (bytes === null) throw new CairnError('NOT_FOUND', `shard ${hash.slice(0, 12)} is not on this node (missing or failed its hash check)`)
    return { header: { v: 1 }, body: bytes }
  })
  await net.handle(PROTOCOLS.shardDelete, async (req) => {
    return { header: { v: 1, deleted: await store.delete(hashOf(req.header)) } }
  })
}
