/**
 * Goal: a holder that stops answering (its calls neither succeed nor fail)
 * does not stall a read. The read fetches another shard beside the lagging
 * one, finishes with any k, aborts the fetch it no longer needs, and asks
 * that holder last for the rest of the read, so a many-stripe object costs
 * one hedge delay, not one per stripe. In-process: real engine, metadata
 * store and codec; the six "nodes" are in-memory shard maps, one of which
 * hangs.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { Engine } from '../../src/engine/engine.ts'
import type { ClusterView, ShardIO } from '../../src/engine/types.ts'
import { MetaStore } from '../../src/meta/store.ts'
import { CairnError } from '../../src/util/errors.ts'
import { HybridClock } from '../../src/util/hlc.ts'

const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']
/** 6 stripes of 4 MiB and a tail. */
const OBJECT_BYTES = 6 * 4 * 1024 * 1024 + 777

interface Harness {
  engine: Engine
  /** Gets asked of the hanging node, and how many of them were aborted. */
  hung: { asked: number, aborted: number }
  failures: string[]
  /** Make `node` hang on every get, until aborted or, with `timeoutMs`, until it times out. */
  setHanging: (node: string | undefined, timeoutMs?: number) => void
  /** Drop every shard `node` holds. */
  lose: (node: string) => void
  /** Answer successful gets only after this long. */
  setDelay: (ms: number) => void
}

function harness (): Harness {
  const disks = new Map(NODE_IDS.map((id) => [id, new Map<string, Buffer>()]))
  const disk = (id: string): Map<string, Buffer> => disks.get(id) as Map<string, Buffer>
  let hanging: string | undefined
  let hangTimeoutMs: number | undefined
  let delayMs = 0
  const hung = { asked: 0, aborted: 0 }
  const failures: string[] = []
  // The reader is n0, which holds no shard, so every fetch goes to a peer.
  const cluster: ClusterView = {
    selfId: 'n0',
    selfName: 'reader',
    k: 4,
    m: 2,
    onlineNodes: () => NODE_IDS.map((id) => ({ id, weight: 1 })),
    nodeName: (id) => id,
    isOnline: () => true
  }
  const shards: ShardIO = {
    put: async (node, hash, bytes) => { disk(node).set(hash, Buffer.from(bytes)) },
    get: async (node, hash, signal) => {
      if (node === hanging) {
        hung.asked++
        // Never answers: only the caller's abort ends it.
        return await new Promise<Buffer>((_resolve, reject) => {
          const timer = hangTimeoutMs === undefined ? undefined : setTimeout(() => { reject(new CairnError('TIMEOUT', `call to ${node} timed out`)) }, hangTimeoutMs)
          signal?.addEventListener('abort', () => { clearTimeout(timer); hung.aborted++; reject(new CairnError('TIMEOUT', 'aborted')) }, { once: true })
        })
      }
      const b = disk(node).get(hash)
      if (b === undefined) throw new CairnError('NOT_FOUND', `no shard ${hash} on ${node}`)
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      return b
    },
    release: async (node, hash) => { disk(node).delete(hash) }
  }
  const meta = MetaStore.open(':memory:')
  const engine = new Engine({
    cluster,
    shards,
    meta,
    committer: { commit: async (records) => { meta.apply(records) } },
    clock: new HybridClock(),
    masterKey: randomBytes(32),
    onShardFailure: (node, _hash, err) => { failures.push(`${node}: ${err.message}`) }
  })
  return {
    engine,
    hung,
    failures,
    setHanging: (node, timeoutMs) => { hanging = node; hangTimeoutMs = timeoutMs },
    lose: (node) => { disk(node).clear() },
    setDelay: (ms) => { delayMs = ms }
  }
}

async function * chunks (data: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += 1 << 20) yield data.subarray(i, i + (1 << 20))
}

function sha (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

describe('hedged reads', () => {
  it('reads a many-stripe object byte-identical while one holder hangs, asking it about once', async () => {
    const h = harness()
    const data = randomBytes(OBJECT_BYTES)
    await h.engine.put('hedge', 'obj', chunks(data))
    // Every stripe has a data shard on every node (6 shards on 6 nodes), so
    // without hedging the first stripe would wait on n2 forever.
    h.setHanging('n2')
    const parts: Buffer[] = []
    for await (const c of h.engine.open('hedge', 'obj').body) parts.push(c)
    assert.equal(sha(Buffer.concat(parts)), sha(data))
    // Up to 4 stripes are fetched ahead at once and may each ask n2 before
    // the first hedge demotes it; later stripes ask it last, i.e. not at all.
    assert.ok(h.hung.asked >= 1 && h.hung.asked <= 4, `the hanging holder was asked ${h.hung.asked} times for 7 stripes`)
    assert.equal(h.hung.aborted, h.hung.asked, 'every fetch left hanging was aborted once its stripe was complete')
  })

  it('still fails clearly, naming the holders, when fewer than k shards can arrive', async () => {
    const h = harness()
    const data = randomBytes(1024 * 1024)
    await h.engine.put('hedge', 'small', chunks(data))
    // n2 hangs until its call times out (as a real call does after
    // SHARD_CALL_TIMEOUT_MS); n3 and n4 lost their shards: 3 of 6 can arrive, 4 are needed.
    h.setHanging('n2', 300)
    h.lose('n3')
    h.lose('n4')
    await assert.rejects(async () => { for await (const _ of h.engine.open('hedge', 'small').body) { /* drain */ } }, (err: unknown) => {
      assert.ok(err instanceof CairnError)
      assert.equal(err.code, 'NOT_ENOUGH_SHARDS')
      assert.match(err.message, /only 3 of 6 shards reachable and 4 are needed/)
      assert.match(err.message, /n3: no shard/)
      return true
    })
    assert.ok(h.failures.some((f) => f.startsWith('n2: ')), `the timed-out holder was reported (${h.failures.join('; ')})`)
  })

  it('fails when the last fetch to finish is a success and k were not reached', async () => {
    const h = harness()
    const data = randomBytes(1024 * 1024)
    await h.engine.put('hedge', 'late', chunks(data))
    // Three holders fail at once, the three others answer later: 3 of 4.
    h.lose('n1')
    h.lose('n3')
    h.lose('n5')
    h.setDelay(50)
    await assert.rejects(async () => { for await (const _ of h.engine.open('hedge', 'late').body) { /* drain */ } }, (err: unknown) => {
      assert.ok(err instanceof CairnError)
      assert.equal(err.code, 'NOT_ENOUGH_SHARDS')
      assert.match(err.message, /only 3 of 6 shards reachable and 4 are needed/)
      return true
    })
  })

  it('rejects at once, with the caller\'s reason, when the caller gave up before the read began', async () => {
    const h = harness()
    const data = randomBytes(1024 * 1024)
    await h.engine.put('hedge', 'gone', chunks(data))
    h.setHanging('n2')
    const gaveUp = new AbortController()
    gaveUp.abort(new CairnError('TIMEOUT', 'the client went away'))
    await assert.rejects(async () => { for await (const _ of h.engine.open('hedge', 'gone', undefined, gaveUp.signal).body) { /* drain */ } }, /the client went away/)
  })
})
