/**
 * `cairn node role NAME anchor|pc --node DIR` and `cairn node zone NAME ZONE
 * --node DIR`: set a member's role or zone from any node. The change is
 * replicated to every member (daemon/node-admin.ts) and used by placement
 * and repair from then on; shards already stored do not move.
 * `cairn node decommission NAME --node DIR [--wait]`: see ./move.ts.
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { nodeDir } from '../node-dir.ts'
import { NODE_ROLES, isNodeRole, zoneProblem } from '../../meta/node-attrs.ts'
import { CairnError } from '../../util/errors.ts'
import { decommission } from './move.ts'

function help (): string {
  return [
    'usage: cairn node role NAME anchor|pc --node DIR [--json]   make a member an anchor (always-on server) or a PC',
    '       cairn node zone NAME ZONE --node DIR [--json]        put a member in a zone (site, floor, building; "" for none)',
    '       cairn node decommission NAME --node DIR [--wait] [--json]   move every shard off a member while it is up, then take it out of placement',
    '',
    'NAME is the member\'s name as `cairn status` shows it (or its node id). The change reaches every member;',
    'new writes and repairs follow it (at least k shards of every stripe on anchors, at most ceil((k+m)/zones)',
    'shards per zone); shards already stored stay where they are.',
    '',
    'decommission: no object drops below full redundancy during the move (each shard is copied, then the',
    'location record names the new holder, then the old copy is collected); rate-limited by repairRate;',
    'survives restarts. --wait prints progress on stderr and returns when no object names the member any more.'
  ].join('\n')
}

/** Run `cairn node …`. */
export async function node (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json', 'help', 'wait'] })
  const [action, name, value, ...extra] = args.positionals
  if (args.booleans.has('help') || action === 'help' || action === undefined) {
    console.log(help())
    return action === undefined && !args.booleans.has('help') ? 2 : 0
  }
  if (action === 'decommission') return await decommission(name, value === undefined ? extra : [value, ...extra], args)
  if (action !== 'role' && action !== 'zone') throw new CairnError('BAD_INPUT', `unknown node action ${JSON.stringify(action)}`, 'use `cairn node role NAME anchor|pc`, `cairn node zone NAME ZONE` or `cairn node decommission NAME`; see `cairn node --help`')
  if (name === undefined || value === undefined || extra.length > 0) throw new CairnError('BAD_INPUT', `node ${action} needs NAME and ${action === 'role' ? 'anchor|pc' : 'ZONE'}`, `usage: cairn node ${action} NAME ${action === 'role' ? 'anchor|pc' : 'ZONE'} --node DIR`)
  if (action === 'role' && !isNodeRole(value)) throw new CairnError('BAD_INPUT', `unknown role ${JSON.stringify(value)}`, `a role is one of: ${NODE_ROLES.join(', ')}`)
  const problem = action === 'zone' ? zoneProblem(value) : undefined
  if (problem !== undefined) throw new CairnError('BAD_INPUT', problem, 'name the zone with a short printable name, e.g. floor-2')
  const result = await connect(nodeDir(args)).sendJson<{ name: string, id: string, role: string, zone: string }>('PUT', '/node-attr', {}, { node: name, attr: action, value })
  if (args.booleans.has('json')) console.log(JSON.stringify(result))
  else console.log(`${result.name}: role ${result.role}, zone ${result.zone === '' ? '(none)' : JSON.stringify(result.zone)} (cluster-wide)`)
  return 0
}
