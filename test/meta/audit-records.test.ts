// Goal: audit records are validated on arrival, and the sums every node
// shows count only what each auditor wrote about its own audits: a record
// whose origin is not the auditor its key names, or a tombstone, counts
// nothing; failures and failed shards add up over auditors.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { auditPk, auditRecordProblem, failedShards, parseAuditPk, tallyAudits } from '../../src/meta/audit-records.ts'
import { parseRecord } from '../../src/meta/codec.ts'
import type { MetaRecord } from '../../src/meta/types.ts'

const H1 = 'a'.repeat(64)
const H2 = 'b'.repeat(64)
const rec = (auditor: string, subject: string, body: Record<string, unknown>, origin = auditor, tombstone = false): MetaRecord =>
  ({ v: 1, table: 'audit', pk: auditPk(auditor, subject), hlc: '000000000001-0000', origin, tombstone, body: body as never })

describe('audit records', () => {
  it('keys and bodies are validated', () => {
    assert.deepEqual(parseAuditPk('x/y'), { auditor: 'x', subject: 'y' })
    assert.equal(parseAuditPk('x'), undefined)
    assert.equal(parseAuditPk('x/y/z'), undefined)
    assert.equal(auditRecordProblem('x/y', { audits: 2, failures: 1, failed: { [H1]: 'v1' }, updatedMs: 1 }), undefined)
    assert.match(auditRecordProblem('x/y', { audits: 1, failures: 2, failed: {}, updatedMs: 1 }) ?? '', /counts/)
    assert.match(auditRecordProblem('x/y', { audits: 1, failures: 0, failed: { nothex: 'v' }, updatedMs: 1 }) ?? '', /entry/)
    assert.throws(() => parseRecord(rec('x', 'y', { audits: -1, failures: 0, failed: {}, updatedMs: 0 })), /invalid metadata record/)
    assert.equal(parseRecord(rec('x', 'y', { audits: 1, failures: 0, failed: {}, updatedMs: 0 })).table, 'audit')
  })

  it('sums over auditors, ignoring records not written by their auditor and tombstones', () => {
    const records = [
      rec('a', 'liar', { audits: 5, failures: 5, failed: { [H1]: 'v1' }, updatedMs: 1 }),
      rec('b', 'liar', { audits: 3, failures: 2, failed: { [H2]: 'v2' }, updatedMs: 1 }),
      rec('a', 'honest', { audits: 7, failures: 0, failed: {}, updatedMs: 1 }),
      // Written by someone else in a's name: ignored.
      rec('a', 'honest', { audits: 9, failures: 9, failed: { [H1]: 'v1' }, updatedMs: 1 }, 'mallory'),
      rec('c', 'honest', { audits: 4, failures: 4, failed: { [H1]: 'v1' }, updatedMs: 1 }, 'c', true)
    ]
    const tally = tallyAudits(records)
    assert.deepEqual(tally.get('liar'), { audits: 8, failures: 7 })
    assert.deepEqual(tally.get('honest'), { audits: 7, failures: 0 })
    const failed = failedShards(records)
    assert.deepEqual([...(failed.get('liar') ?? [])].sort(), [H1, H2])
    assert.equal(failed.get('honest'), undefined)
  })
})
