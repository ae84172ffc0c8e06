/**
 * CPU cost of Cairn's network stack, robust to a busy machine: two nodes in
 * one process, 512 calls of 1 MiB (as shard transfers, `bulk`) and 2,000
 * small calls (as metadata pushes, over shared channels), reporting CPU
 * nanoseconds per byte (send + receive together) and CPU microseconds per
 * small call. Wall-clock MB/s is printed too but depends on machine load.
 *
 * Run: `npx node bench/net-cpu.ts [plaintext|tls|noise] [u]` (`u` = no protector).
 */
import { randomBytes } from 'node:crypto'
import { generateNodeKey } from '../src/net/keys.ts'
import { createNetNode } from '../src/net/node.ts'

const mode = (process.argv[2] ?? 'plaintext') as 'tls' | 'plaintext' | 'noise'
const unprotected = process.argv[3] === 'u'
const clusterKey = randomBytes(32)
const make = async (): Promise<Awaited<ReturnType<typeof createNetNode>>> =>
  await createNetNode({ privateKey: await generateNodeKey(), clusterKey, listen: ['/ip4/127.0.0.1/tcp/0'], encryption: mode, unprotected })
const a = await make()
const b = await make()
await a.start()
await b.start()
await b.handle('/cairn/bench/echo/1.0.0', async () => ({ header: { ok: 1 } }))
await a.dial(b.multiaddrs()[0] as string)
const body = randomBytes(1 << 20)
for (let i = 0; i < 20; i++) await a.call(b.peerId, '/cairn/bench/echo/1.0.0', {}, body, { bulk: true })
const calls = 512
let cpu = process.cpuUsage()
const start = performance.now()
for (let j = 0; j < calls; j += 8) await Promise.all(Array.from({ length: 8 }, async () => await a.call(b.peerId, '/cairn/bench/echo/1.0.0', {}, body, { bulk: true })))
let used = process.cpuUsage(cpu)
const wallMs = performance.now() - start
const nsPerByte = ((used.user + used.system) * 1000) / (calls * body.length)
cpu = process.cpuUsage()
const small = 2000
for (let j = 0; j < small; j += 32) await Promise.all(Array.from({ length: 32 }, async () => await a.call(b.peerId, '/cairn/bench/echo/1.0.0', {}, body.subarray(0, 100))))
used = process.cpuUsage(cpu)
console.log(`${mode}${unprotected ? ' unprotected' : ' + protector'}: ${nsPerByte.toFixed(2)} ns CPU per byte (send+receive), ${((calls * body.length) / 1e3 / wallMs).toFixed(0)} MB/s wall; small call ${((used.user + used.system) / small).toFixed(0)} us CPU`)
await a.stop()
await b.stop()
