/**
 * Goal: Cairn's CRC-32C and CRC-64/NVME give the published check values
 * (the CRC catalogue's "123456789" vectors, and the vectors of the AWS SDKs'
 * checksum tests), the same result however the input is split into chunks
 * (uploads arrive in pieces of any size), and agree with a bit-at-a-time
 * reference on random data, so the slicing-by-8 tables are right.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { crc32c, Crc64Nvme } from '../../src/util/crc.ts'

function crc64Hex (data: Uint8Array): string {
  const c = new Crc64Nvme()
  c.update(data)
  return c.digest().toString('hex')
}

function referenceCrc32c (data: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ 0x82F63B78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

function referenceCrc64 (data: Uint8Array): string {
  let crc = 0xffffffffffffffffn
  for (const byte of data) {
    crc ^= BigInt(byte)
    for (let k = 0; k < 8; k++) crc = (crc & 1n) !== 0n ? (crc >> 1n) ^ 0x9A6C9329AC4BC9B5n : crc >> 1n
  }
  return (crc ^ 0xffffffffffffffffn).toString(16).padStart(16, '0')
}

describe('CRC-32C and CRC-64/NVME', () => {
  it('give the published check values', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xE3069283)
    assert.equal(crc64Hex(Buffer.from('123456789')), 'ae8b14860a799888')
    assert.equal(crc32c(Buffer.alloc(0)), 0)
    assert.equal(crc64Hex(Buffer.alloc(0)), '0000000000000000')
    // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xff, and ascending bytes.
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8A9136AA)
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62A8AB43)
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46DD794E)
    // The AWS SDKs' checksum tests: "Hello world" as S3 encodes it (base64 of the big-endian digest).
    const hello = Buffer.from('Hello world')
    const out = Buffer.alloc(4)
    out.writeUInt32BE(crc32c(hello))
    assert.equal(out.toString('base64'), 'crUfeA==')
    const c = new Crc64Nvme()
    c.update(hello)
    assert.equal(c.digest().toString('base64'), 'OOJZ0D8xKts=')
  })

  it('are the same for any split of the input, and match a bit-at-a-time reference', () => {
    const data = randomBytes(10_007)
    const whole32 = crc32c(data)
    const whole64 = crc64Hex(data)
    assert.equal(whole32, referenceCrc32c(data))
    assert.equal(whole64, referenceCrc64(data))
    for (const piece of [1, 3, 7, 8, 9, 64, 1000, 4096]) {
      let running = 0
      const c = new Crc64Nvme()
      for (let at = 0; at < data.length; at += piece) {
        running = crc32c(data.subarray(at, at + piece), running)
        c.update(data.subarray(at, at + piece))
      }
      assert.equal(running, whole32, `crc32c in pieces of ${piece}`)
      assert.equal(c.digest().toString('hex'), whole64, `crc64nvme in pieces of ${piece}`)
    }
  })
})
