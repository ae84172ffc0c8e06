/**
 * Test-only fault switch (every fault hook of the node lives here). Off
 * unless the environment variable CAIRN_TEST_FAULTS is set when the daemon
 * starts; then its value gives the initial faults (e.g. `push=stall,sync=off`,
 * or empty for none) and POST /api/v1/test/faults {push?, sync?} flips them
 * at run time.
 *
 * Faults:
 * - `push=drop`: incoming metadata pushes are refused (the writer sees an error).
 * - `push=stall`: incoming pushes are held, unanswered, until the fault is
 *   switched off (or MAX_STALL_MS passes), then applied: a slow peer that
 *   applies a commit after the writer gave up on it.
 * - `sync=off`: this node neither serves nor starts anti-entropy rounds.
 * - `shards=discard` (a lying peer): shard stores are acknowledged but
 *   nothing is kept (no file, no owner tag), gets answer not-found, audits
 *   answer missing, and the node reports no lost shards of its own.
 * - `shards=forge` (a lying peer): shards are stored, but gets serve other
 *   bytes and audits are answered over those other bytes; no lost shards
 *   are reported either. Both are found only by audits (docs/AUDITS.md).
 */
import { CairnError } from '../util/errors.ts'

/** The environment variable that turns the fault switch on. */
export const FAULTS_VARIABLE = 'CAIRN_TEST_FAULTS'
/** Longest time a stalled push is held (keeps a forgotten fault from hanging a node forever). */
export const MAX_STALL_MS = 120_000

/** The current faults. */
export interface FaultState { push: 'none' | 'drop' | 'stall', sync: 'on' | 'off', shards: 'none' | 'discard' | 'forge' }

const PUSH_VALUES = ['none', 'drop', 'stall'] as const
const SYNC_VALUES = ['on', 'off'] as const
const SHARD_VALUES = ['none', 'discard', 'forge'] as const

/**
 * The node's fault switch.
 *
 * @example
 * const faults = Faults.fromEnv(); await faults.beforePush()
 */
export class Faults {
  readonly enabled: boolean
  private state: FaultState = { push: 'none', sync: 'on', shards: 'none' }
  private released: Array<() => void> = []

  constructor (spec: string | undefined) {
    this.enabled = spec !== undefined
    if (spec !== undefined && spec.trim() !== '') {
      const fields: Record<string, string> = {}
      for (const part of spec.split(',')) {
        const [name, value] = part.split('=')
        if (name !== undefined && value !== undefined) fields[name.trim()] = value.trim()
      }
      this.set(fields)
    }
  }

  /** The switch as the environment configures it. */
  static fromEnv (): Faults {
    return new Faults(process.env[FAULTS_VARIABLE])
  }

  /** Current faults. */
  current (): FaultState {
    return { ...this.state }
  }

  /** Change faults from a JSON object {push?, sync?, shards?}; returns the new state. */
  set (value: unknown): FaultState {
    if (!this.enabled) throw new CairnError('NOT_FOUND', 'the fault switch is off', `start the node with ${FAULTS_VARIABLE} set (tests only)`)
    const v = (value ?? {}) as Record<string, unknown>
    const push = v.push ?? this.state.push
    const sync = v.sync ?? this.state.sync
    const shards = v.shards ?? this.state.shards
    if (!(PUSH_VALUES as readonly unknown[]).includes(push) || !(SYNC_VALUES as readonly unknown[]).includes(sync) || !(SHARD_VALUES as readonly unknown[]).includes(shards)) {
      throw new CairnError('BAD_INPUT', `bad fault ${JSON.stringify(value)}`, 'push: none|drop|stall, sync: on|off, shards: none|discard|forge')
    }
    this.state = { push: push as FaultState['push'], sync: sync as FaultState['sync'], shards: shards as FaultState['shards'] }
    if (this.state.push !== 'stall') {
      for (const release of this.released) release()
      this.released = []
    }
    return this.current()
  }

  /** Called before an incoming push is applied: throws (drop) or waits (stall). */
  async beforePush (): Promise<void> {
    if (this.state.push === 'drop') throw new CairnError('PEER_ERROR', 'test fault: metadata push dropped', 'switch the fault off')
    if (this.state.push !== 'stall') return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, MAX_STALL_MS)
      this.released.push(() => { clearTimeout(timer); resolve() })
    })
  }

  /** Called before every incoming metadata request (`header.op`). */
  async beforeMetaRequest (op: unknown): Promise<void> {
    if (!this.enabled) return
    if (op === 'push') await this.beforePush()
    else if (!this.syncAllowed()) throw new CairnError('PEER_ERROR', 'test fault: anti-entropy is off on this node', 'switch the fault off')
  }

  /** False while anti-entropy is switched off. */
  syncAllowed (): boolean {
    return this.state.sync === 'on'
  }

  /** True while shard stores are acknowledged and thrown away (`shards=discard`). */
  discardsShards (): boolean {
    return this.state.shards === 'discard'
  }

  /** True while gets and audits are answered with other bytes (`shards=forge`). */
  forgesShards (): boolean {
    return this.state.shards === 'forge'
  }

  /** True while this node lies about its shards: its own lost-shard report stays empty. */
  hidesLosses (): boolean {
    return this.state.shards !== 'none'
  }
}

/**
 * The bytes a forging peer serves instead of `bytes`: same length, every byte
 * changed, so no hash of them matches.
 *
 * @example
 * forgedBytes(Buffer.from([0])) // <Buffer a5>
 */
export function forgedBytes (bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes)
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) ^ 0xa5
  return out
}
