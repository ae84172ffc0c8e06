/**
 * The SQLite schema of the metadata replica. Bump SCHEMA_VERSION and add a
 * migration in store.ts when it changes.
 */

/** Version of the on-disk schema. */
export const SCHEMA_VERSION = 3

/**
 * The statements that bring a database of schema N to N+1, run in one
 * transaction when a node opens an older database.
 * - 1 → 2: `versions.null_version` (VersionBody.nullVersion, S3's `null`
 *   version). Every version written before was not one, so 0 is right for
 *   every existing row.
 * - 2 → 3: `versions.inline` (1 when the version's object is stored inline in
 *   its record), so the healer, auditor and mover walk only the erasure-coded
 *   versions (index `versions_coded`, SCHEMA_INDEX_SQL) instead of decoding
 *   every record: with a million small inline objects that walk was a
 *   million JSON parses every 30 s. Filled from the records.
 */
export const SCHEMA_MIGRATIONS: Record<number, string> = {
  1: 'ALTER TABLE versions ADD COLUMN null_version INTEGER NOT NULL DEFAULT 0;',
  2: `ALTER TABLE versions ADD COLUMN inline INTEGER NOT NULL DEFAULT 0;
    UPDATE versions SET inline = 1 WHERE version_id IN
      (SELECT pk FROM records WHERE tbl = 'version' AND tombstone = 0 AND json_extract(body, '$.manifest.inline') IS NOT NULL);`
}

/**
 * Indexes on columns that a migration adds, created once the schema is
 * current (SCHEMA_SQL runs before the migrations, when an old table may lack
 * the column). `versions_coded` is partial: only live erasure-coded object
 * versions, the ones background scans visit.
 */
export const SCHEMA_INDEX_SQL = `
CREATE INDEX IF NOT EXISTS versions_coded ON versions(version_id) WHERE inline = 0 AND delete_marker = 0;
`

/**
 * Idempotent DDL. `shard_owners` is local (never replicated): for every
 * shard this node holds, the object versions it was written for, the node
 * that wrote it and when (what the shard collector, src/heal/collector.ts,
 * decides on). `local_state` is local too: small named values this node
 * keeps for itself across restarts (its own presence history, whose last
 * tick tells how long it was away). Both are created if missing, so an
 * existing database needs no migration. `part_versions` is a projection
 * like `versions`: for every live version of manifest form `parts`, the owner
 * ids of its part shards (Manifest.upload), so the collector can tell a
 * completed upload's parts are live; it is new with multipart upload, and no
 * older replica holds such versions, so it too needs no migration. The `availability` table of
 * earlier versions (what each node saw of the others) is dropped: every
 * node now measures and publishes its own history (NodeBody.presence).
 * `versions_by_key_newest` (keys ascending, versions newest first: S3's
 * ListObjectVersions order) is an index, also created if missing.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
  tbl TEXT NOT NULL,
  pk TEXT NOT NULL,
  hlc TEXT NOT NULL,
  origin TEXT NOT NULL,
  tombstone INTEGER NOT NULL,
  body TEXT NOT NULL,
  leaf INTEGER NOT NULL,
  PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
-- Covers what anti-entropy reads of a leaf (its summaries), so a leaf's rows
-- come from the index alone, not a seek into the table per record: 1.3
-- against 7.7 µs a record at a million (docs/PERFORMANCE.md). It replaced
-- records_by_leaf(leaf), dropped here; an index needs no schema version,
-- so a node can still go back to the release before (which creates its
-- own index again). Built in ~3 s at a million records.
CREATE INDEX IF NOT EXISTS records_by_leaf_summary ON records(leaf, hlc, origin, tombstone);
DROP INDEX IF EXISTS records_by_leaf;
CREATE TABLE IF NOT EXISTS merkle (
  leaf INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  version_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  size INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  node TEXT NOT NULL,
  node_name TEXT NOT NULL,
  delete_marker INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  null_version INTEGER NOT NULL DEFAULT 0,
  inline INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS versions_by_key ON versions(bucket, key, version_id);
CREATE INDEX IF NOT EXISTS versions_by_key_newest ON versions(bucket, key, version_id DESC);
CREATE TABLE IF NOT EXISTS current (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  version_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  delete_marker INTEGER NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shard_owners (
  hash TEXT NOT NULL,
  version_id TEXT NOT NULL,
  writer TEXT NOT NULL,
  stored_ms INTEGER NOT NULL,
  PRIMARY KEY (hash, version_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS part_versions (
  part_id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  PRIMARY KEY (part_id, version_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS part_versions_by_version ON part_versions(version_id);
CREATE TABLE IF NOT EXISTS local_state (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
DROP TABLE IF EXISTS availability;
`
