/**
 * The out-of-record stripe list across real processes (issue 8, item 5):
 * with the inline threshold lowered (CAIRN_MANIFEST_INLINE_MAX_BYTES, and a
 * small segment size so the list spans several segments), a multi-stripe
 * object is written through one node; every replica's version record stays
 * small and names the `segments` form; the object reads byte-identical
 * through another node, and still does with a node killed (the stripe list
 * blob is erasure coded like the data). When retention removes the version,
 * every node's shard collector deletes its shards of it (owner-tagged at put
 * time, so no stripe list has to be read), data and stripe list alike.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { addedFiles, listShardFiles } from '../helpers/shards.ts'

const NODE_COUNT = 5
/** 3+2 on 5 nodes: puts and reads both work with one node down. */
const DATA_SHARDS = 3
const PARITY_SHARDS = 2
/** 9 stripes of 4 MiB and a tail: a stripe list of ~7 KiB at 3+2. */
const OBJECT_BYTES = 9 * 4 * 1024 * 1024 + 4321
/** Lowered thresholds (defaults 256 KiB and 4 MiB). */
const INLINE_MAX_BYTES = 2048
const SEGMENT_BYTES = 2500
/** A version record with the stripe list inside would be ~7 KiB. */
const SMALL_RECORD_BYTES = 4096
const REPLICATION_WAIT_MS = 45_000
const TEST_TIMEOUT_MS = 300_000
/** Collection after seconds, not the default hour. */
process.env.CAIRN_ORPHAN_GRACE_MS = '2000'
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'

interface ListedVersion { id: string, size: number }

function versionRecord (nodeDir: string, id: string): { bytes: number, manifest: { form?: string, stripes: unknown[], stripeList?: { stripeCount: number, manifest: { stripes: unknown[] } } } } {
  const db = new DatabaseSync(join(nodeDir, 'meta.db'), { readOnly: true })
  try {
    const row = db.prepare("SELECT body FROM records WHERE tbl = 'version' AND pk = ?").get(id) as { body: string } | undefined
    assert.ok(row !== undefined, `version ${id} in ${nodeDir}`)
    return { bytes: Buffer.byteLength(row.body), manifest: JSON.parse(row.body).manifest }
  } finally {
    db.close()
  }
}

describe('out-of-record stripe lists across processes', { timeout: TEST_TIMEOUT_MS }, () => {
  let cluster: TestCluster
  let work: string
  const saved: Record<string, string | undefined> = {}
  /** Shard files the large version added, per node directory. */
  const added = new Map<string, string[]>()

  before(async () => {
    for (const [name, value] of [['CAIRN_MANIFEST_INLINE_MAX_BYTES', INLINE_MAX_BYTES], ['CAIRN_MANIFEST_SEGMENT_BYTES', SEGMENT_BYTES]] as const) {
      saved[name] = process.env[name]
      process.env[name] = String(value)
    }
    work = await mkdtemp(join(tmpdir(), 'cairn-manifest-'))
    cluster = await startCluster({ nodes: NODE_COUNT, k: DATA_SHARDS, m: PARITY_SHARDS })
  })

  after(async () => {
    await cluster?.stop()
    await rm(work, { recursive: true, force: true })
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })

  it('writes a multi-stripe object with its stripe list outside the record and reads it through another node, also with a node killed', async () => {
    const file = join(work, 'big.bin')
    const sha = await randomFile(file, OBJECT_BYTES)
    const before = new Map(await Promise.all(cluster.nodes.map(async (n) => [n.dir, await listShardFiles(n.dir)] as const)))
    const put = parseJsonOutput<ListedVersion>(await cluster.cli(['put', file, 'big/obj', '--json', '--node', cluster.node('node-1').dir]), 'put')
    assert.equal(put.size, OBJECT_BYTES)
    for (const n of cluster.nodes) added.set(n.dir, addedFiles(before.get(n.dir) ?? [], await listShardFiles(n.dir)))
    const shardCount = [...added.values()].reduce((a, l) => a + l.length, 0)
    assert.ok(shardCount > 10 * (DATA_SHARDS + PARITY_SHARDS), `data and stripe-list shards written (${shardCount})`)

    const reader = cluster.node('node-3')
    await waitFor(async () => {
      const versions = parseJsonOutput<ListedVersion[]>(await cluster.cli(['versions', 'big/obj', '--json', '--node', reader.dir]), 'versions on node-3')
      return versions.some((v) => v.id === put.id)
    }, REPLICATION_WAIT_MS, 'node-3 to list the version')
    const record = versionRecord(reader.dir, put.id)
    assert.equal(record.manifest.form, 'segments', 'the replicated manifest names the out-of-record form')
    assert.deepEqual(record.manifest.stripes, [])
    assert.equal(record.manifest.stripeList?.stripeCount, 10)
    assert.ok((record.manifest.stripeList?.manifest.stripes.length ?? 0) >= 2, 'the stripe list spans several segments')
    assert.ok(record.bytes < SMALL_RECORD_BYTES, `the version record is ${record.bytes} bytes`)

    const out = join(work, 'out-1.bin')
    assertSucceeded(await cluster.cli(['get', 'big/obj', out, '--node', reader.dir]), 'get through node-3')
    assert.equal(await sha256File(out), sha)

    await cluster.kill('node-2')
    const out2 = join(work, 'out-2.bin')
    assertSucceeded(await cluster.cli(['get', 'big/obj', out2, '--node', cluster.node('node-4').dir]), 'get through node-4 with node-2 killed')
    assert.equal(await sha256File(out2), sha)
  })

  it('deletes the data and stripe-list shards of a version that retention removes, on every node', async () => {
    await cluster.healAll()
    const first = cluster.node('node-1')
    assertSucceeded(await cluster.cli(['retention', 'big', '--keep-versions', '1', '--node', first.dir]), 'retention --keep-versions 1')
    const small = join(work, 'small.bin')
    await randomFile(small, 1000)
    assertSucceeded(await cluster.cli(['put', small, 'big/obj', '--node', first.dir]), 'second version')
    let left: string[] = []
    await waitFor(async () => {
      left = []
      for (const [dir, files] of added) {
        const now = new Set(await listShardFiles(dir))
        left.push(...files.filter((f) => now.has(f)))
      }
      return left.length === 0
    }, REPLICATION_WAIT_MS, `the removed version's shards to be deleted (${left.length} left)`)
  })
})
