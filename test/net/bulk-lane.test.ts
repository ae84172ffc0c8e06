/**
 * Goal: bulk calls (shard put and get) travel on the bulk lane, plain TCP
 * beside the protected libp2p connection, with the same answers and errors
 * as over libp2p; nobody without a fresh ticket gets a request served; a
 * tampered header drops the connection before any handler runs; a peer
 * without a lane is still reached over libp2p; a hung handler times out and
 * the next call works. Real libp2p nodes on 127.0.0.1, real sockets.
 */
import { strict as assert } from 'node:assert'
import { createHash, createSecretKey, randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { BULK_TICKET_PROTOCOL, Sealer } from '../../src/net/bulk.ts'
import type { Libp2pNetNode } from '../../src/net/node.ts'
import { CairnError } from '../../src/util/errors.ts'
import { startNode, startPair, stopAll, waitFor } from './helpers.ts'

const PUT = '/cairn/test/shard-put/1.0.0'
const GET = '/cairn/test/shard-get/1.0.0'
const OTHER = '/cairn/test/other/1.0.0'
const MIB = 1024 * 1024

function sha (b: Uint8Array): string { return createHash('sha256').update(b).digest('hex') }

/** a serves PUT (stores by hash, remembers the caller) and GET; both nodes name PUT and GET as bulk protocols. */
async function pair (): Promise<{ a: Libp2pNetNode, b: Libp2pNetNode, stored: Map<string, { bytes: Uint8Array, from: string }> }> {
  const { a, b } = await startPair({ bulkProtocols: [PUT, GET] })
  const stored = new Map<string, { bytes: Uint8Array, from: string }>()
  await a.handle(PUT, async (req) => {
    if (sha(req.body) !== req.header.hash) throw new CairnError('CORRUPT_SHARD', 'shard bytes do not hash to the name')
    stored.set(req.header.hash as string, { bytes: req.body, from: req.peerId })
    return { header: { v: 1 } }
  })
  await a.handle(GET, async (req) => {
    const s = stored.get(req.header.hash as string)
    if (s === undefined) throw new CairnError('NOT_FOUND', `shard ${String(req.header.hash).slice(0, 12)} is not on this node`)
    return { header: { v: 1 }, body: s.bytes }
  })
  await a.handle(OTHER, async () => ({ header: { over: 'libp2p' } }))
  return { a, b, stored }
}

async function rawConnect (port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => { resolve(s) })
    s.once('error', reject)
  })
}

async function closed (s: Socket): Promise<void> {
  if (s.destroyed) return
  await new Promise<void>((resolve) => { s.once('close', () => { resolve() }) })
}

test('shard put and get go over the bulk lane, as the calling peer, with errors kept', async (t) => {
  const { a, b, stored } = await pair()
  t.after(async () => { await stopAll(a, b) })
  const body = randomBytes(4 * MIB + 3)
  const hash = sha(body)
  await b.call(a.peerId, PUT, { v: 1, hash }, body, { bulk: true })
  assert.equal(stored.get(hash)?.from, b.peerId, 'the handler saw the calling peer')
  const got = await b.call(a.peerId, GET, { v: 1, hash }, undefined, { bulk: true })
  assert.equal(sha(got.body), hash)
  await assert.rejects(b.call(a.peerId, GET, { v: 1, hash: sha(randomBytes(8)) }, undefined, { bulk: true }), (err: unknown) => err instanceof CairnError && err.code === 'NOT_FOUND' && /not on this node/.test(err.message))
  await assert.rejects(b.call(a.peerId, PUT, { v: 1, hash }, randomBytes(100), { bulk: true }), (err: unknown) => err instanceof CairnError && err.code === 'CORRUPT_SHARD')
  const lane = b.bulkLaneStats()
  assert.ok(lane !== undefined)
  assert.equal(lane.calls, 4, 'all four calls went over the lane')
  assert.equal(lane.fallbacks, 0)
  assert.equal(lane.connections, 1, 'one connection, reused')
  assert.equal(a.bulkLaneStats()?.served, 4)
  // A bulk call of a protocol not named for the lane goes over libp2p.
  const other = await b.call(a.peerId, OTHER, {}, randomBytes(10), { bulk: true })
  assert.equal(other.header.over, 'libp2p')
  assert.equal(b.bulkLaneStats()?.calls, 4)
})

