/**
 * `npm run bench -- --bigmeta` (or `node bench/bigmeta.ts [--objects N]
 * [--nodes N] [--absent-writes N] [--quick]`): a cluster whose metadata
 * holds a million objects (issue 12, "Large metadata").
 *
 * Filling a million objects through the API would take about an hour on
 * this machine, so the replicas are SEEDED, not filled: the cluster is
 * created and started once (roster, a real `docs` bucket record), stopped;
 * then N version records are merged into node-1's meta.db through Cairn's
 * own MetaStore.apply (the CRDT merge, Merkle leaves and projections a
 * replicated record gets) and that file is copied to the other nodes (each
 * keeps its own local tables), before the nodes start again. The records
 * are built by the put path's own helpers (newManifest, sealInline,
 * versionBody) for tiny inline objects (a line of text each, readable with
 * `cairn get`), with realistic keys `dept-DD/user-UUUU/file-FFFFFF.txt`,
 * 1,000 files per user. Every replica then holds what replication would
 * have given it.
 *
 * Then it times, on the running cluster: start-up with N records; `cairn ls`
 * (CLI wall) and the list API call of a prefix of ~1000 keys and of one of
 * ~100; put and get of 1 KiB and 1 MiB (medians); `cairn status` and the
 * status API call; the healer's scan of every version; RSS per node;
 * meta.db + WAL size per node; and a node's catch-up after an absence: the
 * last node is SIGSTOPped, ABSENT_WRITES 1 KiB puts are made through the
 * others (an hour of an office: 2,000 small files written by ~50 people),
 * the node is resumed and the time until its replica holds every version is
 * measured, with its replication counters (pushes received, anti-entropy
 * rounds, bytes and records pulled). Before seeding, it also measures the
 * byte size of real version records of 1, 4 and 16 KiB objects stored
 * inline and erasure coded (the storage table of docs/PERFORMANCE.md).
 *
 * Prints a table and writes bench/out/bigmeta.json.
 */
import { randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DatabaseSync } from 'node:sqlite'
import { nodeTag } from '../src/engine/engine.ts'
import { newManifest, sealInline, versionBody } from '../src/engine/put.ts'
import { sha256Hex } from '../src/crypto/index.ts'
import { MetaStore } from '../src/meta/store.ts'
import type { MetaRecord } from '../src/meta/types.ts'
import { HybridClock } from '../src/util/hlc.ts'
import { api, cairnCli, call as callOnce, drain, startCluster } from './local.ts'
import type { Api, NodeInfo } from './local.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const OUT_DIR = join(ROOT, 'bench', 'out')
const KiB = 1024
const MiB = 1024 * KiB
const BUCKET = 'docs'
/** Files per user directory: the ~1000-key prefix is one user's directory. */
const FILES_PER_USER = 1000
const DEPARTMENTS = 20
/** Records merged per MetaStore.apply transaction while seeding. */
const SEED_BATCH = 5000
/** Repeats of each timed call (the median is reported). */
const REPEATS = 5
/** Concurrent puts while a node is away. */
const ABSENT_PUTS_IN_FLIGHT = 8
const POLL_MS = 250
/** Longest wait for a cluster state (every node online, a replica caught up, a healer scan). */
const WAIT_TIMEOUT_MS = 900_000

interface Replication { pushes: number, pushBytesSent: number, pushesReceived: number, pushBytesReceived: number, syncs: number, syncBytesSent: number, syncBytesReceived: number, recordsPulled: number, recordsSentBySync: number, recordsDropped: number }
interface Status { online: number, meta: { objects: number, versions: number, records: number }, replication: Replication, repair: { lastScanMs: number, lastScanTookMs: number } }

/** Byte sizes of real version records (JSON body and whole row as stored) of one object size. */
export interface RecordSize { objectBytes: number, inlineBodyBytes: number, codedBodyBytes: number }

/** Everything the bench measures. */
export interface BigmetaResult {
  objects: number
  nodes: number
  seeding: { buildMs: number, applyMs: number, copyMs: number, recordBodyBytes: number }
  recordSizes: RecordSize[]
  emptyDbBytesPerNode: number[]
  startupMs: number
  meshMs: number
  listApiMs: { keys1000: number, keys100: number }
  listCliMs: { keys1000: number, keys100: number }
  listed: { keys1000: number, keys100: number }
  statusApiMs: number
  statusCliMs: number
  putMs: { kib1: number, mib1: number }
  getMs: { kib1: number, mib1: number, seeded: number }
  healerScanMs: number
  dbBytesPerNode: number[]
  rssMiBPerNode: number[]
  catchUp: { writes: number, writeMs: number, writesPerSec: number, catchUpMs: number, absentNode: Replication, othersSyncBytesSent: number }
  loadAverage: { start: number, seeded: number, end: number }
  startedAt: string
}

