/**
 * `node bench/small.ts [--count N] [--big N] [--prof on|off] [--out DIR]`:
 * the fixed costs per object on a local 6-node 4+2 cluster. Runs N 4 KiB puts
 * through node-1 and N gets through node-3 with 32 requests in flight (as
 * `npm run bench`'s small-object row), then `--big` 1 MiB puts and gets one at
 * a time, and prints per phase the operations per second, the CPU every node
 * used per operation (/proc/PID/stat), and with `--prof on` (the default;
 * every node runs with `--cpu-prof`, as bench/profile.ts) where that CPU went:
 * per category and per function, in µs per operation, for all nodes, the
 * writer (W) and the reader (R). `--prof off` measures without the profiler's
 * own cost. Nothing is asserted; compare runs made one after the other.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { api, awaitVisible, call, cpuNsOf, dataStream, drain, startCluster } from './local.ts'
import type { NodeInfo } from './local.ts'
import { slice, top } from './profile.ts'
import type { CpuProfile } from './profile.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '2000' }, big: { type: 'string', default: '20' }, out: { type: 'string' }, prof: { type: 'string', default: 'on' } } })
  const count = Number(values.count)
  const big = Number(values.big)
  const out = values.out ?? join(ROOT, 'bench', 'out', 'small')
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'cairn-small-'))
  const load0 = loadavg()[0] as number
  const env: Record<string, string> = { CAIRN_RUN_SOURCES: '1' }
  if (values.prof === 'on') env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${out}`
  const cluster = await startCluster(dir, { nodes: 6, env })
  const phases: Record<string, [number, number, number]> = {}
  const cpu: Record<string, Map<number, number>> = {}
  const nodeCpu = (): Map<number, number> => new Map(cluster.nodes.map((n) => [n.pid, cpuNsOf(n.pid)]))
  const cpuDelta = (a: Map<number, number>, b: Map<number, number>): Map<number, number> => new Map([...b].map(([pid, ns]) => [pid, ns - (a.get(pid) ?? 0)]))
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)
  try {
    const writer = api((cluster.nodes[0] as NodeInfo).dir)
    const reader = api((cluster.nodes[2] as NodeInfo).dir)
    const small = randomBytes(4096)
    const block = randomBytes(16 * MiB)
    const many = async (name: string, n: number, op: (i: number) => Promise<void>, inFlight: number): Promise<void> => {
      let next = 0
      const t = nowUs(); const c0 = nodeCpu()
      await Promise.all(Array.from({ length: inFlight }, async () => { while (next < n) await op(next++) }))
      phases[name] = [t, nowUs(), n]
      cpu[name] = cpuDelta(c0, nodeCpu())
    }
    // warm-up
    for (let i = 0; i < 200; i++) await drain(await call(writer, 'PUT', `/api/v1/object?bucket=warm&key=w${i}`, small))
    await drain(await call(writer, 'PUT', '/api/v1/object?bucket=warm&key=big', dataStream(MiB, block)))
    await awaitVisible(reader, 'warm', 'big')
    await drain(await call(reader, 'GET', '/api/v1/object?bucket=warm&key=big'))
    await many('small-put', count, async (i) => { await drain(await call(writer, 'PUT', `/api/v1/object?bucket=small&key=k${i}`, small)) }, 32)
    await awaitVisible(reader, 'small', `k${count - 1}`)
    await many('small-get', count, async (i) => { await drain(await call(reader, 'GET', `/api/v1/object?bucket=small&key=k${i}`)) }, 32)
    await many('mib-put', big, async (i) => { await drain(await call(writer, 'PUT', `/api/v1/object?bucket=mib&key=m${i}`, dataStream(MiB, block))) }, 1)
    await awaitVisible(reader, 'mib', `m${big - 1}`)
    await many('mib-get', big, async (i) => { await drain(await call(reader, 'GET', `/api/v1/object?bucket=mib&key=m${i}`)) }, 1)
  } finally {
    await cluster.stop()
  }
  const load1 = loadavg()[0] as number
  const pidName = new Map(cluster.nodes.map((n) => [n.pid, n.name]))
  const files = readdirSync(out).filter((f) => f.endsWith('.cpuprofile'))
  const profiles = new Map(files.map((f) => [Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(f)?.[1]), JSON.parse(readFileSync(join(out, f), 'utf8')) as CpuProfile]))
  for (const [phase, [from, to, n]] of Object.entries(phases)) {
    const wallS = (to - from) / 1e6
    const cpuAll = [...(cpu[phase]?.values() ?? [])].reduce((a, b) => a + b, 0)
    console.log(`\n## ${phase}: ${n} ops in ${wallS.toFixed(2)} s = ${(n / wallS).toFixed(1)} ops/s, ${(wallS * 1000 / n).toFixed(2)} ms/op; nodes' CPU ${(cpuAll / n / 1000).toFixed(0)} us/op (load ${load0.toFixed(1)} -> ${load1.toFixed(1)})`)
    for (const [pid, ns] of cpu[phase] ?? []) console.log(`   ${pidName.get(pid)}: ${(ns / n / 1000).toFixed(0)} us/op`)
    if (profiles.size === 0) continue
    const allCats = new Map<string, number>()
    const allFns = new Map<string, number>()
    for (const [pid, prof] of profiles) {
      const name = pidName.get(pid)
      if (name === undefined) continue
      const s = slice(prof, from, to)
      const usedNs = cpu[phase]?.get(pid) ?? 0
      const scale = s.totalUs > 0 ? usedNs / 1000 / s.totalUs : 0
      const tag = name === 'node-1' ? 'W' : name === 'node-3' ? 'R' : 'o'
      for (const [c, us] of s.byCategory) allCats.set(c, (allCats.get(c) ?? 0) + us * scale)
      for (const [f, us] of s.byFunction) allFns.set(`${tag} ${f}`, (allFns.get(`${tag} ${f}`) ?? 0) + us * scale)
    }
    const total = [...allCats.values()].reduce((a, b) => a + b, 0)
    for (const [c, us] of top(allCats, 25)) console.log(`  ${(us / n).toFixed(1).padStart(7)} us/op ${(100 * us / total).toFixed(1).padStart(5)}%  ${c}`)
    console.log('top functions (W = writer node-1, R = reader node-3, o = others):')
    for (const [f, us] of top(allFns, 30)) console.log(`  ${(us / n).toFixed(1).padStart(7)} us/op  ${f}`)
    for (const tag of ['W', 'R']) {
      console.log(`top of ${tag}:`)
      for (const [f, us] of top(new Map([...allFns].filter(([k]) => k.startsWith(tag + ' '))), 25)) console.log(`  ${(us / n).toFixed(1).padStart(7)} us/op  ${f}`)
    }
  }
  rmSync(dir, { recursive: true, force: true })
}

await main()
