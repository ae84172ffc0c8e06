/**
 * Raw AES keys as KeyObjects, made once per key buffer.
 *
 * Given a Buffer key, node:crypto's createCipheriv first asks whether it is
 * a KeyObject or a CryptoKey, and on Node 24 each question is answered by a
 * thrown and caught TypeError: measured here, a 4 KiB AES-256-GCM seal cost
 * 16.7 µs with a Buffer key and 4.3–5.3 µs with a KeyObject, and making the
 * KeyObject costs 0.9 µs. A small put and a small get each create two ciphers
 * (the data key's wrap and the stripe), so this was ~25 µs of every one.
 */
import { createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

/** KeyObjects per key buffer; key buffers are never written after they are made. */
const keyObjects = new WeakMap<Uint8Array, KeyObject>()

/**
 * The KeyObject holding `key`'s bytes (the same object for the same buffer).
 *
 * @example
 * createCipheriv('aes-256-gcm', secretKeyOf(dataKey), iv)
 */
export function secretKeyOf (key: Uint8Array): KeyObject {
  let object = keyObjects.get(key)
  if (object === undefined) {
    object = createSecretKey(key)
    keyObjects.set(key, object)
  }
  return object
}
