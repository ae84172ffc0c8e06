/**
 * SHA-256 helpers: a shard's content address (its CID) is the lowercase hex
 * SHA-256 of its bytes.
 */
import { createHash } from 'node:crypto'

/** A shard hash: 64 lowercase hex characters, nothing else. */
const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/

/**
 * The SHA-256 of `bytes`, as 64 lowercase hex characters.
 *
 * @example
 * sha256Hex(Buffer.from('abc')) // 'ba7816bf…15ad'
 */
export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * True when `value` is a well-formed shard hash (64 lowercase hex characters).
 * Anything else, `../` included, is rejected.
 *
 * @example
 * isSha256Hex('ab'.repeat(32)) // true
 * isSha256Hex('../etc/passwd') // false
 */
export function isSha256Hex (value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX_PATTERN.test(value)
}
