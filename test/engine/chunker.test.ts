/**
 * Goal: the chunker cuts any stream into stripes of exactly the stripe size
 * (the last shorter) holding the input bytes in order, whatever the chunk
 * sizes, including objects smaller than its first buffer and objects whose
 * first stripe outgrows it; the object size limit still refuses.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { FIRST_STRIPE_BYTES, stripes } from '../../src/engine/chunker.ts'

async function * chunked (data: Buffer, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let offset = 0
  for (let i = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length] as number
    yield data.subarray(offset, offset + n)
    offset += n
  }
}

async function collect (source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const s of source) out.push(Buffer.from(s))
  return out
}

describe('stripes', () => {
  it('yields full stripes then the rest, bytes in order, for any chunking', async () => {
    const stripeBytes = 5 * FIRST_STRIPE_BYTES
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 3 * stripeBytes }),
      fc.array(fc.integer({ min: 1, max: 2 * FIRST_STRIPE_BYTES }), { minLength: 1, maxLength: 5 }),
      async (size, sizes) => {
        const data = randomBytes(size)
        const out = await collect(stripes(chunked(data, sizes), stripeBytes))
        assert.deepEqual(Buffer.concat(out), data)
        assert.equal(out.length, Math.ceil(size / stripeBytes))
        for (const s of out.slice(0, -1)) assert.equal(s.length, stripeBytes)
      }), { numRuns: 60 })
  })

  it('gives a small object a buffer of its own size range, not a whole stripe', async () => {
    const out: Buffer[] = []
    for await (const s of stripes(chunked(randomBytes(4096), [4096]), 4 << 20)) out.push(s)
    assert.equal(out.length, 1)
    assert.equal(out[0]?.length, 4096)
    // The stripe is a view of the first buffer, far smaller than the 4 MiB stripe.
    assert.ok((out[0]?.buffer.byteLength ?? 0) <= FIRST_STRIPE_BYTES)
  })

  it('refuses an object over the size limit', async () => {
    await assert.rejects(collect(stripes(chunked(randomBytes(1000), [100]), 256, 999)), { code: 'TOO_LARGE' })
  })
})
