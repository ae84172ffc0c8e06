/**
 * The scrubber of one node, wired to its shard store and its owner tags.
 *
 * A shard's owner tag goes into SQLite before its file lands (shard-io.ts), and
 * the placement that lists this node as its holder arrives later still (the
 * writer or the repairing coordinator commits it after every shard is stored).
 * In that window the shard is neither here nor expected here, and forgetting
 * its tag then would leave it untracked for good: when it later goes bad, this
 * node never reports it lost and nobody rebuilds it. So only tags older than
 * the orphan grace are forgotten, the same grace the collector gives a young
 * shard.
 */
import { Scrubber } from '../heal/scrub.ts'
import type { MetaStore } from '../meta/store.ts'
import type { ShardStore } from '../store/types.ts'

export interface NodeScrubberInit {
  store: ShardStore
  meta: MetaStore
  /** This node's id. */
  self: string
  /** Whether the current placement of `ownerId` lists `node` for `hash` (undefined: cannot tell). */
  listsHolder: (ownerId: string, hash: string, node: string) => boolean | undefined
  /** The orphan grace, in ms. */
  graceMs: () => number
  /** Largest share of disk time to spend, in (0, 1]. */
  share: () => number
  log?: (message: string) => void
  now?: () => number
}

export function createNodeScrubber (init: NodeScrubberInit): Scrubber {
  const { store, meta, self } = init
  const now = init.now ?? Date.now
  return new Scrubber({
    listShards: (signal) => store.list(signal === undefined ? {} : { signal }),
    verify: async (hash, signal) => (await store.get(hash, signal === undefined ? {} : { signal }))?.length ?? null,
    has: async (hash) => await store.has(hash),
    quarantined: () => store.corruptShards(),
    ownedHashes: () => meta.ownedShardHashes(),
    expectedHere: (hash) => meta.shardOwners(hash).some((o) => meta.versionState(o.versionId) === 'live' && init.listsHolder(o.versionId, hash, self) !== false),
    forget: (hash) => { meta.clearShardOwners(hash, now() - init.graceMs()) },
    share: init.share,
    ...(init.log === undefined ? {} : { log: init.log })
  })
}
