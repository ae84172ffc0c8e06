/**
 * Tests of the chaos harness's judgements (pure parts of chaos/ledger.ts and
 * chaos/verify.ts): which reads are losses, and when the cluster counts as
 * whole.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { judgeRead, Ledger } from '../../chaos/ledger.ts'
import { healReasons } from '../../chaos/verify.ts'
import type { StatusDocument } from '../../chaos/local-cluster.ts'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const C = 'c'.repeat(64)

function ledger (): Ledger {
  const l = new Ledger()
  l.ack({ key: 'k', id: 'v1', sha256: A, size: 10, deleteMarker: false, ackedMs: 1 })
  l.ack({ key: 'k', id: 'v2', sha256: B, size: 20, deleteMarker: false, ackedMs: 2 })
  l.unacked('k', C)
  return l
}

test('a read of the written bytes is ok; an older version is stale, not lost', () => {
  // Goal: replicas that lag behind are not reported as data loss.
  const l = ledger()
  assert.deepEqual(judgeRead(l.get('k'), { version: 'v2', claimedSha256: B, sha256: B, size: 20 }), { kind: 'ok' })
  assert.deepEqual(judgeRead(l.get('k'), { version: 'v1', claimedSha256: A, sha256: A, size: 10 }), { kind: 'stale' })
  assert.deepEqual(judgeRead(l.get('k'), { version: 'v1', claimedSha256: A, sha256: A, size: 10 }, 'v1'), { kind: 'ok' })
  // A put that failed may still have been committed: its bytes are not a loss.
  assert.deepEqual(judgeRead(l.get('k'), { version: 'v3', claimedSha256: C, sha256: C, size: 5 }), { kind: 'stale' })
})

test('wrong bytes are always a loss', () => {
  // Goal: every way a read can return bytes that were not written is caught.
  const l = ledger()
  assert.equal(judgeRead(l.get('k'), { version: 'v2', claimedSha256: B, sha256: A, size: 20 }).kind, 'wrong')
  assert.equal(judgeRead(l.get('k'), { version: 'v2', claimedSha256: A, sha256: A, size: 10 }).kind, 'wrong')
  assert.equal(judgeRead(l.get('k'), { version: 'v1', claimedSha256: A, sha256: A, size: 10 }, 'v2').kind, 'wrong')
  assert.equal(judgeRead(l.get('k'), { version: 'v9', claimedSha256: A, sha256: A, size: 10 }).kind, 'wrong')
  assert.equal(judgeRead(undefined, { version: 'v1', claimedSha256: A, sha256: A, size: 10 }).kind, 'wrong')
})

function status (fields: Partial<StatusDocument> & { states?: Record<string, string> }, ids: string[]): StatusDocument {
  return {
    node: { name: 'node-1', id: ids[0] as string },
    nodes: [...ids, 'dead-id'].map((id, i) => ({ name: `node-${i + 1}`, id, online: id !== 'dead-id', self: i === 0, ...(fields.states === undefined ? {} : { state: fields.states[id] as string }) })),
    online: ids.length,
    store: { usedBytes: 0, quotaBytes: 1 },
    collection: { orphanBytes: 0, pendingBytes: 0, lastScanMs: 100, lastError: '' },
    ...(fields.objects === undefined ? {} : { objects: fields.objects })
  }
}

test('the cluster is whole only when every condition holds; missing fields are permanent reasons', () => {
  // Goal: the end check fails clearly (not by timing out) while the healer's status fields are missing, and passes once they say so.
  const ids = ['n1', 'n2']
  const cluster = { slots: ids.map((id, index) => ({ index, name: `node-${index + 1}`, dir: '', id, state: 'up' as const, child: undefined, api: undefined })), replaced: [{ id: 'dead-id', name: 'node-3' }] }
  const today = healReasons(cluster, [status({}, ids), status({}, ids)], 50)
  assert.ok(today.length > 0 && today.every((r) => r.permanent), JSON.stringify(today))
  const states = { n1: 'online', n2: 'online', 'dead-id': 'dead' }
  const whole = status({ states, objects: { total: 5, healthy: 5, degraded: 0, unavailable: 0 } }, ids)
  assert.deepEqual(healReasons(cluster, [whole, whole], 50), [])
  const degraded = status({ states, objects: { total: 5, healthy: 4, degraded: 1, unavailable: 0 } }, ids)
  assert.equal(healReasons(cluster, [whole, degraded], 50).filter((r) => !r.permanent).length, 1)
  const notDead = status({ states: { ...states, 'dead-id': 'suspect' }, objects: { total: 5, healthy: 5, degraded: 0, unavailable: 0 } }, ids)
  assert.equal(healReasons(cluster, [notDead, whole], 50).length, 1)
  // A collector scan from before the end phase does not count.
  assert.equal(healReasons(cluster, [whole, whole], 200).length, 2)
})
