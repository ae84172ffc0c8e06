/**
 * Key material: per-version data keys, their wrapping under a cluster master
 * key (so metadata can carry them), and HKDF derivation of purpose-bound keys
 * from one secret.
 *
 * Wrapped key format (a string, safe in JSON and SQLite):
 * `v1.` + base64(iv(12) || AES-256-GCM(masterKey, iv, dataKey)(32) || tag(16)),
 * with the AAD `cairn/key-wrap/v1`.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { CairnError, assert } from '../util/errors.ts'
import {
  HKDF_SALT_LABEL, KEY_SIZE_BYTES, KEY_WRAP_AAD_LABEL, KEY_WRAP_VERSION_PREFIX,
  NONCE_BASE_SIZE_BYTES, NONCE_SIZE_BYTES, TAG_SIZE_BYTES
} from './constants.ts'
import { secretKeyOf } from './secret-key.ts'

const KEY_WRAP_AAD = Buffer.from(KEY_WRAP_AAD_LABEL, 'utf8')
const WRAPPED_SIZE_BYTES = NONCE_SIZE_BYTES + KEY_SIZE_BYTES + TAG_SIZE_BYTES
/** Base64 of exactly WRAPPED_SIZE_BYTES (60) bytes: 80 characters, no padding needed. */
const WRAPPED_BASE64_PATTERN = /^[A-Za-z0-9+/]{80}$/

/**
 * A fresh random 32-byte AES-256 data key (one per object version).
 *
 * @example
 * const dataKey = generateDataKey()
 */
export function generateDataKey (): Buffer {
  return randomBytes(KEY_SIZE_BYTES)
}

/**
 * A fresh random 8-byte nonce base (one per object version).
 *
 * @example
 * const nonceBase = generateNonceBase()
 */
export function generateNonceBase (): Buffer {
  return randomBytes(NONCE_BASE_SIZE_BYTES)
}

/**
 * Wrap (encrypt and authenticate) a data key under a master key.
 *
 * @example
 * const wrapped = wrapDataKey(masterKey, dataKey) // 'v1.…'
 */
export function wrapDataKey (masterKey: Buffer, dataKey: Buffer): string {
  assert(masterKey.length === KEY_SIZE_BYTES, `master key must be ${KEY_SIZE_BYTES} bytes`)
  assert(dataKey.length === KEY_SIZE_BYTES, `data key must be ${KEY_SIZE_BYTES} bytes`)
  const iv = randomBytes(NONCE_SIZE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', secretKeyOf(masterKey), iv, { authTagLength: TAG_SIZE_BYTES })
  cipher.setAAD(KEY_WRAP_AAD)
  const body = Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()])
  assert(body.length === WRAPPED_SIZE_BYTES, 'wrapped key has an unexpected size')
  return KEY_WRAP_VERSION_PREFIX + body.toString('base64')
}

/**
 * Unwrap a data key made by `wrapDataKey`. Throws CairnError('BAD_INPUT') for a
 * malformed or unknown-version string and CairnError('UNAUTHORIZED') when the
 * master key is wrong or the wrapped key was altered.
 *
 * @example
 * const dataKey = unwrapDataKey(masterKey, wrapped)
 */
export function unwrapDataKey (masterKey: Buffer, wrapped: string): Buffer {
  assert(masterKey.length === KEY_SIZE_BYTES, `master key must be ${KEY_SIZE_BYTES} bytes`)
  if (typeof wrapped !== 'string' || !wrapped.startsWith(KEY_WRAP_VERSION_PREFIX)) {
    throw new CairnError('BAD_INPUT', 'wrapped data key has an unknown format or version', `expected a string starting with '${KEY_WRAP_VERSION_PREFIX}'`)
  }
  const encoded = wrapped.slice(KEY_WRAP_VERSION_PREFIX.length)
  if (!WRAPPED_BASE64_PATTERN.test(encoded)) {
    throw new CairnError('BAD_INPUT', 'wrapped data key is not 60 bytes of base64', 'the metadata record holding it is damaged')
  }
  const body = Buffer.from(encoded, 'base64')
  const iv = body.subarray(0, NONCE_SIZE_BYTES)
  const sealedKey = body.subarray(NONCE_SIZE_BYTES, NONCE_SIZE_BYTES + KEY_SIZE_BYTES)
  const decipher = createDecipheriv('aes-256-gcm', secretKeyOf(masterKey), iv, { authTagLength: TAG_SIZE_BYTES })
  decipher.setAAD(KEY_WRAP_AAD)
  decipher.setAuthTag(body.subarray(NONCE_SIZE_BYTES + KEY_SIZE_BYTES))
  const dataKey = decipher.update(sealedKey)
  try {
    decipher.final()
  } catch {
    throw new CairnError('UNAUTHORIZED', 'wrapped data key failed authentication',
      'the cluster master key differs from the one that wrapped this key, or the record was altered')
  }
  return dataKey
}

/**
 * Derive a 32-byte key bound to `label` from `secret` with HKDF-SHA256, so one
 * cluster secret yields independent keys per purpose (e.g. 'pnet', 'master').
 *
 * @example
 * const pnetKey = deriveKey(clusterSecret, 'cairn/pnet')
 */
export function deriveKey (secret: Uint8Array | string, label: string): Buffer {
  assert(label.length > 0, 'deriveKey needs a non-empty label')
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
  assert(ikm.length > 0, 'deriveKey needs a non-empty secret')
  return Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT_LABEL, label, KEY_SIZE_BYTES))
}
