/**
 * Goal: retention removes exactly the non-current versions beyond the newest
 * N or older than D days, and never the current version; and a key keeps
 * at most one S3 `null` version (the newest), with or without a policy,
 * while versions from Enabled periods stay.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DAY_MS, expiredVersions } from '../../src/engine/retention.ts'
import type { VersionInfo } from '../../src/meta/types.ts'

const now = 100 * DAY_MS
function v (id: string, ageDays: number, deleteMarker = false): VersionInfo {
  return { id, bucket: 'b', key: 'k', size: 1, timeMs: now - ageDays * DAY_MS, node: 'n', nodeName: 'n', deleteMarker, current: false, sha256: '' }
}

describe('expiredVersions', () => {
  const versions = [v('v5', 0, true), v('v4', 1), v('v3', 5), v('v2', 10), v('v1', 40)]
  it('keeps everything without a policy', () => {
    assert.deepEqual(expiredVersions(versions, undefined, now), [])
    assert.deepEqual(expiredVersions(versions, {}, now), [])
  })
  it('keeps the newest N versions, delete markers counted', () => {
    assert.deepEqual(expiredVersions(versions, { keepVersions: 2 }, now), ['v3', 'v2', 'v1'])
    assert.deepEqual(expiredVersions(versions, { keepVersions: 1 }, now), ['v4', 'v3', 'v2', 'v1'])
  })
  it('drops non-current versions older than D days', () => {
    assert.deepEqual(expiredVersions(versions, { keepDays: 7 }, now), ['v2', 'v1'])
  })
  it('never drops the current version, however old', () => {
    assert.deepEqual(expiredVersions([v('only', 400)], { keepDays: 1, keepVersions: 1 }, now), [])
  })
  it('applies both limits together', () => {
    assert.deepEqual(expiredVersions(versions, { keepVersions: 4, keepDays: 7 }, now), ['v2', 'v1'])
  })
  it('keeps only the newest null version, whatever the policy, and never a non-null one for it', () => {
    const nul = (id: string, ageDays: number, deleteMarker = false): VersionInfo => ({ ...v(id, ageDays, deleteMarker), nullVersion: true })
    const mixed = [nul('n3', 0), v('e2', 1), nul('n1', 2, true), v('e0', 3), nul('n0', 4)]
    assert.deepEqual(expiredVersions(mixed, undefined, now), ['n1', 'n0'])
    assert.deepEqual(expiredVersions(mixed, { keepVersions: 2 }, now), ['n1', 'e0', 'n0'])
    // The current version is kept even when an older null version is the newest null one.
    assert.deepEqual(expiredVersions([v('e1', 0), nul('n1', 1), nul('n0', 2)], undefined, now), ['n0'])
  })
})
