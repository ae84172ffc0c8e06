/**
 * S3 benchmark (issue 11): run alone with `node bench/s3.ts [--quick]`, or as
 * part of `npm run bench`.
 *
 * On a local 6-node 4+2 cluster, through `@aws-sdk/client-s3` with its
 * default settings (so streamed PUTs are aws-chunked with a CRC32 trailer,
 * as real SDK users send them):
 * 1. PUT through node-1 and GET through node-3 of 1 MiB and 256 MiB objects,
 *    via S3 and via the native API (`/api/v1/object`) in the same run,
 *    interleaved round by round so that the machine's load hits both alike;
 *    MB/s of each and the ratio S3/native. Bodies are streams on both paths
 *    (a PUT is a Readable with ContentLength; a GET body is hashed as it
 *    arrives, never held whole), and every GET is checked byte-exact by its
 *    SHA-256 on both paths (the native client hashes too, so both pay it).
 * 2. 4 KiB objects with 32 requests in flight: S3 PUT, GET, HEAD per second
 *    (native PUT and GET beside them).
 * 3. ListObjectsV2 pages of 1,000 keys over a bucket of 100,000 keys
 *    (10,000 with `--quick`), filled with 0-byte PUTs spread over every
 *    node's endpoint; pages/s and ms per page through node-3's local replica.
 * Prints a table (with the load average, as the figures depend on it) and
 * writes bench/out/s3.json when run alone.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { api, awaitVisible, cairnCli, call, dataStream, drain, nativeThroughput, startCluster } from './local.ts'
import type { Api } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024
/** Size of the random block the large bodies repeat (as bench/run.ts). */
const BLOCK_BYTES = 16 * MiB
/** Object sizes and rounds (full, quick) of the throughput comparison. */
const SIZES: Array<{ label: string, bytes: number, rounds: number, quickRounds: number }> = [
  { label: '1 MiB', bytes: MiB, rounds: 40, quickRounds: 10 },
  { label: '256 MiB', bytes: 256 * MiB, rounds: 4, quickRounds: 1 }
]
/** 4 KiB operations measured per kind (full, quick), and how many are in flight. */
const SMALL_OBJECT_BYTES = 4096
const SMALL_OPS = 2000
const SMALL_OPS_QUICK = 1000
const SMALL_IN_FLIGHT = 32
/** Keys in the listing bucket (full, quick), PUTs in flight while filling it, and the page size. */
const LIST_KEYS = 100_000
const LIST_KEYS_QUICK = 10_000
const FILL_IN_FLIGHT = 64
/**
 * Attempts per small request (4 KiB ops and the fill), and the pause between
 * them. On this loaded machine a node now and then misses heartbeats (a PUT
 * is refused 503 for too few nodes online), or closes a kept-alive socket
 * just as the client reuses it (ECONNRESET / EPIPE / socket hang up) once the
 * SDK's own retry quota is spent; such a request is sent again (for up to
 * half a minute, until liveness sees the nodes again), and the
 * retries are counted and shown.
 */
const SMALL_ATTEMPTS = 30
const SMALL_RETRY_DELAY_MS = 1000
const RETRYABLE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE'])
const LIST_PAGE_KEYS = 1000
/** Listing passes allowed while node-3's replica catches up with the fill (each pass reads the whole bucket). */
const LIST_CATCH_UP_PASSES = 20
/** Sockets per client: more than anything this bench keeps in flight. */
const MAX_SOCKETS = 128

interface Key { accessKeyId: string, secretAccessKey: string }
interface Rate { put: number, get: number }

/** What the S3 benchmark measured. */
export interface S3Bench {
  quick: boolean
  /** os.loadavg() (1, 5, 15 minutes) when the bench started and when it ended. */
  loadAverage: { start: number[], end: number[] }
  /** Each part is absent when `--parts` left it out. */
  throughput?: Array<{ size: string, bytes: number, rounds: number, s3MBps: Rate, nativeMBps: Rate, ratio: Rate }>
  smallObjects?: { bytes: number, ops: number, inFlight: number, retries: number, s3PerSec: { put: number, get: number, head: number }, nativePerSec: Rate }
  list?: { keys: number, fillSeconds: number, fillPutsPerSec: number, fillRetries: number, pages: number, pagesPerSec: number, msPerPage: number }
}

/** The parts of the S3 bench, in the order they run. */
export const S3_BENCH_PARTS = ['throughput', 'small', 'list'] as const
export type S3BenchPart = typeof S3_BENCH_PARTS[number]

/**
 * A client with the SDK's default retry policy (3 attempts), as users run it:
 * on this loaded machine a kept-alive socket is now and then closed by the
 * server just as the client reuses it (socket hang up), which the SDK retries.
 */
