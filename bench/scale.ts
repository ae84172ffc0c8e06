/**
 * `npm run bench -- --scale` (or `node bench/scale.ts [--nodes 6,12,24,48]
 * [--quick]`): how Cairn behaves as the cluster grows, on one machine.
 *
 * For each cluster size N (default 6, 12, 24 and 48 node processes, 4+2
 * coding, `cairn cluster` as `npm start` runs it):
 * - put latency (node-1) and get latency (node-2) of a 1 MiB object, the
 *   median of ROUNDS (the get starts once node-2's replica holds the
 *   version, which the put's quorum need not include);
 * - metadata traffic per write: WRITES 4 KiB puts through node-1, and the
 *   growth of every node's replication counters (pushes sent and received
 *   and their body bytes, and of those sent the gossip forwards) over them,
 *   minus the growth over an idle period of the same length just before
 *   (presence records, roster heartbeats); the writer's own messages per
 *   write (pushes − forwards: what its writes cost it, not the records of
 *   others it forwards), the mean forwards sent and messages received per
 *   other node;
 * - convergence after an absence: the last node is SIGSTOPped, ABSENT_WRITES
 *   puts are made, the node is SIGCONTed, and the time until its replica
 *   holds as many versions as node-1's is measured (pushes that were queued
 *   for it, and anti-entropy, both count: this is what a user waits for);
 * - RSS of every node process (mean and max) and the CPU each idle node
 *   spends per second, over IDLE_MS with no requests.
 *
 * Prints a table, writes bench/out/scale.json and one SVG chart per figure
 * against N (bench/out/scale-*.svg; `--svg-dir DIR` writes them elsewhere,
 * e.g. docs/img).
 *
 * Every process shares this machine's cores, so the absolute figures grow
 * with N for that reason alone: the load average is printed beside them.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { api, call, drain, startCluster } from './local.ts'
import type { Api, NodeInfo } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const OUT_DIR = join(ROOT, 'bench', 'out')
const MiB = 1024 * 1024
const DEFAULT_SIZES = [6, 12, 24, 48]
/** 1 MiB rounds per size (full, quick). */
const ROUNDS = { full: 10, quick: 4 }
/** 4 KiB writes whose metadata traffic is counted (full, quick). */
const WRITES = { full: 40, quick: 15 }
/** Writes made while one node is stopped. */
const ABSENT_WRITES = { full: 40, quick: 15 }
/** Idle period for the CPU figure (full, quick). */
const IDLE_MS = { full: 20_000, quick: 8_000 }
/** Longest wait for the cluster to see every node online, and for a stopped node to catch up. */
const CONVERGE_TIMEOUT_MS = 300_000
const POLL_MS = 200
/** Clock ticks per second of /proc/PID/stat (Linux's USER_HZ). */
const CLOCK_TICKS = 100

interface Replication { pushes: number, pushBytesSent: number, forwards: number, forwardBytesSent: number, pushesReceived: number, pushBytesReceived: number }
interface Status { online: number, meta: { versions: number }, replication: Replication }

/** The figures of one cluster size. */
export interface ScaleRow {
  nodes: number
  putMs: number
  getMs: number
  /** Writer's own push messages and bytes per write (its forwards of others' records excluded). */
  writerMessagesPerWrite: number
  writerBytesPerWrite: number
  /** Mean gossip forwards one other node sends per write. */
  forwardsPerNodePerWrite: number
  /** Mean push messages and bytes one other node receives per write. */
  receivedMessagesPerWrite: number
  receivedBytesPerWrite: number
  /** Time a node stopped during ABSENT_WRITES writes took to hold them all after SIGCONT. */
  convergeMs: number
  rssMeanMiB: number
  rssMaxMiB: number
  /** CPU seconds per second of one idle node (mean over nodes). */
  idleCpuPerNode: number
  loadAverage: number
}

async function status (a: Api): Promise<Status> {
  const r = await drain(await call(a, 'GET', '/api/v1/status'), true)
  return JSON.parse(r.text) as Status
}

