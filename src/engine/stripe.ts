/**
 * The stripe codec: how one stripe of an object version becomes k + m shards
 * and back. Pure (no I/O); it composes crypto/ and erasure/.
 *
 * Encode: AES-256-GCM encrypt the plaintext (data key and nonce base of the
 * version, stripe index in the nonce and the AAD) straight into one buffer laid
 * out as k equal data shards (each a multiple of 8 bytes, zero padding at the
 * end), compute m parity shards, and SHA-256 every shard (its content address).
 * Decode: rebuild missing data shards if needed, drop the padding, decrypt and
 * authenticate. Shards hold only ciphertext or parity of ciphertext.
 */
import { TAG_SIZE_BYTES, decryptStripeParts, encryptStripeInto, sealedSize, sha256Hex } from '../crypto/index.ts'
import { chooseCodec, createErasureCoder, LEGACY_ERASURE_CODEC, shardSizeFor } from '../erasure/index.ts'
import type { ErasureCodecName } from '../erasure/index.ts'
import { CairnError, assert } from '../util/errors.ts'

/**
 * Plaintext bytes per stripe. 4 MiB gives 1 MiB shards at k = 4: big enough
 * that per-request overhead (a round trip, a file open, an fsync) is small next
 * to the transfer, small enough that memory stays flat while streaming
 * (a stripe and its shards are the only buffers in flight per request).
 */
export const STRIPE_SIZE_BYTES = 4 * 1024 * 1024

/**
 * Largest plaintext one stripe may hold: the codec holds the whole stripe and
 * its shards in memory, so a bound keeps a bad caller from asking for gigabytes.
 */
export const MAX_STRIPE_SIZE_BYTES = 64 * 1024 * 1024

/** What encoding a stripe needs. */
export interface StripeEncodeParams {
  /** Data shards. */
  k: number
  /** Parity shards. */
  m: number
  /** The version's 32-byte data key. */
  dataKey: Buffer
  /** The version's 8-byte random nonce base. */
  nonceBase: Buffer
  /** Position of the stripe in the version (u32). */
  stripeIndex: number
  /**
   * Reed-Solomon codec. Encoding defaults to the one chosen for (k, m);
   * decoding defaults to LEGACY_ERASURE_CODEC (manifests that name none).
   */
  codec?: ErasureCodecName
}

/** What decoding a stripe needs: the encode parameters plus two sizes from the manifest. */
export interface StripeDecodeParams extends StripeEncodeParams {
  /** Bytes of ciphertext including the 16-byte tag (without padding). */
  cipherBytes: number
  /** Bytes of every shard. */
  shardSizeBytes: number
}

/** An encoded stripe. */
export interface EncodedStripe {
  /** k data shards then m parity shards, all `shardSizeBytes` long. */
  shards: Buffer[]
  /** Lowercase hex SHA-256 of each shard, same order: the shards' content addresses. */
  hashes: string[]
  /** Bytes of every shard (a multiple of 8). */
  shardSizeBytes: number
  /** Bytes of ciphertext including the tag, before padding. */
  cipherBytes: number
  /** The codec that computed the parity (to be recorded in the manifest). */
  codec: ErasureCodecName
}

/**
 * Encrypt and erasure-code one stripe.
 *
 * @example
 * const stripe = await encodeStripe(plain, { k: 4, m: 2, dataKey, nonceBase, stripeIndex: 0 })
 * // stripe.shards[i] goes to a node, stripe.hashes[i] into the manifest
 */
export async function encodeStripe (plain: Buffer, params: StripeEncodeParams): Promise<EncodedStripe> {
  assert(plain.length <= MAX_STRIPE_SIZE_BYTES, `a stripe holds at most ${MAX_STRIPE_SIZE_BYTES} bytes`)
  const { k, m } = params
  const coder = createErasureCoder(k, m, params.codec ?? chooseCodec(k, m))
  const cipherBytes = sealedSize(plain.length)
  const shardSizeBytes = shardSizeFor(cipherBytes, k)
  const region = Buffer.allocUnsafe(shardSizeBytes * k)
  encryptStripeInto(params.dataKey, params.nonceBase, params.stripeIndex, plain, region, 0)
  region.fill(0, cipherBytes)
  const data: Buffer[] = []
  for (let i = 0; i < k; i++) data.push(region.subarray(i * shardSizeBytes, (i + 1) * shardSizeBytes))
  const parity = await coder.encode(data)
  const shards = [...data, ...parity]
  const hashes = shards.map(sha256Hex)
  return { shards, hashes, shardSizeBytes, cipherBytes, codec: coder.codec }
}

function checkDecodeSizes (params: StripeDecodeParams): void {
  const { k, cipherBytes, shardSizeBytes } = params
  const valid = Number.isInteger(cipherBytes) && cipherBytes >= TAG_SIZE_BYTES &&
    cipherBytes <= sealedSize(MAX_STRIPE_SIZE_BYTES) && shardSizeBytes === shardSizeFor(cipherBytes, k)
  if (!valid) {
    throw new CairnError('BAD_INPUT', `stripe ${params.stripeIndex} has inconsistent sizes: ${cipherBytes} cipher bytes in ${k} shards of ${shardSizeBytes} bytes`,
      'the manifest of this version is damaged')
  }
}

/**
 * Rebuild, strip padding and decrypt one stripe. `shards` has k + m slots, null
 * for a shard that is missing (or failed its hash check); any k suffice.
 * Throws CairnError('NOT_ENOUGH_SHARDS') with fewer than k shards and
 * CairnError('CORRUPT_SHARD') when authentication fails.
 *
 * @example
 * const plain = await decodeStripe([null, s1, s2, s3, s4, null], { ...params, cipherBytes, shardSizeBytes })
 */
export async function decodeStripe (shards: Array<Buffer | null>, params: StripeDecodeParams): Promise<Buffer> {
  const pieces = await decodeStripeParts(shards, params)
  return pieces.length === 1 ? pieces[0] as Buffer : Buffer.concat(pieces)
}

/**
 * decodeStripe, with the plaintext in pieces (one per data shard it spans):
 * the data shards are decrypted where they are, not joined into one buffer
 * first. For byte streams (an object's body); a reader that needs the stripe
 * whole (a stripe-list segment) uses decodeStripe.
 *
 * @example
 * for (const piece of await decodeStripeParts(shards, params)) res.write(piece)
 */
export async function decodeStripeParts (shards: Array<Buffer | null>, params: StripeDecodeParams): Promise<Buffer[]> {
  const { k, m } = params
  assert(shards.length === k + m, `decodeStripe needs k+m=${k + m} shard slots, got ${shards.length}`)
  checkDecodeSizes(params)
  const coder = createErasureCoder(k, m, params.codec ?? LEGACY_ERASURE_CODEC)
  const data = await coder.reconstruct(shards, params.shardSizeBytes)
  return decryptStripeParts(params.dataKey, params.nonceBase, params.stripeIndex, data, params.cipherBytes)
}

/**
 * True when `bytes` hash to `expectedHashHex` (a shard's content address).
 *
 * @example
 * if (!verifyShard(bytes, manifest.hashes[i])) bytes = null
 */
export function verifyShard (bytes: Uint8Array, expectedHashHex: string): boolean {
  return sha256Hex(bytes) === expectedHashHex
}

