/**
 * `node bench/memory.ts [--size MiB] [--runs N] [--env K=V,...] [--env-b K=V,...]`:
 * peak RSS of every node during one large put and one large get (6 nodes,
 * 4+2, the writer node-1 and the reader node-3, as `npm run bench`), with
 * each node's memory split as the process sees it.
 *
 * Before each phase the peak RSS (VmHWM) of every node is reset
 * (`/proc/PID/clear_refs` = 5), so the put's and the get's peaks are each
 * their own. During the phase the writer's and the reader's
 * `process.memoryUsage()` (status `node.memory`) is polled every POLL_MS and
 * the largest heap and external figures are kept. With `--env-b`, a second
 * cluster runs the same objects with that environment for its nodes, and the
 * two alternate `--runs` times (A, B, A, B, ...) so that the machine's load
 * falls on both alike: an A/B of one setting in the same conditions.
 * It also prints the CPU all six nodes used per object byte in each phase
 * (/proc/PID/stat), the cost side of a setting that saves memory.
 * Writes bench/out/memory.json.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { api, awaitVisible, call, dataStream, drain, startCluster } from './local.ts'
import type { Api } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024
/** How often the writer's and reader's memory is polled during a phase. */
const POLL_MS = 250

interface Memory { rssBytes: number, heapTotalBytes: number, heapUsedBytes: number, externalBytes: number, arrayBuffersBytes: number, governor?: { collections: number } }
interface Phase { mbPerSecond: number, peakRssMiB: number[], polled: Record<string, number>, nodesCpuNsPerByte: number }
interface Run { variant: string, env: Record<string, string>, put: Phase, get: Phase, loadAverage: number }

function vmHwmMiB (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

/** CPU seconds (user + system, every thread) that process `pid` has used; /proc counts in ticks of 1/100 s. */
function cpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

function cpuOf (pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
}

function resetPeak (pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

async function memoryOf (a: Api): Promise<Memory | undefined> {
  try {
    const r = await drain(await call(a, 'GET', '/api/v1/status'), true)
    return (JSON.parse(r.text) as { node: { memory?: Memory } }).node.memory
  } catch { return undefined }
}

/** Run `work` while polling the memory of `watched`; the largest of each figure, in MiB, by "name.field". */
async function polling (watched: Record<string, Api>, work: () => Promise<void>): Promise<Record<string, number>> {
  const max: Record<string, number> = {}
  let done = false
  const poll = (async () => {
    while (!done) {
      for (const [name, a] of Object.entries(watched)) {
        const m = await memoryOf(a)
        if (m === undefined) continue
        for (const [field, bytes] of Object.entries(m)) if (typeof bytes === 'number') max[`${name}.${field}`] = Math.max(max[`${name}.${field}`] ?? 0, bytes / MiB)
        // The external-memory governor's collections so far (daemon/external-memory.ts), a count, not MiB.
        if (m.governor !== undefined) max[`${name}.collections`] = m.governor.collections
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  })()
  try { await work() } finally { done = true; await poll }
  return max
}

async function runOnce (variant: string, env: Record<string, string>, size: number, block: Buffer): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-memory-'))
  const cluster = await startCluster(dir, { env })
  try {
    const pids = cluster.nodes.map((n) => n.pid)
    const writer = api((cluster.nodes[0] as { dir: string }).dir)
    const reader = api((cluster.nodes[2] as { dir: string }).dir)
    // Warm up both paths (JIT, connections, the lane) with a 16 MiB object.
    await drain(await call(writer, 'PUT', '/api/v1/object?bucket=mem&key=warm', dataStream(16 * MiB, block)))
    await awaitVisible(reader, 'mem', 'warm')
    await drain(await call(reader, 'GET', '/api/v1/object?bucket=mem&key=warm'))
    const watched = { writer, reader }
    for (const pid of pids) resetPeak(pid)
    let cpu = cpuOf(pids)
    let t = performance.now()
    const putPolled = await polling(watched, async () => { await drain(await call(writer, 'PUT', '/api/v1/object?bucket=mem&key=big', dataStream(size, block))) })
    const putSeconds = (performance.now() - t) / 1000
    const putCpu = cpuOf(pids) - cpu
    const putPeak = pids.map(vmHwmMiB)
    await awaitVisible(reader, 'mem', 'big')
    for (const pid of pids) resetPeak(pid)
    let got = 0
    cpu = cpuOf(pids)
    t = performance.now()
    const getPolled = await polling(watched, async () => { got = (await drain(await call(reader, 'GET', '/api/v1/object?bucket=mem&key=big'))).bytes })
    const getSeconds = (performance.now() - t) / 1000
    const getCpu = cpuOf(pids) - cpu
    if (got !== size) throw new Error(`read ${got} of ${size} bytes`)
    const getPeak = pids.map(vmHwmMiB)
    return {
      variant,
      env,
      put: { mbPerSecond: size / 1e6 / putSeconds, peakRssMiB: putPeak, polled: putPolled, nodesCpuNsPerByte: putCpu * 1e9 / size },
      get: { mbPerSecond: size / 1e6 / getSeconds, peakRssMiB: getPeak, polled: getPolled, nodesCpuNsPerByte: getCpu * 1e9 / size },
      loadAverage: loadavg()[0] as number
    }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

function parseEnv (text: string | undefined): Record<string, string> {
  if (text === undefined || text === '') return {}
  return Object.fromEntries(text.split(',').map((kv) => { const i = kv.indexOf('='); return [kv.slice(0, i), kv.slice(i + 1)] }))
}

function line (r: Run): string {
  const f = (v: number | undefined): string => (v ?? NaN).toFixed(0)
  const phase = (name: string, p: Phase, watched: string): string =>
    `${name} ${p.mbPerSecond.toFixed(1)} MB/s, nodes' CPU ${p.nodesCpuNsPerByte.toFixed(1)} ns/B, peak RSS writer ${f(p.peakRssMiB[0])} reader ${f(p.peakRssMiB[2])} max ${f(Math.max(...p.peakRssMiB))} MiB (${watched} heap ${f(p.polled[`${watched}.heapTotalBytes`])}, external ${f(p.polled[`${watched}.externalBytes`])}${p.polled[`${watched}.collections`] === undefined ? '' : `, governor collections ${f(p.polled[`${watched}.collections`])}`})`
  return `${r.variant.padEnd(2)} ${phase('put', r.put, 'writer')}; ${phase('get', r.get, 'reader')}; load ${r.loadAverage.toFixed(1)}`
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '1024' }, runs: { type: 'string', default: '1' }, env: { type: 'string' }, 'env-b': { type: 'string' } } })
  const size = Number(values.size) * MiB
  const block = randomBytes(16 * MiB)
  const variants: Array<[string, Record<string, string>]> = [['A', parseEnv(values.env)]]
  if (values['env-b'] !== undefined) variants.push(['B', parseEnv(values['env-b'])])
  const runs: Run[] = []
  for (let i = 0; i < Number(values.runs); i++) {
    for (const [name, env] of variants) {
      const r = await runOnce(name, env, size, block)
      runs.push(r)
      console.log(line(r))
    }
  }
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'out', 'memory.json'), JSON.stringify({ sizeBytes: size, variants: Object.fromEntries(variants), runs }, null, 2) + '\n')
}

await main()
