/**
 * Interfaces the engine composes: the cluster view (who is online, coding
 * parameters), shard I/O (local store or a peer over the network), and the
 * metadata commit path. The daemon wires real implementations; tests may
 * wire fakes.
 */
import type { PlacementNode } from '../cluster/placement.ts'
import type { MetaRecord } from '../meta/types.ts'

/** What the engine needs to know about the cluster right now. */
export interface ClusterView {
  selfId: string
  selfName: string
  k: number
  m: number
  /** Members reachable now, self included, with placement weights. */
  onlineNodes: () => PlacementNode[]
  /** Human name of a member ('' when unknown). */
  nodeName: (id: string) => string
  /** True when the member is reachable now. */
  isOnline: (id: string) => boolean
  /**
   * Distinct online nodes a put needs (in [k, k+m]); with fewer than k+m
   * online a put stores the shards it can and the healer places the rest.
   * Default k+m (no degraded writes).
   */
  happiness?: () => number
  /**
   * The largest object stored inline in its version record (inline-limit.ts:
   * shrinks with the member count, or the `inlineMaxBytes` setting).
   * Default INLINE_CEILING_BYTES.
   */
  inlineMaxBytes?: () => number
}

/**
 * Moves shard bytes to and from a node (self or a peer). Every stored shard
 * is tagged on its holder with the version it was written for (`versionId`),
 * which is what the holder's shard collector decides on; `release` drops one
 * version's claim and deletes the file only when no other version claims it
 * (two versions can name the same shard file).
 */
export interface ShardIO {
  put: (nodeId: string, hash: string, bytes: Uint8Array, versionId: string, signal?: AbortSignal) => Promise<void>
  /** The shard's bytes; throws a CairnError when the node cannot serve it. */
  get: (nodeId: string, hash: string, signal?: AbortSignal) => Promise<Uint8Array>
  release: (nodeId: string, hash: string, versionId: string, signal?: AbortSignal) => Promise<void>
}

/** Makes metadata durable: local apply plus replication to peers. */
export interface MetaCommitter {
  commit: (records: MetaRecord[], signal?: AbortSignal) => Promise<void>
}
