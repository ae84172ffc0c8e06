/**
 * Sizes and labels of Cairn's cryptography, in one place so that every module
 * (and every persisted record) agrees on them.
 */

/** AES-256 needs a 32-byte key; data keys and master keys are both this size. */
export const KEY_SIZE_BYTES = 32

/**
 * Random part of a stripe nonce, fresh for each object version. 8 random bytes
 * plus a 4-byte stripe index make the 12-byte GCM nonce, so nonces never repeat
 * under one data key (each version has its own key and nonce base anyway).
 */
export const NONCE_BASE_SIZE_BYTES = 8

/** GCM's standard 96-bit nonce: the only size GCM uses without an extra GHASH. */
export const NONCE_SIZE_BYTES = 12

/** The full 128-bit GCM tag; truncated tags weaken forgery resistance. */
export const TAG_SIZE_BYTES = 16

/**
 * Highest stripe index: the index is written as a u32 into the nonce, so a
 * version holds at most 2^32 stripes (16 PiB at 4 MiB stripes).
 */
export const MAX_STRIPE_INDEX = 0xffff_ffff

/** Domain separation for stripe AAD, so a stripe can never pass as anything else. */
export const STRIPE_AAD_LABEL = 'cairn/stripe/v1'

/** Domain separation for wrapped data keys. */
export const KEY_WRAP_AAD_LABEL = 'cairn/key-wrap/v1'

/** Version prefix of a wrapped data key string; bump it when the format changes. */
export const KEY_WRAP_VERSION_PREFIX = 'v1.'

/** Salt of every HKDF derivation, so Cairn's keys never collide with another tool's. */
export const HKDF_SALT_LABEL = 'cairn/hkdf/v1'
