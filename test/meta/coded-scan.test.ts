/**
 * Goal: background scans (healer, auditor, mover) visit only erasure-coded
 * live versions, through the `versions.inline` projection, and count the
 * inline ones without reading them; a replica of schema 2 is migrated with
 * the column filled from its records; the largest HLC survives a reopen
 * without a scan of every record.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, it } from 'node:test'
import { MetaStore } from '../../src/meta/store.ts'
import type { Manifest, MetaRecord, VersionBody } from '../../src/meta/types.ts'

const CODED: Manifest = { k: 2, m: 1, stripeSizeBytes: 4194304, wrappedKey: 'x', nonceBase: 'AAAAAAAAAAA=', stripes: [{ cipherBytes: 32, shardSizeBytes: 16, shards: [{ hash: 'a'.repeat(64), nodes: ['n1'] }] }] }
const INLINE: Manifest = { ...CODED, stripes: [], inline: 'AAAA' }

function version (n: number, manifest: Manifest | undefined, deleteMarker = false): MetaRecord {
  const hlc = `0000000000${String(n).padStart(2, '0')}-0000`
  const body: VersionBody = { bucket: 'bkt', key: `k${n}`, size: 1, timeMs: 1, nodeName: 'a', deleteMarker, sha256: 'x', ...(manifest === undefined ? {} : { manifest }) }
  return { v: 1, table: 'version', pk: `${hlc}-aaaaaaaa`, hlc, origin: 'n1', tombstone: false, body }
}

describe('coded-version scans', () => {
  const dirs: string[] = []
  after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

  it('pages through coded versions only and counts inline ones', () => {
    const meta = MetaStore.open(':memory:')
    const records = [version(1, CODED), version(2, INLINE), version(3, CODED), version(4, undefined, true), version(5, INLINE), version(6, CODED)]
    meta.apply(records)
    assert.deepEqual([...meta.codedVersionsPaged(2)].map((r) => r.pk), [records[0], records[2], records[5]].map((r) => r?.pk))
    assert.equal(meta.inlineVersionCount(), 2)
    meta.apply([{ ...(records[2] as MetaRecord), hlc: '000000000099-0000', tombstone: true }])
    assert.deepEqual([...meta.codedVersionsPaged()].map((r) => r.pk), [records[0], records[5]].map((r) => r?.pk))
    assert.equal(meta.maxHlc(), '000000000099-0000')
  })

  it('migrates a schema-2 replica (inline column filled from the records) and keeps the largest HLC across a reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-coded-'))
    dirs.push(dir)
    const path = join(dir, 'meta.db')
    const first = MetaStore.open(path)
    first.apply([version(1, CODED), version(2, INLINE)])
    first.close()
    // Make it a schema-2 replica: no inline column, no index, no kept max HLC.
    const db = new DatabaseSync(path)
    db.exec(`DROP INDEX versions_coded; ALTER TABLE versions DROP COLUMN inline; UPDATE schema_version SET v = 2; DELETE FROM local_state WHERE name = 'max-hlc';`)
    db.close()
    const meta = MetaStore.open(path)
    assert.deepEqual([...meta.codedVersionsPaged()].map((r) => (r.body as VersionBody).key), ['k1'])
    assert.equal(meta.inlineVersionCount(), 1)
    assert.equal(meta.maxHlc(), '000000000002-0000')
    meta.close()
  })
})
