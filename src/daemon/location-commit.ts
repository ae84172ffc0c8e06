/**
 * Commits of a version's `location` record, one at a time per version on
 * this node. The record is one last-writer-wins register: a commit writes the
 * whole body, built from the location in force plus its moves. The healer
 * (rebuilt shards) and the mover (shards moved off a leaving or over-full
 * node) of one version both run on its coordinator; were their commits to
 * overlap, both bodies would start from the same old location and the later
 * would undo the earlier's moves. Chaining them makes each body start from
 * the location the previous commit left.
 */
import { checkRecordSize } from '../meta/codec.ts'
import { withHolders } from '../meta/locations.ts'
import type { LocationBody, MetaRecord } from '../meta/types.ts'
import type { Daemon } from './daemon.ts'

/** The commit in progress per version (entries removed when their chain drains). */
const chains = new WeakMap<Daemon, Map<string, Promise<void>>>()

/**
 * Record `moves` (shard hash → its holders now) in the version's location
 * record with the write quorum, after any commit of the same version in
 * progress here. A version removed meanwhile gets no location (the moved
 * shards become orphans and are collected).
 *
 * @example
 * await commitLocation(daemon, versionId, new Map([[hash, [nodeA, nodeB]]]))
 */
export async function commitLocation (d: Daemon, versionId: string, moves: ReadonlyMap<string, string[]>, signal?: AbortSignal): Promise<void> {
  let perVersion = chains.get(d)
  if (perVersion === undefined) { perVersion = new Map(); chains.set(d, perVersion) }
  const map = perVersion
  const previous = map.get(versionId) ?? Promise.resolve()
  const mine = previous.catch(() => {}).then(async () => {
    if (d.meta.versionState(versionId) !== 'live') return
    const body: LocationBody = withHolders(d.engine.location(versionId), moves)
    const record: MetaRecord = { v: 1, table: 'location', pk: versionId, hlc: d.clock.now(), origin: d.net.peerId, tombstone: false, body }
    checkRecordSize(record, `the location of version ${versionId}`)
    await d.replicator.commit([record], signal)
  })
  map.set(versionId, mine)
  try {
    await mine
  } finally {
    if (map.get(versionId) === mine) map.delete(versionId)
  }
}
