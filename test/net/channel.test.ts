/**
 * Goal: an inbound channel runs at most MAX_CONCURRENT_HANDLERS_PER_CHANNEL
 * handlers at once; further requests wait (the channel stops reading) and are
 * all answered once handlers finish, so a peer cannot start unbounded work.
 */

import { strict as assert } from 'node:assert'
import { test } from 'node:test'
import { CHANNELS_PER_PEER, MAX_CONCURRENT_HANDLERS_PER_CHANNEL } from '../../src/net/channel.ts'
import { startPair, stopAll, waitFor } from './helpers.ts'

const PROTOCOL = '/cairn/test/slow/1.0.0'

test('a peer flooding channels with requests runs at most the per-channel handler limit, and every request is answered', async (t) => {
  const { a, b } = await startPair()
  t.after(async () => { await stopAll(a, b) })
  let running = 0
  let mostRunning = 0
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  await a.handle(PROTOCOL, async (req) => {
    running++
    mostRunning = Math.max(mostRunning, running)
    await gate
    running--
    return { header: { n: req.header.n } }
  })
  // Calls may spread over up to CHANNELS_PER_PEER channels.
  const limit = CHANNELS_PER_PEER * MAX_CONCURRENT_HANDLERS_PER_CHANNEL
  const requests = limit + 64
  const calls = Array.from({ length: requests }, async (_, n) => await b.call(a.peerId, PROTOCOL, { n }, undefined, { timeoutMs: 120_000 }))
  await waitFor(() => running >= MAX_CONCURRENT_HANDLERS_PER_CHANNEL, 60_000, 'a channel\'s worth of handlers to run')
  // Give the extra requests the chance to start if nothing held them back:
  // wait until a ping round trip has passed over the same connection.
  await b.ping(a.peerId)
  assert.ok(mostRunning <= limit, `${mostRunning} handlers ran at once; the limit is ${limit}`)
  release()
  const answers = await Promise.all(calls)
  assert.deepEqual(answers.map((r) => r.header.n), Array.from({ length: requests }, (_, n) => n))
})
