/**
 * `node bench/metadata-sync.ts`: how long a NEW node takes to catch up with
 * a large metadata table, and how many bytes anti-entropy moves for it.
 *
 * 1. Starts a local cluster (`cairn cluster`, default 3 nodes, 2+1 coding).
 * 2. Loads it with small objects (default 100,000 of 1 KiB: inline, so the
 *    table holds them all) over HTTP, spread over the nodes, 32 in flight.
 * 3. Adds a node the way an office would: `cairn invite` on node-1,
 *    `cairn join TOKEN`, `cairn start`.
 * 4. Polls the new node's status until `meta.objects` reaches the count,
 *    then reads the replication counters: the new node's (rounds it started)
 *    and the growth of the old nodes' (rounds they started; they also sync
 *    with each other every 15 s, which costs a root hash when in step).
 *
 * Prints a table and writes bench/out/metadata-sync.json.
 *
 * Options: --objects N, --size BYTES (≤ 16384 stays inline), --in-flight N,
 * --nodes N, --k K, --m M, --keep (keep the cluster directory).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { tableJsonBytes } from '../test/helpers/meta-size.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'cairn.js')
const OUT = join(ROOT, 'bench', 'out', 'metadata-sync.json')
const BUCKET = 'bench'
/** Longest wait for `cairn cluster` to print `ready`. */
const CLUSTER_START_TIMEOUT_MS = 180_000
/** Longest wait for the new node to print `running`. */
const NODE_START_TIMEOUT_MS = 120_000
/** Longest wait for the new node to hold every object. */
const CATCH_UP_TIMEOUT_MS = 60 * 60_000
/** Time limit of one HTTP request. */
const REQUEST_TIMEOUT_MS = 120_000
/** Status poll interval while the new node catches up. */
const POLL_MS = 250
/** Load progress is printed this often. */
const PROGRESS_EVERY_MS = 10_000
/** After catching up, counters are read again after this pause (late rounds). */
const SETTLE_MS = 20_000
/** Longest wait for the cluster and the new node to exit on SIGTERM (the cluster's own SIGKILL fallback is 15 s). */
const CLUSTER_STOP_TIMEOUT_MS = 30_000
/** Tries of one put whose connection was reset. */
const MAX_PUT_ATTEMPTS = 3
/** Time limit of one CLI call. */
const CLI_TIMEOUT_MS = 120_000

interface Api { host: string, port: number, token: string }
interface Replication { syncs: number, syncBytesSent: number, syncBytesReceived: number, recordsPulled: number, recordsSentBySync: number }
interface Status { meta: { objects: number, versions: number, records: number }, replication: Replication, online: number }

const options = parseArgs({
  options: {
    objects: { type: 'string', default: '100000' },
    size: { type: 'string', default: '1024' },
    'in-flight': { type: 'string', default: '32' },
    nodes: { type: 'string', default: '3' },
    k: { type: 'string', default: '2' },
    m: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false }
  }
}).values
const OBJECTS = Number(options.objects)
const SIZE_BYTES = Number(options.size)
const IN_FLIGHT = Number(options['in-flight'])
const NODES = Number(options.nodes)

const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT })
const children: ChildProcess[] = []
/** Puts whose connection was reset, for the report. */
const resets: string[] = []

function apiOf (dir: string): Api {
  const a = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  const url = new URL(a.url)
  return { host: url.hostname, port: Number(url.port), token: a.token }
}