function client (endpoint: string, key: Key): S3Client {
  const httpAgent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS })
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: key, requestHandler: { httpAgent } })
}

/** SHA-256 of the bytes `dataStream(size, block)` yields. */
async function expectedSha (size: number, block: Buffer): Promise<string> {
  const h = createHash('sha256')
  for await (const c of dataStream(size, block)) h.update(c as Buffer)
  return h.digest('hex')
}

/** Read a GET body as it arrives: byte count and SHA-256. */
async function hashBody (body: Readable): Promise<{ bytes: number, sha: string }> {
  const h = createHash('sha256')
  let bytes = 0
  for await (const c of body) { h.update(c as Buffer); bytes += (c as Buffer).length }
  return { bytes, sha: h.digest('hex') }
}

/** Retries made by `retried` in this run. */
let retries = 0

/** `op()`, sent again (up to SMALL_ATTEMPTS) after a 503 or a reset socket. */
async function retried<T> (op: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op()
    } catch (err) {
      const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined
      const code = (err as { code?: string }).code ?? ''
      if (attempt >= SMALL_ATTEMPTS || (status !== 503 && !RETRYABLE_SOCKET_CODES.has(code))) throw err
      retries++
      await new Promise((resolve) => setTimeout(resolve, SMALL_RETRY_DELAY_MS))
    }
  }
}

/** Run `count` operations with `inFlight` at a time; operations per second. */
async function rate (count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const worker = async (): Promise<void> => { while (next < count) await op(next++) }
  const t = performance.now()
  await Promise.all(Array.from({ length: inFlight }, worker))
  return count / ((performance.now() - t) / 1000)
}

/**
 * One S3 PUT (node-1) and GET (node-3) of `size` bytes, under a key of its
 * own per round; seconds of each. (One key for every round would make each
 * PUT replace the unversioned bucket's null version, and the GET would race
 * the collection of the replaced one's shards, which the native rounds, in a
 * versioned bucket, never pay.)
 */
async function s3Round (writer: S3Client, reader: S3Client, readerApi: Api, size: number, block: Buffer, sha: string, round: number): Promise<{ put: number, get: number }> {
  const key = `obj-${size}-${round}`
  let t = performance.now()
  await writer.send(new PutObjectCommand({ Bucket: 'bench', Key: key, Body: dataStream(size, block), ContentLength: size }))
  const put = (performance.now() - t) / 1000
  // As in nativeThroughput: the quorum that acknowledged the PUT need not include the reader.
  await awaitVisible(readerApi, 'bench', key)
  t = performance.now()
  const res = await reader.send(new GetObjectCommand({ Bucket: 'bench', Key: key }))
  const got = await hashBody(res.Body as Readable)
  const get = (performance.now() - t) / 1000
  if (got.bytes !== size || got.sha !== sha) throw new Error(`S3 GET of ${size} bytes read ${got.bytes} bytes, sha ${got.sha}`)
  return { put, get }
}

async function throughputRows (s3w: S3Client, s3r: S3Client, writer: Api, reader: Api, block: Buffer, quick: boolean): Promise<S3Bench['throughput']> {
  const rows: S3Bench['throughput'] = []
  for (const size of SIZES) {
    const rounds = quick ? size.quickRounds : size.rounds
    const sha = await expectedSha(size.bytes, block)
    const s3Secs = { put: 0, get: 0 }
    const nativeSecs = { put: 0, get: 0 }
    // The two APIs take turns going first, so neither always runs after the other's background work.
    for (let i = 0; i < rounds; i++) {
      const native = async (): Promise<void> => {
        const r = await nativeThroughput(writer, reader, size.bytes, 1, block, 'native')
        nativeSecs.put += size.bytes / 1e6 / r.put
        nativeSecs.get += size.bytes / 1e6 / r.get
      }
      const s3 = async (): Promise<void> => {
        const r = await s3Round(s3w, s3r, reader, size.bytes, block, sha, i)
        s3Secs.put += r.put
        s3Secs.get += r.get
      }
      if (i % 2 === 0) { await native(); await s3() } else { await s3(); await native() }
    }
    const mb = size.bytes * rounds / 1e6
    const s3MBps = { put: mb / s3Secs.put, get: mb / s3Secs.get }
    const nativeMBps = { put: mb / nativeSecs.put, get: mb / nativeSecs.get }
    rows.push({ size: size.label, bytes: size.bytes, rounds, s3MBps, nativeMBps, ratio: { put: s3MBps.put / nativeMBps.put, get: s3MBps.get / nativeMBps.get } })
    process.stderr.write(`${size.label}: S3 put ${s3MBps.put.toFixed(1)} get ${s3MBps.get.toFixed(1)} MB/s; native put ${nativeMBps.put.toFixed(1)} get ${nativeMBps.get.toFixed(1)} MB/s\n`)
  }
  return rows
}

