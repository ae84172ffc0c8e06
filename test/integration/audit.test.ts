/**
 * Shard audits on a real 8-node 4+2 cluster (issue 10, "Audits"): two lying
 * peers, one that acknowledges shard stores and throws the bytes away
 * (`shards=discard`) and one that keeps them but serves and answers for
 * other bytes (`shards=forge`), neither reporting any loss of its own, so
 * only audits can find them. The discarder lies from before the first put;
 * the forger turns after the puts, which times its capture. Goals:
 * - both are caught, the forger within a bounded number of audit rounds
 *   after it turns (counted by the auditors' own round counters), as seen
 *   on another node's status;
 * - every shard they were named for is rebuilt elsewhere: every object is
 *   healthy on every node, no current placement names a liar, and every
 *   object reads back byte-identical;
 * - an honest node never fails an audit, while repairs move shards and
 *   retention removes versions whose shards the collectors delete;
 * - the liars are flagged `failing` in `cairn status` (JSON and table) and a
 *   new put places no shard on them;
 * - an honest holder whose disk corrupted or lost a shard reports it itself
 *   when challenged: the shard is rebuilt and no audit failure is counted.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'
import { api, healStatus, q, sha } from '../helpers/api.ts'
import type { HealStatus } from '../helpers/api.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { waitFor } from '../helpers/process.ts'

process.env.CAIRN_TEST_FAULTS = '' // the fault switch on every node, no fault yet
process.env.CAIRN_REPAIR_INTERVAL_MS = '1000'
process.env.CAIRN_AUDIT_INTERVAL_MS = '2000'
process.env.CAIRN_ORPHAN_GRACE_MS = '3000'
process.env.CAIRN_COLLECT_INTERVAL_MS = '1000'

const KIB = 1024
const MIB = 1024 * KIB
const K = 4
const M = 2
const DISCARDER = 'node-7'
const FORGER = 'node-8'
const LIARS = [DISCARDER, FORGER]
/**
 * Audit rounds, after the forger turns, within which it is caught, counted
 * on every auditor that audited some stripe meanwhile (one with nothing to
 * audit ticks every 2 s and proves nothing): the round in progress, one whole
 * round (each auditor samples up to 16 stripes, more than it has here, and
 * the forger holds a shard of most stripes), and two of slack for the record
 * to reach the viewer and for the polling on a loaded machine.
 */
const CATCH_ROUNDS_BOUND = 4
const CATCH_TIMEOUT_MS = 180_000
const SETTLE_MS = 300_000
const TEST_TIMEOUT_MS = 900_000

interface Stored { bucket: string, key: string, sha: string, version: string }
interface AuditView { name: string, audits: number, auditFailures: number, auditScore: number | null, audit: string }
type AuditStatus = Omit<HealStatus, 'nodes'> & { nodes: Array<HealStatus['nodes'][number] & AuditView>, audit: { rounds: number, stripes: number, challenges: number, failures: number, passes: number } }
interface ShardHealth { stripes: Array<{ shards: Array<{ hash: string, holders: Array<{ name: string }> }> }>, state: string }

