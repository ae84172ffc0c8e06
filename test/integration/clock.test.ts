/**
 * Clocks across real processes (issue 8, item 4), with libfaketime shifting
 * one node's wall clock:
 * - a node whose clock is set back an hour across a restart still makes its
 *   new write to a key it wrote before the restart the current version, on
 *   every node;
 * - a node a day ahead has its writes refused by its peers (its put fails
 *   with an error naming the clock skew), no record stamped a day ahead is
 *   applied on the other nodes, and the others name it in `cairn status`
 *   (its clock offset, the refused records) and in their log.
 *
 * One 3-node cluster (2+1 coding) serves both tests, on loopback only; small
 * objects are stored inline in the metadata, so only records move. Each test
 * restarts its node on the real clock when done.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { fakeTimeEnv } from '../helpers/faketime.ts'
import { waitFor } from '../helpers/process.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000
/** How far the measured offset may be from the one faked (loopback round trips are milliseconds; a loaded machine is slower). */
const OFFSET_TOLERANCE_MS = 60_000
/** A refused record's lead is its stamp minus the receiver's clock, so it shrinks as the record ages: this much is allowed. */
const STAMP_AGE_TOLERANCE_MS = 10 * 60_000
/** Longest wait for records to reach every node (push, or 15 s anti-entropy) and for a 10 s offset measurement. */
const REPLICATION_WAIT_MS = 60_000
const TEST_TIMEOUT_MS = 300_000
/** Time limit of one HTTP request made by the test. */
const HTTP_TIMEOUT_MS = 10_000

interface Version { id: string, current: boolean }
interface ClockStatus {
  nodes: Array<{ name: string, id: string, self: boolean, clockOffsetMs: number | null }>
  clockSkew: Array<{ origin: string, name: string, pushRefused: number, pullSkipped: number, aheadMs: number }>
}

