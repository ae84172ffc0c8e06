/**
 * A binary min-heap of timed events in typed arrays: no object per event, so
 * millions of node transitions cost no garbage. Ties in time pop in push
 * order, which keeps runs deterministic.
 */

/** Most events pending at once: far above nodes + groups + samples of any supported run. */
export const EVENT_QUEUE_MAX = 1 << 24

/** A popped event. */
export interface SimEvent { time: number, kind: number, target: number, generation: number }

/**
 * The event queue.
 *
 * @example
 * const q = new EventQueue(); q.push(1.5, 0, 7, 0); q.pop()?.target // 7
 */
export class EventQueue {
  private times: Float64Array = new Float64Array(1024)
  private order: Float64Array = new Float64Array(1024)
  private kinds: Int32Array = new Int32Array(1024)
  private targets: Int32Array = new Int32Array(1024)
  private generations: Int32Array = new Int32Array(1024)
  private count = 0
  private pushed = 0

  /** Number of pending events. */
  get size (): number { return this.count }

  /** Add an event. */
  push (time: number, kind: number, target: number, generation: number): void {
    if (this.count === this.times.length) this.grow()
    let i = this.count++
    const seq = this.pushed++
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(time, seq, parent)) break
      this.move(parent, i)
      i = parent
    }
    this.set(i, time, seq, kind, target, generation)
  }

  /** Remove and return the earliest event, or undefined when empty. */
  pop (): SimEvent | undefined {
    if (this.count === 0) return undefined
    const top: SimEvent = { time: this.times[0] as number, kind: this.kinds[0] as number, target: this.targets[0] as number, generation: this.generations[0] as number }
    const last = --this.count
    if (last > 0) {
      const time = this.times[last] as number
      const seq = this.order[last] as number
      const kind = this.kinds[last] as number
      const target = this.targets[last] as number
      const generation = this.generations[last] as number
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        if (left >= last) break
        const right = left + 1
        const child = right < last && this.lessAt(right, left) ? right : left
        if (!this.lessAt(child, -1, time, seq)) break
        this.move(child, i)
        i = child
      }
      this.set(i, time, seq, kind, target, generation)
    }
    return top
  }

  /** Time of the earliest event, Infinity when empty. */
  peekTime (): number {
    return this.count === 0 ? Infinity : this.times[0] as number
  }

  private less (time: number, seq: number, j: number): boolean {
    const t = this.times[j] as number
    return time < t || (time === t && seq < (this.order[j] as number))
  }

  private lessAt (i: number, j: number, time = 0, seq = 0): boolean {
    const ti = this.times[i] as number
    const si = this.order[i] as number
    const tj = j < 0 ? time : this.times[j] as number
    const sj = j < 0 ? seq : this.order[j] as number
    return ti < tj || (ti === tj && si < sj)
  }

  private move (from: number, to: number): void {
    this.set(to, this.times[from] as number, this.order[from] as number, this.kinds[from] as number, this.targets[from] as number, this.generations[from] as number)
  }

  private set (i: number, time: number, seq: number, kind: number, target: number, generation: number): void {
    this.times[i] = time
    this.order[i] = seq
    this.kinds[i] = kind
    this.targets[i] = target
    this.generations[i] = generation
  }

  private grow (): void {
    const size = this.times.length * 2
    if (size > EVENT_QUEUE_MAX) throw new Error(`assertion failed: more than ${EVENT_QUEUE_MAX} pending events`)
    const grow64 = (a: Float64Array): Float64Array => { const b = new Float64Array(size); b.set(a); return b }
    const grow32 = (a: Int32Array): Int32Array => { const b = new Int32Array(size); b.set(a); return b }
    this.times = grow64(this.times)
    this.order = grow64(this.order)
    this.kinds = grow32(this.kinds)
    this.targets = grow32(this.targets)
    this.generations = grow32(this.generations)
  }
}
