/**
 * Goal: a node whose wall clock was set back while it was down still stamps
 * its new writes after every timestamp it has persisted, so its new versions
 * of a key sort after (win over) its old ones; and a peer's clock offset is
 * measured from the most precise recent round trip.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HybridClock, hlcWallMs } from '../../src/util/hlc.ts'
import { MetaStore } from '../../src/meta/store.ts'
import { ClockOffsets, seedClock } from '../../src/daemon/clock.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

const HOUR_MS = 3_600_000
const DAY_MS = 86_400_000

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

describe('clock offsets', () => {
  it('reports the offset of the lowest-round-trip sample, and drops samples from before a clock step', () => {
    const offsets = new ClockOffsets()
    assert.equal(offsets.offsetMs('p', 10_000), undefined)
    offsets.add('p', 1000, 1000 + 40 + 500, 1080) // rtt 80, offset 500
    offsets.add('p', 2000, 2000 + 5 + 520, 2010) // rtt 10, offset 520
    offsets.add('p', 3000, 3000 + 100 + 300, 3200) // rtt 200, offset 300
    assert.equal(offsets.offsetMs('p', 3200), 520)
    offsets.add('p', 4000, 4000 + 5 + DAY_MS, 4010) // the peer's clock jumped a day ahead
    assert.equal(offsets.offsetMs('p', 4010), DAY_MS)
    offsets.forget('p')
    assert.equal(offsets.offsetMs('p', 4010), undefined)
  })
})
