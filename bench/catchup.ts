/**
 * `node bench/catchup.ts [--objects N] [--absent N] [--seed-dir DIR]`: one
 * anti-entropy catch-up of a replica that missed `--absent` writes
 * (default 2,000) on a table of `--objects` version records (default
 * 1,000,000), between two on-disk MetaStores in this process, over a
 * transport that is a function call (so what it measures is the
 * protocol's own cost: the SQLite reads, the hashing, the JSON and the
 * bytes, not the network's).
 *
 * Replica A holds every record; replica B the same less the last `--absent`
 * ones (B's file is a copy of A's before those were applied, so both went
 * through MetaStore.apply: real Merkle leaves and projections). B then runs
 * `syncWith(A)` once and the bench prints the wall time, the messages and
 * bytes of each operation, and checks that B holds every record.
 *
 * Seeding a million records takes about a minute; `--seed-dir DIR` keeps
 * the seeded files there and reuses them on the next run with the same
 * counts. Writes bench/out/catchup.json.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MetaStore } from '../src/meta/store.ts'
import { Replicator } from '../src/meta/replicator.ts'
import type { MetaTransport } from '../src/meta/replicator.ts'
import type { MetaRecord } from '../src/meta/types.ts'
import { HybridClock } from '../src/util/hlc.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SEED_BATCH = 5000

/** A version record of the size bigmeta's seeded inline objects have (~500 B of body). */
function record (i: number, clock: HybridClock): MetaRecord {
  const hlc = clock.now()
  const key = `dept-${String(i % 100).padStart(2, '0')}/user-${String(Math.floor(i / 1000)).padStart(4, '0')}/file-${String(i).padStart(6, '0')}.txt`
  return { v: 1, table: 'version', pk: `${hlc}-0a1b2c3d`, hlc, origin: 'node-a', tombstone: false, body: { bucket: 'docs', key, size: 40, timeMs: Date.now(), nodeName: 'pc-a', deleteMarker: false, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', manifest: { k: 4, m: 2, stripeSizeBytes: 4194304, codec: 'native', wrappedKey: 'x'.repeat(80), nonceBase: 'n'.repeat(16), inline: 'i'.repeat(76), stripes: [] } } }
}

function seed (path: string, from: number, to: number, clock: HybridClock): void {
  const store = MetaStore.open(path)
  try {
    for (let start = from; start < to; start += SEED_BATCH) {
      const batch: MetaRecord[] = []
      for (let i = start; i < Math.min(to, start + SEED_BATCH); i++) batch.push(record(i, clock))
      store.apply(batch)
      if ((start - from) % 100_000 === 0) process.stderr.write(`catchup: seeded ${start + batch.length} of ${to}\n`)
    }
  } finally {
    store.close()
  }
}

interface OpStats { messages: number, bytesSent: number, bytesReceived: number, ms: number }

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { objects: { type: 'string', default: '1000000' }, absent: { type: 'string', default: '2000' }, 'seed-dir': { type: 'string' } } })
  const objects = Number(values.objects)
  const absent = Number(values.absent)
  const seedDir = values['seed-dir'] ?? mkdtempSync(join(tmpdir(), 'cairn-catchup-'))
  mkdirSync(seedDir, { recursive: true })
  const seededB = join(seedDir, `b-${objects}-${absent}.db`)
  const seededA = join(seedDir, `a-${objects}-${absent}.db`)
  if (!existsSync(seededA) || !existsSync(seededB)) {
    const clock = new HybridClock(() => Date.now() - 3_600_000)
    seed(seededB, 0, objects - absent, clock)
    copyFileSync(seededB, seededA)
    seed(seededA, objects - absent, objects, new HybridClock())
  }
  const work = mkdtempSync(join(tmpdir(), 'cairn-catchup-run-'))
  copyFileSync(seededA, join(work, 'a.db'))
  copyFileSync(seededB, join(work, 'b.db'))
  const a = MetaStore.open(join(work, 'a.db'))
  const b = MetaStore.open(join(work, 'b.db'))
  const ops = new Map<string, OpStats>()
  const replicators: Record<string, Replicator> = {}
  const transport = (self: string): MetaTransport => ({
    onlinePeers: () => [self === 'a' ? 'b' : 'a'],
    call: async (peer, header, body) => {
      const t = performance.now()
      const res = await (replicators[peer] as Replicator).handle(header, body)
      const out = res.body ?? new Uint8Array(0)
      const op = String(header.op)
      const s = ops.get(op) ?? { messages: 0, bytesSent: 0, bytesReceived: 0, ms: 0 }
      s.messages++
      s.bytesSent += Buffer.byteLength(JSON.stringify(header)) + body.length
      s.bytesReceived += Buffer.byteLength(JSON.stringify(res.header)) + out.length
      s.ms += performance.now() - t
      ops.set(op, s)
      return { header: res.header, body: out }
    }
  })
  replicators.a = new Replicator(a, transport('a'))
  replicators.b = new Replicator(b, transport('b'))
  try {
    const before = b.counts().versions
    const t = performance.now()
    const { pulled } = await (replicators.b as Replicator).syncWith('a')
    const wallMs = performance.now() - t
    const after = b.counts().versions
    const again = await (replicators.b as Replicator).syncWith('a')
    const caughtUp = after === a.counts().versions && again.pulled === 0
    console.log(`catch-up of ${absent} records missed out of ${objects}: ${wallMs.toFixed(0)} ms, ${pulled} pulled (versions ${before} -> ${after}), ${caughtUp ? 'in step' : 'NOT IN STEP'}`)
    console.log('| op | messages | bytes sent | bytes received | ms answering |')
    console.log('| --- | --- | --- | --- | --- |')
    for (const [op, s] of ops) console.log(`| ${op} | ${s.messages} | ${s.bytesSent} | ${s.bytesReceived} | ${s.ms.toFixed(0)} |`)
    const total = [...ops.values()].reduce((sum, s) => sum + s.bytesSent + s.bytesReceived, 0)
    console.log(`bytes on the wire: ${total} (${(total / Math.max(1, pulled)).toFixed(0)} per record pulled); this side's own work: ${(wallMs - [...ops.values()].reduce((sum, s) => sum + s.ms, 0)).toFixed(0)} ms`)
    mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true })
    writeFileSync(join(ROOT, 'bench', 'out', 'catchup.json'), JSON.stringify({ objects, absent, wallMs, pulled, caughtUp, ops: Object.fromEntries(ops), wireBytes: total }, null, 2))
    if (!caughtUp) process.exitCode = 1
  } finally {
    a.close()
    b.close()
    rmSync(work, { recursive: true, force: true })
    if (values['seed-dir'] === undefined) rmSync(seedDir, { recursive: true, force: true })
  }
}

await main()
