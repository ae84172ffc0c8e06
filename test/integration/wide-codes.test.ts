// Goal: a code wider than 4+2 works end to end across processes: on a 14-node
// 10+4 cluster an object of several stripes, written through one node, reads
// back byte-identical through another after 4 nodes (the writer among them)
// are SIGKILLed, i.e. from exactly k = 10 of the 14 shards of every stripe;
// and a code beyond the native addon (4+7, the wasm codec) on 11 nodes reads
// back byte-identical with 7 nodes SIGKILLed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'

const MIB = 1024 * 1024
/** Three stripes (4 MiB each), small because 14 node processes share the machine's cores. */
const OBJECT_BYTES = 12 * MIB
const TRANSFER_TIMEOUT_MS = 240_000

async function survivesKills (nodes: number, k: number, m: number, killed: readonly string[], reader: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-it-wide-'))
  let c: TestCluster | undefined
  try {
    c = await startCluster({ nodes, k, m })
    const cluster = c
    const file = join(work, 'object.bin')
    const sha = await randomFile(file, OBJECT_BYTES)
    const stored = parseJsonOutput<{ sha256: string, size: number }>(
      await cluster.cli(['put', file, 'wide/object', '--node', cluster.node('node-1').dir, '--json'], { timeoutMs: TRANSFER_TIMEOUT_MS }), 'put through node-1')
    assert.equal(stored.sha256, sha)
    await Promise.all(killed.map((name) => cluster.kill(name)))
    const out = join(work, 'back.bin')
    assertSucceeded(await cluster.cli(['get', 'wide/object', out, '--node', cluster.node(reader).dir], { timeoutMs: TRANSFER_TIMEOUT_MS }),
      `get through ${reader} with ${killed.join(', ')} down`)
    assert.equal(await sha256File(out), sha, `byte-identical from ${k} of ${k + m} shards`)
  } finally {
    await c?.stop()
    await rm(work, { recursive: true, force: true })
  }
}

test('14-node 10+4 cluster: a 12 MiB object reads back intact with 4 nodes SIGKILLed', { timeout: 900_000 }, async () => {
  await survivesKills(14, 10, 4, ['node-1', 'node-4', 'node-9', 'node-13'], 'node-7')
})

test('11-node 4+7 cluster (wasm codec): a 12 MiB object reads back intact with 7 nodes SIGKILLed', { timeout: 900_000 }, async () => {
  await survivesKills(11, 4, 7, ['node-1', 'node-2', 'node-4', 'node-5', 'node-7', 'node-9', 'node-10'], 'node-3')
})
