/**
 * Cairn's private-network connection protector: only machines that hold the
 * cluster's 32-byte pre-shared key can complete a connection, so an outsider
 * cannot even reach the TLS/Noise handshake, let alone a Cairn protocol.
 * It replaces `@libp2p/pnet`, whose XSalsa20 (WASM) dies after ~50 MB and
 * halves throughput, with native node:crypto ciphers (HKDF,
 * HMAC, AES-256-GCM), which run at several GB/s.
 *
 * ## Wire format, version 1
 *
 * The protector runs on the raw transport byte stream, before libp2p's
 * multistream-select and connection encryption. Both sides act alike; there
 * is no initiator role.
 *
 * 1. HELLO, sent by each side at once, 33 bytes:
 *    `version (u8 = 1) || nonce (32 random bytes)`.
 *    A side that receives another version aborts the connection with
 *    CairnError PROTOCOL. A side that receives its own nonce back (a reflected
 *    hello) aborts with PROTOCOL.
 * 2. Key schedule. `salt = min(nonceA, nonceB) || max(nonceA, nonceB)` (byte
 *    order), so both sides compute the same salt. For each sending side S
 *    with nonce `nS`:
 *    `okm_S = HKDF-SHA256(ikm = clusterKey, salt, info = "cairn/pnet/2/" || nS, 80 bytes)`;
 *    `key_S = okm_S[0..32)`, `iv_S = okm_S[32..48)`, `confirmKey_S = okm_S[48..80)`.
 * 3. CONFIRM, sent by each side after it has read the peer's HELLO, 32 bytes:
 *    `HMAC-SHA256(confirmKey_S, "cairn/pnet/2/confirm" || salt || nS)`.
 *    Each side checks the peer's tag in constant time. On mismatch it closes
 *    the connection (gracefully, so the peer still reads our tag and reaches
 *    the same verdict) and fails with CairnError UNAUTHORIZED
 *    "remote peer is not a member of this cluster (cluster key mismatch)".
 *    A connection that ends before CONFIRM arrives fails with UNAUTHORIZED too
 *    (the peer rejected our key, or is not a Cairn node).
 * 4. DATA: everything S sends after CONFIRM is cut into sealed frames:
 *    `length (u32be, 1..MAX_SEALED_FRAME_BYTES) || AES-256-GCM(key_S, nonce, plaintext) || tag (16 bytes)`
 *    with `nonce = iv_S[0..4) || u64be(frame counter of S, from 0)` and the
 *    4 length bytes as additional authenticated data. A frame whose tag does
 *    not verify, or whose length is out of range, aborts the connection with
 *    CairnError PROTOCOL: the stream is confidential and tamper-evident.
 *
 * The whole handshake must finish within PROTECTOR_HANDSHAKE_TIMEOUT_MS, else
 * the connection is aborted with CairnError TIMEOUT.
 *
 * Why frames with GCM (version 2) rather than a CTR keystream (version 1):
 * with integrity in the protector itself, a cluster connection needs no
 * second encryption layer. Cairn runs libp2p's plaintext encrypter inside the
 * protector (peer ids are exchanged over the authenticated channel, so only
 * cluster members can claim one), which measured ~3x the throughput of
 * TLS over the protector here (docs/ARCHITECTURE.md, "Network"). TLS or Noise
 * can still be layered on top per node (`encryption` option).
 * Fresh nonces from both sides give fresh keys per connection; the 64-bit
 * frame counter never wraps in practice, so a GCM nonce is never reused.
 */

import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { byteStream } from '@libp2p/utils'
import { CairnError, assert } from '../util/errors.ts'
import { CLUSTER_KEY_BYTES, PROTECTOR_HANDSHAKE_TIMEOUT_MS, PROTECTOR_NONCE_BYTES } from './constants.ts'
import { ProtectedStream } from './protected-stream.ts'
import type { AbortOptions, ConnectionProtector, MessageStream } from '@libp2p/interface'

/** Version byte of the protector handshake described above. */
export const PROTECTOR_VERSION = 2

const HELLO_BYTES = 1 + PROTECTOR_NONCE_BYTES
/** Read buffer during the handshake: the handshake plus a few sealed frames that may follow it in one read. */
const HANDSHAKE_READ_BUFFER_BYTES = 4 * 1024 * 1024
const CONFIRM_BYTES = 32
const KEY_BYTES = 32
const IV_BYTES = 16
const INFO_PREFIX = 'cairn/pnet/2/'
const CONFIRM_LABEL = 'cairn/pnet/2/confirm'

/** Message of the error a peer with another cluster key gets. */
export const CLUSTER_KEY_MISMATCH_MESSAGE = 'remote peer is not a member of this cluster (cluster key mismatch)'

/** Keys of one direction of a protected connection. */
export interface DirectionKeys {
  key: Uint8Array
  iv: Uint8Array
  confirmKey: Uint8Array
}

/** Options of the protector. */
export interface ClusterProtectorInit {
  /** The cluster pre-shared key, CLUSTER_KEY_BYTES long. */
  clusterKey: Uint8Array
  /** Override of PROTECTOR_HANDSHAKE_TIMEOUT_MS, for tests. */
  handshakeTimeoutMs?: number
}

/**
 * Derive the keys that the side with `senderNonce` uses to send.
 *
 * @example
 * const keys = deriveDirectionKeys(clusterKey, salt, localNonce)
 */
