/**
 * In-memory "nodes" for in-process engine tests: one Map of shard hash →
 * bytes per node id, and a ShardIO over them (put stores a copy, get throws
 * NOT_FOUND for an absent shard, release deletes).
 *
 * @example
 * const disks = memoryDisks(['n1', 'n2'])
 * const engine = new Engine({ ..., shards: memoryShards(disks) })
 */
import type { ShardIO } from '../../src/engine/types.ts'
import { CairnError } from '../../src/util/errors.ts'

/** One empty shard map per node id. */
export function memoryDisks (ids: readonly string[]): Map<string, Map<string, Buffer>> {
  return new Map(ids.map((id) => [id, new Map<string, Buffer>()]))
}

/** A ShardIO over `disks` (an unknown node id throws). */
export function memoryShards (disks: Map<string, Map<string, Buffer>>): ShardIO {
  const disk = (id: string): Map<string, Buffer> => {
    const d = disks.get(id)
    if (d === undefined) throw new CairnError('NODE_UNREACHABLE', `no node ${id} in this test`)
    return d
  }
  return {
    put: async (node, hash, bytes) => { disk(node).set(hash, Buffer.from(bytes)) },
    get: async (node, hash) => {
      const b = disk(node).get(hash)
      if (b === undefined) throw new CairnError('NOT_FOUND', `no shard ${hash} on ${node}`)
      return b
    },
    release: async (node, hash) => { disk(node).delete(hash) }
  }
}
