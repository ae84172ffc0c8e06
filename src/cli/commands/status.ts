/**
 * `cairn status --node DIR [--json]`: the node's view of the cluster.
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { nodeDir } from '../node-dir.ts'
import { formatBytes, formatTable } from '../format.ts'
import type { NodeStatus } from '../../daemon/status.ts'

export async function status (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  const s = await connect(nodeDir(args)).json<{ nodes: NodeStatus[], cluster: { id: string, k: number, m: number }, online: number, meta: { objects: number }, store: { corruptShards: string[] } }>('GET', '/status')
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(s))
    return 0
  }
  console.log(`cluster ${s.cluster.id}: ${s.cluster.k}+${s.cluster.m} coding, ${s.online}/${s.nodes.length} nodes online, ${s.meta.objects} objects`)
  console.log(formatTable(['NODE', 'ONLINE', 'USED', 'QUOTA', 'CORRUPT', 'ID'], s.nodes.map((n) => [
    n.name + (n.self ? ' *' : ''), n.online ? 'yes' : 'NO', n.usedBytes === undefined ? '?' : formatBytes(n.usedBytes), formatBytes(n.quotaBytes), String(n.corruptShards ?? '?'), n.id
  ])))
  if (s.store.corruptShards.length > 0) console.log(`this node quarantined ${s.store.corruptShards.length} corrupt shard(s): ${s.store.corruptShards.slice(0, 5).join(', ')}`)
  return 0
}
