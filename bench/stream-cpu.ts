/**
 * CPU per byte of one stream between two processes on 127.0.0.1, counted in
 * each process by `process.cpuUsage()` (user + system, all threads), so the
 * figure holds on a busy machine where wall-clock MB/s does not.
 *
 * Three transports:
 * - `cairn`: js-libp2p TCP + Cairn's cluster protector (AES-256-GCM frames)
 *   + plaintext + Yamux, what Cairn's nodes use between each other;
 * - `tls`: js-libp2p TCP + TLS 1.3 + Yamux, no protector;
 * - `tcp`: a raw `node:net` socket, for reference.
 *
 * The sender and the receiver are each a child process (this file with
 * `--receive MODE` or `--send MODE ADDRESS BYTES`), so neither shares an event
 * loop or a heap with the benchmark. The sender first pushes a warm-up stream
 * (JIT, buffers, Yamux window growth), then the measured one; the receiver
 * counts CPU from the first byte of a stream to its last.
 *
 * Run directly: `npx node bench/stream-cpu.ts [MiB, default 256]`.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { generateNodeKey } from '../src/net/keys.ts'
import { createNetNode } from '../src/net/node.ts'
import type { Libp2pNetNode } from '../src/net/node.ts'

/** The transports measured. */
export type StreamMode = 'cairn' | 'tls' | 'tcp'

/** CPU nanoseconds per byte of one stream, in the sending and the receiving process. */
export interface StreamCpu {
  mode: StreamMode
  sendNsPerByte: number
  receiveNsPerByte: number
  /** Wall-clock MB/s of the measured stream (depends on the machine's load). */
  wallMBps: number
}

const PROTOCOL = '/cairn/bench/stream-cpu/1.0.0'
/** Size of each write: as large as a shard frame, so per-call overhead is amortised as on the shard path. */
const CHUNK_BYTES = 1024 * 1024
/** The warm-up stream before the measured one. */
const WARM_UP_BYTES = 32 * 1024 * 1024
const MiB = 1024 * 1024

interface Report { received: number, cpuUs: number }

function cpuUs (): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Counts one stream's bytes and the CPU spent from its first byte to its last. */
function counter (): { add: (n: number) => void, report: () => Report } {
  let received = 0
  let start = -1
  return {
    add: (n) => { if (start < 0) start = cpuUs(); received += n },
    report: () => ({ received, cpuUs: start < 0 ? 0 : cpuUs() - start })
  }
}

async function libp2pNode (mode: 'cairn' | 'tls', listen: string[]): Promise<Libp2pNetNode> {
  const clusterKey = Buffer.from(process.env.BENCH_CLUSTER_KEY ?? '', 'hex')
  return await createNetNode({ privateKey: await generateNodeKey(), clusterKey, listen, ...(mode === 'tls' ? { encryption: 'tls', unprotected: true } : {}) })
}

async function receive (mode: StreamMode): Promise<void> {
  if (mode === 'tcp') {
    const server = createServer((socket: Socket) => {
      const c = counter()
      socket.on('data', (d: Buffer) => { c.add(d.length) })
      socket.on('end', () => { socket.end(JSON.stringify(c.report())) })
    })
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    process.stdout.write(JSON.stringify({ address: String((server.address() as AddressInfo).port) }) + '\n')
  } else {
    const node = await libp2pNode(mode, ['/ip4/127.0.0.1/tcp/0'])
    await node.libp2p.handle(PROTOCOL, async (stream) => {
      const c = counter()
      for await (const chunk of stream) c.add(chunk.byteLength)
      stream.send(Buffer.from(JSON.stringify(c.report())))
      await stream.close()
    }, { force: true })
    await node.start()
    process.stdout.write(JSON.stringify({ address: node.multiaddrs()[0] }) + '\n')
  }
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

async function sendTcp (port: number, totalBytes: number, chunk: Buffer): Promise<Report> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  for (let sent = 0; sent < totalBytes; sent += chunk.length) {
    if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve))
  }
  socket.end()
  let answer = ''
  for await (const part of socket) answer += (part as Buffer).toString()
  return JSON.parse(answer) as Report
}

