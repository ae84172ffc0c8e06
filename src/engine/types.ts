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
}

/** Moves shard bytes to and from a node (self or a peer). */
export interface ShardIO {
  put: (nodeId: string, hash: string, bytes: Uint8Array, signal?: AbortSignal) => Promise<void>
  /** The shard's bytes; throws a CairnError when the node cannot serve it. */
  get: (nodeId: string, hash: string, signal?: AbortSignal) => Promise<Uint8Array>
  delete: (nodeId: string, hash: string, signal?: AbortSignal) => Promise<void>
}

/** Makes metadata durable: local apply plus replication to peers. */
export interface MetaCommitter {
  commit: (records: MetaRecord[], signal?: AbortSignal) => Promise<void>
}
