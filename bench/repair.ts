/**
 * Repair throughput: a 7-node 4+2 cluster holds N objects of 4 MiB; their
 * get throughput is measured, then one node is SIGKILLed and declared dead
 * after deadAfter; the time from the first node seeing it dead to every node
 * counting every object healthy gives the repair rate, in MB of shards
 * rebuilt (written) per second, and its ratio to the get throughput of the
 * same run. repairRate is set high so the machine, not the limiter, decides.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, call, drain, startCluster } from './local.ts'

const MiB = 1024 * 1024
/** Longest wait for one phase of the bench. */
const PHASE_TIMEOUT_MS = 600_000

/** What the repair bench measured. */
export interface RepairBench {
  objects: number
  objectBytes: number
  getMBps: number
  /** Bytes of shards the healers wrote (rebuilt) and read. */
  rebuiltBytes: number
  readBytes: number
  repairSeconds: number
  repairMBps: number
  ratioToGet: number
}

interface Status { objects: { total: number, healthy: number }, nodes: Array<{ name: string, state?: string }>, repair: { repairWrittenBytes: number, repairReadBytes: number } }

async function status (dir: string): Promise<Status> {
  return JSON.parse((await drain(await call(api(dir), 'GET', '/api/v1/status'), true)).text) as Status
}

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`repair bench: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/** Run the repair bench (quick: fewer objects). */
export async function benchRepair (opts: { quick?: boolean } = {}): Promise<RepairBench> {
  const objects = opts.quick === true ? 12 : 32
  const size = 4 * MiB
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-repair-'))
  const cluster = await startCluster(dir, { nodes: 7, args: ['--dead-after', '5s'], env: { CAIRN_REPAIR_INTERVAL_MS: '500' } })
  try {
    const first = cluster.nodes[0]?.dir as string
    const put = await call(api(first), 'PUT', '/api/v1/config', Buffer.from(JSON.stringify({ key: 'repairRate', value: '10GB/s' })))
    await drain(put)
    for (let i = 0; i < objects; i++) await drain(await call(api(first), 'PUT', `/api/v1/object?bucket=repair&key=o${i}`, randomBytes(size)))
    const reader = api(cluster.nodes[1]?.dir as string)
    let t = performance.now()
    for (let i = 0; i < objects; i++) await drain(await call(reader, 'GET', `/api/v1/object?bucket=repair&key=o${i}`))
    const getMBps = objects * size / 1e6 / ((performance.now() - t) / 1000)
    const victim = cluster.nodes[6]
    if (victim === undefined) throw new Error('repair bench: no seventh node')
    const live = cluster.nodes.slice(0, 6).map((n) => n.dir)
    process.kill(victim.pid, 'SIGKILL')
    await until('the dead node', async () => (await status(first)).nodes.find((n) => n.name === victim.name)?.state === 'dead')
    t = performance.now()
    await until('every object healthy', async () => (await Promise.all(live.map(status))).every((s) => s.objects.total === objects && s.objects.healthy === objects))
    const repairSeconds = (performance.now() - t) / 1000
    const all = await Promise.all(live.map(status))
    const rebuiltBytes = all.reduce((n, s) => n + s.repair.repairWrittenBytes, 0)
    const readBytes = all.reduce((n, s) => n + s.repair.repairReadBytes, 0)
    const repairMBps = rebuiltBytes / 1e6 / repairSeconds
    return { objects, objectBytes: size, getMBps, rebuiltBytes, readBytes, repairSeconds, repairMBps, ratioToGet: repairMBps / getMBps }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Lines for the bench table. */
export function formatRepairBench (r: RepairBench): string[] {
  return [
    `repair after a node died (7 nodes, 4+2, ${r.objects} objects of ${r.objectBytes / MiB} MiB): rebuilt ${(r.rebuiltBytes / 1e6).toFixed(1)} MB of shards (read ${(r.readBytes / 1e6).toFixed(1)} MB) in ${r.repairSeconds.toFixed(1)} s`,
    `repair throughput ${r.repairMBps.toFixed(1)} MB/s of rebuilt shards; get throughput of the same run ${r.getMBps.toFixed(1)} MB/s; ratio ${r.ratioToGet.toFixed(2)}`
  ]
}

// `node bench/repair.ts [--quick]` runs this bench alone.
if (import.meta.main) {
  for (const line of formatRepairBench(await benchRepair({ quick: process.argv.includes('--quick') }))) console.log(line)
}
