/**
 * Goal: one keeper redials both the configured bootstrap addresses and the
 * roster members it is given, with backoff, never dials one peer twice at
 * once, and stops dialling members that left the roster.
 */

import { strict as assert } from 'node:assert'
import { test } from 'node:test'
import { KEEPER_RETRY_MAX_MS, KEEPER_RETRY_MIN_MS } from '../../src/net/constants.ts'
import { ConnectionKeeper, nextRetryDelayMs } from '../../src/net/keeper.ts'

interface FakeNet { dials: string[], connected: Set<string>, up: Map<string, string>, keeper: ConnectionKeeper }

/** A keeper over a fake network: `up` maps reachable addresses to peer ids. */
function fakeNet (bootstrap: string[]): FakeNet {
  const net: FakeNet = { dials: [], connected: new Set(), up: new Map(), keeper: undefined as unknown as ConnectionKeeper }
  net.keeper = new ConnectionKeeper({
    bootstrap,
    dial: async (address) => {
      net.dials.push(address)
      const peer = net.up.get(address)
      if (peer === undefined) throw new Error(`${address} refused`)
      net.connected.add(peer)
      return peer
    },
    isConnected: (peer) => net.connected.has(peer)
  })
  return net
}

async function settle (): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

test('members given to the keeper are dialled through their addresses in order, and a connected one is left alone', async () => {
  const net = fakeNet([])
  net.up.set('/b2', 'B')
  net.keeper.setMembers([{ peerId: 'B', addrs: ['/b1', '/b2'] }])
  net.keeper.check()
  await settle()
  assert.deepEqual(net.dials, ['/b1', '/b2'])
  net.keeper.check()
  await settle()
  assert.deepEqual(net.dials, ['/b1', '/b2'], 'a connected member is not redialled')
})

test('a bootstrap address of a member is not dialled while the member is being dialled, and the backoff doubles within its bounds', async () => {
  const net = fakeNet(['/a/p2p/A'])
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const slow = new ConnectionKeeper({
    bootstrap: ['/a/p2p/A'],
    dial: async (address) => { net.dials.push(address); await gate; throw new Error('down') },
    isConnected: () => false
  })
  slow.setMembers([{ peerId: 'A', addrs: ['/a/p2p/A'] }])
  slow.check()
  await settle()
  assert.deepEqual(net.dials, ['/a/p2p/A'], 'one dial per peer at a time')
  release()
  await settle()
  assert.equal(nextRetryDelayMs(KEEPER_RETRY_MIN_MS), 2 * KEEPER_RETRY_MIN_MS)
  assert.equal(nextRetryDelayMs(KEEPER_RETRY_MAX_MS), KEEPER_RETRY_MAX_MS)
})

test('an unreachable member is retried only after its backoff', async () => {
  const net = fakeNet([])
  net.keeper.setMembers([{ peerId: 'C', addrs: ['/c'] }])
  net.keeper.check()
  await settle()
  net.keeper.check()
  await settle()
  assert.deepEqual(net.dials, ['/c'], 'no redial before the backoff has passed')
})
