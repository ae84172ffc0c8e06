/**
 * The status document of a node (`GET /api/v1/status`, `cairn status --json`):
 * this node, the cluster's coding parameters, and every roster member with
 * whether it is online now.
 */
import type { Daemon } from './daemon.ts'

/** One roster member as status reports it. */
export interface NodeStatus {
  name: string
  id: string
  online: boolean
  self: boolean
  addrs: string[]
  zone: string
  anchor: boolean
  usedBytes?: number
  quotaBytes: number
  corruptShards?: number
}

/** Build the status document. */
export async function buildStatus (d: Daemon): Promise<Record<string, unknown>> {
  const stats = d.store.stats()
  const nodes: NodeStatus[] = d.membership.roster().map((m) => {
    const self = m.id === d.net.peerId
    const cap = self ? { usedBytes: stats.usedBytes, quotaBytes: stats.quotaBytes, corruptShards: stats.corruptCount } : d.membership.capacity.get(m.id)
    return {
      name: m.body.name,
      id: m.id,
      online: d.membership.isOnline(m.id),
      self,
      addrs: m.body.addrs,
      zone: m.body.zone,
      anchor: m.body.anchor,
      quotaBytes: cap?.quotaBytes ?? m.body.quotaBytes,
      ...(cap === undefined ? {} : { usedBytes: cap.usedBytes, corruptShards: cap.corruptShards })
    }
  }).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
  return {
    node: { name: d.files.node.name, id: d.net.peerId, dir: d.files.dir, pid: process.pid, addrs: d.net.multiaddrs() },
    cluster: { id: d.files.cluster.clusterId, k: d.files.cluster.k, m: d.files.cluster.m },
    nodes,
    online: nodes.filter((n) => n.online).length,
    store: { ...stats, corruptShards: d.store.corruptShards(), reports: d.badShards(), reportsDropped: d.badShardReports.dropped },
    meta: d.meta.counts(),
    replication: d.replicator.stats
  }
}
