// Goal: the stripe codec round-trips every size (empty, tiny, odd, a full
// stripe), survives any m missing shards, detects a flipped byte both by hash
// and by GCM, and never lets plaintext appear in any shard.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { decodeStripe, encodeStripe, verifyShard, STRIPE_SIZE_BYTES } from '../../src/engine/stripe.ts'
import type { StripeEncodeParams } from '../../src/engine/stripe.ts'
import { generateDataKey, generateNonceBase, sha256Hex } from '../../src/crypto/index.ts'
import { CairnError } from '../../src/util/errors.ts'

function isCode (code: string): (err: unknown) => boolean {
  return (err) => err instanceof CairnError && err.code === code
}

function params (k: number, m: number, stripeIndex = 0): StripeEncodeParams {
  return { k, m, dataKey: generateDataKey(), nonceBase: generateNonceBase(), stripeIndex }
}

test('round trip for 0 B, 1 B, odd sizes and exactly one full stripe', async () => {
  for (const size of [0, 1, 7, 8, 33, 4097, 1_000_003, STRIPE_SIZE_BYTES]) {
    const p = params(4, 2, size % 100)
    const plain = randomBytes(size)
    const stripe = await encodeStripe(plain, p)
    assert.equal(stripe.shards.length, 6)
    assert.equal(stripe.cipherBytes, size + 16)
    assert.equal(stripe.shardSizeBytes % 8, 0)
    assert.ok(stripe.shardSizeBytes * 4 >= stripe.cipherBytes)
    for (const [i, shard] of stripe.shards.entries()) {
      assert.equal(shard.length, stripe.shardSizeBytes)
      assert.equal(stripe.hashes[i], sha256Hex(shard))
    }
    const decoded = await decodeStripe(stripe.shards, { ...p, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes })
    assert.deepEqual(decoded, plain, `size ${size}`)
  }
})

test('any m missing shards still decode (k=4 m=2, and k=3 m=3)', async () => {
  for (const [k, m] of [[4, 2], [3, 3]] as const) {
    const p = params(k, m, 9)
    const plain = randomBytes(100_001)
    const stripe = await encodeStripe(plain, p)
    const decodeParams = { ...p, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes }
    const n = k + m
    for (let mask = 0; mask < (1 << n); mask++) {
      let missing = 0
      for (let i = 0; i < n; i++) if (mask & (1 << i)) missing++
      if (missing > m) continue
      const slots = stripe.shards.map((shard, i) => (mask & (1 << i)) ? null : shard)
      assert.deepEqual(await decodeStripe(slots, decodeParams), plain)
    }
    const tooFew = stripe.shards.map((shard, i) => i <= m ? null : shard)
    await assert.rejects(decodeStripe(tooFew, decodeParams), isCode('NOT_ENOUGH_SHARDS'))
  }
})

test('a flipped byte is caught by the shard hash, and by GCM when the hash is skipped', async () => {
  const p = params(4, 2)
  const plain = randomBytes(50_000)
  const stripe = await encodeStripe(plain, p)
  const decodeParams = { ...p, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes }
  for (const shardIndex of [0, 3]) {
    const bad = Buffer.from(stripe.shards[shardIndex] as Buffer)
    bad[17] = (bad[17] ?? 0) ^ 0x80
    assert.equal(verifyShard(bad, stripe.hashes[shardIndex] as string), false)
    assert.equal(verifyShard(stripe.shards[shardIndex] as Buffer, stripe.hashes[shardIndex] as string), true)
    const slots = stripe.shards.map((shard, i) => i === shardIndex ? bad : shard)
    await assert.rejects(decodeStripe(slots, decodeParams), isCode('CORRUPT_SHARD'))
  }
  // A corrupt parity shard used in a reconstruction also ends in an authentication failure.
  const badParity = Buffer.from(stripe.shards[4] as Buffer)
  badParity[0] = (badParity[0] ?? 0) ^ 1
  const slots = [null, stripe.shards[1] ?? null, stripe.shards[2] ?? null, stripe.shards[3] ?? null, badParity, null]
  await assert.rejects(decodeStripe(slots, decodeParams), isCode('CORRUPT_SHARD'))
})

test('wrong stripe index or key fails authentication; inconsistent sizes are BAD_INPUT', async () => {
  const p = params(2, 1, 5)
  const stripe = await encodeStripe(randomBytes(1000), p)
  const decodeParams = { ...p, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes }
  await assert.rejects(decodeStripe(stripe.shards, { ...decodeParams, stripeIndex: 6 }), isCode('CORRUPT_SHARD'))
  await assert.rejects(decodeStripe(stripe.shards, { ...decodeParams, dataKey: generateDataKey() }), isCode('CORRUPT_SHARD'))
  await assert.rejects(decodeStripe(stripe.shards, { ...decodeParams, cipherBytes: 10 }), isCode('BAD_INPUT'))
  await assert.rejects(decodeStripe(stripe.shards, { ...decodeParams, shardSizeBytes: stripe.shardSizeBytes + 8 }), isCode('BAD_INPUT'))
})

test('plaintext never appears in any shard (no 64-byte run of it)', async () => {
  // Highly structured plaintext (a repeated pattern and long zero runs) is the
  // worst case for leaking through a broken cipher mode or through parity.
  const pattern = Buffer.from('CAIRN-SECRET-PAYLOAD-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDE')
  const plain = Buffer.concat([Buffer.alloc(4096), Buffer.alloc(200_000, pattern), randomBytes(10_000)])
  const stripe = await encodeStripe(plain, params(4, 2))
  const RUN_BYTES = 64
  for (const shard of stripe.shards) {
    for (let offset = 0; offset + RUN_BYTES <= plain.length; offset += 509) {
      assert.equal(shard.indexOf(plain.subarray(offset, offset + RUN_BYTES)), -1, `plaintext run at ${offset} leaked`)
    }
    assert.equal(shard.indexOf(pattern), -1)
  }
})

test('one stripe index per nonce: identical stripes at two indexes share no shard hash', async () => {
  const p = params(4, 2, 0)
  const plain = randomBytes(4096)
  const a = await encodeStripe(plain, p)
  const b = await encodeStripe(plain, { ...p, stripeIndex: 1 })
  for (const hash of a.hashes) assert.ok(!b.hashes.includes(hash))
})
