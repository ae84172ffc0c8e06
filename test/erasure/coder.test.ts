// Goal: any k of the k + m shards rebuild the data, for every (k, m) shape,
// shard size and codec (native addon, wasm); the chooser keeps the native
// addon where it fits; fewer than k shards, wrong sizes and bad parameters are
// refused with clear errors; layouts are handled without the caller caring.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { chooseCodec, createErasureCoder, joinShards, shardSizeFor, MAX_TOTAL_SHARDS, NATIVE_MAX_DATA_SHARDS, NATIVE_MAX_PARITY_SHARDS } from '../../src/erasure/index.ts'
import type { ErasureCodecName } from '../../src/erasure/index.ts'
import { CairnError } from '../../src/util/errors.ts'

function isCode (code: string): (err: unknown) => boolean {
  return (err) => err instanceof CairnError && err.code === code
}

function randomShards (k: number, size: number): Buffer[] {
  return Array.from({ length: k }, () => randomBytes(size))
}

test('property: any k of k + m shards reconstruct the data shards, with either codec', async () => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 12 }), fc.constantFrom<ErasureCodecName>('native', 'wasm'),
    fc.integer({ min: 1, max: 64 }), fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
    async (k, rawM, codec, words, draws) => {
      const m = codec === 'native' ? Math.min(rawM, NATIVE_MAX_PARITY_SHARDS) : rawM
      const size = words * 8
      const coder = createErasureCoder(k, m, codec)
      const data = randomShards(k, size)
      const parity = await coder.encode(data)
      assert.equal(parity.length, m)
      const all: Array<Buffer | null> = [...data, ...parity]
      // Drop exactly m shards, chosen by the random stream (a shuffle of indexes).
      const order = all.map((_, index) => index)
      const it = draws[Symbol.iterator]()
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor((it.next().value as number) * (i + 1)) % (i + 1)
        const tmp = order[i] as number; order[i] = order[j] as number; order[j] = tmp
      }
      for (const index of order.slice(0, m)) all[index] = null
      const rebuilt = await coder.reconstruct(all, size)
      assert.deepEqual(rebuilt, data)
    }), { numRuns: 300 })
})

test('every subset of missing shards up to m is recoverable for k=4 m=2', async () => {
  const coder = createErasureCoder(4, 2)
  const data = randomShards(4, 1024)
  const parity = await coder.encode(data)
  for (let a = 0; a < 6; a++) {
    for (let b = a; b < 6; b++) {
      const slots: Array<Buffer | null> = [...data, ...parity]
      slots[a] = null; slots[b] = null
      assert.deepEqual(await coder.reconstruct(slots, 1024), data)
    }
  }
})

test('encode gives the same parity for adjacent views and separate buffers', async () => {
  const coder = createErasureCoder(3, 2)
  const region = randomBytes(3 * 64)
  const views = [0, 1, 2].map((i) => region.subarray(i * 64, (i + 1) * 64))
  const copies = views.map((view) => Buffer.from(view))
  assert.deepEqual(await coder.encode(views), await coder.encode(copies))
  assert.equal(joinShards(views).buffer, region.buffer, 'adjacent views join without a copy')
})

test('the largest shape of each codec works', async () => {
  const shapes = [[NATIVE_MAX_DATA_SHARDS, NATIVE_MAX_PARITY_SHARDS, 'native'], [128, MAX_TOTAL_SHARDS - 128, 'wasm'], [1, MAX_TOTAL_SHARDS - 1, 'wasm']] as const
  for (const [k, m, codec] of shapes) {
    const coder = createErasureCoder(k, m)
    assert.equal(coder.codec, codec, `${k}+${m}`)
    const data = randomShards(k, 256)
    const slots: Array<Buffer | null> = [...data, ...await coder.encode(data)]
    // Lose m shards spread over data and parity: every third, then the tail.
    let lost = 0
    for (let i = 0; i < slots.length && lost < m; i += 3) { slots[i] = null; lost++ }
    for (let i = slots.length - 1; lost < m; i--) if (slots[i] !== null) { slots[i] = null; lost++ }
    assert.deepEqual(await coder.reconstruct(slots, 256), data, `${k}+${m}`)
  }
})

