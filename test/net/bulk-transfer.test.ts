/**
 * Goal: the protector sustains multi-GiB transfers on ONE connection without
 * corrupting a byte: 4 GiB (CAIRN_NET_BULK_GIB overrides) go over one stream of
 * one protected TLS+Yamux connection and the SHA-256 of what arrived equals the
 * SHA-256 of what was sent; then 256 MiB go as 16 MiB RPC bodies on the same
 * connection, each checked by hash. MB/s is printed, never asserted.
 */

import { strict as assert } from 'node:assert'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { startPair, stopAll } from './helpers.ts'

const BULK_PROTOCOL = '/cairn/test/bulk/1.0.0'
const RPC_PROTOCOL = '/cairn/test/bulk-rpc/1.0.0'
const MIB = 1024 * 1024
const CHUNK_BYTES = MIB
const TOTAL_BYTES = Number(process.env.CAIRN_NET_BULK_GIB ?? 4) * 1024 * MIB
const RPC_BODY_BYTES = 16 * MIB
const RPC_CALLS = 16

test('4 GiB (CAIRN_NET_BULK_GIB) over one protected connection arrive intact', { timeout: 300_000 }, async (t) => {
  const { a, b } = await startPair()
  t.after(async () => { await stopAll(a, b) })

  await a.libp2p.handle(BULK_PROTOCOL, async (stream) => {
    const hash = createHash('sha256')
    let received = 0
    for await (const chunk of stream) {
      for (const part of chunk instanceof Uint8Array ? [chunk] : chunk) hash.update(part)
      received += chunk.byteLength
    }
    stream.send(Buffer.from(JSON.stringify({ received, sha256: hash.digest('hex') })))
    await stream.close()
  })

  // Distinct content per chunk: a random pool, stamped with the chunk index.
  const pool = randomBytes(CHUNK_BYTES)
  const sentHash = createHash('sha256')
  const started = process.hrtime.bigint()
  const stream = await b.libp2p.dialProtocol(b.libp2p.getConnections()[0]!.remoteAddr, BULK_PROTOCOL)
  for (let index = 0; index * CHUNK_BYTES < TOTAL_BYTES; index++) {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
    pool.copy(chunk)
    chunk.writeUInt32BE(index, (index * 4099) % (CHUNK_BYTES - 4))
    sentHash.update(chunk)
    if (!stream.send(chunk)) await stream.onDrain()
  }
  await stream.close()
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(Buffer.from(part.subarray()))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const answer = JSON.parse(Buffer.concat(parts).toString()) as { received: number, sha256: string }
  assert.equal(answer.received, TOTAL_BYTES)
  assert.equal(answer.sha256, sentHash.digest('hex'))
  assert.equal(b.libp2p.getConnections().length, 1, 'everything went over one connection')
  console.log(`bulk stream: ${TOTAL_BYTES / MIB} MiB in ${seconds.toFixed(1)} s = ${(TOTAL_BYTES / 1e6 / seconds).toFixed(0)} MB/s (incl. SHA-256 on both sides)`)

  await a.handle(RPC_PROTOCOL, async (request) => ({ header: { sha256: createHash('sha256').update(request.body).digest('hex') } }))
  const rpcStarted = process.hrtime.bigint()
  for (let call = 0; call < RPC_CALLS; call++) {
    const body = randomBytes(RPC_BODY_BYTES)
    const { header } = await b.call(a.peerId, RPC_PROTOCOL, { call }, body, { timeoutMs: 60_000 })
    assert.equal(header.sha256, createHash('sha256').update(body).digest('hex'))
  }
  const rpcSeconds = Number(process.hrtime.bigint() - rpcStarted) / 1e9
  console.log(`rpc: ${RPC_CALLS} x 16 MiB in ${rpcSeconds.toFixed(1)} s = ${(RPC_CALLS * RPC_BODY_BYTES / 1e6 / rpcSeconds).toFixed(0)} MB/s (incl. random data and SHA-256)`)
})