/**
 * One HTTP call, tried once more when the connection is reset: the shared
 * keep-alive agent may hand out a socket to a node of the first start
 * (stopped and started again on the same port) or one the server is just
 * closing. A reset request reached no handler, so trying again is safe.
 */
async function call (target: Api, method: string, path: string, body?: Buffer): Promise<IncomingMessage> {
  try {
    return await callOnce(target, method, path, body)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err
    return await callOnce(target, method, path, body)
  }
}

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

async function status (a: Api): Promise<Status> {
  return JSON.parse((await drain(await call(a, 'GET', '/api/v1/status'), true)).text) as Status
}

async function until (what: string, check: () => Promise<boolean>): Promise<number> {
  const t = performance.now()
  for (;;) {
    try { if (await check()) return performance.now() - t } catch { /* a node busy starting: try again */ }
    if (performance.now() - t > WAIT_TIMEOUT_MS) throw new Error(`${what}: not reached in ${WAIT_TIMEOUT_MS / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

async function timed (fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

async function put (a: Api, key: string, body: Buffer): Promise<void> {
  await drain(await call(a, 'PUT', `/api/v1/object?bucket=${BUCKET}&key=${encodeURIComponent(key)}`, body))
}

async function get (a: Api, key: string): Promise<number> {
  return (await drain(await call(a, 'GET', `/api/v1/object?bucket=${BUCKET}&key=${encodeURIComponent(key)}`))).bytes
}

function rssMiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

function fileBytes (path: string): number {
  try { return statSync(path).size } catch { return 0 }
}

/** meta.db plus its WAL and shared-memory index. */
function dbBytes (dir: string): number {
  return fileBytes(join(dir, 'meta.db')) + fileBytes(join(dir, 'meta.db-wal')) + fileBytes(join(dir, 'meta.db-shm'))
}

/** The key of object number i: 1000 files per user, users spread over 20 departments. */
export function seedKey (i: number): string {
  const user = Math.floor(i / FILES_PER_USER)
  const dept = user % DEPARTMENTS
  return `dept-${String(dept).padStart(2, '0')}/user-${String(user).padStart(4, '0')}/file-${String(i % FILES_PER_USER).padStart(6, '0')}.txt`
}

/** The JSON body length of the newest version record of `key` in a replica (read-only). */
function bodyBytes (dbPath: string, key: string): number {
  const db = new DatabaseSync(dbPath, { readOnly: true })
  try {
    const row = db.prepare(`SELECT length(CAST(r.body AS BLOB)) AS n FROM versions v JOIN records r ON r.tbl = 'version' AND r.pk = v.version_id
      WHERE v.bucket = ? AND v.key = ? ORDER BY v.version_id DESC LIMIT 1`).get(BUCKET, key) as { n: number } | undefined
    return row?.n ?? NaN
  } finally { db.close() }
}

/** Byte sizes of real version records: 1, 4 and 16 KiB puts, inline (the limit at 16 KiB) and erasure coded (limit 1 byte). */
async function measureRecordSizes (node: NodeInfo, a: Api): Promise<RecordSize[]> {
  const sizes = [1 * KiB, 4 * KiB, 16 * KiB]
  for (const s of sizes) await put(a, `probe/inline-${s}`, randomBytes(s))
  await cairnCli(['config', 'set', 'inlineMaxBytes', '1', '--node', node.dir])
  await until('inlineMaxBytes 1 applied', async () => (JSON.parse(await cairnCli(['config', 'get', '--json', '--node', node.dir])) as { inlineMaxBytes: number }).inlineMaxBytes === 1)
  for (const s of sizes) await put(a, `probe/coded-${s}`, randomBytes(s))
  await cairnCli(['config', 'set', 'inlineMaxBytes', '0', '--node', node.dir])
  const db = join(node.dir, 'meta.db')
  return sizes.map((s) => ({ objectBytes: s, inlineBodyBytes: bodyBytes(db, `probe/inline-${s}`), codedBodyBytes: bodyBytes(db, `probe/coded-${s}`) }))
}

/**
 * Build `count` version records with the put path's helpers, `SEED_BATCH` at
 * a time, and merge them into node-1's replica with MetaStore.apply; then copy
 * that replica to every other node, keeping each node's local tables
 * (`local_state`: its own presence history; `shard_owners`) its own. The
 * replicated tables are then identical on every node (what replication
 * converges to; the few roster and presence records that differ are put right
 * by the nodes' first anti-entropy rounds).
 */
async function seed (dirs: string[], count: number, origin: string, originName: string, masterKey: Buffer): Promise<BigmetaResult['seeding']> {
  // Records stamped an hour ago and onward, so every later write sorts after them and none is ahead of a clock.
  let wall = Date.now() - 3_600_000
  const clock = new HybridClock(() => wall)
  const tag = nodeTag(origin)
  const seeded = join(dirs[0] as string, 'meta.db')
  const store = MetaStore.open(seeded)
  let applyMs = 0
  let buildMs = 0
  let bodyBytesTotal = 0
  try {
    for (let start = 0; start < count; start += SEED_BATCH) {
      const t = performance.now()
      const batch: MetaRecord[] = []
      for (let i = start; i < Math.min(count, start + SEED_BATCH); i++) {
        const key = seedKey(i)
        const hlc = clock.now()
        const id = `${hlc}-${tag}`
        // The put path's own inline encoding (put.ts newManifest + sealInline, what storeObjectData does for a tiny object).
        const plain = Buffer.from(`${key} v1\n`)
        const { manifest, dataKey, nonceBase } = newManifest(4, 2, masterKey)
        sealInline(manifest, dataKey, nonceBase, plain)
        const body = versionBody(BUCKET, key, originName, { size: plain.length, sha256: sha256Hex(plain), manifest, written: [], unplaced: 0, placementNotes: [], versionId: id })
        body.timeMs = wall
        batch.push({ v: 1, table: 'version', pk: id, hlc, origin, tombstone: false, body })
        bodyBytesTotal += JSON.stringify(body).length
        if (i % 64 === 0) wall++
      }
      buildMs += performance.now() - t
      const a = performance.now()
      store.apply(batch)
      applyMs += performance.now() - a
      if (start % 100_000 === 0) process.stderr.write(`bigmeta: seeded ${start + batch.length} of ${count}\n`)
    }
  } finally {
    store.close()
  }
  const t = performance.now()
  for (const dir of dirs.slice(1)) {
    const path = join(dir, 'meta.db')
    const own = join(dir, 'meta.own.db')
    MetaStore.open(path).close() // a clean close folds the WAL into the file
    renameSync(path, own)
    copyFileSync(seeded, path)
    const db = new DatabaseSync(path)
    try {
      db.exec(`ATTACH DATABASE '${own.replaceAll("'", "''")}' AS own;
        BEGIN; CREATE TEMP TABLE seeded_max AS SELECT value FROM local_state WHERE name = 'max-hlc';
        DELETE FROM local_state; INSERT INTO local_state SELECT * FROM own.local_state;
        INSERT INTO local_state(name, value) SELECT 'max-hlc', (SELECT value FROM seeded_max)
          WHERE (SELECT value FROM seeded_max) > coalesce((SELECT value FROM local_state WHERE name = 'max-hlc'), '')
          ON CONFLICT(name) DO UPDATE SET value = excluded.value;
        DELETE FROM shard_owners; INSERT INTO shard_owners SELECT * FROM own.shard_owners; COMMIT; DETACH DATABASE own;`)
    } finally { db.close() }
    rmSync(own, { force: true })
  }
  return { buildMs, applyMs, copyMs: performance.now() - t, recordBodyBytes: bodyBytesTotal / count }
}

async function putMany (apis: Api[], count: number, prefix: string): Promise<void> {
  let next = 0
  const body = randomBytes(KiB)
  await Promise.all(Array.from({ length: ABSENT_PUTS_IN_FLIGHT }, async () => {
    while (next < count) {
      const i = next++
      await put(apis[i % apis.length] as Api, `${prefix}/file-${String(i).padStart(6, '0')}.txt`, body)
    }
  }))
}

/** Run the whole bench in a fresh directory. */
export async function benchBigmeta (opts: { objects: number, nodes: number, absentWrites: number, keep?: boolean }): Promise<BigmetaResult> {
  const startedAt = new Date().toISOString()
  const loadStart = loadavg()[0] as number
  const dir = mkdtempSync(join(tmpdir(), 'cairn-bigmeta-'))
  try {
    // 1. Create the cluster, make the bucket, measure real record sizes; stop.
    process.stderr.write(`bigmeta: creating ${opts.nodes} nodes in ${dir}\n`)
    let cluster = await startCluster(dir, { nodes: opts.nodes, args: ['--k', '4', '--m', '2'] })
    let nodes = cluster.nodes
    let apis = nodes.map((n) => api(n.dir))
    let recordSizes: RecordSize[]
    try {
      await until('every node online', async () => (await status(apis[0] as Api)).online >= opts.nodes)
      recordSizes = await measureRecordSizes(nodes[0] as NodeInfo, apis[0] as Api)
      const want = (await status(apis[0] as Api)).meta.versions
      await until('every node holds the probes', async () => (await Promise.all(apis.map(async (a) => (await status(a)).meta.versions))).every((v) => v >= want))
    } finally {
      await cluster.stop()
    }
    const emptyDbBytesPerNode = nodes.map((n) => dbBytes(n.dir))
    // 2. Seed every replica with the same records (see the header: seeding, not a fill through the API).
    const first = nodes[0] as NodeInfo
    const roster = MetaStore.open(join(first.dir, 'meta.db'))
    const self = roster.live('node').find((r) => (r.body as { name: string }).name === first.name)
    roster.close()
    if (self === undefined) throw new Error('node-1 has no roster record')
    const secret = JSON.parse(readFileSync(join(first.dir, 'secret.json'), 'utf8')) as { masterKey: string }
    process.stderr.write(`bigmeta: seeding ${opts.objects} version records into ${nodes.length} replicas\n`)
    const seeding = await seed(nodes.map((n) => n.dir), opts.objects, self.pk, first.name, Buffer.from(secret.masterKey, 'base64'))
    const loadSeeded = loadavg()[0] as number
    // 3. Start again with the seeded replicas.
    let t = performance.now()
    cluster = await startCluster(dir, { nodes: opts.nodes, args: ['--k', '4', '--m', '2'] })
    const startupMs = performance.now() - t
    nodes = cluster.nodes
    apis = nodes.map((n) => api(n.dir))
    const writer = apis[0] as Api
    const reader = apis[1] as Api
    try {
      const meshMs = await until('every node online', async () => (await status(writer)).online >= opts.nodes)
      const p1000 = seedKey(0).slice(0, seedKey(0).lastIndexOf('/') + 1)
      const p100 = `${p1000}file-0001`
      const listApi = async (prefix: string): Promise<{ ms: number, n: number }> => {
        const ms: number[] = []
        let n = 0
        for (let i = 0; i < REPEATS; i++) {
          ms.push(await timed(async () => { n = (JSON.parse((await drain(await call(writer, 'GET', `/api/v1/list?bucket=${BUCKET}&prefix=${encodeURIComponent(prefix)}&limit=1000`), true)).text) as unknown[]).length }))
        }
        return { ms: median(ms), n }
      }
      const listCli = async (prefix: string): Promise<number> => {
        const ms: number[] = []
        for (let i = 0; i < 3; i++) ms.push(await timed(async () => await cairnCli(['ls', `${BUCKET}/${prefix}`, '--json', '--node', first.dir])))
        return median(ms)
      }
      const l1000 = await listApi(p1000)
      const l100 = await listApi(p100)
      const listCliMs = { keys1000: await listCli(p1000), keys100: await listCli(p100) }
      const statusApi: number[] = []
      for (let i = 0; i < REPEATS; i++) statusApi.push(await timed(async () => await status(writer)))
      const statusCli: number[] = []
      for (let i = 0; i < 3; i++) statusCli.push(await timed(async () => await cairnCli(['status', '--node', first.dir])))
      const small = randomBytes(KiB)
      const big = randomBytes(MiB)
      const put1k: number[] = []
      const put1m: number[] = []
      const get1k: number[] = []
      const get1m: number[] = []
      for (let i = 0; i < REPEATS; i++) {
        put1k.push(await timed(async () => { await put(writer, `bench/small-${i}`, small) }))
        put1m.push(await timed(async () => { await put(writer, `bench/big-${i}`, big) }))
      }
      await until('node-2 sees the bench objects', async () => (JSON.parse((await drain(await call(reader, 'GET', `/api/v1/list?bucket=${BUCKET}&prefix=bench/&limit=100`), true)).text) as unknown[]).length >= 2 * REPEATS)
      for (let i = 0; i < REPEATS; i++) {
        get1k.push(await timed(async () => { if (await get(reader, `bench/small-${i}`) !== KiB) throw new Error('short 1 KiB get') }))
        get1m.push(await timed(async () => { if (await get(reader, `bench/big-${i}`) !== MiB) throw new Error('short 1 MiB get') }))
      }
      const seededGet = await timed(async () => await get(reader, seedKey(Math.floor(opts.objects / 2))))
      // The healer scans every version every 30 s: wait for a scan that started after this start-up.
      const restartedMs = Date.now() - startupMs
      await until('a healer scan', async () => (await status(writer)).repair.lastScanMs > restartedMs + 1000)
      const healerScanMs = (await status(writer)).repair.lastScanTookMs
      const rssMiBPerNode = nodes.map((n) => rssMiB(n.pid))
      // 4. A node away for "an hour": SIGSTOP, writes, SIGCONT, time to hold every version.
      const absent = nodes[nodes.length - 1] as NodeInfo
      const absentApi = apis[apis.length - 1] as Api
      const before = (await status(absentApi)).replication
      const othersBefore = await Promise.all(apis.slice(0, -1).map(async (a) => (await status(a)).replication.syncBytesSent))
      process.kill(absent.pid, 'SIGSTOP')
      let writeMs: number
      try {
        await until('the others see the absent node offline', async () => (await status(writer)).online <= opts.nodes - 1)
        writeMs = await timed(async () => { await putMany(apis.slice(0, -1), opts.absentWrites, 'absent') })
      } finally {
        process.kill(absent.pid, 'SIGCONT')
      }
      const want = (await status(writer)).meta.versions
      t = performance.now()
      const catchUpMs = await until('the absent node catches up', async () => (await status(absentApi)).meta.versions >= want)
      const after = (await status(absentApi)).replication
      const othersAfter = await Promise.all(apis.slice(0, -1).map(async (a) => (await status(a)).replication.syncBytesSent))
      const absentNode = Object.fromEntries(Object.keys(after).filter((k) => typeof after[k as keyof Replication] === 'number').map((k) => [k, after[k as keyof Replication] - before[k as keyof Replication]])) as unknown as Replication
      const dbBytesPerNode = nodes.map((n) => dbBytes(n.dir))
      return {
        objects: opts.objects,
        nodes: opts.nodes,
        seeding,
        recordSizes,
        emptyDbBytesPerNode,
        startupMs,
        meshMs,
        listApiMs: { keys1000: l1000.ms, keys100: l100.ms },
        listCliMs,
        listed: { keys1000: l1000.n, keys100: l100.n },
        statusApiMs: median(statusApi),
        statusCliMs: median(statusCli),
        putMs: { kib1: median(put1k), mib1: median(put1m) },
        getMs: { kib1: median(get1k), mib1: median(get1m), seeded: seededGet },
        healerScanMs,
        dbBytesPerNode,
        rssMiBPerNode,
        catchUp: { writes: opts.absentWrites, writeMs, writesPerSec: opts.absentWrites / (writeMs / 1000), catchUpMs, absentNode, othersSyncBytesSent: othersAfter.reduce((s, v, i) => s + v - (othersBefore[i] ?? 0), 0) },
        loadAverage: { start: loadStart, seeded: loadSeeded, end: loadavg()[0] as number },
        startedAt
      }
    } finally {
      await cluster.stop()
    }
  } finally {
    if (opts.keep === true) process.stderr.write(`bigmeta: kept ${dir}\n`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

/** The result as a table. */
export function formatBigmeta (r: BigmetaResult): string {
  const ms = (v: number): string => `${v.toFixed(0)} ms`
  const mib = (v: number): string => `${(v / MiB).toFixed(1)} MiB`
  const rows: Array<[string, string]> = [
    ['objects (seeded) / nodes', `${r.objects.toLocaleString('en')} / ${r.nodes}`],
    ['seeding: build / merge into node-1 / copy to the others', `${ms(r.seeding.buildMs)} / ${ms(r.seeding.applyMs)} / ${ms(r.seeding.copyMs)}`],
    ['start-up of the cluster (until ready) / mesh', `${ms(r.startupMs)} / ${ms(r.meshMs)}`],
    ['list API, ~1000 keys / ~100 keys', `${ms(r.listApiMs.keys1000)} (${r.listed.keys1000}) / ${ms(r.listApiMs.keys100)} (${r.listed.keys100})`],
    ['cairn ls wall, ~1000 keys / ~100 keys', `${ms(r.listCliMs.keys1000)} / ${ms(r.listCliMs.keys100)}`],
    ['status API / cairn status wall', `${ms(r.statusApiMs)} / ${ms(r.statusCliMs)}`],
    ['put 1 KiB / 1 MiB (median)', `${ms(r.putMs.kib1)} / ${ms(r.putMs.mib1)}`],
    ['get 1 KiB / 1 MiB / a seeded object', `${ms(r.getMs.kib1)} / ${ms(r.getMs.mib1)} / ${ms(r.getMs.seeded)}`],
    ['healer scan of every version', ms(r.healerScanMs)],
    ['meta.db + WAL per node (empty → seeded)', `${mib(median(r.emptyDbBytesPerNode))} → ${r.dbBytesPerNode.map(mib).join(', ')}`],
    ['bytes per object per node', `${((median(r.dbBytesPerNode) - median(r.emptyDbBytesPerNode)) / r.objects).toFixed(0)} B (record body ${r.seeding.recordBodyBytes.toFixed(0)} B)`],
    ['RSS per node', r.rssMiBPerNode.map((v) => v.toFixed(0)).join(', ') + ' MiB'],
    ['absence: writes / rate', `${r.catchUp.writes} in ${ms(r.catchUp.writeMs)} (${r.catchUp.writesPerSec.toFixed(1)}/s)`],
    ['absent node catch-up after SIGCONT', ms(r.catchUp.catchUpMs)],
    ['  pushes / push bytes received', `${r.catchUp.absentNode.pushesReceived} / ${r.catchUp.absentNode.pushBytesReceived}`],
    ['  anti-entropy rounds / bytes received / records pulled', `${r.catchUp.absentNode.syncs} / ${r.catchUp.absentNode.syncBytesReceived} / ${r.catchUp.absentNode.recordsPulled}`],
    ['  anti-entropy bytes sent by the others', String(r.catchUp.othersSyncBytesSent)],
    ['load average (start / seeded / end)', `${r.loadAverage.start.toFixed(1)} / ${r.loadAverage.seeded.toFixed(1)} / ${r.loadAverage.end.toFixed(1)}`]
  ]
  const sizes = r.recordSizes.map((s) => `  ${String(s.objectBytes / KiB).padStart(2)} KiB object: record body inline ${s.inlineBodyBytes} B, erasure coded ${s.codedBodyBytes} B`)
  const width = Math.max(...rows.map(([k]) => k.length))
  return [...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), 'version record bodies (JSON) measured in node-1\'s meta.db:', ...sizes].join('\n')
}

/** `--objects N` (default 1,000,000; `--quick` 20,000), `--nodes N` (6), `--absent-writes N` (2000; quick 300). Writes bench/out/bigmeta.json. */
export async function runBigmeta (argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { objects: { type: 'string' }, nodes: { type: 'string' }, 'absent-writes': { type: 'string' }, quick: { type: 'boolean' }, keep: { type: 'boolean' }, bigmeta: { type: 'boolean' } }, allowPositionals: true })
  const quick = values.quick === true
  const objects = Number(values.objects ?? (quick ? 20_000 : 1_000_000))
  const nodes = Number(values.nodes ?? 6)
  const absentWrites = Number(values['absent-writes'] ?? (quick ? 300 : 2000))
  const r = await benchBigmeta({ objects, nodes, absentWrites, keep: values.keep === true })
  mkdirSync(OUT_DIR, { recursive: true })
  writeFileSync(join(OUT_DIR, 'bigmeta.json'), JSON.stringify(r, null, 2))
  console.log(`\nCairn with ${objects.toLocaleString('en')} objects in its metadata, ${nodes} nodes, 4+2`)
  console.log(formatBigmeta(r))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await runBigmeta(process.argv.slice(2))
