/**
 * Checking from outside that every shard is where the metadata says: for
 * every live version in a node's replica (manifest, then its `location`
 * record for the shards that moved), each named holder's store has the
 * shard file. Health in status counts holders, it does not look at disks,
 * so a move that named a holder without the bytes would pass unseen there.
 * Only versions whose stripe list is in the record (form `stripes`) are read.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'

/**
 * Every (shard, holder) pair the metadata of the node in `metaDir` names
 * whose file is missing on that holder; `dirs` maps node names to their data
 * directories. Holders not in `dirs` are skipped.
 *
 * @example
 * assert.deepEqual(missingNamedShards(dir('node-1'), dirs), [])
 */
export function missingNamedShards (metaDir: string, dirs: ReadonlyMap<string, string>): string[] {
  const db = new DatabaseSync(join(metaDir, 'meta.db'), { readOnly: true })
  try {
    const nameOf = new Map<string, string>()
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'node' AND tombstone = 0").all() as Array<{ pk: string, body: string }>) nameOf.set(r.pk, (JSON.parse(r.body) as { name: string }).name)
    const locations = new Map<string, { nodes: string[], shards: Record<string, number[]> }>()
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'location' AND tombstone = 0").all() as Array<{ pk: string, body: string }>) locations.set(r.pk, JSON.parse(r.body) as { nodes: string[], shards: Record<string, number[]> })
    const missing: string[] = []
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'version' AND tombstone = 0").all() as Array<{ pk: string, body: string }>) {
      const body = JSON.parse(r.body) as { key: string, manifest?: { stripes?: Array<{ shards: Array<{ hash: string, nodes: string[] }> }> } }
      const location = locations.get(r.pk)
      for (const stripe of body.manifest?.stripes ?? []) {
        for (const shard of stripe.shards) {
          const moved = location?.shards[shard.hash]
          const holders = moved === undefined || location === undefined ? shard.nodes : moved.map((i) => location.nodes[i] as string)
          for (const holder of holders) {
            const dir = dirs.get(nameOf.get(holder) ?? '')
            if (dir !== undefined && !existsSync(join(dir, 'shards', shard.hash.slice(0, 2), shard.hash))) missing.push(`${body.key}: ${shard.hash.slice(0, 12)} on ${nameOf.get(holder) ?? holder}`)
          }
        }
      }
    }
    return missing
  } finally {
    db.close()
  }
}

/**
 * Every stripe's shard holders (node ids, one per shard: the first holder)
 * in the replica of the node in `metaDir`, location overrides applied; only
 * versions whose stripe list is in the record.
 *
 * @example
 * for (const holders of stripeHolders(dir('node-1'))) assert.equal(holders.length, 6)
 */
export function stripeHolders (metaDir: string): string[][] {
  const db = new DatabaseSync(join(metaDir, 'meta.db'), { readOnly: true })
  try {
    const locations = new Map<string, { nodes: string[], shards: Record<string, number[]> }>()
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'location' AND tombstone = 0").all() as Array<{ pk: string, body: string }>) locations.set(r.pk, JSON.parse(r.body) as { nodes: string[], shards: Record<string, number[]> })
    const out: string[][] = []
    for (const r of db.prepare("SELECT pk, body FROM records WHERE tbl = 'version' AND tombstone = 0").all() as Array<{ pk: string, body: string }>) {
      const body = JSON.parse(r.body) as { manifest?: { stripes?: Array<{ shards: Array<{ hash: string, nodes: string[] }> }> } }
      const loc = locations.get(r.pk)
      for (const stripe of body.manifest?.stripes ?? []) {
        out.push(stripe.shards.flatMap((s) => {
          const moved = loc?.shards[s.hash]
          return moved === undefined ? s.nodes.slice(0, 1) : moved.slice(0, 1).map((i) => loc?.nodes[i] as string)
        }))
      }
    }
    return out
  } finally {
    db.close()
  }
}

/**
 * Live version records in the replica of the node in `metaDir`. A put is
 * acknowledged once a quorum holds it, which need not include this node, so
 * a test that reads a replica right after puts through other nodes waits
 * for this count first.
 */
export function liveVersions (metaDir: string): number {
  const db = new DatabaseSync(join(metaDir, 'meta.db'), { readOnly: true })
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM records WHERE tbl = 'version' AND tombstone = 0").get() as { n: number }).n)
  } finally {
    db.close()
  }
}

/**
 * True once the replica of the node in `metaDir` holds a live version of
 * every key in `keys` of `bucket` (a count of versions is not enough when
 * the replica may hold other versions besides).
 *
 * @example
 * await waitFor(async () => holdsKeys(dir('node-1'), 'hybrid', stored.map((o) => o.key)), CONVERGE_MS, 'every put')
 */
export function holdsKeys (metaDir: string, bucket: string, keys: readonly string[]): boolean {
  const db = new DatabaseSync(join(metaDir, 'meta.db'), { readOnly: true })
  try {
    const held = new Set<string>()
    for (const r of db.prepare("SELECT body FROM records WHERE tbl = 'version' AND tombstone = 0").all() as Array<{ body: string }>) {
      const body = JSON.parse(r.body) as { bucket: string, key: string }
      if (body.bucket === bucket) held.add(body.key)
    }
    return keys.every((k) => held.has(k))
  } finally {
    db.close()
  }
}
