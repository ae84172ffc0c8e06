/**
 * CRC-32C (Castagnoli) and CRC-64/NVME in pure TypeScript, the two S3
 * checksum algorithms Node's zlib does not offer (it has CRC-32 only).
 * Both are reflected CRCs with all-ones init and final xor; both use
 * slicing-by-8 tables (eight table lookups per 8 bytes instead of one per
 * byte), which is what makes them cheap enough for multi-gigabyte uploads.
 *
 * CRC-64/NVME (the NVMe spec's CRC, what S3 calls CRC64NVME): polynomial
 * 0xAD93D23594C93659 (reflected 0x9A6C9329AC4BC9B5). JavaScript has no
 * fast 64-bit integers, so the register is kept as two 32-bit halves.
 *
 * Check values ("123456789"): CRC-32C 0xE3069283, CRC-64/NVME
 * 0xAE8B14860A799888.
 */

const SLICES = 8

function crc32cTables (): Int32Array[] {
  const tables = Array.from({ length: SLICES }, () => new Int32Array(256))
  const t0 = tables[0] as Int32Array
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82F63B78 : c >>> 1
    t0[n] = c | 0
  }
  for (let s = 1; s < SLICES; s++) {
    const prev = tables[s - 1] as Int32Array
    const cur = tables[s] as Int32Array
    for (let n = 0; n < 256; n++) cur[n] = ((prev[n] as number) >>> 8) ^ (t0[(prev[n] as number) & 0xff] as number)
  }
  return tables
}

const C32 = crc32cTables()
const [A0, A1, A2, A3, A4, A5, A6, A7] = C32 as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array]

/**
 * Continue a CRC-32C over `bytes` (start with 0; the result is the CRC of
 * everything fed so far, as an unsigned 32-bit number).
 *
 * @example
 * crc32c(Buffer.from('123456789')) // 0xE3069283
 */
export function crc32c (bytes: Uint8Array, previous = 0): number {
  // Kept as a signed 32-bit integer (tables are Int32Array): values above
  // 2^31 as unsigned numbers would leave V8's small-integer fast path.
  let crc = ~previous | 0
  let i = 0
  const n = bytes.length
  for (; i + 8 <= n; i += 8) {
    crc ^= (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)
    crc = (A7[crc & 0xff] as number) ^ (A6[(crc >>> 8) & 0xff] as number) ^ (A5[(crc >>> 16) & 0xff] as number) ^ (A4[crc >>> 24] as number) ^
      (A3[bytes[i + 4] as number] as number) ^ (A2[bytes[i + 5] as number] as number) ^ (A1[bytes[i + 6] as number] as number) ^ (A0[bytes[i + 7] as number] as number)
  }
  for (; i < n; i++) crc = (A0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  return (~crc) >>> 0
}

function crc64Tables (): { hi: Int32Array[], lo: Int32Array[] } {
  const poly = 0x9A6C9329AC4BC9B5n
  const mask = (1n << 64n) - 1n
  const big: bigint[][] = [[]]
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n)
    for (let k = 0; k < 8; k++) c = (c & 1n) !== 0n ? (c >> 1n) ^ poly : c >> 1n
    ;(big[0] as bigint[])[n] = c & mask
  }
  for (let s = 1; s < SLICES; s++) {
    const prev = big[s - 1] as bigint[]
    big[s] = prev.map((v) => (v >> 8n) ^ ((big[0] as bigint[])[Number(v & 0xffn)] as bigint))
  }
  return {
    hi: big.map((t) => Int32Array.from(t, (v) => Number(BigInt.asIntN(32, v >> 32n)))),
    lo: big.map((t) => Int32Array.from(t, (v) => Number(BigInt.asIntN(32, v & 0xffffffffn))))
  }
}

const C64 = crc64Tables()
const [H0, H1, H2, H3, H4, H5, H6, H7] = C64.hi as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array]
const [L0, L1, L2, L3, L4, L5, L6, L7] = C64.lo as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array]

/**
 * A running CRC-64/NVME.
 *
 * @example
 * const c = new Crc64Nvme(); c.update(Buffer.from('123456789')); c.digest() // 8 bytes ae8b14860a799888
 */
export class Crc64Nvme {
  // The register (init all ones) as two signed 32-bit halves, for V8's integer fast path.
  #hi = -1
  #lo = -1

  /** Feed more bytes. */
  update (bytes: Uint8Array): void {
    let hi = this.#hi
    let lo = this.#lo
    let i = 0
    const n = bytes.length
    for (; i + 8 <= n; i += 8) {
      const a = lo ^ ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24))
      const b = hi ^ ((bytes[i + 4] as number) | ((bytes[i + 5] as number) << 8) | ((bytes[i + 6] as number) << 16) | ((bytes[i + 7] as number) << 24))
      const i7 = a & 0xff; const i6 = (a >>> 8) & 0xff; const i5 = (a >>> 16) & 0xff; const i4 = a >>> 24
      const i3 = b & 0xff; const i2 = (b >>> 8) & 0xff; const i1 = (b >>> 16) & 0xff; const i0 = b >>> 24
      lo = ((L7[i7] as number) ^ (L6[i6] as number) ^ (L5[i5] as number) ^ (L4[i4] as number) ^ (L3[i3] as number) ^ (L2[i2] as number) ^ (L1[i1] as number) ^ (L0[i0] as number))
      hi = ((H7[i7] as number) ^ (H6[i6] as number) ^ (H5[i5] as number) ^ (H4[i4] as number) ^ (H3[i3] as number) ^ (H2[i2] as number) ^ (H1[i1] as number) ^ (H0[i0] as number))
    }
    for (; i < n; i++) {
      const idx = (lo ^ (bytes[i] as number)) & 0xff
      lo = ((lo >>> 8) | (hi << 24)) ^ (L0[idx] as number)
      hi = (hi >>> 8) ^ (H0[idx] as number)
    }
    this.#hi = hi
    this.#lo = lo
  }

  /** The CRC of everything fed so far, 8 bytes big-endian (S3's encoding before base64). */
  digest (): Buffer {
    const out = Buffer.alloc(8)
    out.writeUInt32BE((~this.#hi) >>> 0, 0)
    out.writeUInt32BE((~this.#lo) >>> 0, 4)
    return out
  }
}
