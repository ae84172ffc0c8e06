/**
 * Goal: the node's one redial loop keeps every address it is given
 * connected — the bootstrap addresses and the cluster members' addresses the
 * daemon hands it later — retrying with backoff while one is down, and stops
 * dialling an address once it is no longer wanted.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BootstrapKeeper } from '../../src/net/bootstrap.ts'
import { waitFor } from './helpers.ts'

test('member addresses given later are dialled and redialled; dropped ones are not', async () => {
  const dialled: string[] = []
  const up = new Set<string>()
  const keeper = new BootstrapKeeper({
    addresses: ['/ip4/127.0.0.1/tcp/1/p2p/boot'],
    dial: async (address) => {
      dialled.push(address)
      const peer = address.split('/p2p/')[1] as string
      if (!up.has(peer)) throw new Error('refused')
      return peer
    },
    isConnected: () => false
  })
  keeper.start()
  try {
    keeper.setAddresses(['/ip4/127.0.0.1/tcp/2/p2p/member'])
    await waitFor(() => dialled.includes('/ip4/127.0.0.1/tcp/2/p2p/member'), 5_000, 'the member address to be dialled')
    // Still down: it is retried after the backoff, not forgotten.
    const firstTries = dialled.filter((a) => a.endsWith('member')).length
    await waitFor(() => dialled.filter((a) => a.endsWith('member')).length > firstTries, 10_000, 'a retry')
    keeper.setAddresses([])
    const after = dialled.filter((a) => a.endsWith('member')).length
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    assert.equal(dialled.filter((a) => a.endsWith('member')).length, after, 'a dropped address was dialled again')
    assert.ok(dialled.includes('/ip4/127.0.0.1/tcp/1/p2p/boot'), 'the bootstrap address was never dialled')
  } finally {
    keeper.stop()
  }
})
