/**
 * The pipeline limit of this machine: the CPU that a put and a get must pay
 * per object byte, added up over every process on the path, divided over
 * the machine's cores. Cairn's end-to-end MB/s above this limit would mean
 * the benchmark is wrong; the ratio to it says how much is left to win.
 *
 * Each primitive is measured in the same run, in CPU nanoseconds per byte
 * (`process.cpuUsage()`, all threads, so a loaded machine inflates it less
 * than wall time):
 * - AES-256-GCM encrypt and decrypt of 4 MiB stripes (src/crypto/stripe-cipher.ts);
 * - SHA-256 (src/crypto/hash.ts);
 * - Reed-Solomon encode and reconstruct (one data shard lost) at k+m, with
 *   the codec Cairn chooses (src/erasure), per byte of stripe data;
 * - one stream between two processes (bench/stream-cpu.ts): js-libp2p
 *   TCP + TLS + Yamux, js-libp2p with Cairn's cluster protector (what Cairn's
 *   nodes use), and raw loopback TCP for reference.
 *
 * The model, per object byte, with r = (k+m)/k shard bytes per object byte:
 *
 *   put = encrypt + RS encode + SHA-256 (object digest)      client
 *       + r × SHA-256                                        client names every shard
 *       + r × (send + receive)                               every shard crosses one stream
 *       + r × SHA-256                                        holder verifies before storing
 *   get = send + receive                                     k shards cross one stream
 *       + 2 × SHA-256                                        holder verify-on-read, client verify
 *       + decrypt                                            data shards present: no reconstruct
 *
 *   limit MB/s = cores × 1000 / (ns per object byte)
 *
 * Left out, so the real path costs more than the model: the HTTP hop between
 * the benchmark and the node, disk writes, fsync and reads, the metadata
 * commit, and the benchmark's own SHA-256 of what it reads. Counted in full
 * although the writer keeps one of its k+m shards locally and the reader
 * often holds one data shard (at 6 nodes, 4+2). A degraded get (one data
 * shard lost) adds RS reconstruct, printed beside.
 *
 * Run directly: `npx node bench/pipeline.ts [--quick]`.
 */
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { decryptStripe, encryptStripe, generateDataKey, generateNonceBase, sha256Hex } from '../src/crypto/index.ts'
import { STRIPE_SIZE_BYTES } from '../src/engine/stripe.ts'
import { createErasureCoder, shardSizeFor } from '../src/erasure/index.ts'
import { assert } from '../src/util/errors.ts'
import { measureStreamCpu } from './stream-cpu.ts'
import type { StreamCpu, StreamMode } from './stream-cpu.ts'

/** CPU ns per byte of each in-process primitive, one thread. */
export interface Primitives {
  aesGcmEncrypt: number
  aesGcmDecrypt: number
  sha256: number
  /** Per byte of stripe data (the k data shards). */
  rsEncode: number
  /** Rebuild one lost data shard from the other k; per byte of stripe data. */
  rsReconstruct: number
  codec: string
}

/** The model for one transport. */
export interface PipelineLimit {
  transport: StreamMode
  putNsPerByte: number
  getNsPerByte: number
  degradedGetNsPerByte: number
  putMBps: number
  getMBps: number
  degradedGetMBps: number
}

/** Everything measured, and the limits. */
export interface Pipeline {
  k: number
  m: number
  cores: number
  stripeSizeBytes: number
  primitives: Primitives
  streams: StreamCpu[]
  /** Over js-libp2p TCP + TLS + Yamux (the definition), the limit `npm run bench` prints. */
  limit: PipelineLimit
  /** Over the transport Cairn's nodes use (cluster protector + plaintext + Yamux). */
  limitCairnTransport: PipelineLimit
}

/** Bytes per primitive and per stream; `--quick` halves them. */
export const PIPELINE_BYTES = 256 * 1024 * 1024

