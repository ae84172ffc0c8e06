/**
 * `cairn status --node DIR [--json]`: the node's view of the cluster.
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { nodeDir } from '../node-dir.ts'
import { formatBytes, formatTable } from '../format.ts'
import type { NodeStatus } from '../../daemon/status.ts'
import type { SkewRefusal } from '../../meta/skew.ts'
import { formatSkewMs } from '../../meta/skew.ts'
import type { PoolCapacity } from '../../cluster/capacity.ts'
import type { DecommissionProgress, RebalanceProgress } from '../../daemon/mover.ts'

/** `ok 40`, `FAILING 12/40` (failures/audits) or `-` before any audit. */
function formatAudit (n: NodeStatus): string {
  if (n.audits === undefined || n.audits === 0) return '-'
  return n.audit === 'failing' ? `FAILING ${n.auditFailures}/${n.audits}` : n.auditFailures > 0 ? `${n.auditFailures}/${n.audits} failed` : `ok ${n.audits}`
}

/** `98%/95%/90%`, with `?` for an unknown fraction. */
function formatAvailability (a: NodeStatus['availability'] | undefined): string {
  const pct = (f: number | null | undefined): string => f === null || f === undefined ? '?' : `${Math.round(f * 100)}%`
  return `${pct(a?.d1)}/${pct(a?.d7)}/${pct(a?.d30)}`
}

export async function status (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  const s = await connect(nodeDir(args)).json<{ capacity?: PoolCapacity, nodes: NodeStatus[], cluster: { id: string, k: number, m: number }, online: number, meta: { objects: number }, objects?: { total: number, healthy: number, degraded: number, unavailable: number }, store: { corruptShards: string[] }, clockSkew?: Array<SkewRefusal & { name: string }>, moves?: { decommission: DecommissionProgress[], rebalance: RebalanceProgress } }>('GET', '/status')
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(s))
    return 0
  }
  console.log(`cluster ${s.cluster.id}: ${s.cluster.k}+${s.cluster.m} coding, ${s.online}/${s.nodes.length} nodes online, ${s.meta.objects} objects`)
  if (s.capacity !== undefined) console.log(`capacity: ${formatBytes(s.capacity.rawBytes)} raw, ${formatBytes(s.capacity.usableBytes)} usable after ${s.cluster.k}+${s.cluster.m} coding, ${formatBytes(s.capacity.freeAtFullRedundancyBytes)} more can be written at full redundancy`)
  if (s.objects !== undefined) console.log(`objects: ${s.objects.healthy} healthy, ${s.objects.degraded} degraded, ${s.objects.unavailable} unavailable of ${s.objects.total} stored versions`)
  console.log(formatTable(['NODE', 'ROLE', 'ZONE', 'STATE', 'UP 1D/7D/30D', 'USED', 'QUOTA', 'CORRUPT', 'CLOCK', 'AUDIT', 'ID'], s.nodes.map((n) => [
    n.name + (n.self ? ' *' : ''), n.role ?? (n.anchor ? 'anchor' : 'pc'), n.zone === '' ? '-' : n.zone, n.state === 'online' ? n.state : n.state.toUpperCase(), formatAvailability(n.availability), n.usedBytes === undefined ? '?' : formatBytes(n.usedBytes), formatBytes(n.quotaBytes), String(n.corruptShards ?? '?'), n.clockOffsetMs === null || n.clockOffsetMs === undefined ? '?' : (n.clockOffsetMs >= 0 ? '+' : '') + formatSkewMs(n.clockOffsetMs), formatAudit(n), n.id
  ])))
  for (const x of s.moves?.decommission ?? []) if (x.state === 'decommissioning') console.log(`decommissioning ${x.name}: ${x.shardsLeft} shard(s), ${formatBytes(x.bytesLeft)} left to move`)
  const r = s.moves?.rebalance
  if (r !== undefined && (r.state === 'running' || r.state === 'waiting')) console.log(r.state === 'waiting' ? 'rebalance: waiting for a decommission to finish' : `rebalance: ${r.shardsLeft} shard(s), ${formatBytes(r.bytesLeft)} left to move`)
  for (const n of s.nodes.filter((x) => x.audit === 'failing')) console.log(`audits: ${n.name} failed ${n.auditFailures} of ${n.audits} shard audits; it receives no new shards and its failed shards are rebuilt elsewhere`)
  if (s.store.corruptShards.length > 0) console.log(`this node quarantined ${s.store.corruptShards.length} corrupt shard(s): ${s.store.corruptShards.slice(0, 5).join(', ')}`)
  for (const r of s.clockSkew ?? []) {
    console.log(`clock skew: records stamped by ${r.name || r.origin} ${formatSkewMs(r.aheadMs)} ahead of this node's clock were refused (${r.pushRefused} pushed, ${r.pullSkipped} pulled; last ${new Date(r.lastAtMs).toISOString()}): check that node's clock`)
  }
  return 0
}
