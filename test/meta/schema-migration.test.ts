/**
 * Goal: a node whose metadata database was written by the previous Cairn
 * (schema 1, before S3 null versions) opens it without losing a record:
 * the migration adds `versions.null_version` (0 for every existing
 * version), and new null versions are projected and listed as such.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, describe, it } from 'node:test'
import { SCHEMA_VERSION } from '../../src/meta/schema.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { MetaRecord, VersionBody } from '../../src/meta/types.ts'

const SCHEMA_1_VERSIONS = `CREATE TABLE versions (version_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
  time_ms INTEGER NOT NULL, node TEXT NOT NULL, node_name TEXT NOT NULL, delete_marker INTEGER NOT NULL, sha256 TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE schema_version (v INTEGER NOT NULL); INSERT INTO schema_version(v) VALUES (1);`

function version (id: string, body: Partial<VersionBody>): MetaRecord {
  return { v: 1, table: 'version', pk: id, hlc: id.slice(0, 17), origin: 'node-a', tombstone: false, body: { bucket: 'b', key: 'k', size: 1, timeMs: 1, nodeName: 'a', deleteMarker: false, sha256: 'x', ...body } }
}

describe('metadata schema migration', () => {
  const dirs: string[] = []
  after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

  it('schema 1 → current: existing versions kept, null versions projected from then on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-migrate-'))
    dirs.push(dir)
    const path = join(dir, 'meta.db')
    const old = new DatabaseSync(path)
    old.exec(SCHEMA_1_VERSIONS)
    old.prepare('INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run('000000000001-0000-aaaaaaaa', 'b', 'k', 5, 1, 'node-a', 'a', 0, 'x')
    old.close()
    const meta = MetaStore.open(path)
    try {
      assert.deepEqual(meta.versions('b', 'k').map((v) => [v.id, v.nullVersion]), [['000000000001-0000-aaaaaaaa', undefined]])
      meta.apply([version('000000000002-0000-aaaaaaaa', { nullVersion: true })])
      assert.deepEqual(meta.versions('b', 'k').map((v) => [v.id, v.nullVersion === true]), [['000000000002-0000-aaaaaaaa', true], ['000000000001-0000-aaaaaaaa', false]])
    } finally {
      meta.close()
    }
    const check = new DatabaseSync(path)
    assert.equal((check.prepare('SELECT v FROM schema_version').get() as { v: number }).v, SCHEMA_VERSION)
    check.close()
    // Opening again is a no-op.
    MetaStore.open(path).close()
  })

  it('replaces the index of records by leaf with one that covers a leaf\'s summaries, and the records read from it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-migrate-'))
    dirs.push(dir)
    const path = join(dir, 'meta.db')
    const first = MetaStore.open(path)
    first.apply([version('000000000003-0000-aaaaaaaa', {})])
    first.close()
    // The index the release before created.
    const old = new DatabaseSync(path)
    old.exec('DROP INDEX records_by_leaf_summary; CREATE INDEX records_by_leaf ON records(leaf);')
    old.close()
    const meta = MetaStore.open(path)
    try {
      assert.equal(meta.summaries([...Array(4096).keys()]).length, 1)
    } finally {
      meta.close()
    }
    const check = new DatabaseSync(path)
    const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'").all() as Array<{ name: string }>).map((r) => r.name)
    assert.deepEqual(indexes, ['records_by_leaf_summary'])
    const plan = (check.prepare('EXPLAIN QUERY PLAN SELECT tbl, pk, hlc, origin, tombstone FROM records WHERE leaf = ?').all(1) as Array<{ detail: string }>).map((r) => r.detail).join(' ')
    assert.match(plan, /COVERING INDEX records_by_leaf_summary/)
    check.close()
  })
})
