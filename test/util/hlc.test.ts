/**
 * Goal: a node whose wall clock was set back while it was down still stamps
 * its new writes after every timestamp it has persisted, so its new versions
 * of a key sort after (win over) its old ones.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HybridClock, hlcWallMs } from '../../src/util/hlc.ts'
import { MetaStore } from '../../src/meta/store.ts'
import { seedClock } from '../../src/daemon/clock.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

const HOUR_MS = 3_600_000

function versionRecord (hlc: string, key: string): MetaRecord {
  return { v: 1, table: 'version', pk: `${hlc}-A`, hlc, origin: 'A', tombstone: false, body: { bucket: 'data', key, size: 1, timeMs: 1, nodeName: 'a', deleteMarker: false, sha256: '' } }
}

describe('HLC seeding', () => {
  it('a clock seeded from the store issues timestamps after every persisted one, with the wall clock an hour behind', () => {
    const realMs = Date.now()
    const before = new HybridClock(() => realMs)
    const meta = MetaStore.open(':memory:')
    const old = [before.now(), before.now(), before.now()]
    meta.apply(old.map((hlc) => versionRecord(hlc, 'k')))
    assert.equal(meta.maxHlc(), old[2])

    // Restart with the wall clock set back an hour.
    const after = new HybridClock(() => realMs - HOUR_MS)
    const warning = seedClock(after, meta, realMs - HOUR_MS)
    assert.match(warning ?? '', /behind the newest timestamp/)
    const fresh = after.now()
    assert.ok(fresh > (old[2] as string), `${fresh} must sort after ${old[2] as string}`)
    meta.apply([versionRecord(fresh, 'k')])
    assert.equal(meta.currentVersion('data', 'k'), `${fresh}-A`, 'the new write is the current version')
    meta.close()
  })

  it('an empty store leaves the clock on wall time; seeding never moves a clock back', () => {
    const meta = MetaStore.open(':memory:')
    assert.equal(meta.maxHlc(), undefined)
    const clock = new HybridClock(() => 5_000)
    assert.equal(seedClock(clock, meta, 5_000), undefined)
    assert.equal(hlcWallMs(clock.now()), 5_000)
    const ahead = clock.now()
    clock.seed('000000000001-0000')
    assert.ok(clock.now() > ahead)
    meta.close()
  })
})
