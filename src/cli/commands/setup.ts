/**
 * Cluster formation: `cairn init` creates a cluster and its first node,
 * `cairn invite` prints a join token, `cairn join TOKEN` creates a member.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { basename, resolve } from 'node:path'
import { parseArgs, numberFlag } from '../args.ts'
import type { ParsedArgs } from '../args.ts'
import { connect } from '../client.ts'
import { nodeDir } from '../node-dir.ts'
import { freePort } from '../../daemon/ports.ts'
import { parseBytes } from '../format.ts'
import { CONFIG_VERSION, createNodeFiles, DEFAULT_QUOTA_BYTES, loadNodeFiles } from '../../daemon/config.ts'
import type { NodeConfig, NodeFiles } from '../../daemon/config.ts'
import { decodeInvite, encodeInvite } from '../../daemon/invite.ts'
import { generateNodeKey, nodeKeyToBytes, nodeKeyFromBytes, peerIdOf } from '../../net/keys.ts'
import { MAX_DATA_SHARDS, MAX_PARITY_SHARDS, MAX_TOTAL_SHARDS } from '../../erasure/index.ts'
import { CairnError } from '../../util/errors.ts'
import { DEFAULT_ZONE, NODE_ROLES, isNodeRole, zoneProblem } from '../../meta/node-attrs.ts'

/**
 * The code (k data + m parity shards) given by --k and --m (default 4+2).
 * Every code with k >= 1, m >= 0 and k + m <= 255 is accepted (the erasure
 * layer picks a codec that can code it); anything else is a BAD_INPUT error.
 *
 * @example
 * const { k, m } = codeFlags(parseArgs(['--k', '32', '--m', '97'], { values: ['k', 'm'] }))
 */
export function codeFlags (args: ParsedArgs): { k: number, m: number } {
  const k = numberFlag(args, 'k', 4, { min: 1, max: MAX_DATA_SHARDS, integer: true })
  const m = numberFlag(args, 'm', 2, { min: 0, max: MAX_PARITY_SHARDS, integer: true })
  if (k + m > MAX_TOTAL_SHARDS) {
    throw new CairnError('BAD_INPUT', `--k ${k} --m ${m} makes ${k + m} shards per stripe; Reed-Solomon over GF(2^8) allows at most ${MAX_TOTAL_SHARDS}`,
      `choose k + m <= ${MAX_TOTAL_SHARDS}; \`cairn plan\` recommends a code for your nodes`)
  }
  return { k, m }
}

const NODE_FLAGS = ['dir', 'name', 'host', 'port', 'api-port', 's3-port', 'quota', 'zone', 'role'] as const

async function nodeConfig (args: ParsedArgs, dir: string, bootstrap: string[]): Promise<NodeConfig> {
  const host = args.values.get('host') ?? '127.0.0.1'
  const quotaText = args.values.get('quota')
  const quotaBytes = quotaText === undefined ? DEFAULT_QUOTA_BYTES : parseBytes(quotaText)
  if (!Number.isFinite(quotaBytes) || quotaBytes <= 0) throw new CairnError('BAD_INPUT', `--quota ${quotaText} is not a size`, 'write e.g. --quota 50GiB')
  const zone = args.values.get('zone') ?? DEFAULT_ZONE
  const zoneError = zoneProblem(zone)
  if (zoneError !== undefined) throw new CairnError('BAD_INPUT', `--zone: ${zoneError}`, 'name the zone with a short printable name, e.g. floor-2')
  const role = args.values.get('role')
  if (role !== undefined && !isNodeRole(role)) throw new CairnError('BAD_INPUT', `--role ${role} is not a role`, `a role is one of: ${NODE_ROLES.join(', ')}`)
  if (role === 'pc' && args.booleans.has('anchor')) throw new CairnError('BAD_INPUT', '--role pc and --anchor contradict each other', 'give one of them (--anchor is the old spelling of --role anchor)')
  const key = await generateNodeKey()
  return {
    v: CONFIG_VERSION,
    name: args.values.get('name') ?? basename(resolve(dir)),
    peerKey: Buffer.from(nodeKeyToBytes(key)).toString('base64'),
    host,
    listenPort: numberFlag(args, 'port', 0, { min: 0, max: 65535, integer: true }) || await freePort(host),
    apiPort: numberFlag(args, 'api-port', 0, { min: 0, max: 65535, integer: true }) || await freePort(),
    s3Port: numberFlag(args, 's3-port', 0, { min: 0, max: 65535, integer: true }) || await freePort(),
    bootstrap,
    quotaBytes,
    zone,
    anchor: role === 'anchor' || args.booleans.has('anchor'),
    mdns: args.booleans.has('mdns')
  }
}

