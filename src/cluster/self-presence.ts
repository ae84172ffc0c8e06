/**
 * A node measuring its own presence. It knows when it runs: it ticks every
 * sample interval and extends its history online; the time between its last
 * tick before a stop and its first tick after a start is an absence, and so
 * is a long gap between two ticks (the process was stopped, the PC hung or
 * slept). The history is kept locally at every tick and published in the
 * node's roster record every PUBLISH_EVERY_SAMPLES ticks, at start and after
 * every absence. Storage, publication and the clock are injected, so this
 * runs the same in the daemon and in tests.
 */
import { LIVENESS_TIMEOUT_MS } from './liveness.ts'
import { addAbsence, addSpan, emptyHistory, fromNodePresence, toNodePresence } from './presence-history.ts'
import type { PresenceHistory } from './presence-history.ts'
import { nodePresenceProblem } from '../meta/node-presence.ts'
import type { NodePresence } from '../meta/node-presence.ts'
import type { ModelClock } from '../util/model-clock.ts'
import { HOUR_MS } from '../util/model-clock.ts'

/** One sample per model minute: fine enough for hourly buckets, cheap on the wall clock. */
export const SAMPLE_INTERVAL_MODEL_MS = 60_000
/** Shortest real sample interval, for compressed test clocks (each sample is one small local write). */
export const MIN_SAMPLE_INTERVAL_MS = 250
/** Samples between two publications of the history (ten minutes on the wall clock): roster records change rarely. */
export const PUBLISH_EVERY_SAMPLES = 10
/**
 * A gap between ticks counts as an absence when it is longer than this many
 * sample intervals and longer than the heartbeat timeout: below that peers
 * saw the node online all along (an event loop busy for a second is not away).
 */
export const ABSENCE_GAP_SAMPLES = 3

/** What the meter needs from the node. */
export interface SelfPresenceInit {
  clock: ModelClock
  /** The history saved at the last tick, or undefined. */
  load: () => string | undefined
  /** Save the history (at every tick). */
  save: (text: string) => void
  /** Publish the history in the roster record (in the background). */
  publish: (report: NodePresence) => void
  log: (message: string) => void
}

/**
 * The node's own presence history, kept up to date by `tick()`.
 *
 * @example
 * const self = SelfPresence.start({ clock, load, save, publish, log }); setInterval(() => { self.tick() }, self.sampleIntervalMs)
 */
export class SelfPresence {
  /** Real milliseconds between ticks. */
  readonly sampleIntervalMs: number
  #history: PresenceHistory
  readonly #init: SelfPresenceInit
  readonly #absenceGapMs: number
  #samplesSincePublish = 0

  private constructor (init: SelfPresenceInit, history: PresenceHistory) {
    this.#init = init
    this.#history = history
    this.sampleIntervalMs = Math.max(MIN_SAMPLE_INTERVAL_MS, init.clock.realDurationMs(SAMPLE_INTERVAL_MODEL_MS))
    this.#absenceGapMs = Math.max(ABSENCE_GAP_SAMPLES * this.sampleIntervalMs, LIVENESS_TIMEOUT_MS) * init.clock.speed
  }

  /** Load the saved history, count the time since its last tick as an absence, save and publish. */
  static start (init: SelfPresenceInit): SelfPresence {
    const now = init.clock.now()
    const saved = SelfPresence.#loaded(init, now)
    const self = new SelfPresence(init, saved ?? emptyHistory(now, init.clock.utcOffsetMin()))
    if (saved !== undefined) self.#away(now, 'since it last ran')
    self.#save()
    self.#publish()
    return self
  }

  static #loaded (init: SelfPresenceInit, now: number): PresenceHistory | undefined {
    const text = init.load()
    if (text === undefined) return undefined
    let value: unknown
    try { value = JSON.parse(text) } catch { value = undefined }
    const problem = nodePresenceProblem(value)
    if (problem !== undefined) {
      init.log(`warning: the saved presence history is unreadable (${problem}); starting a new one`)
      return undefined
    }
    const history = fromNodePresence(value as NodePresence)
    if (history.atMs > now) {
      // Saved under a faster clock (a test setting) or a clock that was far ahead: it cannot be continued.
      init.log('warning: the saved presence history ends in the future (the clock changed); starting a new one')
      return undefined
    }
    return history
  }

  /** The history as of the last tick. */
  get history (): PresenceHistory {
    return this.#history
  }

  /** The history extended online to now (what status reports for this node). */
  current (): PresenceHistory {
    return addSpan(this.#history, this.#init.clock.now(), true)
  }

  /** Extend the history to now (online since the last tick, or away if the gap was long), save it, and publish when due. */
  tick (): void {
    this.#measure()
    this.#save()
    if (++this.#samplesSincePublish >= PUBLISH_EVERY_SAMPLES) this.#publish()
  }

  /** Extend and save the history without publishing (at stop). */
  flush (): void {
    this.#measure()
    this.#save()
  }

  #measure (): void {
    const now = this.#init.clock.now()
    this.#history = { ...this.#history, utcOffsetMin: this.#init.clock.utcOffsetMin() }
    const gapMs = now - this.#history.atMs
    if (gapMs < 0) {
      // The clock stepped back: continue from the new present (the overlap was counted already).
      this.#history = { ...this.#history, atMs: now, sinceMs: Math.min(this.#history.sinceMs, now) }
    } else if (gapMs > this.#absenceGapMs) {
      this.#away(now, 'between two samples')
    } else {
      this.#history = addSpan(this.#history, now, true)
    }
  }

  #away (now: number, how: string): void {
    const awayMs = now - this.#history.atMs
    this.#history = addAbsence(addSpan(this.#history, now, false), awayMs)
    this.#init.log(`this node was away for ${(awayMs / HOUR_MS).toFixed(2)} h ${how}${this.#init.clock.compressed ? ' (model time)' : ''}`)
    this.#samplesSincePublish = PUBLISH_EVERY_SAMPLES // publish at this tick: peers learn the absence at once
  }

  #save (): void {
    this.#init.save(JSON.stringify(toNodePresence(this.#history)))
  }

  #publish (): void {
    this.#samplesSincePublish = 0
    this.#init.publish(toNodePresence(this.#history))
  }
}
