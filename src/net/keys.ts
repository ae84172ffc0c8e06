/**
 * Node identity keys: every Cairn node has one Ed25519 key pair, its libp2p
 * identity. The peer id derived from it names the node everywhere (roster,
 * placement, logs). Keys are stored as libp2p's protobuf encoding, so a key
 * file stays readable by any libp2p tool.
 */

import { randomBytes } from 'node:crypto'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CairnError } from '../util/errors.ts'
import { CLUSTER_KEY_BYTES } from './constants.ts'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Create a fresh Ed25519 node key.
 *
 * @example
 * const key = await generateNodeKey()
 */
export async function generateNodeKey (): Promise<PrivateKey> {
  return generateKeyPair('Ed25519')
}

/**
 * Serialize a node key for a key file (libp2p protobuf encoding).
 *
 * @example
 * await writeFile(path, nodeKeyToBytes(key), { mode: 0o600 })
 */
export function nodeKeyToBytes (key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key)
}

/**
 * Parse a node key written by `nodeKeyToBytes`; only Ed25519 keys are accepted.
 *
 * @example
 * const key = nodeKeyFromBytes(await readFile(path))
 */
export function nodeKeyFromBytes (bytes: Uint8Array): PrivateKey {
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new CairnError('CONFIG', `node key is not a valid libp2p private key: ${err instanceof Error ? err.message : String(err)}`, 'restore the node key file from backup, or re-join the node under a new identity')
  }
  if (key.type !== 'Ed25519') {
    throw new CairnError('CONFIG', `node key is a ${key.type} key, Cairn needs Ed25519`, 'generate a new node key')
  }
  return key
}

/**
 * The peer id (base58 string) of a node key.
 *
 * @example
 * peerIdOf(key) // '12D3KooW...'
 */
export function peerIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

/**
 * Create a fresh random cluster key (the pre-shared key of the private network).
 *
 * @example
 * const clusterKey = generateClusterKey()
 */
export function generateClusterKey (): Uint8Array {
  return new Uint8Array(randomBytes(CLUSTER_KEY_BYTES))
}
