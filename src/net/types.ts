/**
 * Interfaces of the net layer: what the engine, cluster and meta layers may
 * use of a node's networking. No libp2p type appears here, so the layers
 * above never import libp2p (CONVENTIONS.md rule 1) and can be driven by a
 * fake NetNode in tests.
 */

import type { PrivateKey } from '@libp2p/interface'

/** A request as a handler sees it. */
export interface RpcRequest {
  /** Peer id of the caller (authenticated by TLS/Noise, admitted by the cluster key). */
  peerId: string
  /** The protocol id the request arrived on. */
  protocol: string
  header: Record<string, unknown>
  body: Uint8Array
  /** Aborted when the caller goes away (stream reset, connection closed) or the node stops. */
  signal: AbortSignal
}

/** What a handler answers. */
export interface RpcResponse {
  header: Record<string, unknown>
  body?: Uint8Array
}

/** The answer `call` returns. */
export interface RpcResult {
  header: Record<string, unknown>
  body: Uint8Array
}

/**
 * Serves one protocol. A thrown CairnError reaches the caller as a CairnError
 * with the same code; any other throw reaches it as INTERNAL.
 */
export type RpcHandler = (request: RpcRequest) => Promise<RpcResponse>

/** Options of `call`. */
export interface CallOptions {
  signal?: AbortSignal
  /** A big transfer (a shard): sent on a stream of its own rather than a shared channel. */
  bulk?: boolean
  /** Whole-exchange deadline; DEFAULT_CALL_TIMEOUT_MS when absent. */
  timeoutMs?: number
}

/** Options of `dial`. */
export interface DialOptions {
  signal?: AbortSignal
}

/** Told when a peer gets its first connection (true) or loses its last one (false). */
export type PeerListener = (peerId: string, connected: boolean) => void

/** Minimal structured logger the node reports background trouble to. */
export interface NetLogger {
  info: (message: string, fields?: Record<string, unknown>) => void
  warn: (message: string, fields?: Record<string, unknown>) => void
}

/** What `createNetNode` needs. */
export interface NetNodeInit {
  /** The node's Ed25519 identity (see keys.ts). */
  privateKey: PrivateKey
  /** The cluster pre-shared key, 32 bytes. */
  clusterKey: Uint8Array
  /** Listen multiaddrs, e.g. '/ip4/127.0.0.1/tcp/0'. */
  listen: string[]
  /** Multiaddrs dialled at start and redialled with bounded backoff while down. */
  bootstrap?: string[]
  /** Discover peers on the LAN with mDNS. Default false. */
  mdns?: boolean
  /** Connection encrypter: 'plaintext' (default when protected: the protector already authenticates and encrypts), or 'tls' / 'noise' layered on top. */
  encryption?: 'tls' | 'noise' | 'plaintext'
  /**
   * Protocols whose `bulk` calls go over the bulk lane (plain TCP beside the
   * libp2p connection, net/bulk.ts) when the peer offers it; default none.
   * Their bodies must be content-addressed and checked by their receivers.
   */
  bulkProtocols?: readonly string[]
  /** Turn the cluster protector off. Only for benchmarks that measure its cost. */
  unprotected?: boolean
  logger?: NetLogger
}

/** Counters of the bulk lane (net/bulk.ts). */
export interface BulkLaneStats {
  /** TCP port the lane listens on. */
  port: number
  /** Calls this node made over the lane, connections it opened, body bytes each way. */
  calls: number
  connections: number
  bytesSent: number
  bytesReceived: number
  /** Bulk calls that went over libp2p because the lane to the peer could not be set up. */
  fallbacks: number
  /** Requests this node answered on the lane, and connections it refused (bad ticket, seal or message). */
  served: number
  refused: number
}

/** A running Cairn network node. */
export interface NetNode {
  /** This node's peer id. */
  readonly peerId: string
  start: () => Promise<void>
  stop: () => Promise<void>
  /** The addresses this node listens on, each ending in /p2p/<peerId>. */
  multiaddrs: () => string[]
  /** Peer ids with at least one open connection. */
  connectedPeers: () => string[]
  /** Connect to a multiaddr (starting with '/') or a known peer id; resolves to the remote peer id. */
  dial: (target: string, options?: DialOptions) => Promise<string>
  /**
   * Keep these addresses connected besides the bootstrap ones (the cluster
   * members'), redialling with backoff while they are down; replaces the
   * previous list.
   */
  keepConnected: (addresses: readonly string[]) => void
  /** Close all connections to a peer. */
  hangUp: (peerId: string) => Promise<void>
  /** Round-trip time to a connected peer in ms, measured with libp2p ping. */
  ping: (peerId: string, options?: DialOptions) => Promise<number>
  /** The bulk lane's counters, when this node runs one. */
  bulkLaneStats?: () => BulkLaneStats | undefined
  /** Serve `protocol`; replaces an earlier handler of the same protocol. */
  handle: (protocol: string, handler: RpcHandler) => Promise<void>
  /** Send one request and await its response; see rpc.ts for errors. */
  call: (peerId: string, protocol: string, header: Record<string, unknown>, body?: Uint8Array, options?: CallOptions) => Promise<RpcResult>
  /** Subscribe to peer connect/disconnect; returns the unsubscribe function. */
  onPeer: (listener: PeerListener) => () => void
}
