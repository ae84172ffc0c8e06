// Goal: the codes that `cairn plan` recommends work through the stripe codec:
// 32+97 (the wasm codec) and 10+4 (the native addon) decode byte-identical
// plaintext after losing any m shards, all data shards included; the stripe
// names the codec that encoded it and decoding with the other codec fails
// authentication instead of returning wrong bytes; 4+2 keeps the native addon.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { decodeStripe, encodeStripe } from '../../src/engine/stripe.ts'
import type { EncodedStripe, StripeEncodeParams } from '../../src/engine/stripe.ts'
import { generateDataKey, generateNonceBase } from '../../src/crypto/index.ts'
import { CairnError } from '../../src/util/errors.ts'

/** Random loss patterns per code; each is one decode of the whole stripe. */
const LOSS_ROUNDS = 25

/** Plaintext per stripe: several shard-sized words per shard even at k = 32, and quick to code. */
const PLAIN_BYTES = 512 * 1024 + 13

function params (k: number, m: number): StripeEncodeParams {
  return { k, m, dataKey: generateDataKey(), nonceBase: generateNonceBase(), stripeIndex: 3 }
}

async function decodeWithout (stripe: EncodedStripe, p: StripeEncodeParams, lost: readonly number[]): Promise<Buffer> {
  const lostSet = new Set(lost)
  const slots = stripe.shards.map((shard, i) => lostSet.has(i) ? null : shard)
  return decodeStripe(slots, { ...p, codec: stripe.codec, cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes })
}

async function checkAnyLoss (k: number, m: number, codec: string): Promise<void> {
  const p = params(k, m)
  const plain = randomBytes(PLAIN_BYTES)
  const stripe = await encodeStripe(plain, p)
  assert.equal(stripe.codec, codec, `${k}+${m} is coded by ${codec}`)
  assert.equal(stripe.shards.length, k + m)
  const indexes = Array.from({ length: k + m }, (_, i) => i)
  // The hardest patterns first: the first m shards (every data shard when m >= k), then every parity shard.
  const allData = indexes.slice(0, m)
  assert.deepEqual(await decodeWithout(stripe, p, allData), plain, `${k}+${m} without shards ${allData.join(',')}`)
  assert.deepEqual(await decodeWithout(stripe, p, indexes.slice(k)), plain, `${k}+${m} without its parity`)
  await fc.assert(fc.asyncProperty(fc.shuffledSubarray(indexes, { minLength: m, maxLength: m }), async (lost) => {
    assert.deepEqual(await decodeWithout(stripe, p, lost), plain, `${k}+${m} without shards ${lost.join(',')}`)
  }), { numRuns: LOSS_ROUNDS, seed: 0x9ca1 + k * 256 + m })
  const tooFew = indexes.slice(0, m + 1)
  await assert.rejects(decodeWithout(stripe, p, tooFew), (err) => err instanceof CairnError && err.code === 'NOT_ENOUGH_SHARDS')
}

test('32+97: losing any 97 shards, all 32 data shards included, decodes byte-identical (wasm codec)', async () => {
  await checkAnyLoss(32, 97, 'wasm')
})

test('10+4: losing any 4 shards, all data shards included, decodes byte-identical (native addon)', async () => {
  await checkAnyLoss(10, 4, 'native')
})

test('4+2 keeps the native addon', async () => {
  const stripe = await encodeStripe(randomBytes(1000), params(4, 2))
  assert.equal(stripe.codec, 'native')
})

test('a stripe decoded with the wrong codec fails authentication, never returns wrong bytes', async () => {
  const p = params(4, 2)
  const plain = randomBytes(10_000)
  const stripe = await encodeStripe(plain, { ...p, codec: 'wasm' })
  assert.equal(stripe.codec, 'wasm')
  const slots = stripe.shards.map((shard, i) => i < 2 ? null : shard)
  const sizes = { cipherBytes: stripe.cipherBytes, shardSizeBytes: stripe.shardSizeBytes }
  assert.deepEqual(await decodeStripe(slots, { ...p, ...sizes, codec: 'wasm' }), plain)
  await assert.rejects(decodeStripe(slots, { ...p, ...sizes, codec: 'native' }), (err) => err instanceof CairnError && err.code === 'CORRUPT_SHARD')
})
