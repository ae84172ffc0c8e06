/**
 * Goal: two Cairn nodes of one cluster on loopback connect through the
 * protector, ping each other, and exchange RPC calls: header and a 1 MiB body
 * round-trip, handler errors arrive with their code, oversize or malformed
 * frames are rejected on both sides, a crashing handler does not hurt the
 * node, and bootstrap addresses are redialled until they answer.
 */

import { strict as assert } from 'node:assert'
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { after, before, test } from 'node:test'
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../../src/net/constants.ts'
import { generateClusterKey, generateNodeKey, nodeKeyFromBytes, nodeKeyToBytes, peerIdOf } from '../../src/net/keys.ts'
import { PROTOCOLS } from '../../src/net/rpc.ts'
import { CHANNELS_PER_PEER, MAX_HANDLERS_PER_CHANNEL } from '../../src/net/channel.ts'
import { CairnError } from '../../src/util/errors.ts'
import { startNode, startPair, stopAll, waitFor } from './helpers.ts'
import type { Libp2pNetNode } from '../../src/net/node.ts'

const ECHO = '/cairn/test/echo/1.0.0'
const FAIL = '/cairn/test/fail/1.0.0'
const CRASH = '/cairn/test/crash/1.0.0'
const SLOW = '/cairn/test/slow/1.0.0'

let a: Libp2pNetNode
let b: Libp2pNetNode

before(async () => {
  ({ a, b } = await startPair())
  await a.handle(ECHO, async (request) => ({
    header: { echo: request.header, peerId: request.peerId, sha256: createHash('sha256').update(request.body).digest('hex') },
    body: request.body
  }))
  await a.handle(FAIL, async () => { throw new CairnError('QUOTA_EXCEEDED', 'disk quota of this node is full', 'add capacity') })
  await a.handle(CRASH, async () => { throw new TypeError('boom') })
  await a.handle(SLOW, async ({ signal }) => {
    await new Promise(resolve => { const timer = setTimeout(resolve, 5_000); signal.addEventListener('abort', () => { clearTimeout(timer); resolve(undefined) }) })
    return { header: {} }
  })
})

after(async () => { await stopAll(a, b) })

function isCairn (code: string, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => err instanceof CairnError && err.code === code && (message === undefined || message.test(err.message))
}

test('node keys serialize, parse back to the same peer id, and reject garbage', async () => {
  const key = await generateNodeKey()
  assert.equal(peerIdOf(nodeKeyFromBytes(nodeKeyToBytes(key))), peerIdOf(key))
  assert.throws(() => nodeKeyFromBytes(new Uint8Array([1, 2, 3])), isCairn('CONFIG'))
  assert.equal(PROTOCOLS.shardPut, '/cairn/shard/put/1.0.0')
})

test('two nodes with the same cluster key connect and ping', async () => {
  await waitFor(() => a.connectedPeers().includes(b.peerId) && b.connectedPeers().includes(a.peerId), 5_000, 'both sides connected')
  const rttMs = await b.ping(a.peerId)
  assert.ok(rttMs >= 0 && rttMs < 5_000)
  assert.ok(a.multiaddrs().every(address => address.startsWith('/ip4/127.0.0.1/tcp/') && address.endsWith(`/p2p/${a.peerId}`)))
})

test('a call round-trips its header and a 1 MiB body', async () => {
  const body = randomBytes(1024 * 1024)
  const response = await b.call(a.peerId, ECHO, { cid: 'bafy', size: body.byteLength })
    .then(() => b.call(a.peerId, ECHO, { cid: 'bafy', size: body.byteLength }, body))
  assert.deepEqual(response.header.echo, { cid: 'bafy', size: body.byteLength })
  assert.equal(response.header.peerId, b.peerId)
  assert.equal(response.header.sha256, createHash('sha256').update(body).digest('hex'))
  assert.ok(Buffer.from(response.body).equals(body))
})

test('64 concurrent calls to one peer all succeed', async () => {
  const results = await Promise.all(Array.from({ length: 64 }, async (_, i) => b.call(a.peerId, ECHO, { i }, randomBytes(64 * 1024))))
  assert.deepEqual(results.map(r => (r.header.echo as { i: number }).i), Array.from({ length: 64 }, (_, i) => i))
})