async function until (what: string, check: () => Promise<boolean>): Promise<number> {
  const t = performance.now()
  for (;;) {
    try { if (await check()) return performance.now() - t } catch { /* a node busy starting: try again */ }
    if (performance.now() - t > CONVERGE_TIMEOUT_MS) throw new Error(`${what}: not reached in ${CONVERGE_TIMEOUT_MS / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

/** CPU ticks (user + system) of a process. */
function cpuTicks (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return Number(fields[11]) + Number(fields[12])
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

async function put (a: Api, key: string, body: Buffer): Promise<void> {
  await drain(await call(a, 'PUT', `/api/v1/object?bucket=scale&key=${key}`, body))
}

const FIELDS = ['pushes', 'pushBytesSent', 'forwards', 'forwardBytesSent', 'pushesReceived', 'pushBytesReceived'] as const

/** The push counters of each status (0 for a counter a node without gossip does not report). */
function pushTotals (all: Array<Partial<Replication>>): Replication[] {
  return all.map((r) => Object.fromEntries(FIELDS.map((f) => [f, r[f] ?? 0])) as unknown as Replication)
}

const delta = (a: Replication, b: Replication): Replication => Object.fromEntries(FIELDS.map((f) => [f, b[f] - a[f]])) as unknown as Replication

async function counters (apis: Api[]): Promise<Replication[]> {
  return pushTotals(await Promise.all(apis.map(async (a) => (await status(a)).replication)))
}

async function measure (count: number, quick: boolean): Promise<ScaleRow> {
  const dir = mkdtempSync(join(tmpdir(), `cairn-scale-${count}-`))
  process.stderr.write(`scale: starting ${count} nodes\n`)
  const cluster = await startCluster(dir, { nodes: count, args: ['--k', '4', '--m', '2'] })
  try {
    const nodes: NodeInfo[] = cluster.nodes
    const apis = nodes.map((n) => api(n.dir))
    const writer = apis[0] as Api
    const reader = apis[1] as Api
    await until('every node online', async () => (await status(writer)).online >= count)
    // 1 MiB latency.
    const block = randomBytes(MiB)
    const putMs: number[] = []
    const getMs: number[] = []
    for (let i = 0; i < (quick ? ROUNDS.quick : ROUNDS.full); i++) {
      let t = performance.now()
      await put(writer, `big-${i}`, block)
      putMs.push(performance.now() - t)
      // The quorum need not include node-2, and gossip may reach it a hop
      // later (or by anti-entropy): the get is timed once it holds the version.
      await until(`node-2 holds big-${i}`, async () => (JSON.parse((await drain(await call(reader, 'GET', `/api/v1/versions?bucket=scale&key=big-${i}`), true)).text) as unknown[]).length > 0)
      t = performance.now()
      const got = await drain(await call(reader, 'GET', `/api/v1/object?bucket=scale&key=big-${i}`))
      getMs.push(performance.now() - t)
      if (got.bytes !== MiB) throw new Error(`get of big-${i} read ${got.bytes} bytes`)
    }
    // Metadata per write, net of the idle background over the same time.
    const writes = quick ? WRITES.quick : WRITES.full
    const small = randomBytes(4096)
    let t = performance.now()
    for (let i = 0; i < writes; i++) await put(writer, `probe-${i}`, small)
    const writeMs = performance.now() - t
    const idle0 = await counters(apis)
    await new Promise((resolve) => setTimeout(resolve, writeMs))
    const idle1 = await counters(apis)
    for (let i = 0; i < writes; i++) await put(writer, `small-${i}`, small)
    const target = (await status(writer)).meta.versions
    await until('every node holds the writes', async () => (await Promise.all(apis.map(async (a) => (await status(a)).meta.versions))).every((v) => v >= target))
    const busy1 = await counters(apis)
    const idle = idle0.map((c, i) => delta(c, idle1[i] as Replication))
    const busy = idle1.map((c, i) => delta(c, busy1[i] as Replication))
    const net = busy.map((b, i) => delta(idle[i] as Replication, b))
    const w = net[0] as Replication
    const others = net.slice(1)
    const mean = (pick: (r: Replication) => number): number => others.reduce((s, r) => s + Math.max(0, pick(r)), 0) / others.length
    // Convergence after an absence.
    const absent = nodes[count - 1] as NodeInfo
    process.kill(absent.pid, 'SIGSTOP')
    try {
      for (let i = 0; i < (quick ? ABSENT_WRITES.quick : ABSENT_WRITES.full); i++) await put(writer, `absent-${i}`, small)
    } finally {
      process.kill(absent.pid, 'SIGCONT')
    }
    const want = (await status(writer)).meta.versions
    const convergeMs = await until('the stopped node catches up', async () => (await status(apis[count - 1] as Api)).meta.versions >= want)
    // Idle CPU and RSS.
    const idleMs = quick ? IDLE_MS.quick : IDLE_MS.full
    const before = nodes.map((n) => cpuTicks(n.pid))
    t = performance.now()
    await new Promise((resolve) => setTimeout(resolve, idleMs))
    const seconds = (performance.now() - t) / 1000
    const cpu = nodes.map((n, i) => (cpuTicks(n.pid) - (before[i] as number)) / CLOCK_TICKS / seconds)
    const rss = nodes.map((n) => rssMiB(n.pid))
    return {
      nodes: count,
      putMs: median(putMs),
      getMs: median(getMs),
      writerMessagesPerWrite: Math.max(0, w.pushes - w.forwards) / writes,
      writerBytesPerWrite: Math.max(0, w.pushBytesSent - w.forwardBytesSent) / writes,
      forwardsPerNodePerWrite: mean((r) => r.forwards) / writes,
      receivedMessagesPerWrite: mean((r) => r.pushesReceived) / writes,
      receivedBytesPerWrite: mean((r) => r.pushBytesReceived) / writes,
      convergeMs,
      rssMeanMiB: rss.reduce((s, v) => s + v, 0) / rss.length,
      rssMaxMiB: Math.max(...rss),
      idleCpuPerNode: cpu.reduce((s, v) => s + v, 0) / cpu.length,
      loadAverage: loadavg()[0] as number
    }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Figures charted against N: [field, title, unit]. */
const CHARTS: Array<[keyof ScaleRow, string, string]> = [
  ['putMs', 'put latency, 1 MiB', 'ms'],
  ['getMs', 'get latency, 1 MiB', 'ms'],
  ['writerMessagesPerWrite', 'writer metadata messages per write', 'messages'],
  ['receivedMessagesPerWrite', 'metadata messages received per node per write', 'messages'],
  ['convergeMs', 'catch-up after an absence', 'ms'],
  ['rssMeanMiB', 'RSS per node (mean)', 'MiB'],
  ['idleCpuPerNode', 'CPU per idle node', 'CPU s/s']
]

/** A small self-contained SVG line chart of one figure against the node count. */
export function scaleSvg (rows: readonly ScaleRow[], field: keyof ScaleRow, title: string, unit: string): string {
  const W = 420
  const H = 240
  const M = 48
  const xs = rows.map((r) => r.nodes)
  const ys = rows.map((r) => r[field])
  const xMax = Math.max(...xs)
  const yMax = Math.max(...ys, 1e-9) * 1.1
  const x = (v: number): number => M + (v / xMax) * (W - 2 * M)
  const y = (v: number): number => H - M + -(v / yMax) * (H - 2 * M)
  const path = rows.map((r, i) => `${i === 0 ? 'M' : 'L'}${x(r.nodes).toFixed(1)},${y(r[field]).toFixed(1)}`).join(' ')
  const dots = rows.map((r) => `<circle cx="${x(r.nodes).toFixed(1)}" cy="${y(r[field]).toFixed(1)}" r="3" fill="#1f77b4"/><text x="${x(r.nodes).toFixed(1)}" y="${(y(r[field]) - 7).toFixed(1)}" text-anchor="middle">${format(r[field])}</text>`)
  const ticks = rows.map((r) => `<text x="${x(r.nodes).toFixed(1)}" y="${H - M + 16}" text-anchor="middle">${r.nodes}</text>`)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${title} (${unit})</text>`,
    `<line x1="${M}" y1="${H - M}" x2="${W - M}" y2="${H - M}" stroke="#999"/>`,
    `<line x1="${M}" y1="${M}" x2="${M}" y2="${H - M}" stroke="#999"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">nodes</text>`,
    ...ticks,
    `<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.8"/>`,
    ...dots,
    '</svg>',
    ''
  ].join('\n')
}

function format (v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

export function formatScaleBench (rows: readonly ScaleRow[]): string {
  const head = ['nodes', 'put ms', 'get ms', 'writer msg/write', 'writer B/write', 'fwd msg/node/write', 'recv msg/node/write', 'catch-up ms', 'RSS mean/max MiB', 'idle CPU/node', 'load']
  const lines = rows.map((r) => [String(r.nodes), format(r.putMs), format(r.getMs), format(r.writerMessagesPerWrite), format(r.writerBytesPerWrite), format(r.forwardsPerNodePerWrite), format(r.receivedMessagesPerWrite), format(r.convergeMs), `${format(r.rssMeanMiB)}/${format(r.rssMaxMiB)}`, `${(r.idleCpuPerNode * 100).toFixed(1)}%`, r.loadAverage.toFixed(1)])
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)))
  const row = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ')
  return [row(head), ...lines.map(row)].join('\n')
}

