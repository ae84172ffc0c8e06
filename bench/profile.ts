/**
 * `node bench/profile.ts [--size MiB] [--nodes N] [--lane on|off] [--out DIR]`: CPU profiles
 * of every node of a local cluster during one large put and one large get
 * through the native API (writer node-1, reader node-2, as `npm run bench`),
 * and where each node's CPU went per object byte.
 *
 * Every node runs with `--cpu-prof` (V8's sampling profiler, written when
 * the node stops). V8 stamps samples with CLOCK_MONOTONIC, the clock of
 * `process.hrtime` here, so the bench cuts each profile into the put and the
 * get by the times it measured around them. Self time is summed per
 * function and per category (crypto, hashing, erasure coding, the
 * protector, Yamux, byte lists, the RPC layer, HTTP, file system, SQLite,
 * GC, idle, ...), and printed as CPU ns per object byte for the writer, the
 * reader and the other nodes. A sample stands for wall time on its stack,
 * which on a loaded machine includes time the process waited for a core, so
 * each node's shares are scaled to the CPU it really used in the phase
 * (utime + stime from /proc/PID/stat, every thread). Writes DIR/profile.json and keeps the raw
 * .cpuprofile files in DIR (open them in Chrome DevTools). `--lane off`
 * carries shards over libp2p streams instead of the bulk lane
 * (CAIRN_BULK_LANE=off), to compare the two. The nodes run the TypeScript
 * sources (CAIRN_RUN_SOURCES=1) so that samples name source files; type
 * stripping happens at start-up, outside the measured phases.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { api, awaitVisible, call, cpuNsOf, dataStream, drain, startCluster } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
/** The parts of a V8 .cpuprofile this bench reads. */
export interface CpuProfile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

/** Categories, first match wins: [name, test on "function url"]. */
const CATEGORIES: Array<[string, RegExp]> = [
  ['gc', /^\(garbage collector\)/],
  ['idle', /^\(idle\)/],
  ['program (native, unattributed)', /^\(program\)/],
  ['protector (seal/open frames)', /protected-stream|protector/],
  ['yamux', /libp2p-yamux/],
  ['byte lists (uint8arraylist)', /uint8arraylist/],
  ['libp2p streams (utils)', /@libp2p\/utils|it-pushable|race-signal|p-event/],
  ['libp2p other', /libp2p|@multiformats|multiformats/],
  ['rpc frames', /rpc-codec|\/net\/rpc|\/net\/channel|chunk-queue/],
  ['erasure coding', /erasure|reed-solomon/],
  ['cipher (AES-GCM)', /^(update|final|setAAD|setAuthTag|getAuthTag|createCipheriv|createDecipheriv|Cipheriv|Decipheriv|Cipher|Decipher) .*node:internal\/crypto\/cipher|stripe-cipher/],
  ['hash (SHA-256)', /^(update|digest|createHash|Hash) .*node:internal\/crypto\/hash|crypto\/hash\.ts|sha256/],
  ['crypto other', /node:internal\/crypto/],
  ['http', /node:_http|node:internal\/http|http-util|gateway\/api/],
  ['streams (node)', /node:internal\/streams|node:stream/],
  ['fs', /node:internal\/fs|node:fs|shard-store|dir-sync/],
  ['sqlite / metadata', /node:sqlite|\/meta\//],
  ['buffers', /node:buffer|node:internal\/buffer/],
  ['net sockets', /node:net|node:internal\/stream_base|node:internal\/net/],
  ['engine', /\/engine\//],
  ['timers / event loop', /node:internal\/timers|node:internal\/process\/task_queues|node:events|node:internal\/event_target/]
]

function categoryOf (name: string, url: string): string {
  const key = `${name} ${url}`
  for (const [cat, re] of CATEGORIES) if (re.test(key)) return cat
  return url === '' ? `(native) ${name || '(anonymous)'}` : 'other JavaScript'
}

/** Self µs per function and per category within [fromUs, toUs] of monotonic time. */
export function slice (profile: CpuProfile, fromUs: number, toUs: number): { byFunction: Map<string, number>, byCategory: Map<string, number>, totalUs: number, idleUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const byFunction = new Map<string, number>()
  const byCategory = new Map<string, number>()
  let t = profile.startTime
  let totalUs = 0
  let idleUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    t += delta
    if (t < fromUs || t > toUs) continue
    const node = byId.get(profile.samples[i] as number)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const cat = categoryOf(functionName, url)
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? delta
    if (cat === 'idle') { idleUs += us; continue }
    totalUs += us
    const short = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|dist)\//, '$1/')
    const fn = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us)
  }
  return { byFunction, byCategory, totalUs, idleUs }
}

