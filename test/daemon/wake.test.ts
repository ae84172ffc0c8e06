/**
 * Goal: a node notices that it was away while its process kept running (the
 * PC slept, the process was stopped) by the gap between two ticks of its own
 * timer, on either clock, and only then: a node that ran all along never
 * counts as woken. The clocks are injected; the timer is real.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { watchForWake } from '../../src/daemon/wake.ts'

/** Resolves once `check` is true, polling every 5 ms for at most `ms`. */
async function until (check: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !check(); waited += 5) {
    if (waited > ms) throw new Error('condition not reached')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('wake detection', () => {
  it('reports a gap on the wall clock (a suspend) with its length, once', async () => {
    let wall = 1_000_000
    let mono = 0
    let ticks = 0
    const wakes: number[] = []
    const stop = watchForWake({ onWake: (gap) => wakes.push(gap), wallMs: () => wall, monotonicMs: () => { ticks++; return mono }, tickMs: 5, gapMs: 5000 })
    try {
      // Ticks with the clocks advancing 1 s per tick: no wake.
      for (let i = 0; i < 5; i++) { const t = ticks; wall += 1000; mono += 1000; await until(() => ticks > t) }
      assert.deepEqual(wakes, [])
      // The PC slept for a minute: the wall clock jumps, the monotonic one does not.
      const t = ticks
      wall += 60_000
      await until(() => ticks > t && wakes.length > 0)
      assert.equal(wakes.length, 1)
      assert.ok((wakes[0] ?? 0) >= 60_000)
      // Running on: no second report.
      for (let i = 0; i < 3; i++) { const n = ticks; wall += 1000; mono += 1000; await until(() => ticks > n) }
      assert.equal(wakes.length, 1)
    } finally {
      stop()
    }
  })

  it('reports a gap on the monotonic clock (a stopped process) too', async () => {
    let mono = 0
    const wakes: number[] = []
    const stop = watchForWake({ onWake: (gap) => wakes.push(gap), wallMs: () => 0, monotonicMs: () => mono, tickMs: 5, gapMs: 5000 })
    try {
      mono += 7000
      await until(() => wakes.length > 0)
      assert.ok((wakes[0] ?? 0) >= 7000)
      const seen = wakes.length
      let ticks = 0
      const stopCounting = watchForWake({ onWake: () => {}, monotonicMs: () => { ticks++; return mono }, tickMs: 5 })
      await until(() => ticks > 5)
      stopCounting()
      assert.equal(wakes.length, seen, 'one absence, one report')
    } finally {
      stop()
    }
  })

  it('never reports a node whose ticks came on time', async () => {
    const wakes: number[] = []
    let ticks = 0
    const stop = watchForWake({ onWake: (gap) => wakes.push(gap), monotonicMs: () => { ticks++; return performance.now() }, tickMs: 5 })
    try {
      await until(() => ticks > 20)
      assert.deepEqual(wakes, [])
    } finally {
      stop()
    }
  })
})
