/**
 * Start-up benchmark (issue 12, "Start-up and idle memory"): run alone with
 * `node bench/startup.ts [--quick] [--runs N] [--idle-seconds S]`, or as part of
 * `npm run bench`.
 *
 * For each way of running Cairn — the TypeScript sources (type stripping,
 * `CAIRN_RUN_SOURCES=1`, how Cairn first ran), one JavaScript file per
 * source (`scripts/build.ts --layout modules`, in a copy of the tree, the
 * build before the bundle) and the esbuild bundle in dist/ (built first, the
 * usual build), all without Node's compile cache
 * (`NODE_DISABLE_COMPILE_CACHE=1`, the first start after an install), and
 * the bundle with a warm one (primed by one unmeasured run, every later
 * start) — and for N runs, taking the variants in turn so that the
 * machine's load falls on all alike:
 * 1. CPU seconds (utime + stime from /proc/PID/stat) of a fresh single node
 *    (`cairn init`, then `cairn start`) from spawn until its API answers
 *    `/health`;
 * 2. CPU seconds and RSS over the following idle period (RSS at its end,
 *    and the highest sample);
 * 3. wall and CPU time of `cairn --help`, `cairn status --json` and
 *    `cairn ls` against that running node (CPU from this process's
 *    cutime + cstime, which grow by exactly a reaped child's CPU).
 * CPU is the figure to judge by: on a loaded machine wall time mostly
 * measures the queue for a core. Prints a table (medians) and writes
 * bench/out/startup.json with every sample and the load average.
 */
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildIsCurrent } from '../bin/build-manifest.js'
import { build } from '../scripts/build.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Runs per variant unless --runs says otherwise. */
const DEFAULT_RUNS = 3
/** Idle period measured after start-up unless --idle-seconds says otherwise. */
const DEFAULT_IDLE_SECONDS = 30
/** How often RSS is sampled while the node idles. */
const RSS_SAMPLE_INTERVAL_MS = 1000
/** How often the node's /health is polled while it starts. */
const READY_POLL_INTERVAL_MS = 25
/** Longest a node may take to answer /health (a loaded 2-core machine is slow). */
const READY_TIMEOUT_MS = 120_000
/** Longest one CLI command may take. */
const COMMAND_TIMEOUT_MS = 60_000
/** Runs of each CLI command per node. */
const COMMAND_REPEATS = 3
/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100

/** How Cairn's code is run: TS sources, one compiled file per source, or the bundle (without or with a warm compile cache). */
export type Variant = 'source' | 'modules' | 'bundle' | 'bundle+cache'
/** Every variant, in the order runs take them; `source` is how Cairn ran before any build existed, `modules` the build before the bundle. */
const VARIANTS: Variant[] = ['source', 'modules', 'bundle', 'bundle+cache']
/** The two variants the ratio column compares: the usual start now, and the per-file build before it. */
const RATIO: [Variant, Variant] = ['bundle', 'modules']

/** One run of one variant. */
export interface StartupSample {
  variant: Variant
  startCpuS: number
  startWallS: number
  idleCpuS: number
  idleRssMiB: number
  idlePeakRssMiB: number
  commands: Record<string, { wallMs: number, cpuMs: number }>
}

/** Medians per variant, and every sample. */
export interface StartupBench {
  runs: number
  idleSeconds: number
  loadAverage: { before: number[], after: number[] }
  medians: Record<Variant, { startCpuS: number, idleCpuS: number, idleRssMiB: number, commands: Record<string, { wallMs: number, cpuMs: number }> }>
  samples: StartupSample[]
}

/** The CLI commands timed, by label. */
const COMMANDS: Array<[string, (dir: string) => string[]]> = [
  ['--help', () => ['--help']],
  ['status --json', (dir) => ['status', '--json', '--node', dir]],
  ['ls', (dir) => ['ls', '--node', dir]]
]

function loadAverage (): number[] {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
}

/** utime + stime of a live process, in seconds. */
function processCpuS (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND
}

/** CPU seconds of this process's reaped children so far (cutime + cstime). */
function childrenCpuS (): number {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

/** Compile-cache directories of the cached variants (set by benchStartup). */
const cacheDirs = new Map<Variant, string>()
/** The copy of the tree holding the per-file build (set by benchStartup). */
let modulesRoot: string | undefined

/** The tree whose bin/cairn.js runs `variant`. */
function rootOf (variant: Variant): string {
  if (variant !== 'modules') return ROOT
  if (modulesRoot === undefined) throw new Error('the per-file build is made by benchStartup')
  return modulesRoot
}

/** A copy of what the build and the bin read, node_modules linked, built one file per source. */
function makeModulesTree (): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-startup-modules-'))
  for (const part of ['bin', 'scripts', 'src', 'package.json', 'package-lock.json']) {
    if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(dir, part), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  build(dir, 'modules')
  return dir
}

function envOf (variant: Variant): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_COMPILE_CACHE
  delete env.NODE_DISABLE_COMPILE_CACHE
  env.CAIRN_RUN_SOURCES = variant.startsWith('source') ? '1' : '0'
  const cache = cacheDirs.get(variant)
  if (cache === undefined) env.NODE_DISABLE_COMPILE_CACHE = '1'
  else env.NODE_COMPILE_CACHE = cache
  return env
}