test('a connection without a fresh ticket, or with a tampered header, is dropped before any handler runs', async (t) => {
  const { a, b, stored } = await pair()
  t.after(async () => { await stopAll(a, b) })
  const port = a.bulkLaneStats()?.port as number
  // No ticket at all: garbage, then a silent connection.
  const garbage = await rawConnect(port)
  garbage.write(Buffer.alloc(64, 7))
  await closed(garbage)
  // A real ticket, asked for over libp2p, then a request whose sealed header was altered.
  const ticket = (await b.call(a.peerId, BULK_TICKET_PROTOCOL, { v: 1 })).header as { port: number, id: string, key: string }
  assert.equal(ticket.port, port)
  const id = Buffer.from(ticket.id, 'base64')
  const sealer = new Sealer(createSecretKey(Buffer.from(ticket.key, 'base64')), 'req\0')
  const body = randomBytes(1000)
  const tampered = await rawConnect(port)
  const prefix = sealer.seal({ v: 1, hash: sha(body) }, PUT, body.length)
  prefix[10] = (prefix[10] as number) ^ 1
  tampered.write(Buffer.concat([Buffer.from('CAIRNBK1'), id, prefix, body]))
  await closed(tampered)
  // The same ticket again: already used.
  const replay = await rawConnect(port)
  replay.write(Buffer.concat([Buffer.from('CAIRNBK1'), id, new Sealer(createSecretKey(Buffer.from(ticket.key, 'base64')), 'req\0').seal({ v: 1, hash: sha(body) }, PUT, body.length), body]))
  await closed(replay)
  // A valid ticket from an address no member is connected from (127.0.0.2 is loopback too).
  const ticket2 = (await b.call(a.peerId, BULK_TICKET_PROTOCOL, { v: 1 })).header as { port: number, id: string, key: string }
  const stranger = await rawConnect(port, '127.0.0.2')
  stranger.write(Buffer.concat([Buffer.from('CAIRNBK1'), Buffer.from(ticket2.id, 'base64'), new Sealer(createSecretKey(Buffer.from(ticket2.key, 'base64')), 'req\0').seal({ v: 1, hash: sha(body) }, PUT, body.length), body]))
  await closed(stranger)
  assert.equal(stored.size, 0, 'no request was served')
  assert.equal(a.bulkLaneStats()?.served, 0)
  await waitFor(() => (a.bulkLaneStats()?.refused ?? 0) >= 4, 5000, 'four refused connections')
  // The node still serves honest callers.
  await b.call(a.peerId, PUT, { v: 1, hash: sha(body) }, body, { bulk: true })
  assert.equal(stored.size, 1)
})

test('a peer without a lane is reached over libp2p; a hung handler times out and the next call works', async (t) => {
  const { a, b, clusterKey } = await startPair({ bulkProtocols: [PUT, GET] })
  const plain = await startNode(clusterKey) // no bulk protocols: no lane
  t.after(async () => { await stopAll(a, b, plain) })
  await b.dial(plain.multiaddrs()[0] as string)
  let hang = true
  for (const node of [a, plain]) {
    await node.handle(PUT, async (req) => {
      if (hang && node === a) await new Promise((resolve) => { req.signal.addEventListener('abort', resolve, { once: true }) })
      return { header: { v: 1, n: req.body.byteLength } }
    })
  }
  const res = await b.call(plain.peerId, PUT, { v: 1 }, randomBytes(MIB), { bulk: true })
  assert.equal(res.header.n, MIB)
  assert.equal(b.bulkLaneStats()?.fallbacks, 1, 'the call fell back to libp2p')
  await assert.rejects(b.call(a.peerId, PUT, { v: 1 }, randomBytes(1000), { bulk: true, timeoutMs: 500 }), (err: unknown) => err instanceof CairnError && err.code === 'TIMEOUT')
  hang = false
  const after = await b.call(a.peerId, PUT, { v: 1 }, randomBytes(2000), { bulk: true })
  assert.equal(after.header.n, 2000)
  assert.equal(b.bulkLaneStats()?.connections, 2, 'the timed-out connection was not reused')
})
