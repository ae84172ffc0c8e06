/**
 * The bulk lane: shard transfers on plain TCP connections beside the
 * libp2p connection between the same two members, so the shard bytes skip
 * the cluster protector's second AES-GCM pass, Yamux framing and the byte
 * lists between them (docs/PERFORMANCE.md measures what that costs).
 * libp2p keeps membership, metadata and every other protocol.
 *
 * ## Why this is safe
 * Shard bytes are already AES-256-GCM ciphertext under the version's data
 * key (or Reed-Solomon parity of it), and content-addressed: a holder stores
 * a shard only when its bytes hash to the SHA-256 the request names, and
 * every reader (get, repair, move, audit) hashes what it received. So the
 * lane needs no encryption or MAC of the bodies; what it protects is
 * everything else:
 * - **Who is calling.** A connection is admitted only with a ticket: a
 *   random 16-byte id and 32-byte key that the server handed to one peer
 *   over the protected libp2p connection (protocol BULK_TICKET_PROTOCOL),
 *   valid for TICKET_TTL_MS and for one connection. The connection's
 *   requests run as that peer, exactly as if they came over libp2p.
 * - **The headers** (protocol, shard hash, version id, error messages, body
 *   length) are sealed with AES-256-GCM under the ticket's key, one nonce
 *   per message and direction (a counter), so they are confidential, cannot
 *   be altered, replayed, reordered or moved between connections; a body's
 *   length comes from its sealed header.
 * The id travels in clear and is useless once used. An attacker on the path
 * can still break a transfer (as on any TCP connection): the body then fails
 * its hash check or the connection closes, and the caller tries another
 * holder. What a passive listener on the path does see, unlike on the
 * protected libp2p connection: each shard's ciphertext and size (and so,
 * by hashing it, its content address). Its confidentiality rests on the
 * data-key encryption alone, as it does on every holder's disk.
 *
 * ## Wire format
 * Client → server, once: `CAIRNBK1` (8 bytes) then the ticket id (16 bytes).
 * Then, in each direction, messages: u32be n (sealed header bytes, including
 * the 16-byte tag), the sealed header, then the body (raw, as many bytes as
 * the header says). Sealed header: AES-256-GCM, nonce = 4-byte direction
 * label (`req\0` or `res\0`) ‖ u64be message counter, AAD = the u32 length;
 * plaintext JSON `{"p": protocol, "h": header, "n": body bytes}` (responses
 * carry no `p`). One request at a time per connection; the client keeps a
 * few idle connections per peer. Only the protocols named when the lane is
 * started are served (the shard put and get); any other request, a bad
 * seal, an oversized header or body, or a hello that is late or wrong
 * closes the connection.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import { CairnError, errorMessage } from '../util/errors.ts'
import { MAX_BODY_BYTES, MAX_HEADER_BYTES } from './constants.ts'
import { errorFromHeader, errorHeader } from './rpc.ts'
import type { NetLogger, RpcHandler, RpcResult } from './types.ts'

/** Protocol (over libp2p) that hands out tickets for the lane. */
export const BULK_TICKET_PROTOCOL = '/cairn/bulk/ticket/1.0.0'
const MAGIC = Buffer.from('CAIRNBK1')
const TICKET_ID_BYTES = 16
const KEY_BYTES = 32
const TAG_BYTES = 16
const HELLO_BYTES = MAGIC.length + TICKET_ID_BYTES
/** A ticket not used within this time is forgotten. */
export const TICKET_TTL_MS = 30_000
/** Unused tickets one peer may hold at once. */
export const MAX_TICKETS_PER_PEER = 64
/** Time a new connection has to present its ticket. */
export const HELLO_TIMEOUT_MS = 5_000
/** An idle lane connection is closed after this long (both ends). */
export const BULK_IDLE_TIMEOUT_MS = 60_000
/** Time allowed to connect to a peer's lane before the call falls back to libp2p. */
export const BULK_CONNECT_TIMEOUT_MS = 3_000
/** After the lane to a peer could not be set up, calls use libp2p for this long. */
export const BULK_RETRY_AFTER_MS = 60_000
/** Idle connections kept per peer. */
export const BULK_IDLE_PER_PEER = 8
/** Most requests queued on one server connection (the client sends one at a time). */
const MAX_QUEUED_REQUESTS = 1
/** Most lane connections a node accepts at once (each peer keeps a few). */
export const MAX_BULK_CONNECTIONS = 1024

