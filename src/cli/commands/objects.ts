/**
 * Object commands: put, get, ls, rm, versions.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { parseArgs } from '../args.ts'
import { connect } from '../client.ts'
import { nodeDir } from '../node-dir.ts'
import { progressMeter } from '../progress.ts'
import { splitPath, checkObjectKey } from '../../engine/names.ts'
import type { ObjectInfo, VersionInfo } from '../../meta/types.ts'
import { CairnError } from '../../util/errors.ts'
import { formatBytes, formatTable } from '../format.ts'

const NODE_FLAG = { values: ['node'] } as const

/** `cairn put FILE BUCKET/KEY` */
export async function put (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json', 'quiet'] })
  const [file, path] = args.positionals
  if (file === undefined || path === undefined || args.positionals.length > 2) throw new CairnError('BAD_INPUT', 'put needs FILE and BUCKET/KEY', 'usage: cairn put FILE BUCKET/KEY --node DIR (FILE may be - for stdin)')
  const { bucket, key } = splitPath(path)
  checkObjectKey(key)
  let input: Readable
  let total: number | undefined
  if (file === '-') {
    input = process.stdin
  } else {
    try {
      const st = statSync(file)
      if (!st.isFile()) throw new Error('not a regular file')
      total = st.size
    } catch (err) {
      throw new CairnError('BAD_INPUT', `cannot read ${file}: ${(err as Error).message}`, 'check the path')
    }
    input = createReadStream(file, { highWaterMark: 1024 * 1024 })
  }
  const client = connect(nodeDir(args))
  const meter = progressMeter('put', total, args.booleans.has('quiet') || args.booleans.has('json'))
  const info = await client.upload<VersionInfo>('/object', { bucket, key }, input.pipe(meter.stream), total)
  meter.done()
  if (args.booleans.has('json')) console.log(JSON.stringify(versionJson(info)))
  else {
    console.log(`stored ${bucket}/${key}: ${formatBytes(info.size)}, version ${info.id}`)
    const unplaced = info.unplacedShards ?? 0
    for (const note of info.placementNotes ?? []) console.log(`placement: ${note}`)
    if (unplaced > 0) console.log(`degraded: ${unplaced} shard(s) have no node yet (fewer than k+m nodes online); the healer places them when nodes come back (see cairn health ${bucket}/${key})`)
  }
  return 0
}

/** `cairn get BUCKET/KEY OUT` */
export async function get (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node', 'version'], booleans: ['quiet'] })
  const [path, out] = args.positionals
  if (path === undefined || out === undefined || args.positionals.length > 2) throw new CairnError('BAD_INPUT', 'get needs BUCKET/KEY and OUT', 'usage: cairn get BUCKET/KEY OUT --node DIR [--version ID] (OUT may be - for stdout)')
  const { bucket, key } = splitPath(path)
  checkObjectKey(key)
  const client = connect(nodeDir(args))
  const res = await client.download('/object', { bucket, key, version: args.values.get('version') })
  const expectedSize = Number(res.headers['content-length'])
  const expectedSha = String(res.headers['x-cairn-sha256'] ?? '')
  const digest = createHash('sha256')
  let received = 0
  const check = new Transform({
    transform (chunk: Buffer, _enc, cb) { digest.update(chunk); received += chunk.length; cb(null, chunk) }
  })
  const meter = progressMeter('get', expectedSize, args.booleans.has('quiet') || out === '-')
  const tmp = out === '-' ? undefined : `${out}.cairn-partial`
  const sink: Writable = tmp === undefined ? process.stdout : createWriteStream(tmp)
  // A failure to write OUT is the local side's, not a holder's.
  let writeError: Error | undefined
  sink.once('error', (err) => { writeError = err })
  try {
    await pipeline(res, check, meter.stream, sink)
  } catch (err) {
    if (tmp !== undefined) rmSync(tmp, { force: true })
    if (writeError !== undefined) {
      if (tmp === undefined) throw new CairnError('BAD_INPUT', `stdout closed after ${received} of ${expectedSize} bytes of ${bucket}/${key} (${writeError.message})`, 'the program reading the output stopped early; nothing is wrong with the object')
      throw new CairnError('BAD_INPUT', `cannot write ${out} (${writeError.message}); nothing was written`, 'check free space and permissions where OUT goes')
    }
    throw new CairnError('PEER_ERROR', `the download of ${bucket}/${key} broke off after ${received} of ${expectedSize} bytes (${(err as Error).message})`, 'a holder node may have gone away mid-transfer; retry, and see `cairn status`')
  }
  meter.done()
  const sha = digest.digest('hex')
  if (received !== expectedSize || (expectedSha !== '' && sha !== expectedSha)) {
    if (tmp !== undefined) rmSync(tmp, { force: true })
    throw new CairnError('CORRUPT_SHARD', `the download of ${bucket}/${key} is incomplete or damaged (${received} of ${expectedSize} bytes, sha256 ${sha.slice(0, 12)} vs ${expectedSha.slice(0, 12)})`, 'retry; if it persists, run `cairn status` and report it')
  }
  if (tmp !== undefined) renameSync(tmp, out)
  return 0
}

