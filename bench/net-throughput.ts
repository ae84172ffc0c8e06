/**
 * Throughput of one libp2p stream between two processes on loopback, for
 * TLS+Yamux and Noise+Yamux, each with and without the cluster protector, and
 * of Cairn RPC calls (16 MiB bodies) over the protected TLS connection.
 *
 * Run: `npx node bench/net-throughput.ts [MiB per case, default 2048]`.
 * Prints a table and writes bench/out/net.json. The receiver is a child
 * process (this file with `--serve`), so sender and receiver do not share an
 * event loop, as in a real cluster.
 */

import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { generateClusterKey, generateNodeKey } from '../src/net/keys.ts'
import { createNetNode } from '../src/net/node.ts'
import type { Libp2pNetNode } from '../src/net/node.ts'

const RAW_PROTOCOL = '/cairn/bench/raw/1.0.0'
const RPC_PROTOCOL = '/cairn/bench/rpc/1.0.0'
const CHUNK_BYTES = 1024 * 1024
const RPC_BODY_BYTES = 16 * 1024 * 1024
const RPC_CONCURRENCY = 4
const MIB = 1024 * 1024

interface Case { encryption: 'tls' | 'noise' | 'plaintext', unprotected: boolean }

interface Result { case: string, mode: 'raw stream' | 'rpc 16 MiB', mib: number, seconds: number, mbPerSecond: number }

async function serve (): Promise<void> {
  const encryption = process.env.BENCH_ENCRYPTION === 'noise' ? 'noise' : process.env.BENCH_ENCRYPTION === 'plaintext' ? 'plaintext' : 'tls'
  const node = await createNetNode({
    privateKey: await generateNodeKey(),
    clusterKey: Buffer.from(process.env.BENCH_CLUSTER_KEY ?? '', 'hex'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    encryption,
    unprotected: process.env.BENCH_UNPROTECTED === '1'
  })
  await node.libp2p.handle(RAW_PROTOCOL, async (stream) => {
    let received = 0
    for await (const chunk of stream) received += chunk.byteLength
    const answer = Buffer.from(JSON.stringify({ received }))
    stream.send(answer)
    await stream.close()
  }, { force: true })
  await node.handle(RPC_PROTOCOL, async (request) => ({ header: { received: request.body.byteLength } }))
  await node.start()
  process.stdout.write(JSON.stringify({ address: node.multiaddrs()[0] }) + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => { void node.stop().then(() => process.exit(0)) })
}

async function rawStream (node: Libp2pNetNode, peerId: string, totalBytes: number): Promise<void> {
  const stream = await node.libp2p.dialProtocol(peerIdFromString(peerId), RAW_PROTOCOL)
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x5a)
  for (let sent = 0; sent < totalBytes; sent += CHUNK_BYTES) {
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
  let answer = ''
  for await (const part of stream) answer += Buffer.from(part.subarray()).toString()
  const { received } = JSON.parse(answer) as { received: number }
  if (received !== totalBytes) throw new Error(`receiver got ${received} of ${totalBytes} bytes`)
}

async function rpcCalls (node: Libp2pNetNode, peerId: string, totalBytes: number): Promise<void> {
  const body = new Uint8Array(RPC_BODY_BYTES).fill(0x33)
  let remaining = Math.ceil(totalBytes / RPC_BODY_BYTES)
  const worker = async (): Promise<void> => {
    while (remaining > 0) {
      remaining--
      const { header } = await node.call(peerId, RPC_PROTOCOL, {}, body, { timeoutMs: 120_000 })
      if (header.received !== RPC_BODY_BYTES) throw new Error('short rpc body')
    }
  }
  await Promise.all(Array.from({ length: RPC_CONCURRENCY }, worker))
}

async function runCase (benchCase: Case, totalBytes: number): Promise<Result[]> {
  const clusterKey = generateClusterKey()
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    env: { ...process.env, BENCH_CLUSTER_KEY: Buffer.from(clusterKey).toString('hex'), BENCH_ENCRYPTION: benchCase.encryption, BENCH_UNPROTECTED: benchCase.unprotected ? '1' : '0' },
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', code => { reject(new Error(`receiver exited with ${code}`)) })
  })
  const { address } = JSON.parse(firstLine) as { address: string }
  const node = await createNetNode({ privateKey: await generateNodeKey(), clusterKey, listen: [], encryption: benchCase.encryption, unprotected: benchCase.unprotected })
  await node.start()
  const peerId = await node.dial(address)
  const label = `${benchCase.encryption.toUpperCase()}+Yamux ${benchCase.unprotected ? 'unprotected' : '+ protector'}`
  const results: Result[] = []
  try {
    const modes: Array<[Result['mode'], (n: Libp2pNetNode, p: string, b: number) => Promise<void>]> = [['raw stream', rawStream]]
    if (!benchCase.unprotected && benchCase.encryption === 'tls') modes.push(['rpc 16 MiB', rpcCalls])
    for (const [mode, run] of modes) {
      const started = process.hrtime.bigint()
      await run(node, peerId, totalBytes)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      results.push({ case: label, mode, mib: totalBytes / MIB, seconds, mbPerSecond: totalBytes / 1e6 / seconds })
    }
  } finally {
    await node.stop()
    child.stdin.end()
  }
  return results
}

async function main (): Promise<void> {
  const mibPerCase = Number(process.argv[2] ?? 2048)
  const totalBytes = mibPerCase * MIB
  const only = process.env.BENCH_CASES
  const all: Case[] = [
    { encryption: 'plaintext', unprotected: false },
    { encryption: 'tls', unprotected: true },
    { encryption: 'tls', unprotected: false },
    { encryption: 'noise', unprotected: true },
    { encryption: 'noise', unprotected: false }
  ]
  const cases = only === undefined ? all : all.filter((c) => only.split(',').includes(`${c.encryption}${c.unprotected ? '' : '+p'}`))
  const results: Result[] = []
  for (const benchCase of cases) results.push(...await runCase(benchCase, totalBytes))
  console.log('\ncase                          mode          MiB     s      MB/s')
  for (const r of results) {
    console.log(`${r.case.padEnd(30)}${r.mode.padEnd(14)}${String(r.mib).padStart(5)}${r.seconds.toFixed(2).padStart(7)}${r.mbPerSecond.toFixed(0).padStart(9)}`)
  }
  const outDir = new URL('./out/', import.meta.url)
  await mkdir(outDir, { recursive: true })
  await writeFile(new URL('net.json', outDir), JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2) + '\n')
  console.log('\nwrote bench/out/net.json')
}

if (process.argv.includes('--serve')) {
  await serve()
} else {
  await main()
}