async function smallObjects (s3w: S3Client, s3r: S3Client, writer: Api, reader: Api, quick: boolean): Promise<S3Bench['smallObjects']> {
  const ops = quick ? SMALL_OPS_QUICK : SMALL_OPS
  const before = retries
  const body = randomBytes(SMALL_OBJECT_BYTES)
  const s3PerSec = {
    put: await rate(ops, SMALL_IN_FLIGHT, async (i) => await retried(async () => await s3w.send(new PutObjectCommand({ Bucket: 'small', Key: `k${i}`, Body: body })))),
    get: await rate(ops, SMALL_IN_FLIGHT, async (i) => await retried(async () => {
      const res = await s3r.send(new GetObjectCommand({ Bucket: 'small', Key: `k${i}` }))
      if ((await hashBody(res.Body as Readable)).bytes !== SMALL_OBJECT_BYTES) throw new Error(`S3 GET k${i}: wrong length`)
    })),
    head: await rate(ops, SMALL_IN_FLIGHT, async (i) => await retried(async () => await s3r.send(new HeadObjectCommand({ Bucket: 'small', Key: `k${i}` }))))
  }
  const nativePerSec = {
    put: await rate(ops, SMALL_IN_FLIGHT, async (i) => await drain(await call(writer, 'PUT', `/api/v1/object?bucket=native-small&key=k${i}`, body))),
    get: await rate(ops, SMALL_IN_FLIGHT, async (i) => await drain(await call(reader, 'GET', `/api/v1/object?bucket=native-small&key=k${i}`)))
  }
  process.stderr.write(`4 KiB: S3 ${s3PerSec.put.toFixed(0)} puts/s, ${s3PerSec.get.toFixed(0)} gets/s, ${s3PerSec.head.toFixed(0)} heads/s\n`)
  return { bytes: SMALL_OBJECT_BYTES, ops, inFlight: SMALL_IN_FLIGHT, retries: retries - before, s3PerSec, nativePerSec }
}

/** Read the whole bucket in pages of LIST_PAGE_KEYS; keys seen, pages, seconds. */
async function listAll (s3: S3Client, bucket: string): Promise<{ keys: number, pages: number, seconds: number }> {
  let token: string | undefined
  let keys = 0
  let pages = 0
  const t = performance.now()
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: LIST_PAGE_KEYS, ContinuationToken: token }))
    keys += page.KeyCount ?? 0
    pages++
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return { keys, pages, seconds: (performance.now() - t) / 1000 }
}

async function listing (fillers: S3Client[], lister: S3Client, quick: boolean): Promise<S3Bench['list']> {
  const keys = quick ? LIST_KEYS_QUICK : LIST_KEYS
  await lister.send(new CreateBucketCommand({ Bucket: 'list' }))
  const empty = Buffer.alloc(0)
  const before = retries
  const fill = async (i: number): Promise<unknown> => await retried(async () => await (fillers[i % fillers.length] as S3Client).send(new PutObjectCommand({ Bucket: 'list', Key: `k/${String(i).padStart(6, '0')}`, Body: empty })))
  const t = performance.now()
  await rate(keys, FILL_IN_FLIGHT, fill)
  const fillSeconds = (performance.now() - t) / 1000
  process.stderr.write(`filled ${keys} keys in ${fillSeconds.toFixed(1)} s\n`)
  // Writes through other nodes reach node-3's replica a moment later: read until it holds every key, then time one more pass.
  let seen = 0
  for (let pass = 0; pass < LIST_CATCH_UP_PASSES && seen < keys; pass++) seen = (await listAll(lister, 'list')).keys
  if (seen !== keys) throw new Error(`node-3 lists ${seen} of ${keys} keys after ${LIST_CATCH_UP_PASSES} passes`)
  const pass = await listAll(lister, 'list')
  if (pass.keys !== keys) throw new Error(`listing pass saw ${pass.keys} of ${keys} keys`)
  return { keys, fillSeconds, fillPutsPerSec: keys / fillSeconds, fillRetries: retries - before, pages: pass.pages, pagesPerSec: pass.pages / pass.seconds, msPerPage: pass.seconds * 1000 / pass.pages }
}

