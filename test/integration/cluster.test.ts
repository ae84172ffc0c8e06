/**
 * `cairn cluster` as a process supervisor: SIGTERM stops every node process
 * cleanly within a bounded time, and running it again on the same directory
 * brings back the same nodes with their data.
 */
import assert from 'node:assert/strict'
import { readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { randomFile, sha256File, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { isAlive } from '../helpers/process.ts'

/** The cluster's own SIGKILL fallback fires at 15 s; a clean stop is well within it. */
const CLEAN_STOP_LIMIT_MS = 14_000
const TEST_TIMEOUT_MS = 300_000

describe('cairn cluster: stop and restart on the same directory', { timeout: 900_000 }, () => {
  let root: string
  let clusterDir: string
  let first: TestCluster | undefined
  let second: TestCluster | undefined
  let fileSha: string | undefined

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'cairn-it-cluster-'))
    clusterDir = join(root, 'cluster')
  })

  after(async () => {
    await first?.stop({ keepDir: true })
    await second?.stop({ keepDir: true })
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  }, { timeout: 120_000 })

  it('SIGTERM to the cluster process stops every node process within a bounded time', { timeout: TEST_TIMEOUT_MS }, async () => {
    first = await startCluster({ nodes: 3, k: 2, m: 1, dir: clusterDir })
    const file = join(root, 'data.bin')
    fileSha = await randomFile(file, 8 * 1024 * 1024)
    assertSucceeded(await first.cli(['put', file, 'demo/kept', '--node', first.node('node-1').dir]), 'put before the stop')

    const pids = first.nodes.map((n) => n.pid)
    assert.ok(pids.every(isAlive), 'every node runs before the stop')
    const report = await first.stop({ keepDir: true })
    assert.equal(report.clusterExitCode, 0, 'the cluster process exits 0 on SIGTERM')
    assert.deepEqual(report.lingeringPids, [], 'no node process outlives the cluster')
    assert.ok(report.stoppedInMs < CLEAN_STOP_LIMIT_MS, `stopping took ${report.stoppedInMs} ms`)
    assert.deepEqual(pids.filter(isAlive), [], 'every node pid is gone')
    for (const n of first.nodes) {
      const log = await readFile(join(n.dir, 'node.log'), 'utf8')
      assert.match(log, /SIGTERM: stopping/, `${n.name} was asked to stop`)
      assert.doesNotMatch(log, /stop timed out/, `${n.name} stopped cleanly`)
    }
  })

  it('run again on the same directory, it reuses the nodes and their data', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(fileSha !== undefined, 'the previous test stored an object')
    const ids = await nodeIds(clusterDir)
    second = await startCluster({ nodes: 3, k: 2, m: 1, dir: clusterDir })
    assert.deepEqual(await nodeIds(clusterDir), ids, 'the same node identities are reused')
    const listed = parseJsonOutput<Array<{ key: string }>>(await second.cli(['ls', 'demo', '--json', '--node', second.node('node-2').dir]), 'ls after restart')
    assert.deepEqual(listed.map((o) => o.key), ['kept'])
    const out = join(root, 'data.out')
    assertSucceeded(await second.cli(['get', 'demo/kept', out, '--node', second.node('node-2').dir]), 'get after restart')
    assert.equal(await sha256File(out), fileSha)
    const report = await second.stop({ keepDir: true })
    assert.deepEqual(report.lingeringPids, [])
  })
})

/** The libp2p keys of node-1…node-3, as configured in their node.json. */
async function nodeIds (dir: string): Promise<string[]> {
  return await Promise.all([1, 2, 3].map(async (i) => {
    const config = JSON.parse(await readFile(join(dir, `node-${i}`, 'node.json'), 'utf8')) as { peerKey: string }
    return config.peerKey
  }))
}
