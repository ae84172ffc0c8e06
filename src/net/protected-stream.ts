/**
 * The encrypted byte stream the cluster protector returns: a libp2p
 * MessageStream that seals everything it sends into AES-256-GCM frames on
 * the inner (transport) stream and opens and verifies every frame it
 * receives. Wire format and key schedule are specified in protector.ts.
 *
 * It keeps the inner stream's semantics: `send()` returns false and 'drain'
 * follows when the transport is full; pausing this stream pauses the
 * transport; close, abort and remote reset travel both ways; `remoteAddr` is
 * the transport's.
 */

import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { CairnError } from '../util/errors.ts'
import { ChunkQueue } from './chunk-queue.ts'
import { AbstractMessageStream } from '@libp2p/utils'
import type { DirectionKeys } from './protector.ts'
import type { AbortOptions, MessageStream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The chunk list type libp2p hands to `sendData` (uint8arraylist 3, nested under @libp2p/utils). */
type ChunkList = Parameters<AbstractMessageStream['sendData']>[0]

/** What a ProtectedStream wraps and with which keys. */
export interface ProtectedStreamInit {
  inner: MessageStream
  sendKeys: DirectionKeys
  receiveKeys: DirectionKeys
}

/** Largest plaintext in one sealed frame: big enough that per-frame cost is small, small enough to bound buffering. */
export const MAX_SEALED_FRAME_BYTES = 256 * 1024
const LENGTH_BYTES = 4
const TAG_BYTES = 16

/** The 12-byte GCM nonce of frame `counter`: iv[0..4) || u64be(counter). */
function frameNonce (iv: Uint8Array, counter: bigint): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.set(iv.subarray(0, 4), 0)
  nonce.writeBigUInt64BE(counter, 4)
  return nonce
}

/** A MessageStream sealed with AES-256-GCM frames in each direction. */
export class ProtectedStream extends AbstractMessageStream {
  /** The transport's remote address, when the inner stream has one. */
  readonly remoteAddr: Multiaddr | undefined
  readonly #inner: MessageStream
  readonly #sendKeys: DirectionKeys
  readonly #receiveKeys: DirectionKeys
  /** Imported once: importing a raw key per frame dominated the CPU profile. */
  readonly #sendKey: KeyObject
  readonly #receiveKey: KeyObject
  #sendCounter = 0n
  #receiveCounter = 0n
  /** Received bytes not yet forming a whole frame. */
  readonly #pending = new ChunkQueue()