test('a peer flooding one node with calls never has more than the per-channel limit of handlers running; all calls complete', async () => {
  const GATE = '/cairn/test/gate/1.0.0'
  let running = 0
  let peak = 0
  const waiting: Array<() => void> = []
  await a.handle(GATE, async () => {
    running++
    peak = Math.max(peak, running)
    await new Promise<void>((resolve) => { waiting.push(resolve) })
    running--
    return { header: {} }
  })
  const limit = MAX_HANDLERS_PER_CHANNEL * CHANNELS_PER_PEER
  const calls = Array.from({ length: limit + 100 }, async () => b.call(a.peerId, GATE, {}, undefined, { timeoutMs: 60_000 }))
  await waitFor(() => running >= MAX_HANDLERS_PER_CHANNEL, 30_000, 'handlers to fill a channel')
  // Give every queued frame time to arrive and (wrongly) start a handler.
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.ok(peak <= limit, `peak ${peak} handlers running for ${limit + 100} calls; the limit is ${limit}`)
  // Release handlers until every call is done (each round frees those waiting now).
  for (let round = 0; round < 1000 && waiting.length + running > 0; round++) {
    for (const release of waiting.splice(0)) release()
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await Promise.all(calls)
  assert.ok(peak <= limit)
})

test('a handler CairnError reaches the caller with the same code; a crash becomes INTERNAL and the node keeps serving', async () => {
  await assert.rejects(b.call(a.peerId, FAIL, {}), (err: unknown) => isCairn('QUOTA_EXCEEDED', /quota/)(err) && (err as CairnError).hint === 'add capacity')
  await assert.rejects(b.call(a.peerId, CRASH, {}), isCairn('INTERNAL', /boom/))
  const response = await b.call(a.peerId, ECHO, { still: 'alive' })
  assert.deepEqual(response.header.echo, { still: 'alive' })
})

test('oversize requests are refused before sending, with TOO_LARGE', async () => {
  await assert.rejects(b.call(a.peerId, ECHO, { pad: 'x'.repeat(MAX_HEADER_BYTES) }), isCairn('TOO_LARGE'))
  await assert.rejects(b.call(a.peerId, ECHO, {}, new Uint8Array(MAX_BODY_BYTES + 1)), isCairn('TOO_LARGE'))
})

test('a server answers a malformed or oversize raw frame with a PROTOCOL error and keeps serving', async () => {
  for (const [headerLength, bodyLength] of [[MAX_HEADER_BYTES + 1, 0], [2, MAX_BODY_BYTES + 1]] as const) {
    const stream = await b.libp2p.dialProtocol(a.libp2p.getMultiaddrs()[0]!, ECHO)
    const frame = Buffer.alloc(1 + 4 + 2 + 4)
    frame.writeUInt8(1, 0)
    frame.writeUInt32BE(headerLength, 1)
    frame.write('{}', 5)
    frame.writeUInt32BE(bodyLength, 7)
    stream.send(frame)
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(Buffer.from(chunk.subarray()))
    const answer = Buffer.concat(chunks)
    const header = JSON.parse(answer.subarray(5, 5 + answer.readUInt32BE(1)).toString()) as { error: { code: string, message: string } }
    assert.equal(header.error.code, 'PROTOCOL')
    assert.match(header.error.message, /length/)
  }
  assert.deepEqual((await b.call(a.peerId, ECHO, { after: 'bad frames' })).header.echo, { after: 'bad frames' })
})

test('calls to unknown protocols, unconnected peers and slow handlers fail with clear codes', async () => {
  await assert.rejects(b.call(a.peerId, '/cairn/test/none/1.0.0', {}), isCairn('PEER_ERROR', /does not serve/))
  const stranger = peerIdOf(await generateNodeKey())
  await assert.rejects(b.call(stranger, ECHO, {}), isCairn('NODE_UNREACHABLE'))
  await assert.rejects(b.call(a.peerId, SLOW, {}, undefined, { timeoutMs: 300 }), isCairn('TIMEOUT'))
  const controller = new AbortController()
  setTimeout(() => { controller.abort(new Error('caller gave up')) }, 100)
  await assert.rejects(b.call(a.peerId, SLOW, {}, undefined, { signal: controller.signal }), /caller gave up/)
})

test('onPeer reports connect and disconnect; bootstrap addresses are redialled until they answer', async (t) => {
  // Reserve a free loopback port, then start the bootstrap target on it later.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
  const clusterKey = generateClusterKey()
  const targetKey = await generateNodeKey()
  const bootstrapAddress = `/ip4/127.0.0.1/tcp/${port}/p2p/${peerIdOf(targetKey)}`
  const follower = await startNode(clusterKey, { bootstrap: [bootstrapAddress] })
  const events: Array<[string, boolean]> = []
  follower.onPeer((peerId, connected) => { events.push([peerId, connected]) })
  await new Promise(resolve => setTimeout(resolve, 1_500))
  assert.deepEqual(follower.connectedPeers(), [])

  const target = await startNode(clusterKey, { privateKey: targetKey, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  t.after(async () => { await stopAll(follower, target) })
  await waitFor(() => follower.connectedPeers().includes(target.peerId), 8_000, 'bootstrap redial')
  await target.stop()
  await waitFor(() => events.some(([peerId, connected]) => peerId === target.peerId && !connected), 5_000, 'disconnect event')
  assert.deepEqual(events[0], [target.peerId, true])
})
