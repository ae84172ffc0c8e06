/**
 * Named limits and defaults of the net layer, in one place, each with the
 * reason it has the value it has. Nothing here is configurable at run time
 * except through the `init` objects that accept an override.
 */

/** The cluster pre-shared key is a 256-bit secret: it keys HKDF-SHA256. */
export const CLUSTER_KEY_BYTES = 32

/** Random nonce each side contributes to a protected connection; 256 bits make collisions impossible in practice. */
export const PROTECTOR_NONCE_BYTES = 32

/**
 * The protector handshake (hello plus key confirmation) must finish within this
 * time, so a silent or hostile peer cannot hold an inbound slot open. Loopback
 * and LAN round trips are milliseconds; 10 s tolerates a heavily loaded host.
 */
export const PROTECTOR_HANDSHAKE_TIMEOUT_MS = 10_000

/** Largest RPC header (UTF-8 JSON). Headers carry ids, sizes and hashes, never data. */
export const MAX_HEADER_BYTES = 64 * 1024

/** Largest RPC body. Shards are ~1 MiB; 16 MiB leaves room for manifests and meta batches. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024

/** A `call` fails with TIMEOUT when the whole request/response takes longer than this. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000

/**
 * An inbound request must be fully received within this time; a peer that
 * opens a stream and stalls must not pin the handler's memory forever.
 */
export const REQUEST_READ_TIMEOUT_MS = 30_000

/**
 * Once a handler has produced its response, writing it must finish within
 * this time (a caller that stops reading cannot pin the response in memory).
 */
export const RESPONSE_WRITE_TIMEOUT_MS = 30_000

/**
 * Concurrent streams of one protocol on one connection, in each direction.
 * The engine runs up to ~64 concurrent shard requests per peer; streams that
 * are closing still count for a moment, so leave generous headroom.
 */
export const MAX_STREAMS_PER_PROTOCOL = 256

/** Yamux limit on all concurrent streams of one connection, in each direction. */
export const MAX_MUXED_STREAMS_PER_CONNECTION = 1024

/**
 * Yamux per-stream receive window. The default 256 KiB caps one stream at
 * window / RTT; a few MiB lets one shard transfer fill the link.
 */
export const YAMUX_INITIAL_STREAM_WINDOW_BYTES = 4 * 1024 * 1024

/** The window may grow up to this when the reader keeps up. */
export const YAMUX_MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024

/**
 * A stream may buffer this many unread bytes before it is aborted. It must
 * exceed the largest receive window, otherwise a full window of data that
 * arrives while the reader is busy would abort the stream.
 */
export const STREAM_MAX_READ_BUFFER_BYTES = 32 * 1024 * 1024

/** First retry delay for an unreachable bootstrap address. */
export const BOOTSTRAP_RETRY_MIN_MS = 1_000

/** Retry delay doubles per failure up to this bound, so a node that comes back is found within a minute. */
export const BOOTSTRAP_RETRY_MAX_MS = 30_000

/** How often the bootstrap keeper checks whether its addresses are connected. */
export const BOOTSTRAP_CHECK_INTERVAL_MS = 1_000

/** One dial attempt to a bootstrap address gives up after this long. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000

/**
 * libp2p prunes connections above this count. Cluster peers are also tagged so
 * they are pruned last; an office cluster has at most a few hundred nodes.
 */
export const MAX_CONNECTIONS = 2_000

/** Peer-store tag value given to every cluster peer so the connection pruner keeps it. */
export const CLUSTER_PEER_TAG_VALUE = 100

/** Inbound connection attempts per second accepted from one host (all test nodes share 127.0.0.1). */
export const INBOUND_CONNECTIONS_PER_SECOND_PER_HOST = 200

/** Inbound connections that may be in the middle of their upgrade at once. */
export const MAX_INCOMING_PENDING_CONNECTIONS = 100

/**
 * libp2p's connection monitor aborts a connection whose ping goes unanswered
 * for this long (its default is 5 s). A ping waits behind the bulk data of
 * the same connection, so on a busy 2-core PC moving shards a 5 s limit cut
 * healthy connections in the middle of a transfer. Liveness for placement
 * and quorum comes from Cairn's own heartbeats (3 s and more:
 * cluster/liveness.ts); this only decides when a silent connection is torn
 * down.
 */
export const CONNECTION_PING_MIN_TIMEOUT_MS = 30_000

/**
 * How often libp2p's connection monitor pings every connection (its default
 * is 10 s). Each ping opens a stream (multistream-select both ways) on every
 * connection, a cost that grows with the cluster; liveness does not depend
 * on it, so a silent connection is torn down within about a minute instead
 * of 40 s.
 */
export const CONNECTION_PING_INTERVAL_MS = 30_000