  constructor (init: ProtectedStreamInit) {
    const inner = init.inner
    super({
      log: inner.log.newScope('cairn-protector'),
      direction: inner.direction,
      inactivityTimeout: inner.inactivityTimeout,
      maxReadBufferLength: inner.maxReadBufferLength
    })
    this.#inner = inner
    this.remoteAddr = (inner as Partial<{ remoteAddr: Multiaddr }>).remoteAddr
    this.#sendKeys = init.sendKeys
    this.#receiveKeys = init.receiveKeys
    this.#sendKey = createSecretKey(init.sendKeys.key)
    this.#receiveKey = createSecretKey(init.receiveKeys.key)

    inner.addEventListener('message', (evt: StreamMessageEvent) => { this.#onCiphertext(evt.data) })
    inner.addEventListener('drain', () => { this.safeDispatchEvent('drain') })
    inner.addEventListener('remoteCloseWrite', () => { this.onRemoteCloseWrite() })
    inner.addEventListener('close', (evt: StreamCloseEvent) => { this.#onInnerClose(evt) })
  }

  #onCiphertext (data: Uint8Array | Iterable<Uint8Array>): void {
    if (data instanceof Uint8Array) this.#pending.push(data)
    else for (const chunk of data) this.#pending.push(chunk)
    try {
      this.#openFrames()
    } catch (err) {
      this.#inner.abort(err as Error)
      this.abort(err as Error)
    }
  }

  /** Open and deliver every complete frame. */
  #openFrames (): void {
    while (this.#pending.length >= LENGTH_BYTES) {
      const length = this.#pending.peek(LENGTH_BYTES).readUInt32BE(0)
      if (length === 0 || length > MAX_SEALED_FRAME_BYTES) {
        throw new CairnError('PROTOCOL', `cluster connection sent a frame of ${length} bytes`, 'the peer is not a genuine Cairn node of this version')
      }
      const total = LENGTH_BYTES + length + TAG_BYTES
      if (this.#pending.length < total) return
      const frame = this.#pending.peek(total)
      const decipher = createDecipheriv('aes-256-gcm', this.#receiveKey, frameNonce(this.#receiveKeys.iv, this.#receiveCounter++))
      decipher.setAAD(frame.subarray(0, LENGTH_BYTES))
      decipher.setAuthTag(frame.subarray(LENGTH_BYTES + length))
      const plaintext = decipher.update(frame.subarray(LENGTH_BYTES, LENGTH_BYTES + length))
      try {
        decipher.final()
      } catch {
        throw new CairnError('PROTOCOL', 'cluster connection failed its integrity check (tampered or corrupted data)', 'the connection was dropped; check the network path between the nodes')
      }
      this.#pending.consume(total)
      this.onData(plaintext)
    }
  }

  /** Seal `plaintext` as frames of at most MAX_SEALED_FRAME_BYTES. */
  #seal (plaintext: Uint8Array): Buffer[] {
    const out: Buffer[] = []
    for (let offset = 0; offset < plaintext.byteLength; offset += MAX_SEALED_FRAME_BYTES) {
      const part = plaintext.subarray(offset, Math.min(offset + MAX_SEALED_FRAME_BYTES, plaintext.byteLength))
      const head = Buffer.allocUnsafe(LENGTH_BYTES)
      head.writeUInt32BE(part.byteLength, 0)
      const cipher = createCipheriv('aes-256-gcm', this.#sendKey, frameNonce(this.#sendKeys.iv, this.#sendCounter++))
      cipher.setAAD(head)
      const body = cipher.update(part)
      cipher.final()
      out.push(head, body, cipher.getAuthTag())
    }
    return out
  }

  #onInnerClose (evt: StreamCloseEvent): void {
    // Mirror why the transport closed, so a local failure, a remote reset and
    // a clean close reach the upper layers as what they are.
    if (evt.error === undefined) {
      this.onTransportClosed()
    } else if (evt.local === true) {
      this.abort(evt.error)
    } else {
      this.onRemoteReset()
    }
  }

  /**
   * A write after this stream closed is dropped, not thrown. Yamux opens a
   * stream by sending its first window update from a microtask, outside any
   * caller's try, so a connection that closed in between threw an uncaught
   * StreamStateError and took the whole node down (seen after SIGSTOP and
   * SIGCONT of a node: placement-hours.test.ts). Whoever wanted to write
   * learns of the close from the close event, which the muxer passes on to
   * every stream of the connection.
   */
  override send (data: Parameters<AbstractMessageStream['send']>[0]): boolean {
    if (this.writeStatus === 'closed' || this.writeStatus === 'closing') return false
    return super.send(data)
  }

  /**
   * Seal and hand everything to the transport. The frame counter advances
   * with every frame, so a chunk cannot be half-sent and retried later: the
   * transport buffers what it cannot write yet and signals 'drain'.
   */
  sendData (data: ChunkList): SendResult {
    if (data.byteLength === 0) return { sentBytes: 0, canSendMore: true }
    // The transport is closing under this stream (its close event follows): drop, as send() does.
    if (this.#inner.status !== 'open') return { sentBytes: data.byteLength, canSendMore: false }
    const sealed = this.#seal(data.subarray())
    const canSendMore = this.#inner.send(sealed.length === 1 ? sealed[0] as Buffer : Buffer.concat(sealed))
    return { sentBytes: data.byteLength, canSendMore }
  }

  sendReset (err: Error): void {
    this.#inner.abort(err)
  }

  sendPause (): void {
    if (this.#inner.status === 'open') this.#inner.pause()
  }

  sendResume (): void {
    if (this.#inner.status === 'open') this.#inner.resume()
  }

  /** Flush what is queued, then close the transport gracefully. */
  async close (options?: AbortOptions): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closing'
    this.writeStatus = 'closing'
    if (this.sendingData || this.writeBuffer.byteLength > 0 || this.writableNeedsDrain) {
      await this.#waitUntilFlushed(options)
    }
    await this.#inner.close(options)
    this.onTransportClosed()
  }

  async #waitUntilFlushed (options?: AbortOptions): Promise<void> {
    while (this.writeBuffer.byteLength > 0 || this.writableNeedsDrain) {
      options?.signal?.throwIfAborted()
      await this.onDrain(options)
      if (this.status !== 'closing') return
      this.processSendQueue()
    }
  }
}
