/**
 * The one redial loop of a node. It is given addresses to keep connected —
 * the configured bootstrap addresses, and the roster's members with their
 * addresses (the daemon updates them with `setMembers`) — and every
 * KEEPER_CHECK_INTERVAL_MS dials each target that is down and due. While a
 * target stays down, its redial delay doubles from KEEPER_RETRY_MIN_MS to
 * KEEPER_RETRY_MAX_MS, so a node that comes back is found again within
 * KEEPER_RETRY_MAX_MS plus one check interval. A peer is dialled by at most
 * one target at a time (a bootstrap address of a member is not dialled twice).
 * Pure bookkeeping plus two injected functions, so it is testable without a
 * network.
 */

import { KEEPER_CHECK_INTERVAL_MS, KEEPER_DIAL_TIMEOUT_MS, KEEPER_RETRY_MAX_MS, KEEPER_RETRY_MIN_MS } from './constants.ts'
import type { KeepMember, NetLogger } from './types.ts'

/** What the keeper needs from the node. */
export interface ConnectionKeeperInit {
  /** Configured bootstrap multiaddrs, kept for the node's whole life. */
  bootstrap: string[]
  /** Dial a multiaddr, resolve to the remote peer id. */
  dial: (address: string, signal: AbortSignal) => Promise<string>
  /** True when the peer has an open connection. */
  isConnected: (peerId: string) => boolean
  logger?: NetLogger
}

interface Target {
  /** Tried in order until one connects. */
  addresses: string[]
  /** Known for members, from a `/p2p/` suffix, or from the first successful dial. */
  peerId: string | undefined
  retryDelayMs: number
  nextAttemptAt: number
  dialing: boolean
  failures: number
}

/** The next retry delay after a failure: doubled, within the bounds. */
export function nextRetryDelayMs (currentMs: number): number {
  return Math.min(KEEPER_RETRY_MAX_MS, Math.max(KEEPER_RETRY_MIN_MS, currentMs * 2))
}

function newTarget (addresses: string[], peerId: string | undefined): Target {
  return { addresses, peerId, retryDelayMs: KEEPER_RETRY_MIN_MS, nextAttemptAt: 0, dialing: false, failures: 0 }
}

/** Dials and redials the addresses it keeps; `start`/`stop` lifecycle. */
export class ConnectionKeeper {
  readonly #init: ConnectionKeeperInit
  readonly #bootstrap: Target[]
  /** Member targets by peer id; replaced as a whole by `setMembers`. */
  #members = new Map<string, Target>()
  #timer: ReturnType<typeof setInterval> | undefined
  #stopController = new AbortController()

  constructor (init: ConnectionKeeperInit) {
    this.#init = init
    this.#bootstrap = init.bootstrap.map(address => newTarget([address], /\/p2p\/([^/]+)$/.exec(address)?.[1]))
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#stopController = new AbortController()
    this.#timer = setInterval(() => { this.check() }, KEEPER_CHECK_INTERVAL_MS)
    this.#timer.unref()
    this.check()
  }

  stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#stopController.abort()
  }

  /**
   * Keep these members connected (besides the bootstrap addresses); members
   * not in the list are no longer dialled. A member already known keeps its
   * backoff; a new one is dialled on the next check (at once when running).
   */
  setMembers (members: KeepMember[]): void {
    const next = new Map<string, Target>()
    for (const member of members) {
      if (member.addrs.length === 0) continue
      const known = this.#members.get(member.peerId)
      if (known !== undefined) known.addresses = [...member.addrs]
      next.set(member.peerId, known ?? newTarget([...member.addrs], member.peerId))
    }
    this.#members = next
    if (this.#timer !== undefined) this.check()
  }

  /** Dial every target that is down and due; called on each tick. */
  check (): void {
    const now = Date.now()
    const busy = new Set<string>()
    const targets = [...this.#members.values(), ...this.#bootstrap]
    for (const target of targets) if (target.dialing && target.peerId !== undefined) busy.add(target.peerId)
    for (const target of targets) {
      if (target.dialing) continue
      if (target.peerId !== undefined && this.#init.isConnected(target.peerId)) {
        target.retryDelayMs = KEEPER_RETRY_MIN_MS
        target.failures = 0
        continue
      }
      if (now < target.nextAttemptAt || (target.peerId !== undefined && busy.has(target.peerId))) continue
      if (target.peerId !== undefined) busy.add(target.peerId)
      void this.#attempt(target)
    }
  }

  async #attempt (target: Target): Promise<void> {
    target.dialing = true
    let lastError: unknown
    try {
      for (const address of target.addresses) {
        if (this.#stopController.signal.aborted) return
        const signal = AbortSignal.any([this.#stopController.signal, AbortSignal.timeout(KEEPER_DIAL_TIMEOUT_MS)])
        try {
          target.peerId = await this.#init.dial(address, signal)
          target.retryDelayMs = KEEPER_RETRY_MIN_MS
          target.failures = 0
          target.nextAttemptAt = 0
          return
        } catch (err) {
          lastError = err
        }
      }
      target.failures++
      target.nextAttemptAt = Date.now() + target.retryDelayMs
      if (target.failures === 1 || target.retryDelayMs === KEEPER_RETRY_MAX_MS) {
        this.#init.logger?.warn('peer unreachable, will retry', { addresses: target.addresses, retryInMs: target.retryDelayMs, error: lastError instanceof Error ? lastError.message : String(lastError) })
      }
      target.retryDelayMs = nextRetryDelayMs(target.retryDelayMs)
    } finally {
      target.dialing = false
    }
  }
}