async function sendLibp2p (node: Libp2pNetNode, peerId: string, totalBytes: number, chunk: Buffer): Promise<Report> {
  const stream = await node.libp2p.dialProtocol(peerIdFromString(peerId), PROTOCOL)
  for (let sent = 0; sent < totalBytes; sent += chunk.length) {
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
  let answer = ''
  for await (const part of stream) answer += Buffer.from(part.subarray()).toString()
  return JSON.parse(answer) as Report
}

async function send (mode: StreamMode, address: string, totalBytes: number): Promise<void> {
  const chunk = randomBytes(CHUNK_BYTES)
  let once: (bytes: number) => Promise<Report>
  let stop = async (): Promise<void> => {}
  if (mode === 'tcp') {
    once = async (bytes) => await sendTcp(Number(address), bytes, chunk)
  } else {
    const node = await libp2pNode(mode, [])
    await node.start()
    const peerId = await node.dial(address)
    once = async (bytes) => await sendLibp2p(node, peerId, bytes, chunk)
    stop = async () => { await node.stop() }
  }
  await once(WARM_UP_BYTES)
  const start = cpuUs()
  const startMs = performance.now()
  const report = await once(totalBytes)
  const sendCpuUs = cpuUs() - start
  const wallMs = performance.now() - startMs
  if (report.received !== totalBytes) throw new Error(`receiver got ${report.received} of ${totalBytes} bytes`)
  await stop()
  process.stdout.write(JSON.stringify({ sendCpuUs, receiveCpuUs: report.cpuUs, wallMs }) + '\n')
}

function child (args: string[], env: Record<string, string>): { line: Promise<string>, end: () => void } {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } })
  const line = new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout }).once('line', resolve)
    proc.once('exit', (code) => { reject(new Error(`stream-cpu ${args[0]} exited with ${code}`)) })
  })
  return { line, end: () => { proc.stdin.end() } }
}

/**
 * CPU per byte of one stream of `totalBytes` over `mode`, sender and receiver
 * in two fresh processes.
 *
 * @example
 * const { sendNsPerByte, receiveNsPerByte } = await measureStreamCpu('cairn', 256 * 1024 * 1024)
 */
export async function measureStreamCpu (mode: StreamMode, totalBytes: number): Promise<StreamCpu> {
  const env = { BENCH_CLUSTER_KEY: randomBytes(32).toString('hex') }
  const receiver = child(['--receive', mode], env)
  try {
    const { address } = JSON.parse(await receiver.line) as { address: string }
    const sender = child(['--send', mode, address, String(totalBytes)], env)
    const r = JSON.parse(await sender.line) as { sendCpuUs: number, receiveCpuUs: number, wallMs: number }
    sender.end()
    return { mode, sendNsPerByte: r.sendCpuUs * 1000 / totalBytes, receiveNsPerByte: r.receiveCpuUs * 1000 / totalBytes, wallMBps: totalBytes / 1e3 / r.wallMs }
  } finally {
    receiver.end()
  }
}

const role = process.argv[2]
if (role === '--receive') {
  await receive(process.argv[3] as StreamMode)
} else if (role === '--send') {
  await send(process.argv[3] as StreamMode, process.argv[4] as string, Number(process.argv[5]))
} else if (import.meta.main) {
  const bytes = Number(process.argv[2] ?? 256) * MiB
  for (const mode of ['cairn', 'tls', 'tcp'] as const) {
    const r = await measureStreamCpu(mode, bytes)
    console.log(`${mode.padEnd(6)} send ${r.sendNsPerByte.toFixed(2)} ns/B, receive ${r.receiveNsPerByte.toFixed(2)} ns/B, ${r.wallMBps.toFixed(0)} MB/s wall`)
  }
}
