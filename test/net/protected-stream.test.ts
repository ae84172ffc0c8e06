/**
 * Goal: a connection that closes while Yamux is opening a stream on it never
 * takes the node down. Yamux sends a new stream's first frame from a
 * microtask; on a closed protected stream that write threw an uncaught
 * StreamStateError, which crashed a node after a SIGSTOP (placement-hours
 * test). Real ProtectedStream and Yamux over libp2p's in-memory connection pair.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { ProtectedStream } from '../../src/net/protected-stream.ts'

function keys (): { key: Uint8Array, iv: Uint8Array, confirmKey: Uint8Array } {
  return { key: randomBytes(32), iv: randomBytes(12), confirmKey: randomBytes(32) }
}

test('opening a Yamux stream on a protected connection that just closed fails quietly, not with an uncaught error', async () => {
  const uncaught: unknown[] = []
  const onUncaught = (err: unknown): void => { uncaught.push(err) }
  process.on('uncaughtException', onUncaught)
  try {
    const [outbound] = multiaddrConnectionPair()
    const protectedStream = new ProtectedStream({ inner: outbound, sendKeys: keys(), receiveKeys: keys() })
    const muxer = yamux()().createStreamMuxer(protectedStream)
    const opening = muxer.createStream().then(() => 'opened', (err: Error) => err.name)
    protectedStream.abort(new Error('the peer went away'))
    await opening
    // Let the microtask that sends the stream's first frame, and anything it schedules, run.
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepEqual(uncaught.map((e) => (e as Error).message), [], 'no uncaught exception')
    assert.equal(protectedStream.send(new Uint8Array(4)), false, 'a write after the close is dropped')
  } finally {
    process.off('uncaughtException', onUncaught)
  }
})