/** The `n` largest entries of `m`. */
export function top (m: Map<string, number>, n: number): Array<[string, number]> {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: '256' }, nodes: { type: 'string', default: '6' }, lane: { type: 'string', default: 'on' }, out: { type: 'string' } } })
  const size = Number(values.size) * MiB
  const out = values.out ?? join(ROOT, 'bench', 'out', 'profile')
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-profile-'))
  const load0 = loadavg()[0] as number
  const cluster = await startCluster(dir, { nodes: Number(values.nodes), env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${out}`, CAIRN_RUN_SOURCES: '1', CAIRN_BULK_LANE: values.lane === 'off' ? 'off' : 'on' } })
  const phases: Record<string, [number, number]> = {}
  const cpu: Record<string, Map<number, number>> = {}
  const nodeCpu = (): Map<number, number> => new Map(cluster.nodes.map((n) => [n.pid, cpuNsOf(n.pid)]))
  const cpuDelta = (a: Map<number, number>, b: Map<number, number>): Map<number, number> => new Map([...b].map(([pid, ns]) => [pid, ns - (a.get(pid) ?? 0)]))
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)
  try {
    const writer = api((cluster.nodes[0] as { dir: string }).dir)
    const reader = api((cluster.nodes[1] as { dir: string }).dir)
    const block = randomBytes(16 * MiB)
    // Warm up both paths (JIT, connections) with a 16 MiB object.
    await drain(await call(writer, 'PUT', '/api/v1/object?bucket=prof&key=warm', dataStream(16 * MiB, block)))
    await awaitVisible(reader, 'prof', 'warm')
    await drain(await call(reader, 'GET', '/api/v1/object?bucket=prof&key=warm'))
    let t = nowUs()
    let c0 = nodeCpu()
    await drain(await call(writer, 'PUT', '/api/v1/object?bucket=prof&key=big', dataStream(size, block)))
    phases.put = [t, nowUs()]
    cpu.put = cpuDelta(c0, nodeCpu())
    await awaitVisible(reader, 'prof', 'big')
    t = nowUs()
    c0 = nodeCpu()
    const got = await drain(await call(reader, 'GET', '/api/v1/object?bucket=prof&key=big'))
    phases.get = [t, nowUs()]
    cpu.get = cpuDelta(c0, nodeCpu())
    if (got.bytes !== size) throw new Error(`read ${got.bytes} of ${size} bytes`)
  } finally {
    await cluster.stop()
  }
  const load1 = loadavg()[0] as number
  const pidName = new Map(cluster.nodes.map((n) => [n.pid, n.name]))
  const report: Record<string, unknown> = { sizeBytes: size, nodes: cluster.nodes.length, lane: values.lane, loadAverage: [load0, load1], phases: {} }
  for (const [phase, [from, to]] of Object.entries(phases)) {
    const wallS = (to - from) / 1e6
    console.log(`\n## ${phase} (bulk lane ${values.lane}): ${(size / MiB).toFixed(0)} MiB in ${wallS.toFixed(2)} s = ${(size / 1e6 / wallS).toFixed(1)} MB/s (load ${load0.toFixed(1)} → ${load1.toFixed(1)})`)
    const allCats = new Map<string, number>()
    const allFns = new Map<string, number>()
    const perNode: Record<string, unknown> = {}
    for (const file of readdirSync(out).filter((f) => f.endsWith('.cpuprofile'))) {
      const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1])
      const name = pidName.get(pid)
      if (name === undefined) continue
      const s = slice(JSON.parse(readFileSync(join(out, file), 'utf8')) as CpuProfile, from, to)
      // Scale the samples' wall time to the CPU the process really used.
      const usedNs = cpu[phase]?.get(pid) ?? 0
      const scale = s.totalUs > 0 ? usedNs / 1000 / s.totalUs : 0
      perNode[name] = { cpuNsPerByte: usedNs / size, sampledBusyNsPerByte: s.totalUs * 1000 / size, categories: Object.fromEntries(top(s.byCategory, 40).map(([c, us]) => [c, us * scale * 1000 / size])) }
      console.log(`${name}: ${(usedNs / size).toFixed(2)} ns/B of CPU (samples: ${(s.totalUs * 1000 / size).toFixed(2)} ns/B busy, ${(s.idleUs / 1e6).toFixed(2)} s idle)`)
      const tag = name === 'node-1' ? 'W' : name === 'node-2' ? 'R' : 'o'
      for (const [c, us] of s.byCategory) allCats.set(c, (allCats.get(c) ?? 0) + us * scale)
      for (const [f, us] of s.byFunction) allFns.set(`${tag} ${f}`, (allFns.get(`${tag} ${f}`) ?? 0) + us * scale)
    }
    const total = [...allCats.values()].reduce((a, b) => a + b, 0)
    console.log(`all nodes: ${(total * 1000 / size).toFixed(2)} ns of CPU per object byte`)
    for (const [c, us] of top(allCats, 30)) console.log(`  ${(us * 1000 / size).toFixed(2).padStart(7)} ns/B ${(100 * us / total).toFixed(1).padStart(5)}%  ${c}`)
    console.log('top functions (W = writer node-1, R = reader node-2, o = others):')
    for (const [f, us] of top(allFns, 40)) console.log(`  ${(us * 1000 / size).toFixed(2).padStart(7)} ns/B  ${f}`)
    ;(report.phases as Record<string, unknown>)[phase] = { wallSeconds: wallS, mbPerSecond: size / 1e6 / wallS, allNodesNsPerByte: total * 1000 / size, categories: Object.fromEntries(top(allCats, 40).map(([c, us]) => [c, us * 1000 / size])), functions: top(allFns, 80).map(([f, us]) => [f, us * 1000 / size]), perNode }
  }
  writeFileSync(join(out, 'profile.json'), JSON.stringify(report, null, 2))
  rmSync(dir, { recursive: true, force: true })
}

// Run only as a script: bench/small.ts imports the slicing.
if (import.meta.main) await main()
