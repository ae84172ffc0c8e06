/**
 * `npm run bench`: Cairn's end-to-end benchmark on a local 6-node 4+2 cluster
 * (six OS processes talking libp2p on loopback, as `cairn cluster` runs them).
 *
 * Measures put and get throughput for 1 MiB, 64 MiB, 256 MiB and 1 GiB
 * objects through node-1's HTTP API (gets through node-3, so most shards
 * cross the network), 4 KiB puts and gets per second with 32 requests in
 * flight, and the peak RSS of every node process. Beside each throughput it
 * prints this machine's pipeline limit measured in the same run (the CPU of
 * every primitive a put or get pays, network included, summed per object
 * byte and divided over the cores: bench/pipeline.ts) and the ratio. The
 * older compute limit (one process, one core, no network: bench/compute.ts)
 * is still measured and written to bench.json as `computeLimit`.
 * Prints a table and writes bench/out/bench.json.
 *
 * With `--peer helia`, Helia runs the same sizes in the same run before
 * Cairn's cluster starts (bench/helia.ts: two Helia processes, add on
 * one, bitswap fetch on the other, 127.0.0.1 only), and a second table puts
 * Cairn's put/get beside Helia's add/fetch with peak RSS and the ratio of
 * Cairn's get to Helia's fetch.
 *
 * Then the commit-path figures of bench/commit.ts: 4 KiB puts/s with durable
 * commits, and 1 MiB put latency healthy vs one node SIGSTOPped.
 *
 * Then repair (bench/repair.ts): MB of shards rebuilt per second after a
 * node dies, beside the get throughput of the same cluster.
 *
 * Then S3 (bench/s3.ts): PUT/GET throughput through @aws-sdk/client-s3 for
 * 1 MiB and 256 MiB objects beside the native API's in the same run,
 * 4 KiB PUT/GET/HEAD per second, and ListObjectsV2 pages on a 100,000-key
 * bucket.
 *
 * Then start-up (bench/startup.ts): CPU of a node's start, its idle CPU and
 * RSS, and the CPU and wall time of CLI commands, from the TS sources and
 * from the compiled build, with and without Node's compile cache.
 *
 * Options: `--quick` skips the 1 GiB object, shrinks the pipeline, repair
 * and S3 benches, and measures start-up once with a 10 s idle period;
 * `--peer helia` adds the Helia comparison. `--scale` runs only the scale
 * bench (bench/scale.ts: clusters of 6, 12, 24 and 48 nodes; with `--quick`,
 * shorter rounds), writes bench/out/scale.json and its SVG charts to docs/img.
 * `--small` runs only the pipeline limit (quick), the 1 MiB row (20 objects)
 * and the 4 KiB puts and gets, and writes bench/out/bench-small.json: the
 * fixed costs per object, in a minute.
 * `--bigmeta` runs only the large-metadata bench (bench/bigmeta.ts: 1,000,000
 * seeded objects in 6 nodes; `--quick` 20,000; `--objects N`, `--nodes N`),
 * writes bench/out/bigmeta.json.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg as osLoadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { benchCommit, formatCommitBench } from './commit.ts'
import { api, call, drain, nativeThroughput, peakRssMiB, startCluster } from './local.ts'
import { benchRepair, formatRepairBench } from './repair.ts'
import { benchStartup, formatStartupBench } from './startup.ts'
import { benchS3, formatS3Bench } from './s3.ts'
import { benchScale, formatScaleBench } from './scale.ts'
import { runBigmeta } from './bigmeta.ts'
import { formatRsCost, measureComputeLimit, measureRsCost, RS_COST_HEADER, RS_COST_SHAPES } from './compute.ts'
import type { RsCost } from './compute.ts'
import { benchHelia } from './helia.ts'
import type { HeliaRow } from './helia.ts'
import { formatPipeline, measurePipeline } from './pipeline.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MiB = 1024 * 1024

interface Row {
  test: string
  size: string
  putMBps?: number
  getMBps?: number
  opsPerSec?: { put: number, get: number }
  /** The pipeline limit (bench/pipeline.ts, over TLS+Yamux) and Cairn's share of it. */
  limitPutMBps?: number
  limitGetMBps?: number
  putOfLimit?: number
  getOfLimit?: number
  /** CPU of the six node processes per object byte (the model's counterpart: pipeline putNsPerByte, getNsPerByte). */
  putCpuNsPerByte?: number
  getCpuNsPerByte?: number
  /** Peak RSS (VmHWM) of the largest node process so far, after this size. */
  peakNodeRssMiB?: number
}

/** Cairn and Helia at one size, from the same run. */
interface PeerRow { size: string, cairnPutMBps: number, cairnGetMBps: number, heliaAddMBps: number, heliaFetchMBps: number, getOverFetch: number, cairnPeakNodeRssMiB: number, helia: HeliaRow }

