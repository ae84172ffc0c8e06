/**
 * The compute limit of this machine: how fast one process on one core can run
 * the put compute (AES-256-GCM encrypt + Reed-Solomon encode + SHA-256 of every
 * shard) and the get compute (SHA-256 verify of the k fetched shards + a real
 * Reed-Solomon reconstruct with one data shard missing + decrypt), through the
 * very stripe codec the engine uses. No disk, no network: end-to-end numbers
 * above these mean the benchmark is wrong; numbers far below point at I/O.
 *
 * Run directly for a table: `npx node bench/compute.ts [totalMiB]`.
 * MB/s counts plaintext bytes, 1 MB = 10^6 bytes.
 */
import { randomBytes } from 'node:crypto'
import { STRIPE_SIZE_BYTES, decodeStripe, encodeStripe, verifyShard } from '../src/engine/stripe.ts'
import type { EncodedStripe, StripeEncodeParams } from '../src/engine/stripe.ts'
import { decryptStripe, encryptStripe, generateDataKey, generateNonceBase, sha256Hex } from '../src/crypto/index.ts'
import { createErasureCoder, shardSizeFor } from '../src/erasure/index.ts'
import { assert } from '../src/util/errors.ts'

/** Default bytes per measurement: 256 MiB runs ~1 s per phase on a modern core, enough to smooth out noise. */
export const DEFAULT_TOTAL_BYTES = 256 * 1024 * 1024

/** What to measure. */
export interface ComputeLimitParams {
  k: number
  m: number
  /** Plaintext bytes to push through each phase (rounded up to whole stripes). */
  totalBytes: number
}

/** Single-core throughput of the put and get compute, in MB/s of plaintext. */
export interface ComputeLimit {
  putMBps: number
  getMBps: number
}

/** Single-core throughput of each step, in MB/s of plaintext (RS steps: of data shards). */
export interface ComputeComponents {
  encryptMBps: number
  rsEncodeMBps: number
  sha256MBps: number
  rsReconstructMBps: number
  decryptMBps: number
}

function mbps (bytes: number, startMs: number): number {
  return bytes / 1e6 / ((performance.now() - startMs) / 1000)
}

function stripeCount (totalBytes: number): number {
  assert(Number.isInteger(totalBytes) && totalBytes > 0, 'totalBytes must be a positive integer')
  return Math.ceil(totalBytes / STRIPE_SIZE_BYTES)
}

async function measurePut (plain: Buffer, params: StripeEncodeParams, stripes: number): Promise<number> {
  await encodeStripe(plain, params) // Warm up JIT and the coder cache.
  const start = performance.now()
  for (let i = 0; i < stripes; i++) await encodeStripe(plain, { ...params, stripeIndex: i })
  return mbps(stripes * plain.length, start)
}

async function measureGet (plain: Buffer, params: StripeEncodeParams, encoded: EncodedStripe, stripes: number): Promise<number> {
  const { k, m } = params
  const decodeParams = { ...params, codec: encoded.codec, cipherBytes: encoded.cipherBytes, shardSizeBytes: encoded.shardSizeBytes }
  // Data shard 0 is missing, so the first k of the remaining shards are fetched and a real reconstruct runs.
  const fetched = encoded.shards.map((shard, index) => index >= 1 && index <= k ? shard : null)
  assert(m >= 1, 'a reconstruct needs at least one parity shard')
  const once = async (): Promise<Buffer> => {
    for (const [index, shard] of fetched.entries()) {
      if (shard !== null) assert(verifyShard(shard, encoded.hashes[index] as string), 'benchmark shard failed its hash')
    }
    return await decodeStripe(fetched, decodeParams)
  }
  assert((await once()).equals(plain), 'benchmark decode returned wrong bytes')
  const start = performance.now()
  for (let i = 0; i < stripes; i++) await once()
  return mbps(stripes * plain.length, start)
}

/**
 * Single-process, single-core speed of the put and get compute for (k, m).
 *
 * @example
 * const { putMBps, getMBps } = await measureComputeLimit({ k: 4, m: 2, totalBytes: 256 * 1024 * 1024 })
 */
export async function measureComputeLimit ({ k, m, totalBytes }: ComputeLimitParams): Promise<ComputeLimit> {
  const plain = randomBytes(STRIPE_SIZE_BYTES)
  const params: StripeEncodeParams = { k, m, dataKey: generateDataKey(), nonceBase: generateNonceBase(), stripeIndex: 0 }
  const stripes = stripeCount(totalBytes)
  const putMBps = await measurePut(plain, params, stripes)
  const encoded = await encodeStripe(plain, params)
  const getMBps = m === 0 ? Number.NaN : await measureGet(plain, params, encoded, stripes)
  return { putMBps, getMBps }
}

/**
 * Single-core speed of each step of the stripe codec for (k, m), to show where
 * the time goes.
 *
 * @example
 * const parts = await measureComputeComponents({ k: 4, m: 2, totalBytes: 64 * 1024 * 1024 })
 */
