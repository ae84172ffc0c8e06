/**
 * A Cairn network node: libp2p 3 with TCP, Yamux, identify and ping, behind
 * the cluster protector (protector.ts: AES-256-GCM frames under keys derived
 * from the cluster key), with libp2p's plaintext encrypter inside it so bytes
 * are encrypted once; TLS (Noise second) only for connections made without
 * the protector, or when `encryption` asks for a second layer; with
 * Cairn's RPC layer (rpc.ts) on top. Bootstrap addresses are dialled and kept
 * connected (bootstrap.ts); mDNS runs only when asked for. Nothing else
 * discovers or dials peers: no DHT, no public bootstrap, no relay, no UPnP.
 *
 * Stream tuning: Yamux windows of YAMUX_INITIAL_STREAM_WINDOW_BYTES growing to
 * YAMUX_MAX_STREAM_WINDOW_BYTES so one stream fills the link, and
 * MAX_STREAMS_PER_PROTOCOL concurrent streams per protocol per connection.
 * Every connected peer passed the cluster key check, so every one is tagged
 * as a cluster peer and pruned last.
 */

import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CairnError, assert, errorMessage } from '../util/errors.ts'
import { BootstrapKeeper } from './bootstrap.ts'
import {
  CLUSTER_KEY_BYTES, CLUSTER_PEER_TAG_VALUE, CONNECTION_PING_INTERVAL_MS, CONNECTION_PING_MIN_TIMEOUT_MS, DEFAULT_CALL_TIMEOUT_MS, INBOUND_CONNECTIONS_PER_SECOND_PER_HOST,
  MAX_CONNECTIONS, MAX_INCOMING_PENDING_CONNECTIONS, MAX_MUXED_STREAMS_PER_CONNECTION, STREAM_MAX_READ_BUFFER_BYTES,
  YAMUX_INITIAL_STREAM_WINDOW_BYTES, YAMUX_MAX_STREAM_WINDOW_BYTES
} from './constants.ts'
import { ClusterProtector } from './protector.ts'
import { RPC_STREAM_LIMITS, callOnConnection, serveStream } from './rpc.ts'
import { CHANNEL_PROTOCOL, CHANNELS_PER_PEER, ClientChannel, MAX_INBOUND_CHANNELS, serveChannel } from './channel.ts'
import { BULK_CONNECT_TIMEOUT_MS, BULK_TICKET_PROTOCOL, BulkClient, BulkServer, BulkUnavailableError } from './bulk.ts'
import type { BulkLaneStats, CallOptions, DialOptions, NetNode, NetNodeInit, PeerListener, RpcHandler, RpcResult } from './types.ts'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import type { Libp2pOptions } from 'libp2p'
import type { Ping } from '@libp2p/ping'

/** Peer-store tag marking a peer admitted by the cluster key. */
/** Largest yamux data frame: 1 MiB instead of 64 KiB cuts per-frame work on shard transfers. */
const YAMUX_MAX_MESSAGE_BYTES = 1024 * 1024
const CLUSTER_PEER_TAG = 'cairn-cluster'

type Services = { ping: Ping, identify: unknown }

/** The libp2p-backed NetNode; `libp2p` is exposed for tests and benchmarks only. */
export class Libp2pNetNode implements NetNode {
  readonly libp2p: Libp2p<Services>
  readonly peerId: string
  readonly #init: NetNodeInit
  readonly #listeners = new Set<PeerListener>()
  readonly #bootstrap: BootstrapKeeper
  readonly #handlers = new Map<string, RpcHandler>()
  readonly #connected = new Set<string>()
  readonly #channels = new Map<string, ClientChannel[]>()
  readonly #opening = new Map<string, Promise<ClientChannel>>()
  #stopController = new AbortController()
  readonly #bulkProtocols: ReadonlySet<string>
  #bulkServer: BulkServer | undefined
  #bulkClient: BulkClient | undefined
  #bulkFallbacks = 0

