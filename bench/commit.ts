/**
 * Commit-path benchmark (issue 8): run alone with `node bench/commit.ts`, or
 * as part of `npm run bench`.
 *
 * 1. Small-put rate with durable commits: 4 KiB puts, 32 in flight, through
 *    node-1 of a 6-node 4+2 cluster (every commit fsynced on the writer and
 *    its quorum; group commit shares fsyncs).
 * 2. Put latency with a hung PC: median latency of a 1 MiB put through node-1
 *    of a 7-node 4+2 cluster, healthy, then with node-7 SIGSTOPped (after the
 *    heartbeat timeout has marked it not online). 7 nodes, because 4+2 needs
 *    six distinct nodes: with 6 nodes and one hung, no put can be placed
 *    until degraded writes exist.
 * Prints a table and writes bench/out/commit.json.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'cairn.js')
const MiB = 1024 * 1024
/** Small puts measured, and how many are in flight. */
const SMALL_PUT_COUNT = 1000
const SMALL_PUTS_IN_FLIGHT = 32
/** 1 MiB puts per latency sample set. */
const LATENCY_PUTS = 15
/** Wait after SIGSTOP so heartbeats mark the node not online (liveness timeout is 3 s). */
const STALL_SETTLE_MS = 6000
const HTTP_TIMEOUT_MS = 120_000

interface NodeInfo { name: string, dir: string, pid: number }
interface Api { url: string, token: string }

/** Results of this benchmark. */
export interface CommitBench {
  smallPutsPerSec: number
  putLatencyMs: { healthy: number, oneStopped: number, ratio: number }
  notes: string[]
}

function apiOf (dir: string): Api {
  return JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as Api
}

async function put (target: Api, key: string, body: Buffer): Promise<void> {
  const res = await fetch(`${target.url}/api/v1/object?bucket=bench-commit&key=${encodeURIComponent(key)}`, { method: 'PUT', headers: { authorization: `Bearer ${target.token}` }, body, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`put ${key}: HTTP ${res.status} ${text.slice(0, 200)}`)
}

async function withCluster<T> (nodes: number, fn: (nodes: NodeInfo[]) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-commit-'))
  const child = spawn(process.execPath, [BIN, 'cluster', '--nodes', String(nodes), '--dir', dir, '--k', '4', '--m', '2'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('cluster not ready in 180 s')) }, 180_000)
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve() } })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`cluster exited ${code}`)) })
    })
    const info = (JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: NodeInfo[] }).nodes
    return await fn(info)
  } finally {
    await new Promise<void>((resolve) => { if (child.exitCode !== null) resolve(); else { child.once('exit', () => { resolve() }); child.kill('SIGTERM') } })
    rmSync(dir, { recursive: true, force: true })
  }
}

async function smallPutRate (writer: Api): Promise<number> {
  const body = randomBytes(4096)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < SMALL_PUT_COUNT) await put(writer, `small-${next++}`, body)
  }
  const t = performance.now()
  await Promise.all(Array.from({ length: SMALL_PUTS_IN_FLIGHT }, worker))
  return SMALL_PUT_COUNT / ((performance.now() - t) / 1000)
}

async function medianPutMs (writer: Api, label: string): Promise<number> {
  const body = randomBytes(MiB)
  const times: number[] = []
  for (let i = 0; i < LATENCY_PUTS; i++) {
    const t = performance.now()
    await put(writer, `${label}-${i}`, body)
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] as number
}

/** Run both measurements. */
export async function benchCommit (): Promise<CommitBench> {
  const smallPutsPerSec = await withCluster(6, async (nodes) => await smallPutRate(apiOf((nodes[0] as NodeInfo).dir)))
  process.stderr.write(`4 KiB puts: ${smallPutsPerSec.toFixed(1)}/s\n`)
  const latency = await withCluster(7, async (nodes) => {
    const writer = apiOf((nodes[0] as NodeInfo).dir)
    await medianPutMs(writer, 'warm')
    const healthy = await medianPutMs(writer, 'healthy')
    const hung = nodes[6] as NodeInfo
    process.kill(hung.pid, 'SIGSTOP')
    try {
      await new Promise((resolve) => setTimeout(resolve, STALL_SETTLE_MS))
      const oneStopped = await medianPutMs(writer, 'stopped')
      return { healthy, oneStopped, ratio: oneStopped / healthy }
    } finally {
      process.kill(hung.pid, 'SIGCONT')
    }
  })
  process.stderr.write(`1 MiB put median: healthy ${latency.healthy.toFixed(0)} ms, one node SIGSTOPped ${latency.oneStopped.toFixed(0)} ms\n`)
  return {
    smallPutsPerSec,
    putLatencyMs: latency,
    notes: ['put latency uses 7 nodes at 4+2: with 6 nodes and one hung, 4+2 cannot place 6 distinct shards until degraded writes exist']
  }
}

/** The lines `npm run bench` prints for this benchmark. */
export function formatCommitBench (r: CommitBench): string[] {
  return [
    `4 KiB puts with durable commits: ${r.smallPutsPerSec.toFixed(1)} puts/s (6 nodes, 4+2, ${SMALL_PUTS_IN_FLIGHT} in flight)`,
    `1 MiB put median latency (7 nodes, 4+2): healthy ${r.putLatencyMs.healthy.toFixed(0)} ms, one node SIGSTOPped ${r.putLatencyMs.oneStopped.toFixed(0)} ms (${r.putLatencyMs.ratio.toFixed(2)}x)`,
    ...r.notes.map((n) => `  note: ${n}`)
  ]
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await benchCommit()
  console.log(formatCommitBench(r).join('\n'))
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'out', 'commit.json'), JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2))
}
