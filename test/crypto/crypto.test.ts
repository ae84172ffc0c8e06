// Goal: stripe encryption round-trips, never reuses a nonce across stripes, and
// refuses any altered byte, wrong key, wrong stripe index; key wrapping and HKDF
// behave and reject malformed input with clear errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import {
  decryptStripe, decryptStripeParts, deriveKey, encryptStripe, generateDataKey, generateNonceBase,
  isSha256Hex, sha256Hex, unwrapDataKey, wrapDataKey, TAG_SIZE_BYTES
} from '../../src/crypto/index.ts'
import { CairnError } from '../../src/util/errors.ts'

function isCode (code: string): (err: unknown) => boolean {
  return (err) => err instanceof CairnError && err.code === code
}

test('stripe encryption round-trips for empty, small and odd sizes', () => {
  const key = generateDataKey()
  const base = generateNonceBase()
  for (const size of [0, 1, 15, 16, 17, 1000, 65_537]) {
    const plain = Buffer.alloc(size, 7)
    const sealed = encryptStripe(key, base, size, plain)
    assert.equal(sealed.length, size + TAG_SIZE_BYTES)
    assert.deepEqual(decryptStripe(key, base, size, sealed), plain)
  }
})

test('the same plaintext under different stripe indexes gives different ciphertext', () => {
  const key = generateDataKey()
  const base = generateNonceBase()
  const plain = Buffer.alloc(64, 1)
  assert.notDeepEqual(encryptStripe(key, base, 0, plain), encryptStripe(key, base, 1, plain))
})

test('any flipped byte, wrong key, wrong nonce base or wrong index fails with CORRUPT_SHARD', () => {
  const key = generateDataKey()
  const base = generateNonceBase()
  const plain = Buffer.from('the quick brown fox jumps over the lazy dog')
  const sealed = encryptStripe(key, base, 3, plain)
  for (let i = 0; i < sealed.length; i++) {
    const bad = Buffer.from(sealed)
    bad[i] = (bad[i] ?? 0) ^ 0x01
    assert.throws(() => decryptStripe(key, base, 3, bad), isCode('CORRUPT_SHARD'))
  }
  assert.throws(() => decryptStripe(generateDataKey(), base, 3, sealed), isCode('CORRUPT_SHARD'))
  assert.throws(() => decryptStripe(key, generateNonceBase(), 3, sealed), isCode('CORRUPT_SHARD'))
  assert.throws(() => decryptStripe(key, base, 4, sealed), isCode('CORRUPT_SHARD'))
  assert.throws(() => decryptStripe(key, base, 3, sealed.subarray(0, 10)), isCode('CORRUPT_SHARD'))
})

test('a stripe decrypts from pieces split anywhere (the tag across two, padding after it), byte-identical; a flipped byte fails', () => {
  const key = generateDataKey()
  const base = generateNonceBase()
  for (const size of [0, 1, 100, 4096, 65_537]) {
    const plain = randomBytes(size)
    const sealed = encryptStripe(key, base, 7, plain)
    const padded = Buffer.concat([sealed, Buffer.alloc(13)])
    // Cut points: through the ciphertext, inside the tag, at its first and last byte, into the padding.
    for (const cuts of [[], [1], [sealed.length - 8], [sealed.length - 16], [sealed.length - 1, sealed.length + 3], [Math.floor(sealed.length / 3), Math.floor(sealed.length / 2), sealed.length - 5]]) {
      const points = [0, ...cuts.filter((c) => c > 0 && c < padded.length), padded.length]
      const pieces = points.slice(1).map((end, i) => padded.subarray(points[i], end))
      assert.deepEqual(Buffer.concat(decryptStripeParts(key, base, 7, pieces, sealed.length)), plain, `size ${size}, cuts ${cuts.join(',')}`)
      const bad = Buffer.from(padded)
      const at = randomInt(0, sealed.length)
      bad[at] = (bad[at] as number) ^ 1
      const badPieces = points.slice(1).map((end, i) => bad.subarray(points[i], end))
      assert.throws(() => decryptStripeParts(key, base, 7, badPieces, sealed.length), isCode('CORRUPT_SHARD'))
    }
    assert.throws(() => decryptStripeParts(key, base, 7, [sealed.subarray(0, sealed.length - 1)], sealed.length), isCode('CORRUPT_SHARD'), 'fewer bytes than sealed')
  }
})

test('programmer errors (bad key size, bad index) are assertions, not CairnErrors', () => {
  assert.throws(() => encryptStripe(Buffer.alloc(16), generateNonceBase(), 0, Buffer.alloc(1)), /assertion failed/)
  assert.throws(() => encryptStripe(generateDataKey(), generateNonceBase(), -1, Buffer.alloc(1)), /assertion failed/)
  assert.throws(() => encryptStripe(generateDataKey(), generateNonceBase(), 2 ** 32, Buffer.alloc(1)), /assertion failed/)
})

test('data keys wrap and unwrap; wrong master key or tampering is refused', () => {
  const master = generateDataKey()
  const dataKey = generateDataKey()
  const wrapped = wrapDataKey(master, dataKey)
  assert.match(wrapped, /^v1\.[A-Za-z0-9+/]{80}$/)
  assert.notEqual(wrapDataKey(master, dataKey), wrapped, 'each wrap uses a fresh IV')
  assert.deepEqual(unwrapDataKey(master, wrapped), dataKey)
  assert.throws(() => unwrapDataKey(generateDataKey(), wrapped), isCode('UNAUTHORIZED'))
  const tampered = wrapped.slice(0, 20) + (wrapped[20] === 'A' ? 'B' : 'A') + wrapped.slice(21)
  assert.throws(() => unwrapDataKey(master, tampered), isCode('UNAUTHORIZED'))
  assert.throws(() => unwrapDataKey(master, 'v2.' + wrapped.slice(3)), isCode('BAD_INPUT'))
  assert.throws(() => unwrapDataKey(master, 'v1.short'), isCode('BAD_INPUT'))
})

test('deriveKey is deterministic, 32 bytes, and separates labels and secrets', () => {
  const a = deriveKey('secret', 'cairn/pnet')
  assert.equal(a.length, 32)
  assert.deepEqual(deriveKey(Buffer.from('secret'), 'cairn/pnet'), a)
  assert.notDeepEqual(deriveKey('secret', 'cairn/master'), a)
  assert.notDeepEqual(deriveKey('secret2', 'cairn/pnet'), a)
})

test('sha256Hex matches the known vector and isSha256Hex rejects non-hashes', () => {
  assert.equal(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.ok(isSha256Hex(sha256Hex(Buffer.alloc(0))))
  for (const bad of ['', 'AB'.repeat(32), 'ab'.repeat(31), '../' + 'a'.repeat(61), 'g'.repeat(64), 'ab'.repeat(32) + '\n', 42]) {
    assert.equal(isSha256Hex(bad), false, String(bad))
  }
})