  constructor (libp2p: Libp2p<Services>, init: NetNodeInit) {
    this.libp2p = libp2p
    this.peerId = libp2p.peerId.toString()
    this.#init = init
    this.#bulkProtocols = new Set(init.bulkProtocols ?? [])
    this.#bootstrap = new BootstrapKeeper({
      addresses: init.bootstrap ?? [],
      dial: async (address, signal) => this.dial(address, { signal }),
      isConnected: (peerId) => this.libp2p.getConnections(peerIdFromString(peerId)).some(c => c.status === 'open'),
      ...(init.logger === undefined ? {} : { logger: init.logger })
    })
    libp2p.addEventListener('peer:connect', (evt) => { this.#onPeer(evt.detail, true) })
    libp2p.addEventListener('peer:disconnect', (evt) => { this.#onPeer(evt.detail, false) })
  }

  async start (): Promise<void> {
    this.#stopController = new AbortController()
    await this.libp2p.start()
    await this.libp2p.handle(CHANNEL_PROTOCOL, async (stream, connection) => {
      await serveChannel(stream, connection, this.#handlers, this.#stopController.signal, this.#init.logger)
    }, { maxInboundStreams: MAX_INBOUND_CHANNELS, maxOutboundStreams: MAX_INBOUND_CHANNELS, force: true })
    await this.#startBulkLane()
    this.#bootstrap.start()
  }

  /** Serve and use the bulk lane when bulk protocols are named and the node listens on one IP address. */
  async #startBulkLane (): Promise<void> {
    const host = listenHost(this.#init.listen)
    if (this.#bulkProtocols.size === 0 || host === undefined) return
    const server = new BulkServer({
      host,
      protocols: this.#bulkProtocols,
      handlers: this.#handlers,
      isPeerHost: (ip) => this.libp2p.getConnections().some((c) => c.status === 'open' && remoteHost(c) === ip),
      nodeSignal: this.#stopController.signal,
      ...(this.#init.logger === undefined ? {} : { logger: this.#init.logger })
    })
    try {
      await server.start()
    } catch (err) {
      // Shards then go over libp2p, as to a peer without a lane.
      this.#init.logger?.warn('cannot listen for the bulk lane; shards go over libp2p', { host, error: errorMessage(err) })
      return
    }
    this.#bulkServer = server
    await this.handle(BULK_TICKET_PROTOCOL, async (req) => ({ header: server.issue(req.peerId) }))
    this.#bulkClient = new BulkClient({
      ticket: async (peerId, signal) => (await this.call(peerId, BULK_TICKET_PROTOCOL, { v: 1 }, undefined, { signal, timeoutMs: BULK_CONNECT_TIMEOUT_MS })).header,
      hostOf: (peerId) => remoteHost(this.libp2p.getConnections(parsePeerId(peerId)).find(c => c.status === 'open'))
    })
  }

  /** The bulk lane's counters (undefined when this node runs without one). */
  bulkLaneStats (): BulkLaneStats | undefined {
    const client = this.#bulkClient
    const server = this.#bulkServer
    if (client === undefined || server === undefined) return undefined
    return { port: server.port, ...client.stats, fallbacks: this.#bulkFallbacks, served: server.stats.requests, refused: server.stats.refused }
  }

  async stop (): Promise<void> {
    this.#bulkClient?.close()
    await this.#bulkServer?.stop()
    this.#bootstrap.stop()
    this.#stopController.abort(new CairnError('NODE_UNREACHABLE', 'this node is stopping'))
    await this.libp2p.stop()
  }

  multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  connectedPeers (): string[] {
    // Kept up to date by peer events: encoding peer ids on every call was a
    // visible cost on the small-object path.
    return [...this.#connected]
  }

  async dial (target: string, options: DialOptions = {}): Promise<string> {
    const dialTarget = target.startsWith('/') ? parseMultiaddr(target) : parsePeerId(target)
    try {
      const connection = await this.libp2p.dial(dialTarget, options.signal === undefined ? {} : { signal: options.signal })
      return connection.remotePeer.toString()
    } catch (err) {
      if (options.signal?.aborted === true) throw options.signal.reason
      // A refused cluster handshake is not an unreachable node: say so.
      const code = findCairnError(err)?.code === 'UNAUTHORIZED' ? 'UNAUTHORIZED' : 'NODE_UNREACHABLE'
      throw new CairnError(code, `cannot connect to ${target}: ${dialErrorMessage(err)}`, 'check that the node runs, the address is right and both nodes share the cluster key', { target })
    }
  }

  keepConnected (addresses: readonly string[]): void {
    const own = new Set(this.multiaddrs())
    this.#bootstrap.setAddresses(addresses.filter(a => !own.has(a) && !a.endsWith(`/p2p/${this.peerId}`)))
  }

  async hangUp (peerId: string): Promise<void> {
    await this.libp2p.hangUp(parsePeerId(peerId))
  }

  async ping (peerId: string, options: DialOptions = {}): Promise<number> {
    const connection = this.#connectionTo(peerId)
    return this.libp2p.services.ping.ping(connection.remoteAddr, options.signal === undefined ? {} : { signal: options.signal })
  }

  async handle (protocol: string, handler: RpcHandler): Promise<void> {
    assert(protocol.startsWith('/'), 'protocol ids start with /')
    this.#handlers.set(protocol, handler)
    // Bulk calls (shards) still get a stream each: big frames queued on one
    // shared stream were measured to copy quadratically in the muxer.
    await this.libp2p.handle(protocol, async (stream, connection) => {
      await serveStream(stream, connection, {
        protocol,
        handler,
        nodeSignal: this.#stopController.signal,
        ...(this.#init.logger === undefined ? {} : { logger: this.#init.logger })
      })
    }, { ...RPC_STREAM_LIMITS, force: true })
  }

  async call (peerId: string, protocol: string, header: Record<string, unknown>, body?: Uint8Array, options: CallOptions = {}): Promise<RpcResult> {
    if (options.bulk === true) {
      const lane = this.#bulkClient
      if (lane !== undefined && this.#bulkProtocols.has(protocol) && lane.usable(peerId)) {
        try {
          return await lane.call(peerId, protocol, header, body ?? new Uint8Array(0), { timeoutMs: options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, ...(options.signal === undefined ? {} : { signal: options.signal }) })
        } catch (err) {
          if (!(err instanceof BulkUnavailableError)) throw err
          this.#bulkFallbacks++
          this.#init.logger?.warn('bulk lane unavailable; using libp2p for bulk calls to this peer for a while', { peerId, error: err.message })
        }
      }
      return await callOnConnection(this.#connectionTo(peerId), protocol, header, body ?? new Uint8Array(0), { ...options, timeoutMs: options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS })
    }
    const channel = await this.#channelTo(peerId, options.signal)
    return await channel.call(protocol, header, body ?? new Uint8Array(0), { ...options, timeoutMs: options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS })
  }

  /** The least busy open channel to `peerId`, opening another while the pool is not full and all are busy. */
  async #channelTo (peerId: string, signal?: AbortSignal): Promise<ClientChannel> {
    const pool = (this.#channels.get(peerId) ?? []).filter((c) => !c.closed)
    this.#channels.set(peerId, pool)
    const idle = pool.reduce<ClientChannel | undefined>((best, c) => (best === undefined || c.inFlight < best.inFlight ? c : best), undefined)
    if (idle !== undefined && (idle.inFlight === 0 || pool.length >= CHANNELS_PER_PEER)) return idle
    let opening = this.#opening.get(peerId)
    if (opening === undefined) {
      const connection = this.#connectionTo(peerId)
      opening = (async () => {
        try {
          const stream = await connection.newStream(CHANNEL_PROTOCOL, { maxOutboundStreams: MAX_INBOUND_CHANNELS, ...(signal === undefined ? {} : { signal }) })
          const channel = new ClientChannel(stream, peerId, () => {
            this.#channels.set(peerId, (this.#channels.get(peerId) ?? []).filter((c) => c !== channel))
          })
          const list = this.#channels.get(peerId)
          if (list === undefined) this.#channels.set(peerId, [channel])
          else list.push(channel)
          return channel
        } catch (err) {
          if (idle !== undefined) return idle
          throw new CairnError('NODE_UNREACHABLE', `cannot open a channel to ${peerId}: ${errorMessage(err)}`, 'the node may have gone offline; the cluster reconnects on its own', { peerId })
        } finally {
          this.#opening.delete(peerId)
        }
      })()
      this.#opening.set(peerId, opening)
    }
    return await opening
  }

  onPeer (listener: PeerListener): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  #connectionTo (peerId: string): Connection {
    const connection = this.libp2p.getConnections(parsePeerId(peerId)).find(c => c.status === 'open')
    if (connection === undefined) {
      throw new CairnError('NODE_UNREACHABLE', `node ${peerId} is not connected`, 'it may be offline; the cluster reconnects on its own', { peerId })
    }
    return connection
  }

  #onPeer (peer: PeerId, connected: boolean): void {
    const peerId = peer.toString()
    if (connected) this.#connected.add(peerId)
    else this.#connected.delete(peerId)
    if (connected) {
      // Only cluster members get past the protector, so every peer is one.
      this.libp2p.peerStore.merge(peer, { tags: { [CLUSTER_PEER_TAG]: { value: CLUSTER_PEER_TAG_VALUE } } })
        .catch((err: unknown) => { this.#init.logger?.warn('cannot tag cluster peer', { peerId, error: errorMessage(err) }) })
    }
    for (const listener of this.#listeners) {
      try {
        listener(peerId, connected)
      } catch (err) {
        this.#init.logger?.warn('peer listener failed', { peerId, error: errorMessage(err) })
      }
    }
  }
}

/**
 * Build a (not yet started) network node.
 *
 * @example
 * const node = await createNetNode({ privateKey, clusterKey, listen: ['/ip4/127.0.0.1/tcp/0'] })
 * await node.start()
 */
export async function createNetNode (init: NetNodeInit): Promise<Libp2pNetNode> {
  if (init.clusterKey.byteLength !== CLUSTER_KEY_BYTES) {
    throw new CairnError('CONFIG', `cluster key must be ${CLUSTER_KEY_BYTES} bytes, got ${init.clusterKey.byteLength}`, 'use the cluster key file written by `cairn cluster create`')
  }
  for (const address of [...init.listen, ...(init.bootstrap ?? [])]) parseMultiaddr(address)
  // Inside the cluster protector (authenticated encryption with the cluster
  // key) a second encryption layer only costs throughput; without it, TLS.
  const mode = init.encryption ?? (init.unprotected === true ? 'tls' : 'plaintext')
  const encrypters = await connectionEncrypters(mode)
  const discovery = init.mdns === true ? [(await import('@libp2p/mdns')).mdns()] : []
  const clusterKey = init.clusterKey
  const libp2p = await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: encrypters,
    streamMuxers: [yamux({
      maxMessageSize: YAMUX_MAX_MESSAGE_BYTES,
      maxInboundStreams: MAX_MUXED_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_MUXED_STREAMS_PER_CONNECTION,
      streamOptions: {
        initialStreamWindowSize: YAMUX_INITIAL_STREAM_WINDOW_BYTES,
        maxStreamWindowSize: YAMUX_MAX_STREAM_WINDOW_BYTES,
        maxReadBufferLength: STREAM_MAX_READ_BUFFER_BYTES
      }
    })],
    ...(init.unprotected === true ? {} : { connectionProtector: () => new ClusterProtector({ clusterKey }) }),
    peerDiscovery: discovery,
    connectionMonitor: { pingInterval: CONNECTION_PING_INTERVAL_MS, pingTimeout: { minTimeout: CONNECTION_PING_MIN_TIMEOUT_MS } },
    connectionManager: {
      maxConnections: MAX_CONNECTIONS,
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND_PER_HOST,
      maxIncomingPendingConnections: MAX_INCOMING_PENDING_CONNECTIONS
    },
    services: {
      identify: identify(),
      ping: ping()
    }
  })
  return new Libp2pNetNode(libp2p, init)
}

type EncrypterFactories = NonNullable<Libp2pOptions['connectionEncrypters']>

/**
 * The connection encrypters of `mode`, imported only when used: TLS and Noise
 * (x509/asn1 and chacha20/noble code) cost a node about half a second of
 * start-up CPU to load, and a protected node (the default) needs neither.
 */
async function connectionEncrypters (mode: 'plaintext' | 'noise' | 'tls'): Promise<EncrypterFactories> {
  if (mode === 'plaintext') return [(await import('@libp2p/plaintext')).plaintext()]
  const [{ noise }, { tls }] = await Promise.all([import('@chainsafe/libp2p-noise'), import('@libp2p/tls')])
  return mode === 'noise' ? [noise(), tls()] : [tls(), noise()]
}

function parseMultiaddr (address: string): ReturnType<typeof multiaddr> {
  try {
    return multiaddr(address)
  } catch (err) {
    throw new CairnError('CONFIG', `invalid multiaddr ${JSON.stringify(address)}: ${errorMessage(err)}`, 'write addresses like /ip4/192.168.1.10/tcp/7400/p2p/12D3KooW...')
  }
}

/** The IP address of the first `/ip4/ADDR/tcp/...` (or ip6) listen address, for the bulk lane. */
function listenHost (listen: readonly string[]): string | undefined {
  for (const address of listen) {
    const parts = multiaddr(address).getComponents()
    if ((parts[0]?.name === 'ip4' || parts[0]?.name === 'ip6') && parts[1]?.name === 'tcp') return parts[0].value
  }
  return undefined
}

/** The IP address a connection's peer is at. */
function remoteHost (connection: Connection | undefined): string | undefined {
  const first = connection?.remoteAddr.getComponents()[0]
  return first !== undefined && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined
}

function parsePeerId (peerId: string): PeerId {
  try {
    return peerIdFromString(peerId)
  } catch {
    throw new CairnError('BAD_INPUT', `invalid peer id ${JSON.stringify(peerId)}`, 'peer ids look like 12D3KooW...')
  }
}

/** The first CairnError in a (possibly nested) dial failure. */
function findCairnError (err: unknown): CairnError | undefined {
  if (err instanceof CairnError) return err
  if (err instanceof AggregateError) return err.errors.map(findCairnError).find(found => found !== undefined)
  if (err instanceof Error && err.cause !== undefined) return findCairnError(err.cause)
  return undefined
}

/** The most specific message of a dial failure (libp2p nests them in AggregateErrors). */
function dialErrorMessage (err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(dialErrorMessage).join('; ')
  return errorMessage(err)
}