export async function benchScale (opts: { sizes?: number[], quick?: boolean, svgDir?: string } = {}): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = []
  for (const n of opts.sizes ?? DEFAULT_SIZES) {
    const row = await measure(n, opts.quick === true)
    rows.push(row)
    process.stderr.write(formatScaleBench([row]).split('\n')[1] + '\n')
  }
  mkdirSync(OUT_DIR, { recursive: true })
  writeFileSync(join(OUT_DIR, 'scale.json'), JSON.stringify(rows, null, 2) + '\n')
  const svgDir = opts.svgDir ?? OUT_DIR
  mkdirSync(svgDir, { recursive: true })
  for (const [field, title, unit] of CHARTS) writeFileSync(join(svgDir, `scale-${field}.svg`), scaleSvg(rows, field, title, unit))
  return rows
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { nodes: { type: 'string' }, quick: { type: 'boolean' }, 'svg-dir': { type: 'string' } } })
  const sizes = values.nodes === undefined ? DEFAULT_SIZES : values.nodes.split(',').map(Number)
  if (sizes.some((n) => !Number.isInteger(n) || n < 6)) throw new Error('--nodes takes a comma-separated list of cluster sizes of at least 6 (4+2 coding)')
  const rows = await benchScale({ sizes, quick: values.quick, svgDir: values['svg-dir'] })
  console.log(formatScaleBench(rows))
}
