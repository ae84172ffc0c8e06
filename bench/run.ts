/**
 * `npm run bench`: Cairn's end-to-end benchmark on a local 6-node 4+2 cluster
 * (six OS processes talking libp2p on loopback, as `cairn cluster` runs them).
 *
 * Measures put and get throughput for 1 MiB, 64 MiB, 256 MiB and 1 GiB
 * objects through node-1's HTTP API (gets through node-3, so most shards
 * cross the network), 4 KiB puts and gets per second with 32 requests in
 * flight, and the peak RSS of every node process. Beside each throughput it
 * prints this machine's limit measured in the same run (the put or get
 * compute of one process on one core, bench/compute.ts) and the ratio.
 * Prints a table and writes bench/out/bench.json.
 *
 * Then the commit-path figures of bench/commit.ts: 4 KiB puts/s with durable
 * commits, and 1 MiB put latency healthy vs one node SIGSTOPped.
 *
 * Options: `--quick` skips the 1 GiB object (for a fast look).
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { Agent } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { benchCommit, formatCommitBench } from './commit.ts'
import { formatRsCost, measureComputeLimit, measureRsCost, RS_COST_HEADER, RS_COST_SHAPES } from './compute.ts'
import type { RsCost } from './compute.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin', 'cairn.js')
const MiB = 1024 * 1024

interface NodeInfo { name: string, dir: string, pid: number, api: string }
interface Api { url: URL, token: string }

function api (dir: string): Api {
  const a = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  return { url: new URL(a.url), token: a.token }
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

async function call (target: Api, method: string, path: string, body?: Readable | Buffer): Promise<IncomingMessage> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: target.url.hostname, port: target.url.port, method, path, agent, headers: { authorization: `Bearer ${target.token}` } }, resolve)
    req.on('error', reject)
    if (body === undefined) req.end()
    else if (Buffer.isBuffer(body)) req.end(body)
    else body.pipe(req)
  })
}

async function drain (res: IncomingMessage): Promise<{ bytes: number, sha: string }> {
  const h = createHash('sha256')
  let bytes = 0
  for await (const c of res) { h.update(c as Buffer); bytes += (c as Buffer).length }
  if ((res.statusCode ?? 500) >= 400) throw new Error(`HTTP ${res.statusCode}`)
  return { bytes, sha: h.digest('hex') }
}

/** A stream of `size` pseudo-random bytes from a repeated 16 MiB random block (cheap to make, incompressible enough). */
function dataStream (size: number, block: Buffer): Readable {
  let sent = 0
  return new Readable({
    highWaterMark: MiB,
    read () {
      if (sent >= size) { this.push(null); return }
      const n = Math.min(MiB, size - sent)
      const off = sent % block.length
      this.push(block.subarray(off, Math.min(off + n, block.length)))
      sent += Math.min(n, block.length - off)
    }
  })
}

function peakRssMiB (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

async function startCluster (dir: string): Promise<{ nodes: NodeInfo[], stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'cluster', '--nodes', '6', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('cluster not ready in 180 s')) }, 180_000)
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve() } })
    child.once('exit', (code) => { reject(new Error(`cluster exited ${code}`)) })
  })
  const nodes = (JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { nodes: NodeInfo[] }).nodes
  return {
    nodes,
    stop: async () => {
      await new Promise<void>((resolve) => { child.once('exit', () => { resolve() }); child.kill('SIGTERM') })
    }
  }
}

interface Row { test: string, size: string, putMBps?: number, getMBps?: number, opsPerSec?: { put: number, get: number }, limitPutMBps?: number, limitGetMBps?: number }

async function throughput (writer: Api, reader: Api, size: number, repeat: number, block: Buffer): Promise<{ put: number, get: number }> {
  let putSecs = 0
  let getSecs = 0
  for (let i = 0; i < repeat; i++) {
    const key = `obj-${size}-${i}`
    let t = performance.now()
    const res = await call(writer, 'PUT', `/api/v1/object?bucket=bench&key=${key}`, dataStream(size, block))
    await drain(res)
    putSecs += (performance.now() - t) / 1000
    t = performance.now()
    const got = await drain(await call(reader, 'GET', `/api/v1/object?bucket=bench&key=${key}`))
    getSecs += (performance.now() - t) / 1000
    if (got.bytes !== size) throw new Error(`read ${got.bytes} of ${size} bytes`)
  }
  return { put: (size * repeat) / 1e6 / putSecs, get: (size * repeat) / 1e6 / getSecs }
}

