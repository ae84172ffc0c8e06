/**
 * The node's one redial loop: keeps it connected to every address it is
 * given — the explicit bootstrap addresses (fixed at creation) plus the
 * addresses of the cluster's members, which the daemon updates from the
 * roster (`setAddresses`). It dials each at start, and while one is down
 * redials it with exponential backoff between BOOTSTRAP_RETRY_MIN_MS and
 * BOOTSTRAP_RETRY_MAX_MS, so a member that comes back is found again within
 * BOOTSTRAP_RETRY_MAX_MS plus one check interval and the cluster stays a
 * full mesh whatever order nodes start in. Pure bookkeeping plus two
 * injected functions, so it is testable without a network.
 */

import { BOOTSTRAP_CHECK_INTERVAL_MS, BOOTSTRAP_DIAL_TIMEOUT_MS, BOOTSTRAP_RETRY_MAX_MS, BOOTSTRAP_RETRY_MIN_MS } from './constants.ts'
import type { NetLogger } from './types.ts'

/** What the keeper needs from the node. */
export interface BootstrapKeeperInit {
  addresses: string[]
  /** Dial a multiaddr, resolve to the remote peer id. */
  dial: (address: string, signal: AbortSignal) => Promise<string>
  /** True when the peer has an open connection. */
  isConnected: (peerId: string) => boolean
  logger?: NetLogger
}

interface Target {
  address: string
  /** Known from a `/p2p/` suffix or from the first successful dial. */
  peerId: string | undefined
  retryDelayMs: number
  nextAttemptAt: number
  dialing: boolean
  failures: number
}

function newTarget (address: string): Target {
  return { address, peerId: /\/p2p\/([^/]+)$/.exec(address)?.[1], retryDelayMs: BOOTSTRAP_RETRY_MIN_MS, nextAttemptAt: 0, dialing: false, failures: 0 }
}

/** The next retry delay after a failure: doubled, within the bounds. */
export function nextRetryDelayMs (currentMs: number): number {
  return Math.min(BOOTSTRAP_RETRY_MAX_MS, Math.max(BOOTSTRAP_RETRY_MIN_MS, currentMs * 2))
}

/** Dials and redials bootstrap addresses; `start`/`stop` lifecycle. */
export class BootstrapKeeper {
  readonly #init: BootstrapKeeperInit
  #targets: Target[]
  #timer: ReturnType<typeof setInterval> | undefined
  #stopController = new AbortController()

  constructor (init: BootstrapKeeperInit) {
    this.#init = init
    this.#targets = init.addresses.map(newTarget)
  }

  /**
   * Keep `addresses` connected besides the bootstrap ones (replaces the
   * previous list; the backoff state of an address kept in the list stays).
   * New addresses are dialled at once when running.
   */
  setAddresses (addresses: readonly string[]): void {
    const wanted = new Set([...this.#init.addresses, ...addresses])
    const known = new Map(this.#targets.map(t => [t.address, t]))
    this.#targets = [...wanted].map(address => known.get(address) ?? newTarget(address))
    if (this.#timer !== undefined) this.check()
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#stopController = new AbortController()
    this.#timer = setInterval(() => { this.check() }, BOOTSTRAP_CHECK_INTERVAL_MS)
    this.#timer.unref()
    this.check()
  }

  stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    this.#stopController.abort()
  }

  /** Dial every target that is down and due; called on each tick. */
  check (): void {
    const now = Date.now()
    for (const target of this.#targets) {
      if (target.dialing) continue
      if (target.peerId !== undefined && this.#init.isConnected(target.peerId)) {
        target.retryDelayMs = BOOTSTRAP_RETRY_MIN_MS
        target.failures = 0
        continue
      }
      if (now < target.nextAttemptAt) continue
      void this.#attempt(target)
    }
  }

  async #attempt (target: Target): Promise<void> {
    target.dialing = true
    const signal = AbortSignal.any([this.#stopController.signal, AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS)])
    try {
      target.peerId = await this.#init.dial(target.address, signal)
      target.retryDelayMs = BOOTSTRAP_RETRY_MIN_MS
      target.failures = 0
      target.nextAttemptAt = 0
    } catch (err) {
      target.failures++
      target.nextAttemptAt = Date.now() + target.retryDelayMs
      if (target.failures === 1 || target.retryDelayMs === BOOTSTRAP_RETRY_MAX_MS) {
        this.#init.logger?.warn('bootstrap address unreachable, will retry', { address: target.address, retryInMs: target.retryDelayMs, error: err instanceof Error ? err.message : String(err) })
      }
      target.retryDelayMs = nextRetryDelayMs(target.retryDelayMs)
    } finally {
      target.dialing = false
    }
  }
}
