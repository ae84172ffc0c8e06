/**
 * A real network partition (issue 4): six nodes in two network namespaces,
 * three per side, joined by one veth link. With 2+1 coding each side alone
 * can still write. Cutting the link splits the cluster; both sides write the
 * same key and one key of their own; after the link comes back every node
 * holds both versions of the shared key, agrees on the current one (the
 * higher version id) and lists exactly the same objects.
 *
 * Packets stay inside the two namespaces this test creates (a private /30
 * and each namespace's own loopback) and are gone with them in `after`.
 * Skipped, with the reason, only where namespaces cannot be created.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CAIRN_BIN } from '../helpers/cluster.ts'
import { assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { createNamespacePair, killInNamespace, NamespaceUnavailableError, nodeLogOf, runInNamespace, spawnInNamespace } from '../helpers/netns.ts'
import type { NamespacePair, NamespaceProcess } from '../helpers/netns.ts'
import { waitFor } from '../helpers/process.ts'
import type { RunResult } from '../helpers/process.ts'

const NODES_PER_SIDE = 3
const DATA_SHARDS = 2
const PARITY_SHARDS = 1
/** Longest wait for all six nodes to see each other after start. */
const MESH_TIMEOUT_MS = 90_000
/** Longest wait for each side to notice the cut (libp2p pings every 10 s). */
const CUT_DETECTION_TIMEOUT_MS = 90_000
/** Longest wait after the heal for every node to hold the same objects (reconnect backoff ≤ 30 s, anti-entropy every 15 s). */
const CONVERGENCE_TIMEOUT_MS = 90_000
/** Time limit of one CLI call. */
const CLI_TIMEOUT_MS = 60_000
const TEST_TIMEOUT_MS = 420_000
/** Log kept in a failure message. */
const LOG_TAIL_CHARS = 4000
const BUCKET = 'split'

/** One node: which namespace it lives in, its directory, its process. */
interface PartitionNode {
  name: string
  ns: string
  dir: string
  side: 'a' | 'b'
  proc?: NamespaceProcess
}

interface NodeStatusDoc {
  online: number
  nodes: Array<{ name: string, online: boolean }>
}
interface ListedObject { key: string, size: number, version: string, time: string }
interface ListedVersion { id: string, current: boolean, deleteMarker: boolean, sha256: string }