async function smallOps (writer: Api, reader: Api, count: number, concurrency: number): Promise<{ put: number, get: number }> {
  const body = randomBytes(4096)
  let next = 0
  const worker = (op: 'put' | 'get') => async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const path = `/api/v1/object?bucket=small&key=k${i}`
      await drain(op === 'put' ? await call(writer, 'PUT', path, body) : await call(reader, 'GET', path))
    }
  }
  let t = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker('put')))
  const put = count / ((performance.now() - t) / 1000)
  next = 0
  t = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker('get')))
  const get = count / ((performance.now() - t) / 1000)
  return { put, get }
}

async function main (): Promise<void> {
  const quick = process.argv.includes('--quick')
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-'))
  const limit = await measureComputeLimit({ k: 4, m: 2, totalBytes: 256 * MiB })
  const rsCost: RsCost[] = []
  for (const [k, m] of RS_COST_SHAPES) rsCost.push(await measureRsCost(k, m))
  const block = randomBytes(16 * MiB)
  const cluster = await startCluster(dir)
  const rows: Row[] = []
  const rss: Record<string, number> = {}
  try {
    const writer = api(cluster.nodes[0]?.dir as string)
    const reader = api(cluster.nodes[2]?.dir as string)
    const sizes: Array<[string, number, number]> = [['1 MiB', MiB, 20], ['64 MiB', 64 * MiB, 2], ['256 MiB', 256 * MiB, 1]]
    if (!quick) sizes.push(['1 GiB', 1024 * MiB, 1])
    for (const [label, size, repeat] of sizes) {
      const r = await throughput(writer, reader, size, repeat, block)
      rows.push({ test: 'object', size: label, putMBps: r.put, getMBps: r.get, limitPutMBps: limit.putMBps, limitGetMBps: limit.getMBps })
      process.stderr.write(`${label}: put ${r.put.toFixed(1)} MB/s, get ${r.get.toFixed(1)} MB/s\n`)
    }
    for (const n of cluster.nodes) rss[n.name] = peakRssMiB(n.pid)
    const ops = await smallOps(writer, reader, 2000, 32)
    rows.push({ test: 'small objects', size: '4 KiB', opsPerSec: ops })
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const fmt = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(1))
  console.log('\nCairn benchmark: 6 nodes, 4+2, loopback, one 2-core machine (MB = 10^6 bytes)')
  console.log('size      put MB/s  limit  ratio   get MB/s  limit  ratio')
  for (const r of rows.filter((x) => x.test === 'object')) {
    console.log(`${r.size.padEnd(9)} ${fmt(r.putMBps).padStart(8)} ${fmt(r.limitPutMBps).padStart(6)} ${((r.putMBps ?? 0) / (r.limitPutMBps ?? 1)).toFixed(2).padStart(6)}   ${fmt(r.getMBps).padStart(8)} ${fmt(r.limitGetMBps).padStart(6)} ${((r.getMBps ?? 0) / (r.limitGetMBps ?? 1)).toFixed(2).padStart(6)}`)
  }
  const small = rows.find((r) => r.test === 'small objects')?.opsPerSec
  console.log(`4 KiB objects: ${fmt(small?.put)} puts/s, ${fmt(small?.get)} gets/s (32 in flight)`)
  console.log(`peak RSS per node (MiB, after the largest object): ${Object.entries(rss).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`)
  console.log(`Reed-Solomon cost per byte of stripe data (one core, 4 MiB stripes):\n${RS_COST_HEADER}\n${rsCost.map(formatRsCost).join('\n')}`)
  const commit = await benchCommit()
  for (const line of formatCommitBench(commit)) console.log(line)
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  const out = join(ROOT, 'bench', 'out', 'bench.json')
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cluster: { nodes: 6, k: 4, m: 2 }, computeLimit: limit, rsCost, rows, peakRssMiB: rss, commit }, null, 2))
  console.log(`wrote ${out}`)
}

await main()