/** `cairn ls [BUCKET[/PREFIX]]` */
export async function ls (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node', 'limit'], booleans: ['json'] })
  const client = connect(nodeDir(args))
  const target = args.positionals[0]
  if (target === undefined) {
    const buckets = await client.json<string[]>('GET', '/buckets')
    if (args.booleans.has('json')) console.log(JSON.stringify(buckets))
    else for (const b of buckets) console.log(b)
    return 0
  }
  const { bucket, key: prefix } = splitPath(target, true)
  const all: ObjectInfo[] = []
  const limit = Number(args.values.get('limit') ?? Infinity)
  let startAfter: string | undefined
  // Page through the listing; bounded by the bucket size and the limit.
  for (;;) {
    const page = await client.json<ObjectInfo[]>('GET', '/list', { bucket, prefix, limit: '1000', startAfter })
    all.push(...page)
    if (page.length < 1000 || all.length >= limit) break
    startAfter = page[page.length - 1]?.key
  }
  const items = all.slice(0, Number.isFinite(limit) ? limit : undefined)
  if (args.booleans.has('json')) {
    console.log(JSON.stringify(items.map((o) => ({ key: o.key, size: o.size, version: o.version, time: new Date(o.timeMs).toISOString() }))))
  } else {
    console.log(formatTable(['KEY', 'SIZE', 'MODIFIED', 'VERSION'], items.map((o) => [o.key, formatBytes(o.size), new Date(o.timeMs).toISOString(), o.version])))
  }
  return 0
}

/** `cairn rm BUCKET/KEY` */
export async function rm (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  const [path] = args.positionals
  if (path === undefined || args.positionals.length > 1) throw new CairnError('BAD_INPUT', 'rm needs BUCKET/KEY', 'usage: cairn rm BUCKET/KEY --node DIR')
  const { bucket, key } = splitPath(path)
  checkObjectKey(key)
  const info = await connect(nodeDir(args)).json<VersionInfo>('DELETE', '/object', { bucket, key })
  if (args.booleans.has('json')) console.log(JSON.stringify(versionJson(info)))
  else if (info.removed === true) console.log(`deleted ${bucket}/${key} for good (version ${info.id}: the bucket is unversioned, S3 semantics)`)
  else console.log(`deleted ${bucket}/${key} (delete marker ${info.id}; earlier versions are kept)`)
  return 0
}

/** The JSON shape of a version for scripts. */
export function versionJson (v: VersionInfo): Record<string, unknown> {
  return { id: v.id, size: v.size, time: new Date(v.timeMs).toISOString(), node: v.nodeName, nodeId: v.node, current: v.current, deleteMarker: v.deleteMarker, sha256: v.sha256, ...(v.nullVersion === true ? { nullVersion: true } : {}), ...(v.removed === true ? { removed: true } : {}), ...(v.unplacedShards === undefined ? {} : { unplacedShards: v.unplacedShards }), ...(v.placementNotes === undefined ? {} : { placementNotes: v.placementNotes }) }
}

/** `cairn versions BUCKET/KEY` */
export async function versions (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node'], booleans: ['json'] })
  const [path] = args.positionals
  if (path === undefined || args.positionals.length > 1) throw new CairnError('BAD_INPUT', 'versions needs BUCKET/KEY', 'usage: cairn versions BUCKET/KEY --node DIR [--json]')
  const { bucket, key } = splitPath(path)
  checkObjectKey(key)
  const list = await connect(nodeDir(args)).json<VersionInfo[]>('GET', '/versions', { bucket, key })
  if (args.booleans.has('json')) console.log(JSON.stringify(list.map(versionJson)))
  // S3 clients see a null version (one written while the bucket was unversioned or suspended) as versionId "null".
  else console.log(formatTable(['VERSION', 'SIZE', 'TIME', 'NODE', 'CURRENT', 'DELETE MARKER', 'S3 NULL'], list.map((v) => [v.id, formatBytes(v.size), new Date(v.timeMs).toISOString(), v.nodeName, v.current ? 'yes' : '', v.deleteMarker ? 'yes' : '', v.nullVersion === true ? 'yes' : ''])))
  return 0
}

export { NODE_FLAG }

/** `cairn retention BUCKET [--keep-versions N] [--keep-days D] [--clear]` */
export async function retention (argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ['node', 'keep-versions', 'keep-days'], booleans: ['json', 'clear'] })
  const [bucket] = args.positionals
  if (bucket === undefined || args.positionals.length > 1) throw new CairnError('BAD_INPUT', 'retention needs a BUCKET', 'usage: cairn retention BUCKET [--keep-versions N] [--keep-days D] [--clear] --node DIR')
  const client = connect(nodeDir(args))
  const keepVersions = args.values.get('keep-versions')
  const keepDays = args.values.get('keep-days')
  let policy: { keepVersions?: number, keepDays?: number }
  if (keepVersions === undefined && keepDays === undefined && !args.booleans.has('clear')) {
    policy = await client.json('GET', '/retention', { bucket })
  } else {
    const body = args.booleans.has('clear') ? {} : { ...(keepVersions === undefined ? {} : { keepVersions: Number(keepVersions) }), ...(keepDays === undefined ? {} : { keepDays: Number(keepDays) }) }
    policy = await client.sendJson('PUT', '/retention', { bucket }, body)
  }
  if (args.booleans.has('json')) console.log(JSON.stringify(policy))
  else if (policy.keepVersions === undefined && policy.keepDays === undefined) console.log(`${bucket}: every version is kept`)
  else console.log(`${bucket}: keep ${[policy.keepVersions === undefined ? '' : `the newest ${policy.keepVersions} versions`, policy.keepDays === undefined ? '' : `versions younger than ${policy.keepDays} days`].filter(Boolean).join(' and ')} of each key`)
  return 0
}
