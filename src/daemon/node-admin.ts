/**
 * `cairn node role|zone NAME VALUE`: an administrator sets a member's role or
 * zone from any node. The change is a `nodeattr` record committed with the
 * write quorum (meta/node-attrs.ts says why it is not part of the member's
 * own roster record); every node's membership view, and so its placement,
 * repair and status, sees it once the record reaches it.
 */
import type { MetaRecord } from '../meta/types.ts'
import { isNodeRole, NODE_ROLES, nodeAttrPk, roleOf, zoneProblem } from '../meta/node-attrs.ts'
import type { NodeAttr } from '../meta/node-attrs.ts'
import { CairnError } from '../util/errors.ts'
import type { Daemon } from './daemon.ts'

/** The member a name (or a node id) designates; throws NOT_FOUND or BAD_INPUT when none or several do. */
export function memberByName (d: Daemon, name: string): { id: string, name: string } {
  const roster = d.membership.roster()
  const byId = roster.find((m) => m.id === name)
  if (byId !== undefined) return { id: byId.id, name: byId.body.name }
  const matches = roster.filter((m) => m.body.name === name)
  if (matches.length === 0) {
    const names = roster.map((m) => m.body.name).sort().join(', ')
    throw new CairnError('NOT_FOUND', `no member named ${JSON.stringify(name)}`, `members: ${names} (cairn status lists them)`)
  }
  if (matches.length > 1) throw new CairnError('BAD_INPUT', `${matches.length} members are named ${JSON.stringify(name)}`, `give the node id instead: ${matches.map((m) => m.id).join(', ')}`)
  const member = matches[0] as { id: string, body: { name: string } }
  return { id: member.id, name: member.body.name }
}

/**
 * Set `attr` of member `name` to `value` (validated) and commit it; answers
 * the member's effective role and zone afterwards.
 *
 * @example
 * await setNodeAttr(daemon, 'nas1', 'role', 'anchor') // { name: 'nas1', id: '12D3…', role: 'anchor', zone: '' }
 */
export async function setNodeAttr (d: Daemon, name: string, attr: Exclude<NodeAttr, 'state'>, value: string, signal?: AbortSignal): Promise<{ name: string, id: string, role: string, zone: string }> {
  if (attr === 'role' && !isNodeRole(value)) throw new CairnError('BAD_INPUT', `unknown role ${JSON.stringify(value)}`, `a role is one of: ${NODE_ROLES.join(', ')}`)
  if (attr === 'zone') {
    const problem = zoneProblem(value)
    if (problem !== undefined) throw new CairnError('BAD_INPUT', problem, 'name the zone with a short printable name, e.g. floor-2')
  }
  const member = memberByName(d, name)
  const record: MetaRecord = { v: 1, table: 'nodeattr', pk: nodeAttrPk(member.id, attr), hlc: d.clock.now(), origin: d.net.peerId, tombstone: false, body: { value } }
  await d.replicator.commit([record], signal)
  d.log(`${attr} of ${member.name} set to ${JSON.stringify(value)}`)
  const body = d.membership.roster().find((m) => m.id === member.id)?.body
  return { name: member.name, id: member.id, role: body === undefined ? '' : roleOf(body), zone: body?.zone ?? '' }
}