/** A setup failure that says nothing about the lane itself (it is tried again on the next call). */
class PassingSetupError extends Error {}

/** The lane to a peer could not be set up (no ticket, no TCP connection): the caller should use libp2p. */
export class BulkUnavailableError extends Error {
  override readonly name = 'BulkUnavailableError'
}

interface Message { header: Record<string, unknown>, protocol: string | undefined, body: Buffer }
/** A message whose body is still arriving. */
interface PendingMessage extends Message { filled: number }

/** Seals headers of one direction (exported for tests that speak the wire format by hand). */
export class Sealer {
  readonly #key: KeyObject
  readonly #label: Buffer
  #counter = 0n
  constructor (key: KeyObject, label: string) { this.#key = key; this.#label = Buffer.from(label) }

  /** The message prefix (length, sealed header) for `header` and a body of `bodyBytes`. */
  seal (header: Record<string, unknown>, protocol: string | undefined, bodyBytes: number): Buffer {
    const plain = Buffer.from(JSON.stringify(protocol === undefined ? { h: header, n: bodyBytes } : { p: protocol, h: header, n: bodyBytes }))
    if (plain.length > MAX_HEADER_BYTES) throw new CairnError('TOO_LARGE', `bulk header of ${plain.length} bytes`, `keep headers under ${MAX_HEADER_BYTES} bytes`)
    const out = Buffer.allocUnsafe(4 + plain.length + TAG_BYTES)
    out.writeUInt32BE(plain.length + TAG_BYTES, 0)
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(this.#label, this.#counter++))
    cipher.setAAD(out.subarray(0, 4))
    const sealed = cipher.update(plain)
    cipher.final()
    sealed.copy(out, 4)
    cipher.getAuthTag().copy(out, 4 + sealed.length)
    return out
  }
}

function nonce (label: Buffer, counter: bigint): Buffer {
  const n = Buffer.alloc(12)
  label.copy(n, 0, 0, 4)
  n.writeBigUInt64BE(counter, 4)
  return n
}

/**
 * Parses the messages of one direction: small parts (length, sealed header)
 * are gathered, a body is copied once into a buffer of its final size.
 */
class MessageReader {
  readonly #key: KeyObject
  readonly #label: Buffer
  #counter = 0n
  #head: Buffer = Buffer.alloc(0)
  #pending: PendingMessage | undefined
  readonly #onMessage: (m: Message) => void

  constructor (key: KeyObject, label: string, onMessage: (m: Message) => void) {
    this.#key = key
    this.#label = Buffer.from(label)
    this.#onMessage = onMessage
  }

  /** Feed received bytes; throws CairnError('PROTOCOL') on anything malformed. */
  push (chunk: Buffer): void {
    let rest = chunk
    while (rest.length > 0) {
      const arriving = this.#pending
      if (arriving !== undefined) {
        const n = Math.min(rest.length, arriving.body.length - arriving.filled)
        rest.copy(arriving.body, arriving.filled, 0, n)
        arriving.filled += n
        rest = rest.subarray(n)
        if (arriving.filled === arriving.body.length) this.#deliver()
        continue
      }
      this.#head = this.#head.length === 0 ? rest : Buffer.concat([this.#head, rest])
      rest = Buffer.alloc(0)
      if (this.#head.length < 4) return
      const sealedBytes = this.#head.readUInt32BE(0)
      if (sealedBytes <= TAG_BYTES || sealedBytes > MAX_HEADER_BYTES + TAG_BYTES) throw new CairnError('PROTOCOL', `bulk header of ${sealedBytes} bytes`, 'the peer is not a Cairn node of this version')
      if (this.#head.length < 4 + sealedBytes) return
      const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce(this.#label, this.#counter++))
      decipher.setAAD(this.#head.subarray(0, 4))
      decipher.setAuthTag(this.#head.subarray(4 + sealedBytes - TAG_BYTES, 4 + sealedBytes))
      const plain = decipher.update(this.#head.subarray(4, 4 + sealedBytes - TAG_BYTES))
      try {
        decipher.final()
      } catch {
        throw new CairnError('PROTOCOL', 'a bulk header failed its integrity check', 'the connection was dropped; check the network path between the nodes')
      }
      rest = this.#head.subarray(4 + sealedBytes)
      this.#head = Buffer.alloc(0)
      let parsed: { p?: unknown, h?: unknown, n?: unknown }
      try {
        parsed = JSON.parse(plain.toString('utf8')) as typeof parsed
      } catch {
        throw new CairnError('PROTOCOL', 'a bulk header is not JSON', 'the peer is not a Cairn node of this version')
      }
      const { p, h, n } = parsed
      if (typeof h !== 'object' || h === null || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_BODY_BYTES || (p !== undefined && typeof p !== 'string')) {
        throw new CairnError('PROTOCOL', 'a bulk header is malformed', 'the peer is not a Cairn node of this version')
      }
      this.#pending = { header: h as Record<string, unknown>, protocol: p, body: Buffer.allocUnsafe(n), filled: 0 }
      if (n === 0) this.#deliver()
    }
  }

  #deliver (): void {
    const p = this.#pending as PendingMessage
    this.#pending = undefined
    this.#onMessage({ header: p.header, protocol: p.protocol, body: p.body })
  }
}

/** Write one message (prefix and body in one gathered write). */
function writeMessage (socket: Socket, sealer: Sealer, header: Record<string, unknown>, protocol: string | undefined, body: Uint8Array): void {
  const prefix = sealer.seal(header, protocol, body.byteLength)
  socket.cork()
  socket.write(prefix)
  if (body.byteLength > 0) socket.write(body)
  process.nextTick(() => { socket.uncork() })
}

interface Ticket { peerId: string, key: Buffer, expiresAt: number }

/** What the server side of the lane needs. */
export interface BulkServerInit {
  /** Address to listen on (the host of the node's libp2p address). */
  host: string
  /** Protocols served on the lane, and their handlers. */
  protocols: ReadonlySet<string>
  handlers: ReadonlyMap<string, RpcHandler>
  /** True for an IP address a member is connected from over libp2p; other sources are refused before their hello. */
  isPeerHost: (ip: string) => boolean
  /** Aborted when the node stops. */
  nodeSignal: AbortSignal
  logger?: NetLogger
}

/** Accepts lane connections and serves their requests with the node's own handlers. */
export class BulkServer {
  readonly #init: BulkServerInit
  readonly #tickets = new Map<string, Ticket>()
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined
  #port = 0
  /** Requests answered, and connections dropped for a bad ticket, seal or message. */
  readonly stats = { requests: 0, refused: 0 }

  constructor (init: BulkServerInit) { this.#init = init }

  get port (): number { return this.#port }

  async start (): Promise<void> {
    const server = createServer((socket) => { this.#accept(socket) })
    server.maxConnections = MAX_BULK_CONNECTIONS
    server.on('error', (err) => { this.#init.logger?.warn('bulk lane server error', { error: errorMessage(err) }) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, this.#init.host, () => { server.off('error', reject); resolve() })
    })
    this.#server = server
    const address = server.address()
    this.#port = typeof address === 'object' && address !== null ? address.port : 0
  }

  async stop (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => { if (this.#server === undefined) resolve(); else this.#server.close(() => { resolve() }) })
  }

  /** Answer a ticket request of `peerId` (an authenticated libp2p peer). */
  issue (peerId: string): { v: 1, port: number, id: string, key: string } {
    const now = Date.now()
    let held = 0
    for (const [id, t] of this.#tickets) {
      if (t.expiresAt <= now) this.#tickets.delete(id)
      else if (t.peerId === peerId) held++
    }
    if (held >= MAX_TICKETS_PER_PEER) throw new CairnError('PEER_ERROR', `peer holds ${held} unused bulk tickets`, 'use the tickets already issued')
    const id = randomBytes(TICKET_ID_BYTES)
    const key = randomBytes(KEY_BYTES)
    this.#tickets.set(id.toString('hex'), { peerId, key, expiresAt: now + TICKET_TTL_MS })
    return { v: 1, port: this.#port, id: id.toString('base64'), key: key.toString('base64') }
  }

  #accept (socket: Socket): void {
    // Only an address a member is connected from may even say hello.
    const from = (socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    if (!this.#init.isPeerHost(from)) {
      this.stats.refused++
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    socket.setNoDelay(true)
    const closed = new AbortController()
    socket.on('close', () => { this.#sockets.delete(socket); closed.abort() })
    socket.on('error', () => { /* 'close' follows */ })
    const helloTimer = setTimeout(() => { socket.destroy() }, HELLO_TIMEOUT_MS)
    let hello = Buffer.alloc(0)
    const onHello = (chunk: Buffer): void => {
      hello = Buffer.concat([hello, chunk])
      if (hello.length < HELLO_BYTES) return
      socket.off('data', onHello)
      clearTimeout(helloTimer)
      const id = hello.subarray(MAGIC.length, HELLO_BYTES).toString('hex')
      const ticket = this.#tickets.get(id)
      this.#tickets.delete(id)
      if (!hello.subarray(0, MAGIC.length).equals(MAGIC) || ticket === undefined || ticket.expiresAt <= Date.now()) {
        this.stats.refused++
        socket.destroy()
        return
      }
      this.#serve(socket, ticket, AbortSignal.any([closed.signal, this.#init.nodeSignal]), hello.subarray(HELLO_BYTES))
    }
    socket.on('data', onHello)
  }

  #serve (socket: Socket, ticket: Ticket, signal: AbortSignal, early: Buffer): void {
    const key = createSecretKey(ticket.key)
    const sealer = new Sealer(key, 'res\0')
    const queue: Message[] = []
    let busy = false
    socket.setTimeout(BULK_IDLE_TIMEOUT_MS, () => { socket.destroy() })
    const next = (): void => {
      if (busy) return
      const m = queue.shift()
      if (m === undefined) return
      busy = true
      void this.#answer(m, ticket.peerId, signal).then(({ header, body }) => {
        if (!socket.destroyed) writeMessage(socket, sealer, header, undefined, body)
      }).catch(() => { socket.destroy() }).finally(() => { busy = false; next() })
    }
    const reader = new MessageReader(key, 'req\0', (m) => {
      if (queue.length >= MAX_QUEUED_REQUESTS) throw new CairnError('PROTOCOL', 'too many bulk requests at once', 'send one request at a time per connection')
      queue.push(m)
      next()
    })
    const onData = (chunk: Buffer): void => {
      try {
        reader.push(chunk)
      } catch (err) {
        this.#init.logger?.warn('bulk lane connection dropped', { peerId: ticket.peerId, error: errorMessage(err) })
        this.stats.refused++
        socket.destroy()
      }
    }
    socket.on('data', onData)
    if (early.length > 0) onData(early)
  }

  async #answer (m: Message, peerId: string, signal: AbortSignal): Promise<{ header: Record<string, unknown>, body: Uint8Array }> {
    const protocol = m.protocol
    const handler = protocol === undefined || !this.#init.protocols.has(protocol) ? undefined : this.#init.handlers.get(protocol)
    if (protocol === undefined || handler === undefined) {
      return { header: errorHeader(new CairnError('PEER_ERROR', `this node does not serve ${String(protocol)} on the bulk lane`, 'run the same Cairn version on every node')), body: new Uint8Array(0) }
    }
    this.stats.requests++
    try {
      const response = await handler({ peerId, protocol, header: m.header, body: m.body, signal })
      return { header: response.header, body: response.body ?? new Uint8Array(0) }
    } catch (err) {
      return { header: errorHeader(err), body: new Uint8Array(0) }
    }
  }
}

/** One client connection: one request at a time. */
class BulkConnection {
  readonly socket: Socket
  readonly #sealer: Sealer
  readonly #reader: MessageReader
  #waiting: { resolve: (m: Message) => void, reject: (err: Error) => void } | undefined
  closed = false

  constructor (socket: Socket, key: Buffer, onClose: () => void) {
    this.socket = socket
    const k = createSecretKey(key)
    this.#sealer = new Sealer(k, 'req\0')
    this.#reader = new MessageReader(k, 'res\0', (m) => {
      const w = this.#waiting
      this.#waiting = undefined
      if (w === undefined) { socket.destroy(); return } // an answer nobody asked for
      w.resolve(m)
    })
    socket.on('data', (chunk: Buffer) => {
      try { this.#reader.push(chunk) } catch (err) { this.#fail(err as Error); socket.destroy() }
    })
    socket.on('error', (err) => { this.#fail(err) })
    socket.on('close', () => {
      this.closed = true
      this.#fail(new Error('the bulk connection closed'))
      onClose()
    })
  }

  #fail (err: Error): void {
    const w = this.#waiting
    this.#waiting = undefined
    w?.reject(err)
  }

  async request (protocol: string, header: Record<string, unknown>, body: Uint8Array): Promise<Message> {
    return await new Promise<Message>((resolve, reject) => {
      this.#waiting = { resolve, reject }
      try {
        writeMessage(this.socket, this.#sealer, header, protocol, body)
      } catch (err) {
        this.#waiting = undefined
        reject(err as Error)
      }
    })
  }
}

/** How the client side reaches peers. */
export interface BulkClientInit {
  /** Ask `peerId` for a ticket over libp2p. */
  ticket: (peerId: string, signal: AbortSignal) => Promise<Record<string, unknown>>
  /** The IP address `peerId` is connected from (its libp2p connection's), if connected. */
  hostOf: (peerId: string) => string | undefined
}

/** Calls peers over the lane, keeping a few idle connections per peer. */
export class BulkClient {
  readonly #init: BulkClientInit
  readonly #idle = new Map<string, BulkConnection[]>()
  readonly #unavailableUntil = new Map<string, number>()
  readonly #open = new Set<BulkConnection>()
  #closed = false
  /** Calls answered over the lane, connections opened, and body bytes each way. */
  readonly stats = { calls: 0, connections: 0, bytesSent: 0, bytesReceived: 0 }

  constructor (init: BulkClientInit) { this.#init = init }

  /** False while the lane to `peerId` recently failed to set up (callers use libp2p). */
  usable (peerId: string): boolean {
    return (this.#unavailableUntil.get(peerId) ?? 0) <= Date.now()
  }

  close (): void {
    this.#closed = true
    for (const c of this.#open) c.socket.destroy()
    this.#idle.clear()
  }

  /**
   * One request over the lane. Throws BulkUnavailableError when the lane
   * could not be set up (use libp2p instead), the peer's CairnError when it
   * answered with one, TIMEOUT after `timeoutMs`, NODE_UNREACHABLE when the
   * connection broke mid-call.
   */
  async call (peerId: string, protocol: string, header: Record<string, unknown>, body: Uint8Array, options: { timeoutMs: number, signal?: AbortSignal }): Promise<RpcResult> {
    const timeout = AbortSignal.timeout(options.timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    // A reused connection may have been closed by the peer a moment ago:
    // then (nothing was answered, and shard put and get are idempotent) try once more on a new one.
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new CairnError('NODE_UNREACHABLE', 'this node is stopping', 'retry on another node', { peerId, protocol })
      const { connection, reused } = await this.#acquire(peerId, signal)
      if (signal.aborted) {
        this.#release(peerId, connection)
        if (options.signal?.aborted === true) throw options.signal.reason
        throw new CairnError('TIMEOUT', `call ${protocol} to ${peerId} timed out after ${options.timeoutMs} ms`, 'the peer may be overloaded; retry', { peerId, protocol })
      }
      const onAbort = (): void => { connection.socket.destroy() }
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        const m = await connection.request(protocol, header, body)
        this.#release(peerId, connection)
        this.stats.calls++
        this.stats.bytesSent += body.byteLength
        this.stats.bytesReceived += m.body.byteLength
        const remote = errorFromHeader(m.header, peerId, protocol)
        if (remote !== undefined) throw remote
        return { header: m.header, body: m.body }
      } catch (err) {
        if (err instanceof CairnError) throw err
        if (options.signal?.aborted === true) throw options.signal.reason
        if (timeout.aborted) throw new CairnError('TIMEOUT', `call ${protocol} to ${peerId} timed out after ${options.timeoutMs} ms`, 'the peer may be overloaded; retry', { peerId, protocol })
        if (reused && attempt === 0) continue
        if (!reused) {
          // A new connection that closed before any answer: the lane to this peer does not work (a refused ticket, a middlebox).
          this.#unavailableUntil.set(peerId, Date.now() + BULK_RETRY_AFTER_MS)
          throw new BulkUnavailableError(`the new bulk connection to ${peerId} closed before answering: ${errorMessage(err)}`)
        }
        throw new CairnError('NODE_UNREACHABLE', `the bulk connection to ${peerId} broke during ${protocol}: ${errorMessage(err)}`, 'the node may have gone offline; retry on another node', { peerId, protocol })
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    }
  }

  #release (peerId: string, connection: BulkConnection): void {
    const idle = this.#idle.get(peerId) ?? []
    if (this.#closed || connection.closed || connection.socket.destroyed || idle.length >= BULK_IDLE_PER_PEER) {
      connection.socket.destroy()
      return
    }
    idle.push(connection)
    this.#idle.set(peerId, idle)
  }

  async #acquire (peerId: string, signal: AbortSignal): Promise<{ connection: BulkConnection, reused: boolean }> {
    const idle = this.#idle.get(peerId) ?? []
    for (let c = idle.pop(); c !== undefined; c = idle.pop()) {
      if (!c.closed && !c.socket.destroyed) return { connection: c, reused: true }
    }
    try {
      return { connection: await this.#connect(peerId, signal), reused: false }
    } catch (err) {
      if (signal.aborted) throw err
      // Only a lane that does not work is given up for a while; a passing
      // condition (no libp2p connection at this instant, the peer's ticket
      // limit) just sends this one call over libp2p.
      if (!(err instanceof PassingSetupError)) this.#unavailableUntil.set(peerId, Date.now() + BULK_RETRY_AFTER_MS)
      throw new BulkUnavailableError(`no bulk lane to ${peerId}: ${errorMessage(err)}`)
    }
  }

  async #connect (peerId: string, signal: AbortSignal): Promise<BulkConnection> {
    const host = this.#init.hostOf(peerId)
    if (host === undefined) throw new PassingSetupError('not connected over libp2p')
    const setup = AbortSignal.any([signal, AbortSignal.timeout(BULK_CONNECT_TIMEOUT_MS)])
    let t: Record<string, unknown>
    try {
      t = await this.#init.ticket(peerId, setup)
    } catch (err) {
      // The peer serves tickets but holds too many unused ones (a burst of new connections).
      if (err instanceof CairnError && err.code === 'PEER_ERROR' && /unused bulk tickets/.test(err.message)) throw new PassingSetupError(err.message)
      throw err
    }
    const port = t.port
    const id = typeof t.id === 'string' ? Buffer.from(t.id, 'base64') : undefined
    const key = typeof t.key === 'string' ? Buffer.from(t.key, 'base64') : undefined
    if (typeof port !== 'number' || port <= 0 || id?.length !== TICKET_ID_BYTES || key?.length !== KEY_BYTES) throw new Error('the peer sent a malformed ticket')
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, noDelay: true })
      const onAbort = (): void => { s.destroy(); reject(new Error(`connecting to ${host}:${port} timed out`)) }
      setup.addEventListener('abort', onAbort, { once: true })
      s.once('connect', () => { setup.removeEventListener('abort', onAbort); resolve(s) })
      s.once('error', (err) => { setup.removeEventListener('abort', onAbort); reject(err) })
    })
    socket.setTimeout(BULK_IDLE_TIMEOUT_MS, () => { socket.destroy() })
    const connection = new BulkConnection(socket, key, () => { this.#open.delete(connection); this.#drop(peerId, connection) })
    this.#open.add(connection)
    this.stats.connections++
    socket.write(Buffer.concat([MAGIC, id]))
    return connection
  }

  #drop (peerId: string, connection: BulkConnection): void {
    const idle = this.#idle.get(peerId)
    if (idle === undefined) return
    const i = idle.indexOf(connection)
    if (i >= 0) idle.splice(i, 1)
  }
}