/** Versions of bucket/key through a node's HTTP API. */
async function versionsOf (dir: string, bucket: string, key: string): Promise<Version[]> {
  const api = JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
  const res = await fetch(`${api.url}/api/v1/versions?bucket=${bucket}&key=${encodeURIComponent(key)}`, { headers: { authorization: `Bearer ${api.token}` }, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  if (res.status === 404) return []
  if (res.status !== 200) throw new Error(`versions answered HTTP ${res.status}`)
  return await res.json() as Version[]
}

/** Wall-clock ms of the newest record stamp in a node's replica (read-only). */
function newestStampMs (dir: string): number {
  const db = new DatabaseSync(join(dir, 'meta.db'), { readOnly: true })
  try {
    const row = db.prepare('SELECT max(hlc) AS hlc FROM records').get() as { hlc: string | null }
    return row.hlc === null ? 0 : parseInt(row.hlc.slice(0, 12), 16)
  } finally {
    db.close()
  }
}

describe('clocks: HLC seeding and maxClockSkew', { timeout: 900_000 }, () => {
  let cluster: TestCluster
  let work: string

  before(async () => {
    fakeTimeEnv('+0') // fail at once, with the fix, when libfaketime is missing
    work = await mkdtemp(join(tmpdir(), 'cairn-clock-'))
    cluster = await startCluster({ nodes: 3, k: 2, m: 1 })
  })

  after(async () => {
    await cluster?.stop()
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  const dirOf = (name: string): string => cluster.node(name).dir

  it('a node set back an hour across a restart: its new write to a key it wrote before becomes current everywhere', { timeout: TEST_TIMEOUT_MS }, async () => {
    const v1 = join(work, 'v1')
    const v2 = join(work, 'v2')
    await writeFile(v1, 'written before the restart\n')
    await writeFile(v2, 'written after the restart, with the clock an hour back\n')
    const put1 = parseJsonOutput<Version>(await cluster.cli(['put', v1, 'clock/doc', '--node', dirOf('node-2'), '--json']), 'put v1 on node-2')

    await cluster.kill('node-2')
    await cluster.restart('node-2', { env: fakeTimeEnv('-1h') })
    await cluster.waitOnline()
    const put2 = parseJsonOutput<Version>(await cluster.cli(['put', v2, 'clock/doc', '--node', dirOf('node-2'), '--json']), 'put v2 on node-2 (clock −1 h)')
    assert.ok(put2.id > put1.id, `the new version ${put2.id} sorts after the old ${put1.id}`)

    let seen = ''
    await waitFor(async () => {
      const current = await Promise.all(['node-1', 'node-2', 'node-3'].map(async (n) => (await versionsOf(dirOf(n), 'clock', 'doc')).find((v) => v.current)?.id))
      seen = current.join(', ')
      return current.every((id) => id === put2.id)
    }, REPLICATION_WAIT_MS, `every node to see ${put2.id} current`).catch((err: Error) => { throw new Error(`${err.message}; current versions: ${seen}`) })
    const out = join(work, 'got')
    assertSucceeded(await cluster.cli(['get', 'clock/doc', out, '--node', dirOf('node-1'), '--quiet']), 'get on node-1')
    assert.equal(await readFile(out, 'utf8'), await readFile(v2, 'utf8'))

    // The clock really was set back: node-1 measures node-2 an hour behind.
    const id2 = (await cluster.apiStatus('node-2')).node.id
    await waitFor(async () => {
      const s = parseJsonOutput<ClockStatus>(await cluster.cli(['status', '--node', dirOf('node-1'), '--json']), 'status of node-1')
      const offset = s.nodes.find((n) => n.id === id2)?.clockOffsetMs
      return typeof offset === 'number' && Math.abs(offset + HOUR_MS) < OFFSET_TOLERANCE_MS
    }, REPLICATION_WAIT_MS, 'node-1 to measure node-2 an hour behind')

    // Back on the real clock for the next test.
    await cluster.kill('node-2')
    await cluster.restart('node-2')
    await cluster.waitOnline()
  })

  it('a node a day ahead: peers refuse its writes, apply nothing it stamped, and name it with its offset', { timeout: TEST_TIMEOUT_MS }, async () => {
    const file = join(work, 'ahead')
    await writeFile(file, 'stamped a day ahead\n')
    await cluster.kill('node-3')
    await cluster.restart('node-3', { env: fakeTimeEnv('+1d') })
    await cluster.waitOnline()

    const put = await cluster.cli(['put', file, 'clock/ahead', '--node', dirOf('node-3')])
    assertFailedClearly(put, 'put through the node a day ahead', /clock skew/, /24\.0 h ahead/, /maxClockSkew/)

    // The others measure its offset and list it as refused, from its push and from anti-entropy.
    const id3 = (await cluster.apiStatus('node-3')).node.id
    for (const name of ['node-1', 'node-2']) {
      let last = ''
      await waitFor(async () => {
        const s = parseJsonOutput<ClockStatus>(await cluster.cli(['status', '--node', dirOf(name), '--json']), `status of ${name}`)
        last = JSON.stringify({ nodes: s.nodes, clockSkew: s.clockSkew })
        const offset = s.nodes.find((n) => n.id === id3)?.clockOffsetMs
        const refused = s.clockSkew.find((r) => r.origin === id3)
        return typeof offset === 'number' && Math.abs(offset - DAY_MS) < OFFSET_TOLERANCE_MS &&
          s.nodes.find((n) => n.self)?.clockOffsetMs === 0 &&
          refused?.name === 'node-3' && refused.pullSkipped > 0 && refused.aheadMs > DAY_MS - STAMP_AGE_TOLERANCE_MS
      }, REPLICATION_WAIT_MS, `${name} to report node-3 a day ahead`).catch((err: Error) => { throw new Error(`${err.message}; last status: ${last}`) })
      const log = await readFile(join(dirOf(name), 'node.log'), 'utf8')
      assert.match(log, /clock skew: .* stamped by node-3 .*24\.0 h ahead/, `${name} logs the skewed node by name`)
    }
    const refusedPushes = await Promise.all(['node-1', 'node-2'].map(async (name) => parseJsonOutput<ClockStatus>(await cluster.cli(['status', '--node', dirOf(name), '--json']), 'status').clockSkew.find((r) => r.origin === id3)?.pushRefused ?? 0))
    assert.ok(refusedPushes.some((n) => n > 0), 'at least one peer refused a push from node-3')

    // Nothing stamped a day ahead is applied on the others, whatever anti-entropy ran meanwhile.
    for (const name of ['node-1', 'node-2']) {
      assert.deepEqual(await versionsOf(dirOf(name), 'clock', 'ahead'), [], `${name} has no version of clock/ahead`)
      const aheadMs = newestStampMs(dirOf(name)) - Date.now()
      assert.ok(aheadMs < OFFSET_TOLERANCE_MS, `${name}'s newest record is stamped ${aheadMs} ms ahead of the real clock`)
    }
  })
})
