/**
 * Goal: the cluster protector's stream is tamper-evident (issue 8, item 10).
 * A byte-level man in the middle between two members lets the handshake
 * through, then flips a byte in, drops, replays or reorders one sealed frame;
 * each must end the connection (AES-GCM tags and per-frame counters), never
 * deliver altered, missing, repeated or reordered bytes.
 */
import { strict as assert } from 'node:assert'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { test } from 'node:test'
import { startNode, stopAll, waitFor } from './helpers.ts'
import { generateClusterKey } from '../../src/net/keys.ts'

const ECHO = '/cairn/test/echo/1.0.0'
/** HELLO (33 bytes) and CONFIRM (32 bytes) pass untouched. */
const HANDSHAKE_BYTES = 65
const LENGTH_BYTES = 4
const TAG_BYTES = 16

type Fault = 'flip' | 'drop' | 'replay' | 'reorder'

/** Forwards one connection to `port`; the dialler→listener direction is cut into sealed frames that `fault` may mangle once armed. */
function tamperingProxy (port: number): { server: Server, arm: (fault: Fault) => void, fired: () => boolean } {
  let armed: Fault | undefined
  let fired = false
  let held: Buffer | undefined
  const server = createServer((client: Socket) => {
    const upstream = connect(port, '127.0.0.1')
    upstream.on('error', () => { client.destroy() })
    client.on('error', () => { upstream.destroy() })
    upstream.on('close', () => { client.destroy() })
    client.on('close', () => { upstream.destroy() })
    upstream.on('data', (d: Buffer) => client.write(d))
    let pending = Buffer.alloc(0)
    let handshakeLeft = HANDSHAKE_BYTES
    client.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d])
      if (handshakeLeft > 0) {
        const n = Math.min(handshakeLeft, pending.length)
        upstream.write(pending.subarray(0, n))
        pending = pending.subarray(n)
        handshakeLeft -= n
      }
      // Bounded by the bytes received: each pass consumes one whole frame.
      while (handshakeLeft === 0 && pending.length >= LENGTH_BYTES) {
        const size = LENGTH_BYTES + pending.readUInt32BE(0) + TAG_BYTES
        if (pending.length < size) break
        const frame = Buffer.from(pending.subarray(0, size))
        pending = pending.subarray(size)
        forward(frame)
      }
    })
    function forward (frame: Buffer): void {
      if (armed === undefined) { upstream.write(frame); return }
      const fault = armed
      if (fault === 'reorder' && held === undefined) { held = frame; return }
      armed = undefined
      fired = true
      if (fault === 'flip') { frame[LENGTH_BYTES + 1] = (frame[LENGTH_BYTES + 1] as number) ^ 0x40; upstream.write(frame) }
      if (fault === 'drop') { /* the frame never arrives */ }
      if (fault === 'replay') { upstream.write(frame); upstream.write(frame) }
      if (fault === 'reorder') { upstream.write(frame); upstream.write(held as Buffer) }
    }
  })
  return { server, arm: (fault) => { armed = fault }, fired: () => fired }
}

for (const fault of ['flip', 'drop', 'replay', 'reorder'] as const) {
  test(`a ${fault === 'flip' ? 'flipped byte' : fault === 'drop' ? 'dropped frame' : fault === 'replay' ? 'replayed frame' : 'reordered frame'} in a protected connection ends it`, { timeout: 60_000 }, async (t) => {
    const clusterKey = generateClusterKey()
    const a = await startNode(clusterKey)
    const b = await startNode(clusterKey)
    const port = Number(/\/tcp\/(\d+)/.exec(a.multiaddrs()[0] as string)?.[1])
    const proxy = tamperingProxy(port)
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    t.after(async () => {
      await stopAll(a, b)
      await new Promise<void>((resolve) => proxy.server.close(() => { resolve() }))
    })
    let received = 0
    await a.handle(ECHO, async (request) => { received++; return { header: { echo: request.header } } })
    const proxyPort = (proxy.server.address() as { port: number }).port
    await b.dial(`/ip4/127.0.0.1/tcp/${proxyPort}/p2p/${a.peerId}`)
    const ok = await b.call(a.peerId, ECHO, { n: 0 })
    assert.deepEqual(ok.header.echo, { n: 0 }, 'the untampered connection does not work')
    const before = received
    proxy.arm(fault)
    // Traffic for the proxy to tamper with; these calls may fail, that is the point.
    const calls = Array.from({ length: 8 }, async (_, i) => await b.call(a.peerId, ECHO, { n: i + 1 }, Buffer.alloc(1000, i), { timeoutMs: 10_000 }).then(() => 'ok', () => 'failed'))
    await waitFor(() => proxy.fired(), 20_000, 'the proxy to tamper with a frame')
    await waitFor(() => !a.connectedPeers().includes(b.peerId), 20_000, `a to drop the connection after a ${fault}`)
    await Promise.all(calls)
    // Whatever got through before the fault was intact; nothing after it was delivered twice.
    assert.ok(received - before <= 8, `${received - before} requests were delivered for 8 calls`)
  })
}