export async function measureComputeComponents ({ k, m, totalBytes }: ComputeLimitParams): Promise<ComputeComponents> {
  assert(m >= 1, 'component measurement needs at least one parity shard')
  const plain = randomBytes(STRIPE_SIZE_BYTES)
  const stripes = stripeCount(totalBytes)
  const key = generateDataKey()
  const base = generateNonceBase()
  const bytes = stripes * plain.length
  let start = performance.now()
  let sealed: Buffer = plain
  for (let i = 0; i < stripes; i++) sealed = encryptStripe(key, base, i, plain)
  const encryptMBps = mbps(bytes, start)
  start = performance.now()
  for (let i = 0; i < stripes; i++) sha256Hex(plain)
  const sha256MBps = mbps(bytes, start)
  const shardSizeBytes = shardSizeFor(plain.length, k)
  const region = Buffer.alloc(shardSizeBytes * k)
  plain.copy(region)
  const data = Array.from({ length: k }, (_, i) => region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  const coder = createErasureCoder(k, m)
  start = performance.now()
  let parity: Buffer[] = []
  for (let i = 0; i < stripes; i++) parity = await coder.encode(data)
  const rsEncodeMBps = mbps(bytes, start)
  const slots = [null, ...data.slice(1), ...parity]
  start = performance.now()
  for (let i = 0; i < stripes; i++) await coder.reconstruct(slots, shardSizeBytes)
  const rsReconstructMBps = mbps(bytes, start)
  start = performance.now()
  for (let i = 0; i < stripes; i++) decryptStripe(key, base, stripes - 1, sealed)
  const decryptMBps = mbps(bytes, start)
  return { encryptMBps, rsEncodeMBps, sha256MBps, rsReconstructMBps, decryptMBps }
}

/** Reed-Solomon cost of one code, in ns per byte of stripe data (k data shards), single core. */
export interface RsCost {
  k: number
  m: number
  /** The codec the chooser picks for (k, m). */
  codec: string
  encodeNsPerByte: number
  /** Reconstruct with m shards lost (the first m: every data shard when m >= k). */
  decodeNsPerByte: number
}

/** The codes whose Reed-Solomon cost `npm run bench` reports: the default, a mid-size and the widest plan recommends. */
export const RS_COST_SHAPES: ReadonlyArray<readonly [number, number]> = [[4, 2], [10, 4], [32, 97]]

/** Stripe data per RS cost measurement: 8 stripes keep 32+97 (~40 ns/B to encode) near a second. */
export const RS_COST_BYTES = 32 * 1024 * 1024

/**
 * Encode and decode (m shards lost) cost of the codec chosen for (k, m), on
 * 4 MiB stripes of random data.
 *
 * @example
 * const { codec, encodeNsPerByte } = await measureRsCost(32, 97)
 */
export async function measureRsCost (k: number, m: number, totalBytes = RS_COST_BYTES): Promise<RsCost> {
  assert(m >= 1, 'an RS cost needs at least one parity shard')
  const stripes = stripeCount(totalBytes)
  const shardSizeBytes = shardSizeFor(STRIPE_SIZE_BYTES, k)
  const region = randomBytes(shardSizeBytes * k)
  const data = Array.from({ length: k }, (_, i) => region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  const coder = createErasureCoder(k, m)
  let parity = await coder.encode(data) // Warm up.
  const bytes = stripes * region.length
  let start = performance.now()
  for (let i = 0; i < stripes; i++) parity = await coder.encode(data)
  const encodeNsPerByte = (performance.now() - start) * 1e6 / bytes
  const slots = [...data, ...parity].map((shard, index) => index < m ? null : shard)
  assert(Buffer.concat(await coder.reconstruct(slots, shardSizeBytes)).equals(region), 'benchmark reconstruct returned wrong bytes')
  start = performance.now()
  for (let i = 0; i < stripes; i++) await coder.reconstruct(slots, shardSizeBytes)
  const decodeNsPerByte = (performance.now() - start) * 1e6 / bytes
  return { k, m, codec: coder.codec, encodeNsPerByte, decodeNsPerByte }
}


/**
 * One line per code for the benchmark table.
 *
 * @example
 * console.log(formatRsCost(await measureRsCost(4, 2)))
 */
export function formatRsCost (cost: RsCost): string {
  return `${`${cost.k}+${cost.m}`.padStart(6)} ${cost.codec.padEnd(7)} ${cost.encodeNsPerByte.toFixed(2).padStart(9)} ${cost.decodeNsPerByte.toFixed(2).padStart(9)}`
}

/** Header of the RS cost table. */
export const RS_COST_HEADER = '   k+m codec   encode ns/B decode ns/B (m shards lost)'

/** The (k, m) shapes the table shows: small offices to large clusters. */
const TABLE_SHAPES: ReadonlyArray<readonly [number, number]> = [[2, 1], [4, 2], [6, 3], [8, 4], [10, 4], [12, 6]]

async function main (): Promise<void> {
  const totalMiB = Number(process.argv[2] ?? DEFAULT_TOTAL_BYTES / 1024 / 1024)
  const totalBytes = Math.max(1, Math.round(totalMiB * 1024 * 1024))
  const f = (n: number): string => n.toFixed(0).padStart(8)
  console.log(`compute limit, one core, ${STRIPE_SIZE_BYTES / 1024 / 1024} MiB stripes, ${totalMiB} MiB per phase, MB/s of plaintext`)
  console.log('   k+m |    put |    get')
  for (const [k, m] of TABLE_SHAPES) {
    const { putMBps, getMBps } = await measureComputeLimit({ k, m, totalBytes })
    console.log(`${`${k}+${m}`.padStart(6)} |${f(putMBps)}|${f(getMBps)}`)
  }
  const parts = await measureComputeComponents({ k: 4, m: 2, totalBytes })
  console.log(`\nReed-Solomon cost, one core, ${STRIPE_SIZE_BYTES / 1024 / 1024} MiB stripes, ns per byte of stripe data`)
  console.log(RS_COST_HEADER)
  for (const [k, m] of RS_COST_SHAPES) console.log(formatRsCost(await measureRsCost(k, m)))
  console.log('\nsteps at 4+2 (MB/s): ' + Object.entries(parts).map(([name, value]) => `${name.replace('MBps', '')} ${value.toFixed(0)}`).join(', '))
}

if (import.meta.main) await main()
