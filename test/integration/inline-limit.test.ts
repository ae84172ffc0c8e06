/**
 * Goal (issue 12, large metadata): the put path of a real cluster follows the
 * cluster's inline limit (src/cluster/inline-limit.ts; the `inlineMaxBytes`
 * setting overrides the one derived from the member count). Under the limit
 * an object is stored inline (no shard file appears on any node) and needs
 * only the metadata quorum; above it the same size is erasure coded (shard
 * files on k+m nodes) and needs `happiness` nodes online; both read back
 * byte-identical through another node. A 3-node 2+1 cluster derives 16 KiB;
 * the setting lowers it to 1 KiB, as a cluster of 128 members would.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, q, sha } from '../helpers/api.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { addedFiles, listShardFiles } from '../helpers/shards.ts'

const K = 2
const M = 1
/** Longest wait for a setting or a version to reach every node. */
const CONVERGE_MS = 60_000
const TEST_TIMEOUT_MS = 300_000

describe('inline limit across processes', { timeout: 900_000 }, () => {
  let c: TestCluster | undefined
  const cluster = (): TestCluster => { assert.ok(c !== undefined); return c }
  const dirs = (): string[] => cluster().nodes.map((n) => n.dir)
  const shardsEverywhere = async (): Promise<string[][]> => await Promise.all(dirs().map(async (d) => await listShardFiles(d)))
  const newShards = (before: string[][], now: string[][]): number => now.reduce((n, files, i) => n + addedFiles(before[i] ?? [], files).length, 0)

  async function put (dir: string, key: string, body: Buffer): Promise<{ status: number, text: string }> {
    const r = await api(dir, 'PUT', `/object?${q('small', key)}`, body)
    return { status: r.status, text: r.body.toString('utf8').slice(0, 300) }
  }

  async function readsBack (key: string, want: Buffer): Promise<void> {
    const [, second] = dirs()
    let got = ''
    await waitFor(async () => {
      const r = await api(second as string, 'GET', `/object?${q('small', key)}`)
      got = `${r.status} ${r.status === 200 ? sha(r.body).slice(0, 8) : r.body.toString('utf8').slice(0, 80)}`
      return r.status === 200 && sha(r.body) === sha(want)
    }, CONVERGE_MS, `small/${key} to read back byte-identical through node-2 (seen ${got})`)
  }

  async function limitEverywhere (want: number): Promise<void> {
    for (const dir of dirs()) {
      await waitFor(async () => parseJsonOutput<Record<string, unknown>>(await cluster().cli(['config', 'get', '--node', dir, '--json']), 'config get --json').inlineMaxBytes === want,
        CONVERGE_MS, `inlineMaxBytes ${want} on ${dir}`)
    }
  }

  before(async () => { c = await startCluster({ nodes: 3, k: K, m: M }) })
  after(async () => { await c?.stop() }, { timeout: 120_000 })

  it('a 3-node cluster inlines 4 KiB (16 KiB derived); at inlineMaxBytes 1024 the same size is erasure coded, 1 KiB still inline', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [first] = dirs()
    await limitEverywhere(16 * 1024)
    let before = await shardsEverywhere()
    const four = randomBytes(4096)
    assert.equal((await put(first as string, 'four-inline', four)).status, 200)
    assert.equal(newShards(before, await shardsEverywhere()), 0, 'a 4 KiB object under the 16 KiB limit writes no shard file')
    await readsBack('four-inline', four)

    assertSucceeded(await cluster().cli(['config', 'set', 'inlineMaxBytes', '1024', '--node', first as string]), 'config set inlineMaxBytes 1024')
    await limitEverywhere(1024)
    before = await shardsEverywhere()
    const coded = randomBytes(4096)
    assert.equal((await put(first as string, 'four-coded', coded)).status, 200)
    assert.equal(newShards(before, await shardsEverywhere()), K + M, `a 4 KiB object over the 1 KiB limit is erasure coded: ${K + M} shard files`)
    await readsBack('four-coded', coded)

    before = await shardsEverywhere()
    const one = randomBytes(1024)
    assert.equal((await put(first as string, 'one-inline', one)).status, 200)
    assert.equal(newShards(before, await shardsEverywhere()), 0, 'a 1 KiB object at the limit is still inline')
    await readsBack('one-inline', one)

    assertFailedClearly(await cluster().cli(['config', 'set', 'inlineMaxBytes', '20000', '--node', first as string]), 'inlineMaxBytes above 16 KiB', /inlineMaxBytes/)
  })

  it('with one of three nodes down (happiness 3), a put at the limit succeeds and one above it is refused; back to derived, 4 KiB succeeds', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [first] = dirs()
    await cluster().kill('node-3')
    await waitFor(async () => ((await api(first as string, 'GET', '/status')).json as { online: number }).online === 2, CONVERGE_MS, 'node-1 to see 2 nodes online')
    const one = randomBytes(1024)
    assert.equal((await put(first as string, 'one-degraded', one)).status, 200, 'a 1 KiB (inline) put needs only the write quorum')
    const four = await put(first as string, 'four-degraded', randomBytes(4096))
    assert.notEqual(four.status, 200, 'a 4 KiB put above the limit needs happiness nodes')
    assert.match(four.text, /NOT_ENOUGH_NODES|happiness/)
    assertSucceeded(await cluster().cli(['config', 'set', 'inlineMaxBytes', '0', '--node', first as string]), 'config set inlineMaxBytes 0 (derived)')
    await waitFor(async () => parseJsonOutput<Record<string, unknown>>(await cluster().cli(['config', 'get', '--node', first as string, '--json']), 'config get').inlineMaxBytes === 16 * 1024, CONVERGE_MS, 'derived limit back on node-1')
    const again = randomBytes(4096)
    assert.equal((await put(first as string, 'four-derived', again)).status, 200, 'under the derived 16 KiB limit, 4 KiB is inline again and needs no happiness')
    await readsBack('four-derived', again)
    await readsBack('one-degraded', one)
  })
})