async function smallOps (writer: ReturnType<typeof api>, reader: ReturnType<typeof api>, count: number, concurrency: number): Promise<{ put: number, get: number }> {
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

/** The 1, 5 and 15 minute load averages, as printed beside every figure. */
function loadavg (): string {
  return osLoadavg().map((v) => v.toFixed(1)).join(' ')
}

function heliaBeside (rows: Row[], helia: HeliaRow[]): PeerRow[] {
  return helia.map((h) => {
    const c = rows.find((r) => r.test === 'object' && r.size === h.size) as Row
    const cairnGetMBps = c.getMBps ?? Number.NaN
    return { size: h.size, cairnPutMBps: c.putMBps ?? Number.NaN, cairnGetMBps, heliaAddMBps: h.addMBps, heliaFetchMBps: h.fetchMBps, getOverFetch: cairnGetMBps / h.fetchMBps, cairnPeakNodeRssMiB: c.peakNodeRssMiB ?? Number.NaN, helia: h }
  })
}

function formatPeerRows (peerRows: PeerRow[]): string[] {
  if (peerRows.length === 0) return []
  const n = (v: number, w: number, d = 1): string => v.toFixed(d).padStart(w)
  const lines = [
    '\nCairn beside Helia (same run; Helia: one node adds, another fetches over bitswap, TCP+Noise+Yamux on 127.0.0.1)',
    'size      Cairn put  Cairn get  Helia add  Helia fetch  get÷fetch  peak RSS MiB: Cairn node  Helia adder  Helia fetcher  Helia CPU ns/B add, fetch'
  ]
  for (const r of peerRows) {
    lines.push(`${r.size.padEnd(9)} ${n(r.cairnPutMBps, 9)} ${n(r.cairnGetMBps, 10)} ${n(r.heliaAddMBps, 10)} ${n(r.heliaFetchMBps, 12)} ${n(r.getOverFetch, 10, 2)} ${n(r.cairnPeakNodeRssMiB, 25, 0)} ${n(r.helia.peakRssMiB.adder, 12, 0)} ${n(r.helia.peakRssMiB.fetcher, 14, 0)}   ${r.helia.addCpuNsPerByte.toFixed(1)}, ${r.helia.fetchCpuNsPerByte.toFixed(1)}`)
  }
  return lines
}

async function main (): Promise<void> {
  const smallOnly = process.argv.includes('--small')
  const quick = smallOnly || process.argv.includes('--quick')
  if (process.argv.includes('--bigmeta')) {
    await runBigmeta(process.argv.slice(2))
    return
  }
  if (process.argv.includes('--scale')) {
    const rows = await benchScale({ quick, svgDir: join(ROOT, 'docs', 'img') })
    console.log('\nCairn at scale: N node processes on one 2-core machine, 4+2')
    console.log(formatScaleBench(rows))
    return
  }
  const peerIndex = process.argv.indexOf('--peer')
  const peer = peerIndex < 0 ? undefined : process.argv[peerIndex + 1]
  if (peer !== undefined && peer !== 'helia') throw new Error(`--peer ${peer}: the only peer is helia`)
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-'))
  const limit = await measureComputeLimit({ k: 4, m: 2, totalBytes: (smallOnly ? 64 : 256) * MiB })
  const loadAtStart = loadavg()
  const pipeline = await measurePipeline({ k: 4, m: 2, quick })
  const rsCost: RsCost[] = []
  for (const [k, m] of smallOnly ? [] : RS_COST_SHAPES) rsCost.push(await measureRsCost(k, m))
  const block = randomBytes(16 * MiB)
  const sizes: Array<[string, number, number]> = smallOnly ? [['1 MiB', MiB, 20]] : [['1 MiB', MiB, 20], ['64 MiB', 64 * MiB, 2], ['256 MiB', 256 * MiB, 1]]
  if (!quick) sizes.push(['1 GiB', 1024 * MiB, 1])
  // Helia runs before Cairn's cluster starts, so neither competes with the other's idle processes.
  const loadBeforePeer = loadavg()
  const heliaRows = peer === 'helia' ? await benchHelia(sizes) : []
  const cluster = await startCluster(dir)
  const rows: Row[] = []
  const rss: Record<string, number> = {}
  let smallOpsError: string | undefined
  try {
    const writer = api(cluster.nodes[0]?.dir as string)
    const reader = api(cluster.nodes[2]?.dir as string)
    for (const [label, size, repeat] of sizes) {
      const r = await nativeThroughput(writer, reader, size, repeat, block, 'bench', cluster.nodes.map((n) => n.pid))
      const { putMBps, getMBps } = pipeline.limit
      const peakNodeRssMiB = Math.max(...cluster.nodes.map((n) => peakRssMiB(n.pid)))
      rows.push({ test: 'object', size: label, putMBps: r.put, getMBps: r.get, limitPutMBps: putMBps, limitGetMBps: getMBps, putOfLimit: r.put / putMBps, getOfLimit: r.get / getMBps, peakNodeRssMiB, putCpuNsPerByte: r.putCpuNsPerByte, getCpuNsPerByte: r.getCpuNsPerByte })
      process.stderr.write(`${label}: put ${r.put.toFixed(1)} MB/s, get ${r.get.toFixed(1)} MB/s\n`)
    }
    for (const n of cluster.nodes) rss[n.name] = peakRssMiB(n.pid)
    // On a machine loaded far beyond its cores, nodes miss heartbeats and small puts can meet
    // NOT_ENOUGH_NODES; that is printed, and the figures measured so far are kept.
    try {
      rows.push({ test: 'small objects', size: '4 KiB', opsPerSec: await smallOps(writer, reader, 2000, 32) })
    } catch (err) {
      smallOpsError = (err as Error).message.slice(0, 200)
    }
  } finally {
    await cluster.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const loadAfterCairn = loadavg()
  const peerRows = heliaBeside(rows, heliaRows)
  const fmt = (v: number | undefined): string => (v === undefined ? '' : v.toFixed(1))
  console.log(`\nload average (1, 5, 15 min): ${loadAtStart} at the start, ${loadBeforePeer} after the pipeline${peer === undefined ? '' : ` (then ${peer})`}, ${loadAfterCairn} after Cairn's objects`)
  for (const line of formatPipeline(pipeline)) console.log(line)
  console.log(`compute limit (one process, one core, no network; bench/compute.ts): put ${fmt(limit.putMBps)} MB/s, get ${fmt(limit.getMBps)} MB/s`)
  console.log(`\nCairn benchmark: 6 nodes, 4+2, loopback, one ${pipeline.cores}-core machine (MB = 10^6 bytes; limit = pipeline limit over TLS+Yamux)`)
  console.log(`size      put MB/s  limit  ratio   get MB/s  limit  ratio   nodes' CPU ns/B: put (model ${pipeline.limit.putNsPerByte.toFixed(1)})  get (model ${pipeline.limit.getNsPerByte.toFixed(1)})`)
  for (const r of rows.filter((x) => x.test === 'object')) {
    console.log(`${r.size.padEnd(9)} ${fmt(r.putMBps).padStart(8)} ${fmt(r.limitPutMBps).padStart(6)} ${(r.putOfLimit ?? 0).toFixed(2).padStart(6)}   ${fmt(r.getMBps).padStart(8)} ${fmt(r.limitGetMBps).padStart(6)} ${(r.getOfLimit ?? 0).toFixed(2).padStart(6)}   ${fmt(r.putCpuNsPerByte).padStart(27)} ${fmt(r.getCpuNsPerByte).padStart(17)}`)
  }
  for (const line of formatPeerRows(peerRows)) console.log(line)
  const small = rows.find((r) => r.test === 'small objects')?.opsPerSec
  console.log(smallOpsError === undefined ? `4 KiB objects: ${fmt(small?.put)} puts/s, ${fmt(small?.get)} gets/s (32 in flight)` : `4 KiB objects: failed (${smallOpsError})`)
  console.log(`peak RSS per node (MiB, after the largest object): ${Object.entries(rss).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`)
  if (rsCost.length > 0) console.log(`Reed-Solomon cost per byte of stripe data (one core, 4 MiB stripes):\n${RS_COST_HEADER}\n${rsCost.map(formatRsCost).join('\n')}`)
  // Written now and again at the end, so a later bench that fails on a loaded machine does not lose these figures.
  const head = { date: new Date().toISOString(), cluster: { nodes: 6, k: 4, m: 2 }, load: { start: loadAtStart, afterPipeline: loadBeforePeer, afterCairn: loadAfterCairn }, pipeline, computeLimit: limit, rsCost, rows, peakRssMiB: rss, ...(smallOpsError === undefined ? {} : { smallOpsError }), ...(peer === undefined ? {} : { peer: { name: peer, rows: peerRows } }) }
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
  if (smallOnly) {
    writeFileSync(join(ROOT, 'bench', 'out', 'bench-small.json'), JSON.stringify(head, null, 2))
    return
  }
  const out = join(ROOT, 'bench', 'out', 'bench.json')
  writeFileSync(out, JSON.stringify({ ...head, complete: false }, null, 2))
  const commit = await benchCommit()
  for (const line of formatCommitBench(commit)) console.log(line)
  const repair = await benchRepair({ quick })
  for (const line of formatRepairBench(repair)) console.log(line)
  const s3 = await benchS3({ quick })
  for (const line of formatS3Bench(s3)) console.log(line)
  const startup = await benchStartup(quick ? { runs: 1, idleSeconds: 10 } : {})
  for (const line of formatStartupBench(startup)) console.log(line)
  writeFileSync(out, JSON.stringify({ ...head, commit, repair, s3, startup }, null, 2))
  console.log(`wrote ${out}`)
}

await main()
