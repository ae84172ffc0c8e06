/**
 * Goal: cluster settings have one registry that validates every key and
 * value with a clear error, durations read and print as people write them,
 * and the live values follow the replicated `setting` records.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ClusterSettings } from '../../src/cluster/cluster-settings.ts'
import { SETTINGS, parseSetting, resolveSettings } from '../../src/cluster/settings.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { MetaRecord } from '../../src/meta/types.ts'
import { CairnError } from '../../src/util/errors.ts'
import { formatDuration, parseDuration } from '../../src/util/duration.ts'
import { HybridClock } from '../../src/util/hlc.ts'

describe('durations', () => {
  it('parse and format round trip', () => {
    assert.equal(parseDuration('30s'), 30_000)
    assert.equal(parseDuration('5m'), 300_000)
    assert.equal(parseDuration('1h'), 3_600_000)
    assert.equal(parseDuration('2d'), 172_800_000)
    assert.equal(parseDuration('250ms'), 250)
    for (const text of ['30s', '5m', '1h', '2d', '250ms', '90s']) assert.equal(formatDuration(parseDuration(text)), text === '90s' ? '90s' : text)
    assert.equal(formatDuration(120_000), '2m')
  })

  it('rejects what is not a duration', () => {
    for (const bad of ['', '5', 'm', '-1s', '1.5h', '5 minutes', '1y', '99999999999999d']) {
      assert.throws(() => parseDuration(bad), (err: unknown) => err instanceof CairnError && err.code === 'BAD_INPUT', bad)
    }
  })
})

describe('settings registry', () => {
  it('has the keys of issue 8 with their defaults', () => {
    const values = resolveSettings(new Map())
    assert.deepEqual(values, {
      writeQuorum: 1,
      gossipFanout: 3,
      maxClockSkew: 300_000,
      orphanGrace: 3_600_000,
      deadAfter: 72 * 3_600_000,
      happiness: 0,
      inlineMaxBytes: 0,
      target: 0.9999,
      repairThreshold: 0,
      repairRate: 20_000_000,
      scrubShare: 0.1,
      multipartExpiry: 7 * 24 * 3600 * 1000,
      scrubInterval: 7 * 86_400_000,
      auditInterval: 600_000,
      auditMinScore: 0.9,
      auditMinAudits: 10
    })
    assert.ok(Object.values(SETTINGS).every((s) => s.doc.length > 0))
  })

  it('validates values and names the valid keys for an unknown one', () => {
    assert.equal(parseSetting('writeQuorum', '3'), 3)
    assert.equal(parseSetting('maxClockSkew', '30s'), 30_000)
    assert.throws(() => parseSetting('writeQuorum', 'two'), /not a valid integer/)
    assert.throws(() => parseSetting('writeQuorum', '-1'), /not a valid integer/)
    assert.throws(() => parseSetting('orphanGrace', '5'), /not a valid duration/)
    assert.equal(parseSetting('deadAfter', '20s'), 20_000)
    assert.equal(parseSetting('target', '0.99999'), 0.99999)
    assert.throws(() => parseSetting('target', '1'), /not a valid fraction/)
    assert.throws(() => parseSetting('target', '99%'), /not a valid fraction/)
    assert.equal(parseSetting('repairRate', '20MB/s'), 20_000_000)
    assert.equal(parseSetting('repairRate', '512KiB/s'), 512 * 1024)
    assert.throws(() => parseSetting('repairRate', 'fast'), /not a valid rate/)
    assert.throws(() => parseSetting('writeQuorom', '1'), (err: unknown) => err instanceof CairnError && err.code === 'BAD_INPUT' && /writeQuorum, maxClockSkew, orphanGrace/.test(err.hint ?? ''))
  })

  it('follows replicated setting records, cached until invalidated', async () => {
    const meta = MetaStore.open(':memory:')
    const clock = new HybridClock()
    const settings = new ClusterSettings({
      records: () => meta.live('setting'),
      commit: async (records: MetaRecord[]) => { meta.apply(records) },
      now: () => clock.now(),
      selfId: 'self',
      code: { k: 4, m: 2 }
    })
    assert.equal(settings.writeQuorum(), 1)
    assert.equal(settings.happiness(), 5, 'happiness defaults to k+1')
    await assert.rejects(settings.set('happiness', '3'), /outside 4\.\.6/)
    await settings.set('happiness', '6')
    assert.equal(settings.happiness(), 6)
    await settings.set('writeQuorum', '2')
    await settings.set('maxClockSkew', '30s')
    assert.equal(settings.writeQuorum(), 2)
    assert.equal(settings.maxClockSkewMs(), 30_000)
    assert.deepEqual(settings.toJson(), { writeQuorum: 2, gossipFanout: 3, maxClockSkew: '30s', orphanGrace: '1h', deadAfter: '3d', happiness: 6, inlineMaxBytes: 0, target: 0.9999, repairThreshold: 'auto', repairRate: '20MB/s', scrubShare: 0.1, multipartExpiry: '7d', scrubInterval: '7d', auditInterval: '10m', auditMinScore: 0.9, auditMinAudits: 10 })
    // A record from a peer changes the value once the cache is invalidated.
    meta.apply([{ v: 1, table: 'setting', pk: 'orphanGrace', hlc: clock.now(), origin: 'peer', tombstone: false, body: { value: '10s' } }])
    settings.invalidate()
    assert.equal(settings.orphanGraceMs(), 10_000)
    await assert.rejects(settings.set('nope', '1'), /unknown setting/)
    // A malformed setting record from a peer is refused by the codec.
    assert.throws(() => meta.apply([{ v: 1, table: 'setting', pk: 'writeQuorum', hlc: clock.now(), origin: 'peer', tombstone: false, body: { value: 3 } as never }]), /bad setting value/)
    meta.close()
  })
})
