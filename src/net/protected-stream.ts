/**
 * The encrypted byte stream the cluster protector returns: a libp2p
 * MessageStream that AES-256-CTR-encrypts everything it sends into the inner
 * (transport) stream and decrypts everything it receives from it. Wire format
 * and key schedule are specified in protector.ts.
 *
 * It keeps the inner stream's semantics: `send()` returns false and 'drain'
 * follows when the transport is full; pausing this stream pauses the
 * transport; close, abort and remote reset travel both ways; `remoteAddr` is
 * the transport's.
 */

import { createCipheriv, createDecipheriv } from 'node:crypto'
import { AbstractMessageStream } from '@libp2p/utils'
import type { DirectionKeys } from './protector.ts'
import type { AbortOptions, MessageStream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { SendResult } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Cipheriv, Decipheriv } from 'node:crypto'

/** The chunk list type libp2p hands to `sendData` (uint8arraylist 3, nested under @libp2p/utils). */
type ChunkList = Parameters<AbstractMessageStream['sendData']>[0]

/** What a ProtectedStream wraps and with which keys. */
export interface ProtectedStreamInit {
  inner: MessageStream
  sendKeys: DirectionKeys
  receiveKeys: DirectionKeys
}

/** A MessageStream encrypted with AES-256-CTR in each direction. */
export class ProtectedStream extends AbstractMessageStream {
  /** The transport's remote address, when the inner stream has one. */
  readonly remoteAddr: Multiaddr | undefined
  readonly #inner: MessageStream
  readonly #encrypt: Cipheriv
  readonly #decrypt: Decipheriv

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
    this.#encrypt = createCipheriv('aes-256-ctr', init.sendKeys.key, init.sendKeys.iv)
    this.#decrypt = createDecipheriv('aes-256-ctr', init.receiveKeys.key, init.receiveKeys.iv)

    inner.addEventListener('message', (evt: StreamMessageEvent) => { this.#onCiphertext(evt.data) })
    inner.addEventListener('drain', () => { this.safeDispatchEvent('drain') })
    inner.addEventListener('remoteCloseWrite', () => { this.onRemoteCloseWrite() })
    inner.addEventListener('close', (evt: StreamCloseEvent) => { this.#onInnerClose(evt) })
  }

  #onCiphertext (data: Uint8Array | Iterable<Uint8Array>): void {
    if (data instanceof Uint8Array) {
      this.onData(this.#decrypt.update(data))
      return
    }
    for (const chunk of data) this.onData(this.#decrypt.update(chunk))
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
   * Encrypt and hand everything to the transport. CTR state advances with
   * every byte, so a chunk cannot be half-sent and retried later: the
   * transport buffers what it cannot write yet and signals 'drain'.
   */
  sendData (data: ChunkList): SendResult {
    const plaintext = data.byteLength === 0 ? new Uint8Array(0) : data.subarray()
    const canSendMore = this.#inner.send(this.#encrypt.update(plaintext))
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