describe('audits: lying peers are caught, flagged and routed around, 8 nodes, 4+2', { timeout: 3_000_000 }, () => {
  let c: TestCluster
  const stored: Stored[] = []
  const dir = (name: string): string => c.node(name).dir
  const names = (): string[] => c.nodes.map((n) => n.name)
  const honest = (): string[] => names().filter((n) => !LIARS.includes(n))
  const status = async (name: string): Promise<AuditStatus> => await healStatus(dir(name)) as AuditStatus
  const rounds = async (): Promise<Map<string, { rounds: number, stripes: number }>> => new Map(await Promise.all(names().map(async (n) => [n, (await status(n)).audit] as const)))
  let roundsBeforePuts = new Map<string, { rounds: number, stripes: number }>()
  let roundsAtTurn = new Map<string, { rounds: number, stripes: number }>()
  const setFault = async (liar: string, fault: string): Promise<void> => {
    const a = await api(dir(liar), 'POST', '/test/faults', JSON.stringify({ shards: fault }))
    assert.equal(a.status, 200, a.body.toString('utf8'))
    assert.equal((a.json as { shards: string }).shards, fault)
  }
  /** Most rounds any auditor that audited some stripe ran between `then` and `now`. */
  const roundsSince = (now: Map<string, { rounds: number, stripes: number }>, then: Map<string, { rounds: number, stripes: number }>): number => {
    const worked = names().filter((n) => (now.get(n)?.stripes ?? 0) > (then.get(n)?.stripes ?? 0))
    return Math.max(0, ...worked.map((n) => (now.get(n)?.rounds ?? 0) - (then.get(n)?.rounds ?? 0)))
  }

  const put = async (through: string, bucket: string, key: string, bytes: Buffer): Promise<Stored> => {
    const a = await api(dir(through), 'PUT', `/object?${q(bucket, key)}`, bytes)
    assert.equal(a.status, 200, a.body.toString('utf8').slice(0, 300))
    return { bucket, key, sha: sha(bytes), version: (a.json as { id: string }).id }
  }
  const holderNames = async (s: Stored): Promise<string[]> => {
    const a = await api(dir('node-1'), 'GET', `/object-health?${q(s.bucket, s.key)}&version=${s.version}`)
    assert.equal(a.status, 200, a.body.toString('utf8').slice(0, 300))
    return (a.json as ShardHealth).stripes.flatMap((st) => st.shards.flatMap((sh) => sh.holders.map((h) => h.name)))
  }

  before(async () => {
    c = await startCluster({ nodes: 8, k: K, m: M })
    // Every lost shard is rebuilt (a young pool derives k+m anyway); a liar is judged after 3 audits.
    assertSucceeded(await c.cli(['config', 'set', 'repairThreshold', String(K + M), '--node', dir('node-1')]), 'config set repairThreshold')
    assertSucceeded(await c.cli(['config', 'set', 'auditMinAudits', '3', '--node', dir('node-1')]), 'config set auditMinAudits')
    await setFault(DISCARDER, 'discard')
    roundsBeforePuts = await rounds()
    // Objects of one to three stripes (4 MiB stripes), written through the honest nodes.
    const sizes = [40 * KIB, 120 * KIB, 300 * KIB, 700 * KIB, 1 * MIB, 2 * MIB, 5 * MIB, 9 * MIB, 9 * MIB, 10 * MIB]
    for (const [i, size] of sizes.entries()) {
      stored.push(await put(honest()[i % honest().length] as string, 'audit', `obj-${i}`, randomBytes(size + randomInt(0, 1000))))
    }
    // The forger has stored its shards faithfully; from now on it serves and answers for other bytes.
    roundsAtTurn = await rounds()
    await setFault(FORGER, 'forge')
  })
  after(async () => { await c?.stop() })

  it('both liars are caught, the forger within a bounded number of audit rounds after it turned', { timeout: TEST_TIMEOUT_MS }, async () => {
    const failures = (s: AuditStatus | undefined, name: string): number => s?.nodes.find((n) => n.name === name)?.auditFailures ?? 0
    // Seen on node-3, which is neither liar nor the auditor of every version: the counts are replicated.
    let seen: AuditStatus | undefined
    await waitFor(async () => { seen = await status('node-3'); return failures(seen, FORGER) > 0 }, CATCH_TIMEOUT_MS, 'node-3 shows audit failures of the forger')
    const used = roundsSince(await rounds(), roundsAtTurn)
    console.log(`# forger caught ${used} audit round(s) after it turned (auditors that had work): ${JSON.stringify(seen?.nodes.map((n) => `${n.name}:${n.auditFailures}/${n.audits}`))}`)
    assert.ok(used <= CATCH_ROUNDS_BOUND, `the forger is caught within ${CATCH_ROUNDS_BOUND} rounds (took ${used})`)
    await waitFor(async () => { seen = await status('node-3'); return failures(seen, DISCARDER) > 0 }, CATCH_TIMEOUT_MS, 'node-3 shows audit failures of the discarder')
    console.log(`# discarder caught; ${roundsSince(await rounds(), roundsBeforePuts)} audit round(s) since before the first put`)
  })

  it('their shards are rebuilt elsewhere: healthy everywhere, none placed on a liar, byte-identical', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Meanwhile: versions removed by retention, whose shards the collectors delete (no honest node may fail for it).
    const churn: Stored[] = []
    churn.push(await put('node-2', 'churn', 'k', randomBytes(200 * KIB)))
    const r = await api(dir('node-2'), 'PUT', `/retention?${q('churn')}`, JSON.stringify({ keepVersions: 1 }))
    assert.equal(r.status, 200, r.body.toString('utf8'))
    for (let i = 0; i < 4; i++) churn.push(await put(honest()[i] as string, 'churn', 'k', randomBytes(150 * KIB + i)))
    const last = churn.at(-1) as Stored
    const total = stored.length + 1
    try {
      await waitFor(async () => {
        for (const s of stored) if ((await holderNames(s)).some((n) => LIARS.includes(n))) return false
        const all = await Promise.all(names().map(async (n) => await status(n)))
        return all.every((s) => s.objects.total === total && s.objects.healthy === total)
      }, SETTLE_MS, 'every object healthy on every node with no shard placed on a liar')
    } catch (err) {
      for (const n of names()) {
        const s = await status(n).catch(() => undefined)
        console.log(`# ${n}: objects ${JSON.stringify(s?.objects)} audit ${JSON.stringify(s?.audit)} repair ${JSON.stringify(s?.repair)}`)
      }
      throw err
    }
    const bad: string[] = []
    for (const s of [...stored, last]) {
      const a = await api(dir('node-1'), 'GET', `/object?${q(s.bucket, s.key)}&version=${s.version}`)
      if (a.status !== 200 || sha(a.body) !== s.sha) bad.push(`${s.key}: ${a.status}`)
    }
    assert.deepEqual(bad, [], 'every object reads back byte-identical')
    const rebuilt = (await Promise.all(names().map(async (n) => (await status(n)).repair.repairedShards))).reduce((a, b) => a + b, 0)
    assert.ok(rebuilt > 0, 'shards were rebuilt')
  })

  it('an honest node never fails an audit; the liars are flagged failing in status and in the table', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Every node's view, once the audit records have spread (anti-entropy, 15 s rounds).
    await waitFor(async () => {
      const all = await Promise.all(names().map(async (n) => await status(n)))
      return all.every((s) => LIARS.every((l) => s.nodes.find((x) => x.name === l)?.audit === 'failing'))
    }, SETTLE_MS, 'every node shows both liars failing')
    for (const viewer of names()) {
      const s = await status(viewer)
      for (const n of s.nodes) {
        if (LIARS.includes(n.name)) {
          assert.equal(n.audit, 'failing', `${viewer} sees ${n.name} failing`)
          assert.ok(n.auditFailures >= 3, `${viewer} counts ${n.auditFailures} failures of ${n.name}`)
          assert.ok((n.auditScore ?? 1) < 0.9)
        } else {
          assert.equal(n.auditFailures, 0, `${viewer}: honest ${n.name} failed ${n.auditFailures} of ${n.audits} audits`)
          assert.notEqual(n.audit, 'failing')
        }
      }
    }
    const s = await status('node-1')
    const audited = s.nodes.filter((n) => !LIARS.includes(n.name) && n.audits > 0).length
    assert.ok(audited >= 4, `most honest nodes were challenged (${audited} of 6)`)
    console.log(`# audits: ${JSON.stringify(s.nodes.map((n) => `${n.name}:${n.auditFailures}/${n.audits}`))}`)
    const table = await c.cli(['status', '--node', dir('node-1')])
    assertSucceeded(table, 'cairn status')
    for (const l of LIARS) assert.match(table.stdout, new RegExp(`^${l} .*FAILING \\d+/\\d+`, 'm'), `the table flags ${l}`)
    for (const n of honest()) assert.doesNotMatch(table.stdout, new RegExp(`^${n}[ *].*FAILING`, 'm'))
    // A failing node coordinates nothing any more: its auditor keeps running rounds but audits no stripe.
    const stripesThen = new Map(await Promise.all(LIARS.map(async (l) => [l, await status(l)] as const)))
    await waitFor(async () => (await Promise.all(LIARS.map(async (l) => (await status(l)).audit.rounds >= (stripesThen.get(l)?.audit.rounds ?? 0) + 3))).every(Boolean),
      SETTLE_MS, 'three more audit rounds on each liar')
    for (const l of LIARS) assert.equal((await status(l)).audit.stripes, stripesThen.get(l)?.audit.stripes, `${l} audited no stripe once flagged`)
    const workers = await api(dir('node-1'), 'GET', '/workers')
    assert.ok((workers.json as Array<{ name: string, runs: number }>).some((w) => w.name === 'audit' && w.runs > 0), 'cairn workers lists the audit worker')
  })

  it('a new put places no shard on a flagged liar', { timeout: TEST_TIMEOUT_MS }, async () => {
    const bytes = randomBytes(9 * MIB)
    const s = await put('node-1', 'audit', 'after-flag', bytes)
    const holders = await holderNames(s)
    assert.equal(holders.length, 3 * (K + M), 'every shard of the 3 stripes placed')
    assert.deepEqual(holders.filter((n) => LIARS.includes(n)), [], 'no shard on a liar')
    const a = await api(dir('node-2'), 'GET', `/object?${q('audit', 'after-flag')}`)
    assert.equal(a.status, 200)
    assert.equal(sha(a.body), s.sha)
  })

  it('an honest holder that corrupted or lost a shard reports it when challenged: rebuilt, and no audit failure', { timeout: TEST_TIMEOUT_MS }, async () => {
    // One-stripe objects: every round challenges each of their holders.
    const shardOn = async (node: string, s: Stored): Promise<string | undefined> => {
      const a = await api(dir('node-1'), 'GET', `/object-health?${q(s.bucket, s.key)}&version=${s.version}`)
      return (a.json as ShardHealth).stripes[0]?.shards.find((sh) => sh.holders.some((h) => h.name === node))?.hash
    }
    const path = (node: string, hash: string): string => join(dir(node), 'shards', hash.slice(0, 2), hash)
    const corrupted = await shardOn('node-2', stored[1] as Stored)
    const deleted = await shardOn('node-3', stored[2] as Stored)
    assert.ok(corrupted !== undefined && deleted !== undefined, 'node-2 and node-3 hold shards of one-stripe objects')
    const handle = await open(path('node-2', corrupted), 'r+')
    try { await handle.write(Buffer.from([0x42, 0x42, 0x42, 0x42]), 0, 4, 100) } finally { await handle.close() }
    await rm(path('node-3', deleted))
    const before = { corrupt: (await status('node-2')).scrub.corruptFound, missing: (await status('node-3')).scrub.missingFound }
    // Scrubs run weekly here: the audits' challenges make the holders find them.
    await waitFor(async () => (await status('node-2')).scrub.corruptFound > before.corrupt && (await status('node-3')).scrub.missingFound > before.missing,
      CATCH_TIMEOUT_MS, 'node-2 finds its corrupt shard and node-3 its missing one when challenged')
    const total = stored.length + 2
    await waitFor(async () => {
      const all = await Promise.all(names().map(async (n) => await status(n)))
      const lost = (await status('node-2')).scrub.lost + (await status('node-3')).scrub.lost
      return lost === 0 && all.every((s) => s.objects.healthy === total)
    }, SETTLE_MS, 'both shards rebuilt: nothing lost, every object healthy on every node')
    for (const viewer of names()) {
      for (const n of (await status(viewer)).nodes.filter((x) => !LIARS.includes(x.name))) {
        assert.equal(n.auditFailures, 0, `${viewer}: honest ${n.name} failed ${n.auditFailures} audits`)
      }
    }
    for (const s of [stored[1], stored[2]] as Stored[]) {
      const a = await api(dir('node-4'), 'GET', `/object?${q(s.bucket, s.key)}&version=${s.version}`)
      assert.equal(a.status, 200)
      assert.equal(sha(a.body), s.sha, `${s.key} reads back byte-identical`)
    }
  })
})