test('the chooser keeps the native addon where it fits and takes wasm beyond', () => {
  assert.equal(chooseCodec(4, 2), 'native')
  assert.equal(chooseCodec(10, 4), 'native')
  assert.equal(chooseCodec(24, 6), 'native')
  assert.equal(chooseCodec(30, 0), 'native', 'no parity needs no codec; the default name is kept')
  assert.equal(chooseCodec(4, 7), 'wasm')
  assert.equal(chooseCodec(25, 1), 'wasm')
  assert.equal(chooseCodec(32, 97), 'wasm')
  assert.equal(createErasureCoder(4, 2).codec, 'native')
  assert.equal(createErasureCoder(32, 97).codec, 'wasm')
})

test('the two codecs write different parity, so each stripe names its codec', async () => {
  const data = randomShards(4, 64)
  const native = await createErasureCoder(4, 2, 'native').encode(data)
  const wasm = await createErasureCoder(4, 2, 'wasm').encode(data)
  assert.notDeepEqual(native, wasm)
})

test('too few shards is NOT_ENOUGH_SHARDS; a wrong-size shard is CORRUPT_SHARD', async () => {
  const coder = createErasureCoder(4, 2)
  const data = randomShards(4, 64)
  const parity = await coder.encode(data)
  await assert.rejects(coder.reconstruct([null, null, null, data[3] ?? null, ...parity], 64), isCode('NOT_ENOUGH_SHARDS'))
  await assert.rejects(coder.reconstruct([Buffer.alloc(56), ...data.slice(1), ...parity], 64), isCode('CORRUPT_SHARD'))
  const noParity = createErasureCoder(2, 0)
  await assert.rejects(noParity.reconstruct([null, Buffer.alloc(8)], 8), isCode('NOT_ENOUGH_SHARDS'))
})

test('parameters outside the library limits and bad shard sizes are BAD_INPUT', async () => {
  for (const [k, m] of [[0, 1], [MAX_TOTAL_SHARDS + 1, 0], [200, 60], [4, -1], [4, MAX_TOTAL_SHARDS - 3], [1.5, 1]] as const) {
    assert.throws(() => createErasureCoder(k, m), isCode('BAD_INPUT'), `${k}+${m}`)
  }
  assert.throws(() => createErasureCoder(4, 7, 'native'), isCode('BAD_INPUT'), 'the native addon cannot code m = 7')
  assert.throws(() => createErasureCoder(4, 2, 'gf16' as ErasureCodecName), isCode('BAD_INPUT'), 'an unknown codec')
  const coder = createErasureCoder(2, 1)
  await assert.rejects(coder.encode([Buffer.alloc(12), Buffer.alloc(12)]), isCode('BAD_INPUT'))
  await assert.rejects(coder.reconstruct([null, Buffer.alloc(12), Buffer.alloc(12)], 12), isCode('BAD_INPUT'))
})

test('coders are cached per (k, m) and shard sizes round up to multiples of 8', () => {
  assert.equal(createErasureCoder(4, 2), createErasureCoder(4, 2))
  assert.equal(shardSizeFor(0, 4), 8)
  assert.equal(shardSizeFor(16, 4), 8)
  assert.equal(shardSizeFor(33, 4), 16)
  assert.equal(shardSizeFor(4 * 1024 * 1024 + 16, 4), 1024 * 1024 + 8)
})

test('the wasm codec leaves the event loop free: a callback queued after a wide encode starts runs before it ends', async () => {
  const coder = createErasureCoder(32, 97)
  const data = randomShards(32, 128 * 1024)
  let ranDuringEncode = false
  const encoding = coder.encode(data)
  setImmediate(() => { ranDuringEncode = true })
  const parity = await encoding
  assert.equal(parity.length, 97)
  assert.equal(ranDuringEncode, true, 'coding 32+97 on the main thread would finish before any queued callback runs')
  const slots: Array<Buffer | null> = [...data, ...parity].map((shard, i) => i < 97 ? null : shard)
  assert.deepEqual(await coder.reconstruct(slots, 128 * 1024), data)
})