async function http (api: Api, method: string, path: string, body?: Buffer): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: api.host, port: api.port, method, path, agent, timeout: REQUEST_TIMEOUT_MS, headers: { authorization: `Bearer ${api.token}` } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${path} timed out`)) })
    req.on('error', reject)
    req.end(body)
  })
}

async function status (dir: string): Promise<Status> {
  const r = await http(apiOf(dir), 'GET', '/api/v1/status')
  if (r.status !== 200) throw new Error(`status of ${dir}: HTTP ${r.status}`)
  return JSON.parse(r.text) as Status
}

/** Run the CLI to completion; rejects on a non-zero exit. */
async function cli (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => { child.kill('SIGKILL') }, CLI_TIMEOUT_MS)
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`cairn ${args.join(' ')} exited ${code}: ${err}`))
    })
  })
}

/** Spawn a long-running command and resolve once its stdout matches `ready`. */
async function spawnUntil (args: string[], ready: RegExp, timeoutMs: number, logFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  const append = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-20_000) }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const ok = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false) }, timeoutMs)
    child.stdout?.on('data', () => { if (ready.test(out)) { clearTimeout(timer); resolve(true) } })
    child.once('exit', () => { clearTimeout(timer); resolve(false) })
  })
  if (!ok) {
    writeFileSync(logFile, out)
    throw new Error(`cairn ${args.join(' ')} did not print ${ready}; output in ${logFile}`)
  }
  return child
}


async function exited (child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs)
    child.once('exit', () => { clearTimeout(timer); resolve() })
  })
}

/** Node pids `cairn cluster` recorded, for a last-resort SIGKILL. */
function clusterPids (clusterDir: string): number[] {
  try {
    return (JSON.parse(readFileSync(join(clusterDir, 'cluster.json'), 'utf8')) as { nodes: Array<{ pid: number }> }).nodes.map((n) => n.pid)
  } catch {
    return []
  }
}

function fileBytes (dir: string): number {
  return ['meta.db', 'meta.db-wal'].reduce((sum, f) => { try { return sum + statSync(join(dir, f)).size } catch { return sum } }, 0)
}

function peakRssBytes (pid: number | undefined): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))
    return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}

const MiB = 1024 * 1024
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

async function load (dirs: string[]): Promise<number> {
  const apis = dirs.map(apiOf)
  const started = Date.now()
  let next = 0
  let done = 0
  let lastReport = started
  const worker = async (): Promise<void> => {
    // Bounded: each round takes one of OBJECTS indices.
    while (next < OBJECTS) {
      const i = next++
      const key = `obj-${String(i).padStart(7, '0')}`
      const body = randomBytes(SIZE_BYTES)
      let r: { status: number, text: string } | undefined
      // Bounded: MAX_PUT_ATTEMPTS tries. A reset keep-alive connection is
      // retried (a retried put that had landed adds a version, not an object).
      for (let attempt = 1; r === undefined; attempt++) {
        try {
          r = await http(apis[i % apis.length] as Api, 'PUT', `/api/v1/object?bucket=${BUCKET}&key=${key}`, body)
        } catch (err) {
          if (attempt >= MAX_PUT_ATTEMPTS) throw err
          resets.push(`${key} on node-${(i % apis.length) + 1} at ${secs(Date.now() - started)}: ${(err as Error).message}`)
        }
      }
      if (r.status !== 200) throw new Error(`PUT ${key}: HTTP ${r.status} ${r.text.slice(0, 300)}`)
      done++
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now()
        const s = (lastReport - started) / 1000
        console.log(`  loaded ${done} / ${OBJECTS} in ${s.toFixed(0)} s (${(done / s).toFixed(0)} puts/s)`)
      }
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return Date.now() - started
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-metasync-'))
  let failed = false
  const cleanup = async (): Promise<void> => {
    // The cluster process stops its nodes on SIGTERM; SIGKILL would orphan them.
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map(async (c) => await exited(c, CLUSTER_STOP_TIMEOUT_MS)))
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    for (const pid of clusterPids(join(dir, 'cluster'))) {
      try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ }
    }
    if (!options.keep && !failed) rmSync(dir, { recursive: true, force: true })
    if (failed) console.log(`kept ${dir} for inspection`)
  }
  process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })
  try {
    console.log(`cluster of ${NODES} nodes (${options.k}+${options.m}) in ${dir}`)
    const clusterDir = join(dir, 'cluster')
    await spawnUntil(['cluster', '--nodes', String(NODES), '--k', String(options.k), '--m', String(options.m), '--dir', clusterDir], /\bready\b/, CLUSTER_START_TIMEOUT_MS, join(dir, 'cluster.log'))
    const dirs = Array.from({ length: NODES }, (_, i) => join(clusterDir, `node-${i + 1}`))

    console.log(`loading ${OBJECTS} objects of ${SIZE_BYTES} B, ${IN_FLIGHT} in flight`)
    const loadMs = await load(dirs)
    const table = tableJsonBytes(join(dirs[0] as string, 'meta.db'))
    if (resets.length > 0) console.log(`${resets.length} put(s) retried after a connection reset: ${resets.slice(0, 5).join('; ')}`)
    console.log(`loaded in ${secs(loadMs)} (${(OBJECTS / (loadMs / 1000)).toFixed(0)} puts/s); table ${table.records} records, ${mib(table.jsonBytes)} as JSON`)

    const before = await Promise.all(dirs.map(async (d) => (await status(d)).replication))
    const token = (await cli(['invite', '--node', dirs[0] as string])).trim()
    const newDir = join(dir, 'newcomer')
    await cli(['join', token, '--dir', newDir, '--name', 'newcomer'])
    const t0 = Date.now()
    const newcomer = await spawnUntil(['start', '--node', newDir], /cairn node \S+ running/, NODE_START_TIMEOUT_MS, join(dir, 'newcomer.log'))
    const runningMs = Date.now() - t0
    let objects = 0
    let lastPrint = Date.now()
    // Bounded by CATCH_UP_TIMEOUT_MS.
    while (objects < OBJECTS) {
      if (Date.now() - t0 > CATCH_UP_TIMEOUT_MS) throw new Error(`the new node holds ${objects} of ${OBJECTS} objects after ${secs(CATCH_UP_TIMEOUT_MS)}`)
      objects = await status(newDir).then((s) => s.meta.objects, () => 0)
      if (Date.now() - lastPrint >= PROGRESS_EVERY_MS) { lastPrint = Date.now(); console.log(`  newcomer holds ${objects} objects after ${secs(lastPrint - t0)}`) }
      if (objects < OBJECTS) await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
    const caughtUpMs = Date.now() - t0
    const atCatchUp = await status(newDir)
    const peersAtCatchUp = await Promise.all(dirs.map(async (d) => (await status(d)).replication))
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const settled = await status(newDir)
    const peersSettled = await Promise.all(dirs.map(async (d) => (await status(d)).replication))
    const bytesOf = (r: Replication): number => r.syncBytesSent + r.syncBytesReceived
    const peerDelta = (after: Replication[]): number => after.reduce((sum, r, i) => sum + bytesOf(r) - bytesOf(before[i] as Replication), 0)
    const result = {
      date: new Date().toISOString(),
      cluster: { nodes: NODES, k: Number(options.k), m: Number(options.m) },
      objects: OBJECTS,
      objectBytes: SIZE_BYTES,
      inFlight: IN_FLIGHT,
      loadMs,
      putsPerSecond: Math.round(OBJECTS / (loadMs / 1000)),
      putsRetriedAfterReset: resets.length,
      table: { records: table.records, jsonBytes: table.jsonBytes, dbFileBytes: fileBytes(dirs[0] as string) },
      newcomer: {
        runningMs,
        caughtUpMs,
        ownRoundsAtCatchUp: { syncs: atCatchUp.replication.syncs, bytes: bytesOf(atCatchUp.replication), recordsPulled: atCatchUp.replication.recordsPulled },
        peerRoundsBytesAtCatchUp: peerDelta(peersAtCatchUp),
        ownRoundsSettled: { syncs: settled.replication.syncs, bytes: bytesOf(settled.replication), recordsPulled: settled.replication.recordsPulled },
        peerRoundsBytesSettled: peerDelta(peersSettled),
        dbFileBytes: fileBytes(newDir),
        peakRssBytes: peakRssBytes(newcomer.pid)
      }
    }
    const total = result.newcomer.ownRoundsSettled.bytes + result.newcomer.peerRoundsBytesSettled
    const rows: Array<[string, string]> = [
      ['cluster', `${NODES} nodes, ${options.k}+${options.m}`],
      ['objects loaded', `${OBJECTS} x ${SIZE_BYTES} B`],
      ['load time', `${secs(loadMs)} (${result.putsPerSecond} puts/s, ${IN_FLIGHT} in flight)`],
      ['table', `${table.records} records, ${mib(table.jsonBytes)} as JSON, ${mib(result.table.dbFileBytes)} on disk`],
      ['newcomer running after', secs(runningMs)],
      ['newcomer holds every object after', secs(caughtUpMs)],
      ['catch-up rate', `${(OBJECTS / (caughtUpMs / 1000)).toFixed(0)} objects/s`],
      ['bytes, rounds newcomer started (at catch-up)', `${mib(result.newcomer.ownRoundsAtCatchUp.bytes)} in ${atCatchUp.replication.syncs} rounds`],
      ['bytes, rounds old nodes started (at catch-up)', mib(result.newcomer.peerRoundsBytesAtCatchUp)],
      [`bytes, both, ${secs(SETTLE_MS)} later`, `${mib(total)} = ${(total / table.jsonBytes).toFixed(2)} x the table`],
      ['newcomer peak RSS', mib(result.newcomer.peakRssBytes)]
    ]
    const width = Math.max(...rows.map(([k]) => k.length))
    console.log('\nmetadata sync of a new node')
    for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`)
    mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
    writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n')
    console.log(`\nwrote ${OUT}`)
  } catch (err) {
    failed = true
    const dead = clusterPids(join(dir, 'cluster')).filter((pid) => { try { process.kill(pid, 0); return false } catch { return true } })
    console.log(`failed: ${(err as Error).message}; node pids no longer running: ${JSON.stringify(dead)}; resets: ${JSON.stringify(resets.slice(0, 10))}`)
    throw err
  } finally {
    agent.destroy()
    await cleanup()
  }
}

await main()
