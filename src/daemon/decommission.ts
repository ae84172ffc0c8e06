/**
 * `cairn node decommission NAME` and `cairn rebalance`: the requests that
 * start the mover's two jobs (daemon/mover.ts). A decommission is the
 * member's `nodeattr` state `decommissioning`; the rebalance is the `job`
 * record `rebalance` in state `running`. Both are committed with the write
 * quorum, so every node's mover sees them and they outlive restarts.
 */
import { nodeAttrPk } from '../meta/node-attrs.ts'
import type { JobBody, MetaRecord } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import type { Daemon } from './daemon.ts'
import { memberByName } from './node-admin.ts'

/** What a decommission request answers. */
export interface DecommissionAnswer { name: string, id: string, state: 'decommissioning' | 'decommissioned' }

/**
 * Start decommissioning member `name`: validated, then its state record is
 * committed. Asking again while it is in progress is not an error (it
 * answers the same); a member already decommissioned, or one whose leaving
 * would leave fewer than k+m members to hold a stripe, is refused.
 *
 * @example
 * await decommissionNode(daemon, 'pc7') // { name: 'pc7', id: '12D3…', state: 'decommissioning' }
 */
export async function decommissionNode (d: Daemon, name: string, signal?: AbortSignal): Promise<DecommissionAnswer> {
  const member = memberByName(d, name)
  const state = d.membership.adminState(member.id)
  if (state === 'decommissioned') throw new CairnError('CONFLICT', `${member.name} is already decommissioned`, 'nothing to do: it holds no shards and takes none; stop it and remove its directory when you like')
  if (state === 'decommissioning') return { name: member.name, id: member.id, state }
  const { k, m } = d.files.cluster
  const remaining = d.membership.roster().filter((n) => n.id !== member.id && d.membership.placeable(n.id) && d.presence.state(n.id) !== 'dead')
  if (remaining.length < k + m) {
    throw new CairnError('NOT_ENOUGH_NODES', `decommissioning ${member.name} would leave ${remaining.length} member(s) to hold shards, and every stripe of ${k}+${m} needs ${k + m} distinct nodes`,
      `add a node first (cairn invite, then cairn join on the new machine) and run the decommission again`)
  }
  const record: MetaRecord = { v: 1, table: 'nodeattr', pk: nodeAttrPk(member.id, 'state'), hlc: d.clock.now(), origin: d.net.peerId, tombstone: false, body: { value: 'decommissioning' } }
  await d.replicator.commit([record], signal)
  d.membership.invalidate()
  d.log(`decommission of ${member.name} started: its shards move to the other nodes`)
  void d.workers.trigger('move')
  return { name: member.name, id: member.id, state: 'decommissioning' }
}

/**
 * Start the rebalance job (or answer the one running): the mover then
 * evens out used space over the active members.
 *
 * @example
 * await startRebalance(daemon) // { state: 'running', startedMs: 1760000000000, … }
 */
export async function startRebalance (d: Daemon, signal?: AbortSignal): Promise<JobBody> {
  const current = d.meta.get('job', 'rebalance')
  if (current !== undefined && !current.tombstone && (current.body as JobBody).state === 'running') return current.body as JobBody
  const body: JobBody = { state: 'running', startedMs: Date.now(), startedBy: d.net.peerId, doneMs: 0 }
  const record: MetaRecord = { v: 1, table: 'job', pk: 'rebalance', hlc: d.clock.now(), origin: d.net.peerId, tombstone: false, body }
  await d.replicator.commit([record], signal)
  d.log('rebalance started: shards move from the fullest nodes to the emptiest')
  void d.workers.trigger('move')
  return body
}
