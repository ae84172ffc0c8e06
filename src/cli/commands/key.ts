/**
 * `cairn key create|ls|rm|allow`: the S3 access keys of the cluster. Keys and
 * grants are replicated metadata, so a key created through any node works on
 * every node's S3 endpoint a moment later. The secret is printed once.
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { formatTable } from '../format.ts'
import { nodeDir } from '../node-dir.ts'
import { CairnError } from '../../util/errors.ts'

const HELP = [
  'usage: cairn key create NAME [--admin] --node DIR [--json]   make an S3 access key (the secret is shown once)',
  '       cairn key ls --node DIR [--json]                      list keys and their grants',
  '       cairn key rm NAME --node DIR                          remove a key',
  '       cairn key allow NAME BUCKET read|write|owner --node DIR   grant a key access to a bucket',
  '',
  'An --admin key may create buckets and act on every bucket; other keys act on the buckets they were granted or created.'
].join('\n')

interface KeyInfo { accessKeyId: string, name: string, admin: boolean, grants: Record<string, string>, createdMs: number }

/** Run `cairn key …`. */
export async function key (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json', 'help', 'admin'] })
  const [action, name, bucket, permission, ...extra] = args.positionals
  if (args.booleans.has('help') || action === 'help' || action === undefined) {
    console.log(HELP)
    return action === undefined && !args.booleans.has('help') ? 2 : 0
  }
  const json = args.booleans.has('json')
  if (action === 'create') {
    if (name === undefined || bucket !== undefined) throw new CairnError('BAD_INPUT', 'key create needs one NAME', 'e.g. cairn key create backup --node DIR')
    const created = await connect(nodeDir(args)).sendJson<{ accessKeyId: string, secretAccessKey: string }>('POST', '/keys', {}, { name, admin: args.booleans.has('admin') })
    if (json) console.log(JSON.stringify(created))
    else console.log(`access key id:     ${created.accessKeyId}\nsecret access key: ${created.secretAccessKey}\n(the secret is shown only now; store it safely)`)
    return 0
  }
  if (action === 'ls') {
    const keys = await connect(nodeDir(args)).json<KeyInfo[]>('GET', '/keys')
    if (json) console.log(JSON.stringify(keys))
    else console.log(formatTable(['NAME', 'ACCESS KEY ID', 'ADMIN', 'GRANTS'], keys.map((k) => [k.name, k.accessKeyId, k.admin ? 'yes' : 'no', Object.entries(k.grants).map(([b, p]) => `${b}:${p}`).join(' ')])))
    return 0
  }
  if (action === 'rm') {
    if (name === undefined) throw new CairnError('BAD_INPUT', 'key rm needs NAME', 'list keys with `cairn key ls`')
    await connect(nodeDir(args)).json('DELETE', '/keys', { name })
    console.log(`removed key ${name}`)
    return 0
  }
  if (action === 'allow') {
    if (name === undefined || bucket === undefined || permission === undefined || extra.length > 0) throw new CairnError('BAD_INPUT', 'key allow needs NAME BUCKET read|write|owner', 'e.g. cairn key allow backup photos write --node DIR')
    if (!['read', 'write', 'owner'].includes(permission)) throw new CairnError('BAD_INPUT', `unknown permission ${JSON.stringify(permission)}`, 'use read, write or owner')
    await connect(nodeDir(args)).sendJson('PUT', '/keys/grant', {}, { name, bucket, permission })
    console.log(`${name} may ${permission === 'owner' ? 'own' : permission} ${bucket}`)
    return 0
  }
  throw new CairnError('BAD_INPUT', `unknown key action ${JSON.stringify(action)}`, 'use create, ls, rm or allow; see `cairn key --help`')
}
