// Goal: the pure parts of shard audits decide right. A digest is bound to the
// nonce and the bytes; only the exact bytes pass and "missing" is a failure;
// no holder audits itself; the standing turns `failing` only after enough
// audits below the score; the expected shards of a stripe are rebuilt from
// any k honest ones and checked against their hashes, so a holder serving
// other bytes or none can never make an honest answer look wrong.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createErasureCoder } from '../../src/erasure/index.ts'
import { Reservoir, auditDigest, auditScore, auditStanding, auditVerdict, auditorOf, expectedShards } from '../../src/heal/audit.ts'
import type { StripeManifest } from '../../src/meta/types.ts'
import { CairnError } from '../../src/util/errors.ts'
import { forgedBytes } from '../../src/daemon/faults.ts'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function stripeOf (k: number, m: number, size: number): Promise<{ stripe: StripeManifest, shards: Buffer[] }> {
  const data = Array.from({ length: k }, () => randomBytes(size))
  const parity = await createErasureCoder(k, m, 'native').encode(data)
  const shards = [...data, ...parity.map((p) => Buffer.from(p))]
  return { shards, stripe: { cipherBytes: k * size, shardSizeBytes: size, shards: shards.map((s, i) => ({ hash: sha(s), nodes: [`n${i}`] })) } }
}

describe('audit digests and verdicts', () => {
  it('a digest is sha256(nonce ‖ bytes): a new nonce gives a new answer, other bytes never pass', () => {
    const bytes = randomBytes(4096)
    const n1 = randomBytes(32)
    const n2 = randomBytes(32)
    assert.equal(auditDigest(n1, bytes), createHash('sha256').update(Buffer.concat([n1, bytes])).digest('hex'))
    assert.notEqual(auditDigest(n1, bytes), auditDigest(n2, bytes), 'an answer to one nonce is no answer to the next')
    assert.equal(auditVerdict(auditDigest(n1, bytes), auditDigest(n1, bytes)), 'pass')
    assert.equal(auditVerdict(auditDigest(n1, bytes), auditDigest(n1, forgedBytes(bytes))), 'wrong', 'forged bytes fail')
    assert.equal(auditVerdict(auditDigest(n1, bytes), auditDigest(n2, bytes)), 'wrong', 'a replayed answer fails')
    assert.equal(auditVerdict(auditDigest(n1, bytes), null), 'missing')
    assert.notDeepEqual(forgedBytes(bytes), bytes)
    assert.equal(forgedBytes(bytes).length, bytes.length)
  })

  it('the coordinator audits every other holder, the next node audits the coordinator, nobody audits itself', () => {
    const order = ['a', 'b', 'c', 'd']
    for (const subject of order) assert.notEqual(auditorOf(order, subject), subject)
    assert.equal(auditorOf(order, 'c'), 'a')
    assert.equal(auditorOf(order, 'a'), 'b')
    assert.equal(auditorOf(['a'], 'a'), undefined, 'a lone node is audited by nobody')
  })
})

describe('audit score and standing', () => {
  it('failing needs both enough audits and a score below the threshold', () => {
    assert.equal(auditScore({ audits: 0, failures: 0 }), null)
    assert.equal(auditScore({ audits: 10, failures: 1 }), 0.9)
    assert.equal(auditStanding(undefined, 0.9, 10), 'unaudited')
    assert.equal(auditStanding({ audits: 0, failures: 0 }, 0.9, 10), 'unaudited')
    assert.equal(auditStanding({ audits: 9, failures: 9 }, 0.9, 10), 'ok', 'too few audits to judge')
    assert.equal(auditStanding({ audits: 10, failures: 10 }, 0.9, 10), 'failing')
    assert.equal(auditStanding({ audits: 10, failures: 1 }, 0.9, 10), 'ok', 'exactly at the score is not below it')
    assert.equal(auditStanding({ audits: 10, failures: 2 }, 0.9, 10), 'failing')
    assert.equal(auditStanding({ audits: 1000, failures: 0 }, 1, 10), 'ok', 'an honest node passes even the strictest score')
  })

  it('the reservoir keeps a bounded, uniform sample', () => {
    const hits = new Array<number>(20).fill(0)
    for (let t = 0; t < 2000; t++) {
      const r = new Reservoir<number>(5, Math.random)
      for (let i = 0; i < 20; i++) r.offer(i)
      const items = r.items()
      assert.equal(items.length, 5)
      assert.equal(new Set(items).size, 5)
      for (const i of items) hits[i] = (hits[i] as number) + 1
    }
    // Each item is kept with probability 1/4: 500 of 2000 expected; 350..650 is > 6 standard deviations wide.
    for (const h of hits) assert.ok(h > 350 && h < 650, `item kept ${h} times of 2000`)
  })
})

describe('expected shards of a stripe', () => {
  it('rebuilds every shard from k honest ones, skipping holders that serve other bytes or none', async () => {
    const { stripe, shards } = await stripeOf(4, 2, 1024)
    const served: string[] = []
    const fetch = async (node: string, hash: string): Promise<Uint8Array> => {
      served.push(node)
      const index = Number(node.slice(1))
      if (index === 0) throw new CairnError('NOT_FOUND', 'discarded') // a discarding liar
      if (index === 1) return forgedBytes(shards[index] as Buffer) // a forging liar
      assert.equal(sha(shards[index] as Buffer), hash)
      return shards[index] as Buffer
    }
    const sources = stripe.shards.map((_, index) => ({ index, node: `n${index}` }))
    const { shards: expected, readBytes } = await expectedShards(stripe, sources, { k: 4, m: 2, codec: 'native', fetch })
    assert.deepEqual(expected.map(sha), stripe.shards.map((s) => s.hash), 'every expected shard is the real one')
    assert.ok(served.includes('n0') && served.includes('n1'), 'the liars were asked')
    assert.equal(readBytes, 5 * 1024, 'one forged read counted, then four honest ones')
  })

  it('with fewer than k honest shards it refuses (NOT_ENOUGH_SHARDS) instead of guessing', async () => {
    const { stripe, shards } = await stripeOf(4, 2, 512)
    const fetch = async (node: string): Promise<Uint8Array> => {
      const index = Number(node.slice(1))
      if (index < 3) return forgedBytes(shards[index] as Buffer)
      return shards[index] as Buffer
    }
    const sources = stripe.shards.map((_, index) => ({ index, node: `n${index}` }))
    await assert.rejects(expectedShards(stripe, sources, { k: 4, m: 2, codec: 'native', fetch }), (err) => err instanceof CairnError && err.code === 'NOT_ENOUGH_SHARDS')
  })
})
