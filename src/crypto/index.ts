/**
 * Cairn's cryptographic building blocks (pure, node:crypto only): data keys,
 * stripe encryption, key wrapping, key derivation and shard hashing.
 */
export * from './constants.ts'
export { sha256Hex, isSha256Hex } from './hash.ts'
export { encryptStripe, encryptStripeInto, decryptStripe, decryptStripeParts, sealedSize } from './stripe-cipher.ts'
export { generateDataKey, generateNonceBase, wrapDataKey, unwrapDataKey, deriveKey } from './keys.ts'
