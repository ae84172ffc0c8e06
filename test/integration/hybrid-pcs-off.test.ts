/**
 * The hybrid must-show (issue 10) on a real 8-node cluster, 2 anchors and
 * 6 PCs, 4+2:
 * - objects put through every node (one of several stripes) put k = 4 shards
 *   of every stripe on the anchors;
 * - all 6 PCs SIGSTOPped (hung, as a sleeping PC looks to its peers): every
 *   object reads back byte-identical through an anchor;
 * - the PCs come back, more objects are put (through PCs and anchors);
 * - all 6 PCs SIGKILLed this time (gone, connections closed): every object,
 *   old and new, still reads back byte-identical through an anchor;
 * - the PCs restart: every object is healthy and reads through a PC.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { fetchStatus, startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'
import { holdsKeys, stripeHolders } from '../helpers/holders.ts'

process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'

const K = 4
const M = 2
const NODES = 8
const KIB = 1024
const MIB = 1024 * KIB
const ANCHORS = ['node-1', 'node-2']
const PCS = ['node-3', 'node-4', 'node-5', 'node-6', 'node-7', 'node-8']
/** Objects per batch; the first of each batch spans several 4 MiB stripes. */
const BATCH = 10
const CONVERGE_MS = 90_000
const TEST_TIMEOUT_MS = 600_000

interface Stored { key: string, sha: string }

describe('hybrid pool: 2 anchors and 6 PCs, 4+2, every PC off twice', { timeout: 2_400_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dir = (name: string): string => c.node(name).dir
  const onlineSeenBy = async (name: string): Promise<number> => (await fetchStatus(dir(name))).nodes.filter((n) => n.online).length
  const stopped = new Set<number>()
  const hang = (names: readonly string[]): void => { for (const n of names) { process.kill(c.node(n).pid, 'SIGSTOP'); stopped.add(c.node(n).pid) } }
  const resume = (): void => { for (const pid of stopped) { try { process.kill(pid, 'SIGCONT') } catch { /* gone */ } } stopped.clear() }

  /** Put `BATCH` objects named `${prefix}-i` through every node in turn; the first one is 3 stripes long. */
  const putBatch = async (prefix: string): Promise<void> => {
    for (let i = 0; i < BATCH; i++) {
      const bytes = randomBytes(i === 0 ? 9 * MIB : randomInt(17, 400) * KIB)
      const writer = c.nodes[i % NODES]?.name as string
      const a = await api(dir(writer), 'PUT', `/object?${q('hybrid', `${prefix}-${i}`)}`, bytes)
      assert.equal(a.status, 200, `${prefix}-${i} through ${writer}: ${a.body.toString('utf8').slice(0, 300)}`)
      assert.equal((a.json as { placementNotes?: string[] }).placementNotes, undefined, `put of ${prefix}-${i} through ${writer} broke a placement rule`)
      stored.push({ key: `${prefix}-${i}`, sha: sha(bytes) })
    }
  }

  /** Every stored object through an anchor (alternating), byte-identical. */
  const readAllThroughAnchors = async (when: string): Promise<void> => {
    for (const [i, o] of stored.entries()) {
      const anchor = ANCHORS[i % ANCHORS.length] as string
      const got = await api(dir(anchor), 'GET', `/object?${q('hybrid', o.key)}`)
      assert.equal(got.status, 200, `${o.key} through ${anchor} ${when}: ${got.body.toString('utf8').slice(0, 200)}`)
      assert.equal(sha(got.body), o.sha, `${o.key} byte-identical through ${anchor} ${when}`)
    }
  }

  /** k shards of every stripe on the anchors (2 each), the other m on distinct PCs. */
  const assertAnchorsHoldK = async (): Promise<void> => {
    const s = await fetchStatus(dir('node-1'))
    const nameOf = new Map(s.nodes.map((n) => [n.id, n.name]))
    await waitFor(async () => holdsKeys(dir('node-1'), 'hybrid', stored.map((o) => o.key)), CONVERGE_MS, "node-1's replica to hold every put")
    const stripes = stripeHolders(dir('node-1'))
    assert.ok(stripes.length >= stored.length + 2, `${stripes.length} stripes for ${stored.length} objects`)
    for (const holders of stripes) {
      const names = holders.map((id) => nameOf.get(id) ?? id)
      assert.equal(names.length, K + M)
      for (const a of ANCHORS) assert.equal(names.filter((n) => n === a).length, K / ANCHORS.length, `${a} holds its share of ${names.join(',')}`)
      const pcs = names.filter((n) => PCS.includes(n))
      assert.equal(new Set(pcs).size, M, `the other shards on ${M} distinct PCs: ${names.join(',')}`)
    }
  }

  before(async () => {
    c = await startCluster({ nodes: NODES, k: K, m: M })
    for (const [i, name] of ANCHORS.entries()) assertSucceeded(await c.cli(['node', 'role', name, 'anchor', '--node', dir(PCS[i] as string)]), `cairn node role ${name} anchor`)
    await waitFor(async () => {
      for (const n of c.nodes) {
        const s = await fetchStatus(n.dir) as unknown as { nodes: Array<{ name: string, role: string }> }
        if (s.nodes.some((v) => v.role !== (ANCHORS.includes(v.name) ? 'anchor' : 'pc'))) return false
      }
      return true
    }, CONVERGE_MS, 'every node to see both anchors')
  })
  after(async () => {
    resume()
    await c?.stop()
  })

  it('puts a first batch with k shards of every stripe on the anchors', { timeout: TEST_TIMEOUT_MS }, async () => {
    await putBatch('first')
    await assertAnchorsHoldK()
  })

  it('reads every object through an anchor with all 6 PCs stopped (SIGSTOP)', { timeout: TEST_TIMEOUT_MS }, async () => {
    hang(PCS)
    try {
      for (const a of ANCHORS) await waitFor(async () => await onlineSeenBy(a) === ANCHORS.length, CONVERGE_MS, `${a} to see every PC offline`)
      await readAllThroughAnchors('with every PC stopped')
    } finally {
      resume()
    }
  })

  it('puts more once the PCs are back', { timeout: TEST_TIMEOUT_MS }, async () => {
    await c.waitOnline()
    await putBatch('second')
    await assertAnchorsHoldK()
  })

  it('reads every object, old and new, through an anchor with all 6 PCs killed (SIGKILL)', { timeout: TEST_TIMEOUT_MS }, async () => {
    for (const name of PCS) await c.kill(name)
    for (const a of ANCHORS) await waitFor(async () => await onlineSeenBy(a) === ANCHORS.length, CONVERGE_MS, `${a} to see every PC offline`)
    await readAllThroughAnchors('with every PC killed')
  })

  it('after the PCs restart, every object is healthy and reads through a PC', { timeout: TEST_TIMEOUT_MS }, async () => {
    await c.healAll()
    await waitFor(async () => {
      const h = await healStatus(dir('node-8'))
      return h.objects.total === stored.length && h.objects.healthy === stored.length
    }, CONVERGE_MS, 'every object healthy after the PCs came back')
    for (const o of stored) {
      const got = await api(dir('node-8'), 'GET', `/object?${q('hybrid', o.key)}`)
      assert.equal(got.status, 200, `${o.key} through node-8: ${got.body.toString('utf8').slice(0, 200)}`)
      assert.equal(sha(got.body), o.sha)
    }
  })
})
