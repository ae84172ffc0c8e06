/**
 * Goal: a node measures its own presence: time between ticks is online, the
 * time it was stopped (between its last tick and its next start) and a long
 * gap between two ticks (SIGSTOP) are absences; it saves its history at every
 * tick, publishes it at start, after an absence and every few samples, not
 * at every tick; a history it cannot continue is replaced, not trusted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PUBLISH_EVERY_SAMPLES, SelfPresence } from '../../src/cluster/self-presence.ts'
import { summarize } from '../../src/cluster/presence-history.ts'
import type { NodePresence } from '../../src/meta/node-presence.ts'
import { modelClock } from '../../src/util/model-clock.ts'
import type { ModelClock } from '../../src/util/model-clock.ts'
import { HOUR } from './presence-fixtures.ts'

/** A compressed clock (1 s per model hour) whose wall time the test moves. */
function fakeClock (): { clock: ModelClock, advanceWall: (ms: number) => void } {
  const real = modelClock(1000)
  let wallMs = 1_800_000_000_000
  return {
    clock: { ...real, now: () => real.fromWall(wallMs) },
    advanceWall: (ms) => { wallMs += ms }
  }
}

function meter (clock: ModelClock, saved?: string): { self: SelfPresence, published: NodePresence[], saves: string[], logs: string[] } {
  const published: NodePresence[] = []
  const saves: string[] = []
  const logs: string[] = []
  const self = SelfPresence.start({ clock, load: () => saved, save: (t) => { saves.push(t) }, publish: (r) => { published.push(r) }, log: (m) => { logs.push(m) } })
  return { self, published, saves, logs }
}

describe('self presence', () => {
  it('counts ticks as online and publishes every few samples', () => {
    const { clock, advanceWall } = fakeClock()
    const m = meter(clock)
    assert.equal(m.self.sampleIntervalMs, 250, 'a model minute is 17 ms here: the floor applies')
    assert.equal(m.published.length, 1, 'published at start')
    for (let i = 0; i < PUBLISH_EVERY_SAMPLES * 2; i++) { advanceWall(250); m.self.tick() }
    assert.equal(m.published.length, 3)
    assert.equal(m.saves.length, 1 + PUBLISH_EVERY_SAMPLES * 2, 'saved at every tick')
    assert.equal(summarize(m.self.history).d1, 1)
    assert.equal(m.self.history.absencesMs.length, 0)
  })

  it('a long gap between ticks (the process was stopped) is an absence, published at once', () => {
    const { clock, advanceWall } = fakeClock()
    const m = meter(clock)
    advanceWall(250); m.self.tick()
    advanceWall(2000); m.self.tick()
    assert.equal(m.self.history.absencesMs.length, 0, 'two seconds: under the heartbeat timeout, peers saw it online')
    advanceWall(6000); m.self.tick()
    assert.deepEqual(m.self.history.absencesMs, [6 * HOUR])
    assert.equal(m.published.length, 2)
    assert.deepEqual(m.published[1]?.absencesS, [6 * 3600])
    assert.match(m.logs.join('\n'), /away for 6\.00 h between two samples \(model time\)/)
  })

  it('the time since its last run is an absence, and it continues its saved history', () => {
    const { clock, advanceWall } = fakeClock()
    const first = meter(clock)
    for (let i = 0; i < 40; i++) { advanceWall(250); first.self.tick() }
    const publications = first.published.length
    first.self.flush()
    assert.equal(first.published.length, publications, 'flush at stop does not publish')
    advanceWall(14_000)
    const second = meter(clock, first.saves.at(-1))
    assert.deepEqual(second.self.history.absencesMs, [14 * HOUR])
    assert.equal(second.self.history.sinceMs, first.self.history.sinceMs)
    assert.ok(Math.abs((summarize(second.self.history).d1 as number) - 10 / 24) < 1e-3)
    assert.deepEqual(second.published[0]?.absencesS, [14 * 3600])
  })

  it('replaces a saved history it cannot continue', () => {
    const { clock } = fakeClock()
    const broken = meter(clock, '{"v":1')
    assert.match(broken.logs.join('\n'), /unreadable/)
    assert.equal(broken.self.history.absencesMs.length, 0)
    const wall = meter(modelClock(), meter(clock).saves[0])
    assert.match(wall.logs.join('\n'), /ends in the future/, 'saved under a faster clock, read on the wall clock')
  })
})
