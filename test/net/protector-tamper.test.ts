/**
 * Goal: a protected connection is tamper-evident frame by frame. Between two
 * real nodes, a TCP proxy on 127.0.0.1 passes the protector handshake through
 * and then, on one direction, flips a byte of a sealed frame, drops a frame,
 * replays one, or swaps two. Each fault ends the connection (both nodes see
 * the peer disconnect), and no request the server saw differs from what the
 * client sent.
 */

import { strict as assert } from 'node:assert'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { test } from 'node:test'
import { startNode, stopAll, waitFor } from './helpers.ts'
import { generateClusterKey } from '../../src/net/keys.ts'

const ECHO = '/cairn/test/tamper-echo/1.0.0'
/** HELLO (33 bytes) and CONFIRM (32 bytes) each side sends before sealed frames (protector.ts). */
const HANDSHAKE_BYTES = 33 + 32
/** Sealed frame: u32be length, ciphertext, 16-byte tag. */
const FRAME_OVERHEAD_BYTES = 4 + 16
/** Calls made at most while waiting for the fault to end the connection. */
const MAX_CALLS = 200
const DISCONNECT_TIMEOUT_MS = 20_000

type Fault = 'flip' | 'drop' | 'replay' | 'reorder'

/** Forwards client→server frames, applying `fault` once armed; server→client passes through. */
class ManglingProxy {
  readonly server: Server
  armed = false
  applied = false
  readonly #fault: Fault
  readonly #sockets: Socket[] = []

  constructor (fault: Fault, targetPort: number) {
    this.#fault = fault
    this.server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1')
      this.#sockets.push(client, upstream)
      for (const s of [client, upstream]) s.on('error', () => {})
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
      upstream.pipe(client)
      let buffered = Buffer.alloc(0)
      let handshakeLeft = HANDSHAKE_BYTES
      let held: Buffer | undefined
      client.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        if (handshakeLeft > 0) {
          const pass = buffered.subarray(0, handshakeLeft)
          upstream.write(pass)
          handshakeLeft -= pass.byteLength
          buffered = buffered.subarray(pass.byteLength)
        }
        // Bounded by the bytes received: each turn consumes one whole frame.
        while (handshakeLeft === 0 && buffered.byteLength >= 4) {
          const total = buffered.readUInt32BE(0) + FRAME_OVERHEAD_BYTES
          if (buffered.byteLength < total) break
          const frame = Buffer.from(buffered.subarray(0, total))
          buffered = buffered.subarray(total)
          upstream.write(this.#mangle(frame, held, (h) => { held = h }))
        }
      })
    })
  }

  /** The bytes to forward for `frame` under the fault. */
  #mangle (frame: Buffer, held: Buffer | undefined, hold: (frame: Buffer | undefined) => void): Buffer {
    if (held !== undefined) { hold(undefined); this.applied = true; return Buffer.concat([frame, held]) }
    if (!this.armed || this.applied) return frame
    switch (this.#fault) {
      case 'flip': frame[4 + Math.floor((frame.byteLength - FRAME_OVERHEAD_BYTES) / 2)]! ^= 0x01; this.applied = true; return frame
      case 'drop': this.applied = true; return Buffer.alloc(0)
      case 'replay': this.applied = true; return Buffer.concat([frame, frame])
      case 'reorder': hold(frame); return Buffer.alloc(0)
    }
  }

  async listen (): Promise<number> {
    await new Promise<void>((resolve) => { this.server.listen(0, '127.0.0.1', resolve) })
    const address = this.server.address()
    if (address === null || typeof address === 'string') throw new Error('proxy has no port')
    return address.port
  }

  async close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
  }
}

for (const fault of ['flip', 'drop', 'replay', 'reorder'] as const) {
  test(`a ${fault === 'flip' ? 'flipped' : fault === 'drop' ? 'dropped' : fault === 'replay' ? 'replayed' : 'reordered'} frame ends the protected connection and nothing altered is delivered`, async (t) => {
    const clusterKey = generateClusterKey()
    const a = await startNode(clusterKey)
    const b = await startNode(clusterKey)
    const port = Number(/\/tcp\/(\d+)/.exec(a.multiaddrs()[0] ?? '')?.[1])
    const proxy = new ManglingProxy(fault, port)
    const proxyPort = await proxy.listen()
    t.after(async () => { await stopAll(a, b); await proxy.close() })
    const seen: string[] = []
    await a.handle(ECHO, async (req) => { seen.push(String(req.header.text)); return { header: { text: req.header.text } } })
    let aLostB = false
    let bLostA = false
    a.onPeer((peer, connected) => { if (peer === b.peerId && !connected) aLostB = true })
    b.onPeer((peer, connected) => { if (peer === a.peerId && !connected) bLostA = true })
    await b.dial(`/ip4/127.0.0.1/tcp/${proxyPort}/p2p/${a.peerId}`)
    const before = await b.call(a.peerId, ECHO, { text: 'before the fault' })
    assert.equal(before.header.text, 'before the fault')

    proxy.armed = true
    const sent: string[] = ['before the fault']
    for (let i = 0; i < MAX_CALLS && !(aLostB && bLostA); i++) {
      const text = `call ${i} ${'x'.repeat(64)}`
      sent.push(text)
      try {
        const r = await b.call(a.peerId, ECHO, { text }, undefined, { timeoutMs: 2_000 })
        assert.equal(r.header.text, text, 'an answer is never altered')
      } catch { /* the connection is ending */ }
    }
    await waitFor(() => aLostB && bLostA, DISCONNECT_TIMEOUT_MS, `both nodes to drop the connection after a ${fault}`)
    assert.ok(proxy.applied, 'the fault was applied')
    for (const text of seen) assert.ok(sent.includes(text), `the server saw a request nobody sent: ${text}`)
  })
}
