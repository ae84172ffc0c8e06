/**
 * `node bench/idle-profile.ts [--nodes 24] [--settle-seconds 40] [--idle-seconds 30] [--profiled 3] [--out DIR]`:
 * where an idle node's CPU goes in a cluster of N node processes.
 *
 * Starts N nodes (4+2, `cairn cluster`, from the TypeScript sources so that
 * samples name source files), every one with `--cpu-prof` (V8's sampling
 * profiler, written when the node stops; `cairn cluster` gives all its nodes
 * one environment) and reads the profiles of the first PROFILED, waits until every node sees every other online and then
 * SETTLE seconds more (connection set-up, first anti-entropy rounds, the
 * presence start-up grace), and measures an idle window of IDLE seconds with
 * no requests: the CPU every node used (utime + stime from /proc/PID/stat,
 * every thread) and, for the profiled nodes, self time per function and per
 * source file within the window, scaled to the CPU the process really used.
 * Writes DIR/idle-profile.json and keeps the .cpuprofile files in DIR.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { api, call, cpuNsOf, drain, startCluster } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Longest wait for every node to see every other online. */
const ONLINE_TIMEOUT_MS = 300_000

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number }

/** Self µs per function and per file within [fromUs, toUs] of monotonic time (idle samples left out). */
function slice (profile: CpuProfile, fromUs: number, toUs: number): { byFunction: Map<string, number>, byFile: Map<string, number>, totalUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  let t = profile.startTime
  let totalUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0
    t += delta
    if (t < fromUs || t > toUs) continue
    const node = byId.get(profile.samples[i] as number)
    if (node === undefined || node.callFrame.functionName === '(idle)') continue
    const us = profile.timeDeltas[i + 1] ?? delta
    totalUs += us
    const { functionName, url, lineNumber } = node.callFrame
    const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|dist)\//, '$1/')
    const packageOrFile = file.startsWith('@') ? file.split('/').slice(0, 2).join('/') : file.includes('/') && !file.startsWith('src/') && !file.startsWith('node:') ? (file.split('/')[0] as string) : file
    byFunction.set(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`, (byFunction.get(`${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`) ?? 0) + us)
    byFile.set(packageOrFile || `(native) ${functionName}`, (byFile.get(packageOrFile || `(native) ${functionName}`) ?? 0) + us)
  }
  return { byFunction, byFile, totalUs }
}

function top (m: Map<string, number>, n: number): Array<[string, number]> {
  return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
}

async function onlineCount (dir: string): Promise<number> {
  const r = await drain(await call(api(dir), 'GET', '/api/v1/status'), true)
  return (JSON.parse(r.text) as { online: number }).online
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '24' }, 'settle-seconds': { type: 'string', default: '40' }, 'idle-seconds': { type: 'string', default: '30' }, profiled: { type: 'string', default: '3' }, out: { type: 'string' } } })
  const count = Number(values.nodes)
  const profiled = Number(values.profiled)
  const out = values.out ?? join(ROOT, 'bench', 'out', 'idle-profile')
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-idle-'))
  // Every node runs the sampler (its cost is in the CPU figures too); only
  // the first PROFILED profiles are read. --profiled 0 runs no profiler.
  const cluster = await startCluster(dir, { nodes: count, args: ['--k', '4', '--m', '2'], env: profiled > 0 ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${out}`, CAIRN_RUN_SOURCES: '1' } : {} })
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)
  let window: [number, number] = [0, 0]
  let used = new Map<number, number>()
  const load0 = loadavg()[0] as number
  try {
    const first = (cluster.nodes[0] as { dir: string }).dir
    const t0 = Date.now()
    for (;;) {
      try { if (await onlineCount(first) >= count) break } catch { /* still starting */ }
      if (Date.now() - t0 > ONLINE_TIMEOUT_MS) throw new Error(`not every node online in ${ONLINE_TIMEOUT_MS / 1000} s`)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    await new Promise((resolve) => setTimeout(resolve, Number(values['settle-seconds']) * 1000))
    const before = new Map(cluster.nodes.map((n) => [n.pid, cpuNsOf(n.pid)]))
    const from = nowUs()
    await new Promise((resolve) => setTimeout(resolve, Number(values['idle-seconds']) * 1000))
    window = [from, nowUs()]
    used = new Map(cluster.nodes.map((n) => [n.pid, cpuNsOf(n.pid) - (before.get(n.pid) ?? 0)]))
  } finally {
    await cluster.stop()
  }
  const load1 = loadavg()[0] as number
  const seconds = (window[1] - window[0]) / 1e6
  const cpuShares = [...used.values()].map((ns) => ns / 1e9 / seconds)
  const mean = cpuShares.reduce((a, b) => a + b, 0) / cpuShares.length
  console.log(`${count} nodes idle for ${seconds.toFixed(1)} s: CPU per node mean ${(mean * 100).toFixed(2)}%, min ${(Math.min(...cpuShares) * 100).toFixed(2)}%, max ${(Math.max(...cpuShares) * 100).toFixed(2)}% (load ${load0.toFixed(1)} → ${load1.toFixed(1)})`)
  const byName = new Map(cluster.nodes.map((n) => [n.pid, n.name]))
  const allFns = new Map<string, number>()
  const allFiles = new Map<string, number>()
  let profiles = 0
  for (const file of readdirSync(out).filter((f) => f.endsWith('.cpuprofile'))) {
    const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1])
    const name = byName.get(pid)
    if (name === undefined || Number(name.replace('node-', '')) > profiled) continue
    const s = slice(JSON.parse(readFileSync(join(out, file), 'utf8')) as CpuProfile, window[0], window[1])
    const scale = s.totalUs > 0 ? (used.get(pid) ?? 0) / 1000 / s.totalUs : 0
    for (const [f, us] of s.byFunction) allFns.set(f, (allFns.get(f) ?? 0) + us * scale)
    for (const [f, us] of s.byFile) allFiles.set(f, (allFiles.get(f) ?? 0) + us * scale)
    profiles++
  }
  const perNodeMs = (us: number): string => (us / 1000 / Math.max(profiles, 1) / seconds).toFixed(2).padStart(6)
  console.log(`\nCPU ms per second of one profiled node (${profiles} profiles), by file or package:`)
  for (const [f, us] of top(allFiles, 30)) console.log(`  ${perNodeMs(us)}  ${f}`)
  console.log('\nby function:')
  for (const [f, us] of top(allFns, 40)) console.log(`  ${perNodeMs(us)}  ${f}`)
  writeFileSync(join(out, 'idle-profile.json'), JSON.stringify({ nodes: count, seconds, loadAverage: [load0, load1], cpuPerNode: cpuShares, files: top(allFiles, 60), functions: top(allFns, 120) }, null, 2))
  rmSync(dir, { recursive: true, force: true })
}

await main()