function requireDir (args: ParsedArgs): string {
  const dir = args.values.get('dir')
  if (dir === undefined) throw new CairnError('BAD_INPUT', 'no directory given', 'pass --dir DIR for the new node\'s data')
  return dir
}

/** The multiaddr other nodes dial to reach the node in `files`. */
export function nodeAddress (files: Pick<NodeFiles, 'node'>): string {
  const id = peerIdOf(nodeKeyFromBytes(Buffer.from(files.node.peerKey, 'base64')))
  return `/ip4/${files.node.host}/tcp/${files.node.listenPort}/p2p/${id}`
}

/** Create a new cluster with its first node (no output). */
export async function initNode (argv: string[]): Promise<NodeFiles> {
  const args = parseArgs(argv, { values: [...NODE_FLAGS, 'k', 'm'], booleans: ['anchor', 'mdns', 'json'] })
  const dir = requireDir(args)
  const { k, m } = codeFlags(args)
  return createNodeFiles(dir, {
    node: await nodeConfig(args, dir, []),
    cluster: { v: CONFIG_VERSION, clusterId: randomUUID(), k, m, createdMs: Date.now() },
    secret: { v: CONFIG_VERSION, clusterKey: randomBytes(32).toString('base64'), masterKey: randomBytes(32).toString('base64') }
  })
}

/** `cairn init --dir DIR [--k K --m M]` */
export async function init (argv: string[]): Promise<number> {
  const files = await initNode(argv)
  console.log(`created cluster ${files.cluster.clusterId} (${files.cluster.k}+${files.cluster.m} coding) with node ${files.node.name} in ${files.dir}`)
  console.log(`start it: cairn start --node ${files.dir}; add machines: cairn invite --node ${files.dir}`)
  return 0
}

/** A join token built from a node's files (works while the node is stopped). */
export function offlineInvite (files: NodeFiles, extraBootstrap: string[] = []): string {
  return encodeInvite({ v: 1, clusterId: files.cluster.clusterId, k: files.cluster.k, m: files.cluster.m, createdMs: files.cluster.createdMs, clusterKey: files.secret.clusterKey, masterKey: files.secret.masterKey, bootstrap: [nodeAddress(files), ...extraBootstrap] })
}

/** `cairn invite --node DIR` */
export async function invite (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  const dir = nodeDir(args)
  let token: string
  try {
    token = (await connect(dir).json<{ token: string }>('POST', '/invite')).token
  } catch (err) {
    if (!(err instanceof CairnError) || err.code !== 'NODE_UNREACHABLE') throw err
    token = offlineInvite(loadNodeFiles(dir))
  }
  if (args.booleans.has('json')) console.log(JSON.stringify({ token }))
  else console.log(token)
  return 0
}

/** Create a member node from a token (no output). */
export async function joinNode (argv: string[]): Promise<NodeFiles> {
  const args = parseArgs(argv, { values: [...NODE_FLAGS], booleans: ['anchor', 'mdns', 'json'] })
  const [token] = args.positionals
  if (token === undefined || args.positionals.length > 1) throw new CairnError('BAD_INPUT', 'join needs a token', 'usage: cairn join TOKEN --dir DIR (get a token with `cairn invite` on a member)')
  const body = decodeInvite(token)
  const dir = requireDir(args)
  return createNodeFiles(dir, {
    node: await nodeConfig(args, dir, body.bootstrap),
    cluster: { v: CONFIG_VERSION, clusterId: body.clusterId, k: body.k, m: body.m, createdMs: body.createdMs },
    secret: { v: CONFIG_VERSION, clusterKey: body.clusterKey, masterKey: body.masterKey }
  })
}

/** `cairn join TOKEN --dir DIR` */
export async function join (argv: string[]): Promise<number> {
  const files = await joinNode(argv)
  console.log(`node ${files.node.name} joined cluster ${files.cluster.clusterId} in ${files.dir}; start it: cairn start --node ${files.dir}`)
  return 0
}
