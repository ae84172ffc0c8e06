/**
 * `cairn health BUCKET/KEY --node DIR [--version V] [--json]`: one object's
 * shards, where they are and which count; `cairn workers --node DIR
 * [--json]`: the node's background workers (repair, scrub, collection, …).
 */
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { formatTable } from '../format.ts'
import { nodeDir } from '../node-dir.ts'
import { splitPath } from '../../engine/names.ts'
import type { WorkerInfo } from '../../daemon/workers.ts'
import { CairnError } from '../../util/errors.ts'

interface HealthReport {
  bucket: string
  key: string
  version: string
  k: number
  m: number
  inline: boolean
  state: string
  repairThreshold: number
  stripes: Array<{ index: number, list: boolean, live: number, online: number, missing: number[], shards: Array<{ index: number, hash: string, holders: Array<{ id: string, name: string, state: string, live: boolean }> }> }>
}

/** Stripes shown in full by the text output (all of them are in --json). */
const STRIPES_SHOWN = 8

/** `cairn health BUCKET/KEY` */
export async function health (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node', 'version'], booleans: ['json'] })
  const [path] = args.positionals
  if (path === undefined || args.positionals.length > 1) throw new CairnError('BAD_INPUT', 'health needs BUCKET/KEY', 'usage: cairn health BUCKET/KEY --node DIR [--version ID] [--json]')
  const { bucket, key } = splitPath(path)
  const query: Record<string, string> = { bucket, key }
  const version = args.values.get('version')
  if (version !== undefined) query.version = version
  const r = await connect(nodeDir(args)).json<HealthReport>('GET', '/object-health', query)
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(r))
    return 0
  }
  console.log(`${r.bucket}/${r.key} version ${r.version}: ${r.state} (${r.k}+${r.m} coding, repair below ${r.repairThreshold} live shards)`)
  if (r.inline) {
    console.log('stored inline in the metadata every node holds')
    return 0
  }
  const worst = Math.min(...r.stripes.map((s) => s.live))
  const worstOnline = Math.min(...r.stripes.map((s) => s.online))
  console.log(`${r.stripes.length} stripe(s); fewest live shards in a stripe: ${worst} of ${r.k + r.m}; fewest reachable now: ${worstOnline} (${r.k} needed to read)`)
  const rows: string[][] = []
  for (const s of r.stripes.slice(0, STRIPES_SHOWN)) {
    for (const shard of s.shards) {
      const holders = shard.holders.length === 0 ? 'not placed yet' : shard.holders.map((h) => `${h.name || h.id.slice(-8)} (${h.state}${h.live ? '' : ', lost'})`).join(', ')
      rows.push([`${s.list ? 'list ' : ''}${s.index}`, String(shard.index), shard.hash.slice(0, 16), holders])
    }
  }
  console.log(formatTable(['STRIPE', 'SHARD', 'HASH', 'HOLDERS'], rows))
  if (r.stripes.length > STRIPES_SHOWN) console.log(`… ${r.stripes.length - STRIPES_SHOWN} more stripe(s); --json lists them all`)
  return 0
}

/** `cairn workers` */
export async function workers (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  if (args.positionals.length > 0) throw new CairnError('BAD_INPUT', `unexpected argument ${JSON.stringify(args.positionals[0])}`, 'usage: cairn workers --node DIR [--json]')
  const list = await connect(nodeDir(args)).json<WorkerInfo[]>('GET', '/workers')
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(list))
    return 0
  }
  const ago = (ms: number): string => (ms === 0 ? 'never' : `${Math.max(0, Math.round((Date.now() - ms) / 1000))}s ago`)
  console.log(formatTable(['WORKER', 'STATE', 'RUNS', 'LAST RUN', 'RATE LIMIT', 'PROGRESS', 'LAST ERROR'], list.map((w) => [
    w.name, w.state, String(w.runs), ago(w.lastRunMs), w.rateLimit || '-', w.progress || '-', w.lastError || '-'
  ])))
  return 0
}