/** Run the S3 benchmark on a fresh 6-node 4+2 cluster. */
export async function benchS3 (opts: { quick?: boolean, parts?: readonly S3BenchPart[] } = {}): Promise<S3Bench> {
  const quick = opts.quick === true
  const parts = new Set(opts.parts ?? S3_BENCH_PARTS)
  const start = loadavg()
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-s3-'))
  const cluster = await startCluster(dir)
  try {
    const [n1, , n3] = cluster.nodes
    if (n1 === undefined || n3 === undefined) throw new Error('s3 bench: cluster has fewer than 3 nodes')
    const key = JSON.parse(await cairnCli(['key', 'create', 'bench', '--admin', '--json', '--node', n1.dir])) as Key
    const s3w = client(n1.s3, key)
    const s3r = client(n3.s3, key)
    for (const bucket of ['bench', 'small']) await s3w.send(new CreateBucketCommand({ Bucket: bucket }))
    const block = randomBytes(BLOCK_BYTES)
    const writer = api(n1.dir)
    const reader = api(n3.dir)
    const r: S3Bench = { quick, loadAverage: { start, end: start } }
    if (parts.has('throughput')) r.throughput = await throughputRows(s3w, s3r, writer, reader, block, quick)
    if (parts.has('small')) r.smallObjects = await smallObjects(s3w, s3r, writer, reader, quick)
    if (parts.has('list')) r.list = await listing(cluster.nodes.map((n) => client(n.s3, key)), s3r, quick)
    r.loadAverage.end = loadavg()
    return r
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The lines `npm run bench` prints for this benchmark. */
export function formatS3Bench (r: S3Bench): string[] {
  const f = (v: number): string => v.toFixed(1)
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(' ')
  const s = r.smallObjects
  const lines = [`S3 via @aws-sdk/client-s3 (6 nodes, 4+2; PUT through node-1, GET through node-3; load average ${load(r.loadAverage.start)} at start, ${load(r.loadAverage.end)} at end)`]
  if (r.throughput !== undefined) {
    lines.push('size      rounds  S3 put  native put  ratio   S3 get  native get  ratio   (MB/s)',
      ...r.throughput.map((t) => `${t.size.padEnd(9)} ${String(t.rounds).padStart(6)} ${f(t.s3MBps.put).padStart(7)} ${f(t.nativeMBps.put).padStart(11)} ${t.ratio.put.toFixed(2).padStart(6)}  ${f(t.s3MBps.get).padStart(7)} ${f(t.nativeMBps.get).padStart(11)} ${t.ratio.get.toFixed(2).padStart(6)}`))
  }
  if (s !== undefined) lines.push(`S3 4 KiB objects (${s.ops} each, ${s.inFlight} in flight, ${s.retries} retried): ${s.s3PerSec.put.toFixed(0)} PUT/s, ${s.s3PerSec.get.toFixed(0)} GET/s, ${s.s3PerSec.head.toFixed(0)} HEAD/s; native ${s.nativePerSec.put.toFixed(0)} PUT/s, ${s.nativePerSec.get.toFixed(0)} GET/s`)
  if (r.list !== undefined) lines.push(`S3 ListObjectsV2 on a ${r.list.keys.toLocaleString('en-US')}-key bucket${r.quick ? ' (--quick; the full bench uses 100,000)' : ''}: ${r.list.pages} pages of ${LIST_PAGE_KEYS}, ${r.list.pagesPerSec.toFixed(1)} pages/s, ${r.list.msPerPage.toFixed(1)} ms per page; filled with 0-byte PUTs (${FILL_IN_FLIGHT} in flight over all nodes) in ${r.list.fillSeconds.toFixed(1)} s (${r.list.fillPutsPerSec.toFixed(0)} PUT/s, ${r.list.fillRetries} retried)`)
  return lines
}

// `node bench/s3.ts [--quick] [--parts throughput,small,list]` runs this bench alone (all parts unless --parts names some).
if (import.meta.main) {
  const at = process.argv.indexOf('--parts')
  const parts = at < 0 ? undefined : (process.argv[at + 1] ?? '').split(',')
  const unknown = parts?.filter((p) => !(S3_BENCH_PARTS as readonly string[]).includes(p)) ?? []
  if (unknown.length > 0) throw new Error(`--parts takes a comma-separated list of ${S3_BENCH_PARTS.join(', ')}; got ${unknown.join(', ')}`)
  const r = await benchS3({ quick: process.argv.includes('--quick'), ...(parts === undefined ? {} : { parts: parts as S3BenchPart[] }) })
  console.log(formatS3Bench(r).join('\n'))
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  const out = join(ROOT, 'bench', 'out', 's3.json')
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cluster: { nodes: 6, k: 4, m: 2 }, ...r }, null, 2))
  console.log(`wrote ${out}`)
}