describe('network partition between two namespaces', { timeout: 900_000 }, () => {
  let pair: NamespacePair | undefined
  let root: string | undefined
  const nodes: PartitionNode[] = []

  after(async () => {
    for (const n of nodes) if (n.proc !== undefined) await killInNamespace(n.proc)
    await pair?.remove()
    if (root !== undefined) await rm(root, { recursive: true, force: true })
  }, { timeout: 120_000 })

  /** `cairn ARGS…` inside the node's namespace. */
  const cli = async (n: PartitionNode, args: readonly string[]): Promise<RunResult> =>
    await runInNamespace(n.ns, process.execPath, [CAIRN_BIN, ...args], { timeoutMs: CLI_TIMEOUT_MS })

  const statusOf = async (n: PartitionNode): Promise<NodeStatusDoc> =>
    parseJsonOutput<NodeStatusDoc>(await cli(n, ['status', '--json', '--node', n.dir]), `status of ${n.name}`)

  /** Names each node sees online, as "node: a1,a2,…" lines, for messages. */
  const onlineReport = async (): Promise<string> => {
    const lines = await Promise.all(nodes.map(async (n) => {
      const s = await statusOf(n).catch((err: Error) => ({ error: err.message.slice(0, 200) }))
      return 'error' in s ? `${n.name}: ${s.error}` : `${n.name}: ${s.nodes.filter((x) => x.online).map((x) => x.name).join(',')}`
    }))
    return lines.join('; ')
  }

  /** Wait until every node sees exactly `expected(n)` online; the message says who sees whom. */
  const waitSeen = async (expected: (n: PartitionNode) => string[], timeoutMs: number, what: string): Promise<number> => {
    const started = Date.now()
    try {
      await waitFor(async () => {
        const all = await Promise.all(nodes.map(async (n) => (await statusOf(n)).nodes.filter((x) => x.online).map((x) => x.name).sort()))
        return all.every((seen, i) => JSON.stringify(seen) === JSON.stringify(expected(nodes[i] as PartitionNode).sort()))
      }, timeoutMs, what)
    } catch (err) {
      throw new Error(`${(err as Error).message}; seen online: ${await onlineReport()}`)
    }
    return Date.now() - started
  }

  const logTails = async (): Promise<string> => {
    const tails = await Promise.all(nodes.map(async (n) => `--- ${n.name} ---\n${(await readFile(nodeLogOf(n.dir), 'utf8').catch(() => '')).slice(-LOG_TAIL_CHARS)}`))
    return tails.join('\n')
  }

  const start = async (n: PartitionNode): Promise<void> => {
    n.proc = await spawnInNamespace(n.ns, process.execPath, [CAIRN_BIN, 'start', '--node', n.dir], nodeLogOf(n.dir), /cairn node \S+ running/)
  }

  let skipReason: string | undefined
  /** True once the six nodes were seen in a full mesh. */
  let meshFormed = false

  before(async () => {
    try {
      pair = await createNamespacePair('p')
    } catch (err) {
      if (err instanceof NamespaceUnavailableError) { skipReason = err.message; return }
      throw err
    }
    const { a, b } = pair
    root = await mkdtemp(join(tmpdir(), 'cairn-it-partition-'))
    for (const [side, ns] of [['a', a], ['b', b]] as const) {
      for (let i = 1; i <= NODES_PER_SIDE; i++) nodes.push({ name: `${side}${i}`, ns: ns.name, dir: join(root, `${side}${i}`), side })
    }
    const hostOf = (n: PartitionNode): string => (n.side === 'a' ? a.address : b.address)
    const [first, ...rest] = nodes as [PartitionNode, ...PartitionNode[]]
    // Build the cluster the way an office would: init, start, invite, join.
    assertSucceeded(await cli(first, ['init', '--dir', first.dir, '--k', String(DATA_SHARDS), '--m', String(PARITY_SHARDS), '--name', first.name, '--host', hostOf(first)]), 'init')
    await start(first)
    const invite = await cli(first, ['invite', '--node', first.dir])
    assertSucceeded(invite, 'invite')
    const token = invite.stdout.trim()
    for (const n of rest) assertSucceeded(await cli(n, ['join', token, '--dir', n.dir, '--name', n.name, '--host', hostOf(n)]), `join ${n.name}`)
    await Promise.all(rest.map(start))
  }, { timeout: 180_000 })

  it('six nodes built with init, invite and join in two namespaces all see each other online', { timeout: 180_000 }, async (t) => {
    if (skipReason !== undefined) { t.skip(skipReason); return }
    const meshMs = await waitSeen(() => nodes.map((n) => n.name), MESH_TIMEOUT_MS, 'all 6 nodes to see each other online')
    meshFormed = true
    console.log(`# mesh of 6 nodes in 2 namespaces (${pair?.a.address} / ${pair?.b.address}) complete ${meshMs} ms after the last start`)
  })

  it('both sides write during a cut; after the heal all six nodes hold both versions and agree on the current one', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    if (skipReason !== undefined || pair === undefined || root === undefined) { t.skip(skipReason ?? 'the cluster was not built'); return }
    const everyone = nodes.map((n) => n.name)
    if (!meshFormed) {
      // Work around the incomplete mesh (reported by the previous test) so the
      // partition itself is still tested: a restarted node bootstraps from
      // every roster member it knows and keeps redialling them.
      console.log('# WORKAROUND: the mesh did not form; restarting every node so each one bootstraps from the whole roster')
      for (const n of nodes) if (n.proc !== undefined) await killInNamespace(n.proc)
      await Promise.all(nodes.map(start))
      const meshMs = await waitSeen(() => everyone, MESH_TIMEOUT_MS, 'all 6 restarted nodes to see each other online')
      console.log(`# mesh complete ${meshMs} ms after the restart`)
    }

    const workFile = async (name: string, bytes: Buffer): Promise<string> => {
      const path = join(root as string, name)
      await writeFile(path, bytes)
      return path
    }
    const byName = (name: string): PartitionNode => nodes.find((n) => n.name === name) as PartitionNode
    assertSucceeded(await cli(byName('a1'), ['put', await workFile('before', randomBytes(3000)), `${BUCKET}/before`, '--node', byName('a1').dir]), 'put before the cut')

    await pair.cut()
    const cutMs = await waitSeen((n) => nodes.filter((x) => x.side === n.side).map((x) => x.name), CUT_DETECTION_TIMEOUT_MS, 'each side to see only its own 3 nodes')
    console.log(`# both sides saw the other offline ${cutMs} ms after the cut`)

    // Small (inline) and large (erasure-coded within the side) writes.
    const putJson = async (n: PartitionNode, file: string, key: string): Promise<ListedVersion> =>
      parseJsonOutput<ListedVersion>(await cli(n, ['put', file, `${BUCKET}/${key}`, '--node', n.dir, '--json']), `put ${key} on ${n.name} during the cut`)
    const sharedA = await putJson(byName('a2'), await workFile('shared-a', randomBytes(2000)), 'shared')
    const sharedB = await putJson(byName('b2'), await workFile('shared-b', randomBytes(200 * 1024)), 'shared')
    await putJson(byName('a3'), await workFile('only-a', randomBytes(100 * 1024)), 'only-a')
    await putJson(byName('b3'), await workFile('only-b', randomBytes(1000)), 'only-b')
    const winner = sharedA.id > sharedB.id ? sharedA : sharedB
    const bothIds = [sharedA.id, sharedB.id].sort().reverse()

    await pair.heal()
    const healed = Date.now()
    let listings: ListedObject[][] = []
    let versionLists: ListedVersion[][] = []
    try {
      await waitFor(async () => {
        versionLists = await Promise.all(nodes.map(async (n) => parseJsonOutput<ListedVersion[]>(await cli(n, ['versions', `${BUCKET}/shared`, '--json', '--node', n.dir]), `versions on ${n.name}`)))
        listings = await Promise.all(nodes.map(async (n) => parseJsonOutput<ListedObject[]>(await cli(n, ['ls', BUCKET, '--json', '--node', n.dir]), `ls on ${n.name}`)))
        return versionLists.every((v) => v.length === 2) && listings.every((l) => l.length === 4 && JSON.stringify(l) === JSON.stringify(listings[0]))
      }, CONVERGENCE_TIMEOUT_MS, 'every node to hold both versions of the shared key and the same listing')
    } catch (err) {
      throw new Error(`${(err as Error).message}\nversions: ${JSON.stringify(versionLists.map((v) => v.map((x) => x.id)))}\nlistings: ${JSON.stringify(listings.map((l) => l.map((x) => `${x.key}@${x.version}`)))}\nonline: ${await onlineReport()}\n${await logTails()}`)
    }
    console.log(`# every node converged ${Date.now() - healed} ms after the heal; current version of the shared key: ${winner.id} (written on side ${winner === sharedA ? 'A' : 'B'})`)
    for (const [i, n] of nodes.entries()) {
      const versions = versionLists[i] as ListedVersion[]
      assert.deepEqual(versions.map((v) => v.id), bothIds, `${n.name} lists both versions of the shared key, newest first`)
      assert.deepEqual(versions.map((v) => v.current), [true, false], `${n.name}: the higher id is current`)
      assert.deepEqual((listings[i] as ListedObject[]).map((o) => o.key), ['before', 'only-a', 'only-b', 'shared'], `${n.name} lists the four keys`)
      assert.equal((listings[i] as ListedObject[]).find((o) => o.key === 'shared')?.version, winner.id, `${n.name} lists the winner as the shared key's version`)
    }
    // The content behind the current version, read on the side that did not write it.
    const reader = winner === sharedA ? byName('b1') : byName('a1')
    const out = join(root, 'shared.out')
    assertSucceeded(await cli(reader, ['get', `${BUCKET}/shared`, out, '--node', reader.dir, '--quiet']), `get the shared key on ${reader.name}`)
    const expected = await readFile(join(root, winner === sharedA ? 'shared-a' : 'shared-b'))
    assert.ok((await readFile(out)).equals(expected), `${reader.name} reads the winner's bytes`)
  })

  it('after the heal every node sees all six online again', { timeout: 180_000 }, async (t) => {
    if (skipReason !== undefined || pair === undefined) { t.skip(skipReason ?? 'the cluster was not built'); return }
    const everyone = nodes.map((n) => n.name)
    const ms = await waitSeen(() => everyone, MESH_TIMEOUT_MS, 'all 6 nodes to see each other online after the heal')
    console.log(`# full mesh again ${ms} ms after convergence was checked`)
  })
})
