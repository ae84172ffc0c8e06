/**
 * Member attributes an administrator sets from any node: the role
 * (`anchor`: an always-on server that keeps at least k shards of every
 * stripe; `pc`: everything else) and the zone (site, floor, building).
 *
 * A member declares both in its own `node` record (from `cairn init|join
 * --role --zone`), and republishes that record at every start. A change made
 * with `cairn node role|zone` while the member is off would be undone by
 * that republish if it were kept in the same record, so it is a record of
 * its own (table `nodeattr`, pk `<node id>/role` or `<node id>/zone`, a
 * last-writer-wins register like every record) that overrides the
 * declaration. Pure: validation and resolution only.
 */
import type { NodeBody } from './types.ts'

/** The roles a member can have. */
export const NODE_ROLES = ['anchor', 'pc'] as const
export type NodeRole = typeof NODE_ROLES[number]

/** The attributes `cairn node` sets (`state`: `cairn node decommission`, daemon/decommission.ts). */
export const NODE_ATTRS = ['role', 'zone', 'state'] as const
export type NodeAttr = typeof NODE_ATTRS[number]

/**
 * A member's administrative state: `active` (the default), `decommissioning`
 * (no new shards; its shards are being moved off while it is up) and
 * `decommissioned` (no location names it any more; out of placement,
 * coordination and health accounting for good).
 */
export const NODE_ADMIN_STATES = ['active', 'decommissioning', 'decommissioned'] as const
export type NodeAdminState = typeof NODE_ADMIN_STATES[number]

/** Longest zone name accepted (a site, floor or building name). */
export const MAX_ZONE_CHARS = 64

/** The zone of a member that never set one. */
export const DEFAULT_ZONE = ''

/** Why `zone` is not a valid zone name, or undefined when it is. */
export function zoneProblem (zone: string): string | undefined {
  if (zone.length > MAX_ZONE_CHARS) return `zone name is ${zone.length} characters; at most ${MAX_ZONE_CHARS} are allowed`
  // Printable characters only: the name is shown in tables and logs.
  if (/[\u0000-\u001f\u007f]/.test(zone)) return 'zone name contains control characters'
  return undefined
}

/** True when `value` is a role. */
export function isNodeRole (value: unknown): value is NodeRole {
  return typeof value === 'string' && (NODE_ROLES as readonly string[]).includes(value)
}

/** The pk of a member's attribute record. */
export function nodeAttrPk (nodeId: string, attr: NodeAttr): string {
  return `${nodeId}/${attr}`
}

/** Split an attribute pk into node id and attribute; undefined when malformed. */
export function parseNodeAttrPk (pk: string): { nodeId: string, attr: NodeAttr } | undefined {
  const slash = pk.lastIndexOf('/')
  if (slash <= 0) return undefined
  const attr = pk.slice(slash + 1)
  if (!(NODE_ATTRS as readonly string[]).includes(attr)) return undefined
  return { nodeId: pk.slice(0, slash), attr: attr as NodeAttr }
}

/**
 * Why a `nodeattr` record (pk and value) is malformed, or undefined when it
 * is well formed. Used on every record that arrives.
 *
 * @example
 * nodeAttrProblem('12D3…/role', 'anchor') // undefined
 */
export function nodeAttrProblem (pk: string, value: unknown): string | undefined {
  const parsed = parseNodeAttrPk(pk)
  if (parsed === undefined) return `bad node attribute key ${JSON.stringify(pk.slice(0, 80))}`
  if (typeof value !== 'string') return 'node attribute value is not a string'
  if (parsed.attr === 'role') return isNodeRole(value) ? undefined : `unknown role ${JSON.stringify(value.slice(0, 40))}`
  if (parsed.attr === 'state') return (NODE_ADMIN_STATES as readonly string[]).includes(value) ? undefined : `unknown node state ${JSON.stringify(value.slice(0, 40))}`
  return zoneProblem(value)
}

/**
 * Each member's body with the administrator's overrides applied: `anchor`
 * and `zone` as placement must see them.
 *
 * @example
 * applyNodeAttrs(roster, [{ pk: 'id1/role', body: { value: 'anchor' } }])
 */
export function applyNodeAttrs (roster: ReadonlyArray<{ id: string, body: NodeBody }>, attrs: ReadonlyArray<{ pk: string, body: unknown }>): Array<{ id: string, body: NodeBody }> {
  const overrides = new Map<string, { role?: NodeRole, zone?: string }>()
  for (const record of attrs) {
    const parsed = parseNodeAttrPk(record.pk)
    const value = (record.body as { value?: unknown }).value
    if (parsed === undefined || nodeAttrProblem(record.pk, value) !== undefined) continue
    const entry = overrides.get(parsed.nodeId) ?? {}
    if (parsed.attr === 'role') entry.role = value as NodeRole
    else if (parsed.attr === 'zone') entry.zone = value as string
    overrides.set(parsed.nodeId, entry)
  }
  return roster.map((member) => {
    const o = overrides.get(member.id)
    if (o === undefined) return member
    return { id: member.id, body: { ...member.body, ...(o.role === undefined ? {} : { anchor: o.role === 'anchor' }), ...(o.zone === undefined ? {} : { zone: o.zone }) } }
  })
}

/** The role of a member body. */
export function roleOf (body: Pick<NodeBody, 'anchor'>): NodeRole {
  return body.anchor ? 'anchor' : 'pc'
}

/**
 * The administrative state of every member that has one set (members absent
 * from the map are `active`).
 *
 * @example
 * adminStates([{ pk: 'id1/state', body: { value: 'decommissioning' } }]).get('id1') // 'decommissioning'
 */
export function adminStates (attrs: ReadonlyArray<{ pk: string, body: unknown }>): Map<string, NodeAdminState> {
  const out = new Map<string, NodeAdminState>()
  for (const record of attrs) {
    const parsed = parseNodeAttrPk(record.pk)
    const value = (record.body as { value?: unknown }).value
    if (parsed?.attr !== 'state' || nodeAttrProblem(record.pk, value) !== undefined) continue
    out.set(parsed.nodeId, value as NodeAdminState)
  }
  return out
}
