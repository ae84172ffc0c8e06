/**
 * Effective shard locations (pure): a version's manifest says where each
 * shard was written; its `location` record (meta/types.ts LocationBody) says
 * where the shards that moved since are — rebuilt by the healer, or placed
 * late after a degraded put. Readers, the collector and the healer all ask
 * `holdersOf`, so they agree on who holds what.
 */
import type { LocationBody, ShardRef } from './types.ts'

/** Holder ids of a shard, given the version's location record (if any). */
export type HolderLookup = (ref: ShardRef) => string[]

/**
 * The holders of `ref` now.
 *
 * @example
 * holdersOf({ hash, nodes: ['a'] }, { nodes: ['b'], shards: { [hash]: [0] } }) // ['b']
 */
export function holdersOf (ref: ShardRef, location: LocationBody | undefined): string[] {
  const moved = location?.shards[ref.hash]
  if (moved === undefined || location === undefined) return ref.nodes
  return moved.map((i) => location.nodes[i] as string)
}

/** A lookup bound to one version's location record. */
export function holderLookup (location: LocationBody | undefined): HolderLookup {
  return (ref) => holdersOf(ref, location)
}

/**
 * A new location body with `hash` now held by `holders` (replacing the
 * manifest's or an earlier move's list); node ids no entry uses are dropped.
 *
 * @example
 * withHolders(undefined, hash, ['b']) // { nodes: ['b'], shards: { [hash]: [0] } }
 */
export function withHolders (location: LocationBody | undefined, moves: ReadonlyMap<string, readonly string[]>): LocationBody {
  const entries = new Map<string, string[]>()
  for (const [hash, indexes] of Object.entries(location?.shards ?? {})) entries.set(hash, indexes.map((i) => location?.nodes[i] as string))
  for (const [hash, holders] of moves) entries.set(hash, [...new Set(holders)])
  const nodes: string[] = []
  const index = new Map<string, number>()
  const shards: Record<string, number[]> = {}
  for (const [hash, holders] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    shards[hash] = holders.map((id) => {
      let i = index.get(id)
      if (i === undefined) {
        i = nodes.length
        nodes.push(id)
        index.set(id, i)
      }
      return i
    })
  }
  return { nodes, shards }
}