/** Run the CLI to its end; wall and CPU time. Only one child may exit at a time for the CPU figure to be its own. */
async function timeCommand (args: string[], variant: Variant): Promise<{ wallMs: number, cpuMs: number }> {
  const cpuBefore = childrenCpuS()
  const started = performance.now()
  const child = spawn(process.execPath, [join(rootOf(variant), 'bin', 'cairn.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: envOf(variant) })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL') }, COMMAND_TIMEOUT_MS)
    child.once('exit', (c) => { clearTimeout(timer); resolve(c) })
  })
  const wallMs = performance.now() - started
  if (code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${code}: ${stderr.slice(0, 500)}`)
  return { wallMs, cpuMs: (childrenCpuS() - cpuBefore) * 1000 }
}

async function healthAnswers (url: URL | undefined): Promise<boolean> {
  if (url === undefined) return false
  return await new Promise((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path: '/health', timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
    req.on('error', () => { resolve(false) })
    req.on('timeout', () => { req.destroy(); resolve(false) })
    req.end()
  })
}

/** The node's API URL from api.json, or undefined before the node wrote it. */
function apiUrl (nodeDir: string): URL | undefined {
  try {
    return new URL((JSON.parse(readFileSync(join(nodeDir, 'api.json'), 'utf8')) as { url: string }).url)
  } catch { return undefined }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** One run: init a node, start it, idle, time the commands, stop it. */
async function runOnce (variant: Variant, idleSeconds: number): Promise<StartupSample> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-startup-'))
  const nodeDir = join(dir, 'node')
  try {
    await timeCommand(['init', '--dir', nodeDir], variant)
    const started = performance.now()
    const child = spawn(process.execPath, [join(rootOf(variant), 'bin', 'cairn.js'), 'start', '--node', nodeDir, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'], env: envOf(variant) })
    const pid = child.pid as number
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
    try {
      const deadline = Date.now() + READY_TIMEOUT_MS
      // The node writes api.json (its API's URL) as it starts.
      while (!await healthAnswers(apiUrl(nodeDir))) {
        if (child.exitCode !== null) throw new Error(`node exited ${child.exitCode} before answering`)
        if (Date.now() > deadline) throw new Error(`node did not answer /health within ${READY_TIMEOUT_MS} ms`)
        await sleep(READY_POLL_INTERVAL_MS)
      }
      const startCpuS = processCpuS(pid)
      const startWallS = (performance.now() - started) / 1000
      let idlePeakRssMiB = 0
      for (let s = 0; s < idleSeconds * 1000 / RSS_SAMPLE_INTERVAL_MS; s++) {
        await sleep(RSS_SAMPLE_INTERVAL_MS)
        idlePeakRssMiB = Math.max(idlePeakRssMiB, rssMiB(pid))
      }
      const idleCpuS = processCpuS(pid) - startCpuS
      const idleRssMiB = rssMiB(pid)
      const commands: StartupSample['commands'] = {}
      for (const [label, args] of COMMANDS) {
        const times: Array<{ wallMs: number, cpuMs: number }> = []
        for (let i = 0; i < COMMAND_REPEATS; i++) times.push(await timeCommand(args(nodeDir), variant))
        commands[label] = { wallMs: median(times.map((t) => t.wallMs)), cpuMs: median(times.map((t) => t.cpuMs)) }
      }
      return { variant, startCpuS, startWallS, idleCpuS, idleRssMiB, idlePeakRssMiB, commands }
    } finally {
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(15_000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/**
 * Build dist/, then measure both variants `runs` times each.
 *
 * @example
 * const r = await benchStartup({ runs: 1, idleSeconds: 5 }); console.log(formatStartupBench(r).join('\n'))
 */
export async function benchStartup (opts: { runs?: number, idleSeconds?: number } = {}): Promise<StartupBench> {
  const runs = opts.runs ?? DEFAULT_RUNS
  const idleSeconds = opts.idleSeconds ?? DEFAULT_IDLE_SECONDS
  if (build(ROOT).layout !== 'bundle') throw new Error('the bundle needs esbuild: run npm install (it is a devDependency)')
  modulesRoot = makeModulesTree()
  const cacheRoot = mkdtempSync(join(tmpdir(), 'cairn-startup-cache-'))
  const before = loadAverage()
  const samples: StartupSample[] = []
  try {
    for (const variant of VARIANTS.filter((v) => v.endsWith('+cache'))) {
      cacheDirs.set(variant, join(cacheRoot, variant))
      await runOnce(variant, 0)
    }
    for (let i = 0; i < runs; i++) {
      for (const variant of VARIANTS) {
        if (variant !== 'source' && !buildIsCurrent(rootOf(variant))) throw new Error('dist/ went stale during the benchmark (a source changed); rerun it')
        const s = await runOnce(variant, idleSeconds)
        process.stderr.write(`startup ${variant} run ${i + 1}: start ${s.startCpuS.toFixed(2)} s CPU, idle ${s.idleRssMiB.toFixed(0)} MiB, status ${s.commands['status --json']?.cpuMs.toFixed(0)} ms CPU\n`)
        samples.push(s)
      }
    }
  } finally {
    cacheDirs.clear()
    rmSync(cacheRoot, { recursive: true, force: true })
    rmSync(modulesRoot, { recursive: true, force: true })
    modulesRoot = undefined
  }
  const medians = {} as StartupBench['medians']
  for (const variant of VARIANTS) {
    const mine = samples.filter((s) => s.variant === variant)
    const commands: Record<string, { wallMs: number, cpuMs: number }> = {}
    for (const [label] of COMMANDS) {
      commands[label] = { wallMs: median(mine.map((s) => s.commands[label]?.wallMs ?? NaN)), cpuMs: median(mine.map((s) => s.commands[label]?.cpuMs ?? NaN)) }
    }
    medians[variant] = { startCpuS: median(mine.map((s) => s.startCpuS)), idleCpuS: median(mine.map((s) => s.idleCpuS)), idleRssMiB: median(mine.map((s) => s.idleRssMiB)), commands }
  }
  return { runs, idleSeconds, loadAverage: { before, after: loadAverage() }, medians, samples }
}

/** The lines `npm run bench` prints for this benchmark. */
export function formatStartupBench (r: StartupBench): string[] {
  const m = VARIANTS.map((v) => r.medians[v])
  // The ratio compares the bundle with the per-file build, both without a compile cache.
  const [num, den] = RATIO.map((v) => VARIANTS.indexOf(v)) as [number, number]
  const row = (label: string, pick: (x: StartupBench['medians'][Variant]) => number, digits: number): string => {
    const values = m.map(pick)
    return `${label.padEnd(34)} ${values.map((v) => v.toFixed(digits).padStart(14)).join(' ')} ${((values[num] as number) / (values[den] as number)).toFixed(2).padStart(6)}`
  }
  const lines = [
    `Start-up and idle memory (one fresh node, medians of ${r.runs} runs; load average ${r.loadAverage.before.join(' ')} -> ${r.loadAverage.after.join(' ')}; MiB = 2^20 bytes)`,
    `${''.padEnd(34)} ${VARIANTS.map((v) => v.padStart(14)).join(' ')} ${`${RATIO[0]}/${RATIO[1]}`.padStart(6)}`,
    row('start-up CPU until API answers (s)', (x) => x.startCpuS, 2),
    row(`CPU over ${r.idleSeconds} s idle (s)`, (x) => x.idleCpuS, 2),
    row(`RSS after ${r.idleSeconds} s idle (MiB)`, (x) => x.idleRssMiB, 0)
  ]
  for (const [label] of COMMANDS) {
    lines.push(row(`cairn ${label} CPU (ms)`, (x) => x.commands[label]?.cpuMs ?? NaN, 0))
    lines.push(row(`cairn ${label} wall (ms)`, (x) => x.commands[label]?.wallMs ?? NaN, 0))
  }
  return lines
}

function flagNumber (name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  const value = i < 0 ? fallback : Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} takes a positive number`)
  return value
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  // --quick: one run with 10 s of idling, as `npm run bench -- --quick` does.
  const quick = process.argv.includes('--quick')
  const r = await benchStartup({ runs: flagNumber('--runs', quick ? 1 : DEFAULT_RUNS), idleSeconds: flagNumber('--idle-seconds', quick ? 10 : DEFAULT_IDLE_SECONDS) })
  console.log(formatStartupBench(r).join('\n'))
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  writeFileSync(join(ROOT, 'bench', 'out', 'startup.json'), JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2) + '\n')
  console.log('wrote bench/out/startup.json')
}