function cpuNs (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

async function nsPerByte (bytesPerRound: number, rounds: number, work: (i: number) => unknown): Promise<number> {
  await work(0) // Warm up JIT and buffers.
  const start = cpuNs()
  for (let i = 0; i < rounds; i++) await work(i)
  return (cpuNs() - start) / (bytesPerRound * rounds)
}

/**
 * CPU per byte of AES-256-GCM, SHA-256 and Reed-Solomon at (k, m) on 4 MiB stripes.
 *
 * @example
 * const p = await measurePrimitives(4, 2, 64 * 1024 * 1024)
 */
export async function measurePrimitives (k: number, m: number, totalBytes = PIPELINE_BYTES): Promise<Primitives> {
  assert(m >= 1, 'a reconstruct needs at least one parity shard')
  const rounds = Math.max(1, Math.ceil(totalBytes / STRIPE_SIZE_BYTES))
  const plain = randomBytes(STRIPE_SIZE_BYTES)
  const key = generateDataKey()
  const base = generateNonceBase()
  const sealed = encryptStripe(key, base, 7, plain)
  const aesGcmEncrypt = await nsPerByte(plain.length, rounds, (i) => encryptStripe(key, base, i, plain))
  const aesGcmDecrypt = await nsPerByte(plain.length, rounds, () => decryptStripe(key, base, 7, sealed))
  const sha256 = await nsPerByte(plain.length, rounds, () => sha256Hex(plain))
  const shardSizeBytes = shardSizeFor(STRIPE_SIZE_BYTES, k)
  const region = randomBytes(shardSizeBytes * k)
  const data = Array.from({ length: k }, (_, i) => region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  const coder = createErasureCoder(k, m)
  const rsEncode = await nsPerByte(region.length, rounds, async () => await coder.encode(data))
  const parity = await coder.encode(data)
  const slots = [null, ...data.slice(1), ...parity]
  assert(Buffer.concat(await coder.reconstruct(slots, shardSizeBytes)).equals(region), 'benchmark reconstruct returned wrong bytes')
  const rsReconstruct = await nsPerByte(region.length, rounds, async () => await coder.reconstruct([...slots], shardSizeBytes))
  return { aesGcmEncrypt, aesGcmDecrypt, sha256, rsEncode, rsReconstruct, codec: coder.codec }
}

/**
 * The pipeline model (see the module comment) for one transport.
 *
 * @example
 * const { putMBps } = pipelineLimit(primitives, stream, 4, 2, 2)
 */
export function pipelineLimit (p: Primitives, stream: StreamCpu, k: number, m: number, cores: number): PipelineLimit {
  const r = (k + m) / k
  const net = stream.sendNsPerByte + stream.receiveNsPerByte
  const putNsPerByte = p.aesGcmEncrypt + p.rsEncode + p.sha256 + r * p.sha256 + r * net + r * p.sha256
  const getNsPerByte = net + 2 * p.sha256 + p.aesGcmDecrypt
  const degradedGetNsPerByte = getNsPerByte + p.rsReconstruct
  const mbps = (ns: number): number => cores * 1000 / ns
  return {
    transport: stream.mode,
    putNsPerByte,
    getNsPerByte,
    degradedGetNsPerByte,
    putMBps: mbps(putNsPerByte),
    getMBps: mbps(getNsPerByte),
    degradedGetMBps: mbps(degradedGetNsPerByte)
  }
}

/**
 * Measure every primitive and both limits, in this run.
 *
 * @example
 * const { limit } = await measurePipeline({ k: 4, m: 2 })
 * console.log(limit.putMBps, limit.getMBps)
 */
export async function measurePipeline ({ k, m, quick = false }: { k: number, m: number, quick?: boolean }): Promise<Pipeline> {
  const bytes = quick ? PIPELINE_BYTES / 2 : PIPELINE_BYTES
  const primitives = await measurePrimitives(k, m, bytes)
  const streams: StreamCpu[] = []
  for (const mode of ['tls', 'cairn', 'tcp'] as const) streams.push(await measureStreamCpu(mode, bytes))
  const cores = availableParallelism()
  const byMode = (mode: StreamMode): StreamCpu => streams.find((s) => s.mode === mode) as StreamCpu
  return {
    k,
    m,
    cores,
    stripeSizeBytes: STRIPE_SIZE_BYTES,
    primitives,
    streams,
    limit: pipelineLimit(primitives, byMode('tls'), k, m, cores),
    limitCairnTransport: pipelineLimit(primitives, byMode('cairn'), k, m, cores)
  }
}

/**
 * The primitives and the limits as table lines.
 *
 * @example
 * for (const line of formatPipeline(await measurePipeline({ k: 4, m: 2 }))) console.log(line)
 */
export function formatPipeline (p: Pipeline): string[] {
  const f = (v: number): string => v.toFixed(2).padStart(6)
  const x = p.primitives
  const lines = [
    `Pipeline limit: CPU per byte of each primitive (this run), ${p.k}+${p.m}, ${p.stripeSizeBytes / 1024 / 1024} MiB stripes, ${p.cores} cores`,
    `  AES-256-GCM encrypt ${f(x.aesGcmEncrypt)} ns/B   decrypt ${f(x.aesGcmDecrypt)} ns/B`,
    `  SHA-256             ${f(x.sha256)} ns/B`,
    `  RS ${x.codec} encode  ${f(x.rsEncode)} ns/B   reconstruct ${f(x.rsReconstruct)} ns/B (per byte of stripe data)`
  ]
  for (const s of p.streams) {
    const name = { tls: 'libp2p TCP+TLS+Yamux', cairn: 'libp2p + Cairn protector', tcp: 'raw loopback TCP' }[s.mode]
    lines.push(`  ${name.padEnd(24)} send ${f(s.sendNsPerByte)} ns/B   receive ${f(s.receiveNsPerByte)} ns/B   (${s.wallMBps.toFixed(0)} MB/s wall)`)
  }
  for (const l of [p.limit, p.limitCairnTransport]) {
    const over = l.transport === 'tls' ? 'over TLS+Yamux          ' : 'over Cairn\'s protector  '
    lines.push(`  limit ${over} put ${l.putNsPerByte.toFixed(2)} ns/B → ${l.putMBps.toFixed(0)} MB/s   get ${l.getNsPerByte.toFixed(2)} ns/B → ${l.getMBps.toFixed(0)} MB/s   degraded get ${l.degradedGetMBps.toFixed(0)} MB/s`)
  }
  return lines
}

if (import.meta.main) {
  for (const line of formatPipeline(await measurePipeline({ k: 4, m: 2, quick: process.argv.includes('--quick') }))) console.log(line)
}
