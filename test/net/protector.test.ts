/**
 * Goal: only holders of the cluster key get a connection. A node with another
 * key fails to dial with a clear UNAUTHORIZED "cluster key mismatch" error,
 * cannot open any stream, and the legitimate cluster keeps serving; a client
 * speaking anything but the protector handshake is dropped. The key schedule
 * gives each direction its own keys, agreed by both sides.
 */

import { strict as assert } from 'node:assert'
import { connect } from 'node:net'
import { test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { generateClusterKey } from '../../src/net/keys.ts'
import { CLUSTER_KEY_MISMATCH_MESSAGE, confirmationTag, deriveDirectionKeys, handshakeSalt } from '../../src/net/protector.ts'
import { CairnError } from '../../src/util/errors.ts'
import { startNode, startPair, stopAll, waitFor } from './helpers.ts'

const ECHO = '/cairn/test/echo/1.0.0'

test('the key schedule is symmetric and separates directions and clusters', () => {
  const key = generateClusterKey()
  const nonceA = new Uint8Array(32).fill(1)
  const nonceB = new Uint8Array(32).fill(2)
  const salt = handshakeSalt(nonceA, nonceB)
  assert.deepEqual(salt, handshakeSalt(nonceB, nonceA))
  const fromA = deriveDirectionKeys(key, salt, nonceA)
  const fromB = deriveDirectionKeys(key, salt, nonceB)
  assert.notDeepEqual(fromA.key, fromB.key)
  assert.notDeepEqual(fromA.key, fromA.confirmKey)
  const otherCluster = deriveDirectionKeys(generateClusterKey(), salt, nonceA)
  assert.notDeepEqual(confirmationTag(fromA.confirmKey, salt, nonceA), confirmationTag(otherCluster.confirmKey, salt, nonceA))
})

test('a node with another cluster key cannot connect or open a stream, and the cluster keeps serving', async (t) => {
  const { a, b } = await startPair()
  const intruder = await startNode(generateClusterKey())
  t.after(async () => { await stopAll(a, b, intruder) })
  await a.handle(ECHO, async (request) => ({ header: { echo: request.header } }))

  const started = Date.now()
  await assert.rejects(intruder.dial(a.multiaddrs()[0]!), (err: unknown) => {
    assert.ok(err instanceof CairnError)
    assert.equal(err.code, 'UNAUTHORIZED')
    assert.ok(err.message.includes(CLUSTER_KEY_MISMATCH_MESSAGE), err.message)
    return true
  })
  assert.ok(Date.now() - started < 5_000, 'a key mismatch fails fast')
  await assert.rejects(intruder.libp2p.dialProtocol(multiaddr(a.multiaddrs()[0]!), ECHO), /cluster key mismatch/)
  await assert.rejects(intruder.call(a.peerId, ECHO, {}), (err: unknown) => err instanceof CairnError && err.code === 'NODE_UNREACHABLE')
  assert.deepEqual(intruder.connectedPeers(), [])
  assert.ok(!a.connectedPeers().includes(intruder.peerId))

  const response = await b.call(a.peerId, ECHO, { still: 'serving' })
  assert.deepEqual(response.header.echo, { still: 'serving' })
})

test('a client that does not speak the protector handshake is dropped and the node keeps serving', async (t) => {
  const { a, b } = await startPair()
  t.after(async () => { await stopAll(a, b) })
  await a.handle(ECHO, async (request) => ({ header: { echo: request.header } }))
  const port = Number(/\/tcp\/(\d+)/.exec(a.multiaddrs()[0]!)?.[1])
  // What an unprotected libp2p node sends, another version byte, and a right
  // version byte followed by a bogus nonce and key-confirmation tag.
  for (const garbage of [Buffer.from('\x13/multistream/1.0.0\n\x0c/tls/1.0.0\n\x0e/noise/1.0.0\n'), Buffer.alloc(33, 9), Buffer.alloc(1000, 1)]) {
    const socket = connect(port, '127.0.0.1')
    let closed = false
    socket.on('close', () => { closed = true })
    socket.on('error', () => {})
    socket.write(garbage)
    await waitFor(() => closed, 5_000, 'the node to drop a non-member')
  }
  const response = await b.call(a.peerId, ECHO, { still: 'serving' })
  assert.deepEqual(response.header.echo, { still: 'serving' })
})