export function deriveDirectionKeys (clusterKey: Uint8Array, salt: Uint8Array, senderNonce: Uint8Array): DirectionKeys {
  const info = Buffer.concat([Buffer.from(INFO_PREFIX, 'utf8'), senderNonce])
  const okm = new Uint8Array(hkdfSync('sha256', clusterKey, salt, info, KEY_BYTES + IV_BYTES + 32))
  return {
    key: okm.subarray(0, KEY_BYTES),
    iv: okm.subarray(KEY_BYTES, KEY_BYTES + IV_BYTES),
    confirmKey: okm.subarray(KEY_BYTES + IV_BYTES)
  }
}

/** The salt both sides agree on: the two nonces in byte order. */
export function handshakeSalt (nonceA: Uint8Array, nonceB: Uint8Array): Uint8Array {
  return Buffer.compare(nonceA, nonceB) <= 0 ? Buffer.concat([nonceA, nonceB]) : Buffer.concat([nonceB, nonceA])
}

/** The key-confirmation tag the side with `senderNonce` sends. */
export function confirmationTag (confirmKey: Uint8Array, salt: Uint8Array, senderNonce: Uint8Array): Uint8Array {
  return createHmac('sha256', confirmKey).update(CONFIRM_LABEL).update(salt).update(senderNonce).digest()
}

/**
 * A libp2p ConnectionProtector that admits only holders of the cluster key.
 *
 * @example
 * createLibp2p({ connectionProtector: () => new ClusterProtector({ clusterKey }) })
 */
export class ClusterProtector implements ConnectionProtector {
  readonly #clusterKey: Uint8Array
  readonly #handshakeTimeoutMs: number

  constructor (init: ClusterProtectorInit) {
    assert(init.clusterKey.byteLength === CLUSTER_KEY_BYTES, `cluster key must be ${CLUSTER_KEY_BYTES} bytes`)
    this.#clusterKey = Uint8Array.from(init.clusterKey)
    this.#handshakeTimeoutMs = init.handshakeTimeoutMs ?? PROTECTOR_HANDSHAKE_TIMEOUT_MS
  }

  readonly [Symbol.toStringTag] = '@cairn/protector'

  /** Run the handshake on `connection` and return the encrypted stream. */
  async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
    const timeout = AbortSignal.timeout(this.#handshakeTimeoutMs)
    const signal = options?.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    try {
      const { sendKeys, receiveKeys } = await this.#handshake(connection, signal)
      return new ProtectedStream({ inner: connection, sendKeys, receiveKeys })
    } catch (err) {
      const error = timeout.aborted
        ? new CairnError('TIMEOUT', `cluster handshake timed out after ${this.#handshakeTimeoutMs} ms`, 'check that the remote address belongs to a Cairn node of this cluster')
        : err instanceof Error ? err : new Error(String(err))
      connection.abort(error)
      throw error
    }
  }

  async #handshake (connection: MessageStream, signal: AbortSignal): Promise<{ sendKeys: DirectionKeys, receiveKeys: DirectionKeys }> {
    // The peer's first sealed frames may arrive in the same read as its
    // CONFIRM; they are handed back by unwrap(), so the buffer must hold them.
    const bytes = byteStream(connection, { maxBufferSize: HANDSHAKE_READ_BUFFER_BYTES })
    const localNonce = randomBytes(PROTECTOR_NONCE_BYTES)
    const hello = new Uint8Array(HELLO_BYTES)
    hello[0] = PROTECTOR_VERSION
    hello.set(localNonce, 1)

    const [remoteHello] = await Promise.all([
      bytes.read({ bytes: HELLO_BYTES, signal }),
      bytes.write(hello, { signal })
    ])
    const remote = remoteHello.subarray()
    if (remote[0] !== PROTECTOR_VERSION) {
      throw new CairnError('PROTOCOL', `remote peer speaks cluster handshake version ${remote[0]}, this node speaks ${PROTECTOR_VERSION}`, 'run the same Cairn version on every node, and check the address belongs to a Cairn node')
    }
    const remoteNonce = remote.subarray(1)
    if (timingSafeEqual(remoteNonce, localNonce)) {
      throw new CairnError('PROTOCOL', 'remote peer reflected our cluster handshake', 'the remote address is not a genuine Cairn node')
    }

    const salt = handshakeSalt(localNonce, remoteNonce)
    const sendKeys = deriveDirectionKeys(this.#clusterKey, salt, localNonce)
    const receiveKeys = deriveDirectionKeys(this.#clusterKey, salt, remoteNonce)
    await bytes.write(confirmationTag(sendKeys.confirmKey, salt, localNonce), { signal })

    let remoteTag: Uint8Array
    try {
      remoteTag = (await bytes.read({ bytes: CONFIRM_BYTES, signal })).subarray()
    } catch (err) {
      if (signal.aborted) throw err
      throw new CairnError('UNAUTHORIZED', `connection closed during the cluster handshake: ${CLUSTER_KEY_MISMATCH_MESSAGE}, or the remote is not a Cairn node`, 'check that both nodes were given the same cluster key')
    }
    const expected = confirmationTag(receiveKeys.confirmKey, salt, remoteNonce)
    if (!timingSafeEqual(remoteTag, expected)) {
      bytes.unwrap()
      // Close gracefully rather than reset, so the peer still reads our tag and
      // reports the same clear mismatch instead of a bare connection reset.
      await connection.close({ signal }).catch(() => {})
      throw new CairnError('UNAUTHORIZED', CLUSTER_KEY_MISMATCH_MESSAGE, 'check that both nodes were given the same cluster key')
    }
    // Bytes that arrived after CONFIRM are already ciphertext: unwrap hands
    // them back to the connection, where ProtectedStream decrypts them first.
    bytes.unwrap()
    return { sendKeys, receiveKeys }
  }
}
