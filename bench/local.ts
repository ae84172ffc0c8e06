/**
 * A local cluster for the benchmarks: `cairn cluster` as a child process,
 * its nodes' HTTP APIs, and small HTTP helpers.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/cairn.js', import.meta.url))
const MiB = 1024 * 1024

export interface NodeInfo { name: string, dir: string, pid: number, api: string, s3: string }
export interface Api { url: URL, token: string }

export function api (dir: string): Api {
  const a = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  return { url: new URL(a.url), token: a.token }
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

export async function call (target: Api, method: string, path: string, body?: Readable | Buffer): Promise<IncomingMessage> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: target.url.hostname, port: target.url.port, method, path, agent, headers: { authorization: `Bearer ${target.token}` } }, resolve)
    req.on('error', reject)
    if (body === undefined) req.end()
    else if (Buffer.isBuffer(body)) req.end(body)
    else body.pipe(req)
  })
}

/** Read a response to its end: byte count and SHA-256, and with `keepText` the body as text; throws on an HTTP error. */
export async function drain (res: IncomingMessage, keepText = false): Promise<{ bytes: number, sha: string, text: string }> {
  const h = createHash('sha256')
  let bytes = 0
  const kept: Buffer[] = []
  for await (const c of res) {
    h.update(c as Buffer)
    bytes += (c as Buffer).length
    if (keepText || kept.length < 4) kept.push(c as Buffer)
  }
  const text = Buffer.concat(kept).toString('utf8')
  if ((res.statusCode ?? 500) >= 400) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
  return { bytes, sha: h.digest('hex'), text: keepText ? text : '' }
}

/** A stream of `size` pseudo-random bytes from a repeated 16 MiB random block (cheap to make, incompressible enough). */
export function dataStream (size: number, block: Buffer): Readable {
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

/** Longest a reader may take to see a put's version record (replication after the quorum ack, on a loaded machine). */
const VISIBLE_TIMEOUT_MS = 60_000

/**
 * Wait until `reader` knows `bucket/key` (its metadata replica has the
 * version): a put is acknowledged by a quorum, which need not include the
 * reader, so a get timed right after it could meet a 404 on a busy machine.
 */
export async function awaitVisible (reader: Api, bucket: string, key: string): Promise<void> {
  const deadline = performance.now() + VISIBLE_TIMEOUT_MS
  for (;;) {
    const res = await call(reader, 'GET', `/api/v1/object-health?bucket=${bucket}&key=${key}`)
    res.resume()
    if (res.statusCode === 200) return
    if (res.statusCode !== 404 || performance.now() > deadline) throw new Error(`${bucket}/${key} not visible on the reader: HTTP ${res.statusCode}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Put then get `repeat` objects of `size` bytes through the native API (`/api/v1/object`); MB/s (10^6 bytes) of each. */
export async function nativeThroughput (writer: Api, reader: Api, size: number, repeat: number, block: Buffer, bucket = 'bench', nodePids: readonly number[] = []): Promise<{ put: number, get: number, putCpuNsPerByte: number, getCpuNsPerByte: number }> {
  let putSecs = 0
  let getSecs = 0
  let putCpuNs = 0
  let getCpuNs = 0
  const nodesCpuNs = (): number => nodePids.reduce((sum, pid) => sum + cpuNsOf(pid), 0)
  for (let i = 0; i < repeat; i++) {
    const key = `obj-${size}-${i}`
    let cpu = nodesCpuNs()
    let t = performance.now()
    const res = await call(writer, 'PUT', `/api/v1/object?bucket=${bucket}&key=${key}`, dataStream(size, block))
    await drain(res)
    putSecs += (performance.now() - t) / 1000
    putCpuNs += nodesCpuNs() - cpu
    await awaitVisible(reader, bucket, key)
    cpu = nodesCpuNs()
    t = performance.now()
    const got = await drain(await call(reader, 'GET', `/api/v1/object?bucket=${bucket}&key=${key}`))
    getSecs += (performance.now() - t) / 1000
    getCpuNs += nodesCpuNs() - cpu
    if (got.bytes !== size) throw new Error(`read ${got.bytes} of ${size} bytes`)
  }
  const bytes = size * repeat
  return { put: bytes / 1e6 / putSecs, get: bytes / 1e6 / getSecs, putCpuNsPerByte: putCpuNs / bytes, getCpuNsPerByte: getCpuNs / bytes }
}

/** Linux clock ticks per second (`getconf CLK_TCK`), the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS_PER_SECOND = 100

/**
 * CPU (utime + stime) a live process has used, in ns, from /proc/PID/stat;
 * 10 ms resolution, so divide over work of a second or more.
 *
 * @example
 * const before = cpuNsOf(pid)
 */
export function cpuNsOf (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1e9 / CLOCK_TICKS_PER_SECOND
}

/** Longest a CLI command run by a bench may take. */
const CLI_TIMEOUT_MS = 120_000

/** Run `cairn ARGS…` and return its stdout; rejects when it fails. */
export async function cairnCli (args: readonly string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`cairn ${args.join(' ')}: ${err.message} ${stderr}`))
      else resolve(stdout)
    })
  })
}

export function peakRssMiB (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

export async function startCluster (dir: string, opts: { nodes?: number, env?: Record<string, string>, args?: string[] } = {}): Promise<{ nodes: NodeInfo[], stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'cluster', '--nodes', String(opts.nodes ?? 6), '--dir', dir, ...(opts.args ?? [])], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...opts.env } })
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

