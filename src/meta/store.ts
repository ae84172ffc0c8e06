/**
 * The node's metadata replica in SQLite (`node:sqlite`, WAL).
 *
 * Replicated state lives in one generic table, `records`: each row is a
 * last-writer-wins CRDT register (see crdt.ts). Applying a record keeps the
 * winner of the stored and the incoming record, so applying the same records
 * in any order, any number of times, gives the same state.
 *
 * Local projections are derived from `records` inside the same transaction
 * and are never replicated: `versions` (every live object version) and
 * `current` (the newest version of each key). A Merkle summary, `merkle`,
 * keeps one XOR-of-digests per leaf (4096 leaves by hash of table and pk),
 * updated incrementally, so two replicas find their differences by exchanging
 * hashes instead of tables.
 *
 * Durability: WAL with synchronous=FULL: every committed transaction is
 * fsynced before `apply` returns, so a record this node acknowledged
 * survives a power cut. The replicator's group commit merges concurrent
 * commits into one transaction, so they share one fsync.
 */
import { hash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type { StatementSync } from 'node:sqlite'
import { compareHeads, mergeRecords } from './crdt.ts'
import { parseRecord } from './codec.ts'
import { SCHEMA_INDEX_SQL, SCHEMA_MIGRATIONS, SCHEMA_SQL, SCHEMA_VERSION } from './schema.ts'
import type { MetaRecord, MetaTable, ObjectInfo, PartBody, VersionBody, VersionInfo } from './types.ts'
import { CairnError } from '../util/errors.ts'

/** Number of Merkle leaves (2^12): ~25 records per leaf at 100,000 objects. */
export const MERKLE_LEAF_COUNT = 4096
/** The hash of an empty leaf (shared, never modified). */
const ZERO_LEAF = Buffer.alloc(32)
/** Most objects one list call returns. */
export const MAX_LIST_LIMIT = 10_000
/** `local_state` name of the largest HLC of any stored record (maxHlc). */
const MAX_HLC_STATE = 'max-hlc'
/** Records per page of a scan of the coded versions (codedVersionsPaged): ~1 MB of JSON, one query per page. */
export const LIVE_PAGE_RECORDS = 1000

/**
 * A string above every object key in SQLite's byte order: keys are at most
 * 1024 UTF-8 bytes (engine/names.ts), so 1025 copies of U+10FFFF (the
 * largest UTF-8 sequence, F4 8F BF BF) sort after any of them.
 */
const KEY_ABOVE_ALL = '\u{10FFFF}'.repeat(1025)

/**
 * The smallest string above every string that starts with `prefix` (the
 * prefix with its last code point incremented), or undefined when there is
 * none ('' or only U+10FFFF). UTF-8 byte order is code point order, the order
 * SQLite compares TEXT in, so `key >= prefix AND key < prefixEnd(prefix)` is
 * exactly the keys that start with `prefix`, as an index range.
 *
 * @example
 * prefixEnd('dept-07/') // 'dept-070'
 */
export function prefixEnd (prefix: string): string | undefined {
  const points = [...prefix]
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number
    if (last === 0x10FFFF) continue
    const next = last === 0xD7FF ? 0xE000 : last + 1
    return points.join('') + String.fromCodePoint(next)
  }
  return undefined
}

/**
 * Length of `text` in characters (code points), what SQLite's substr()
 * counts; JavaScript's length counts UTF-16 units, two for a character
 * beyond U+FFFF (an emoji), which made a prefix ending in one match nothing.
 */
function characters (text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}

/** One version a locally held shard was written for. */
export interface ShardOwner { versionId: string, writer: string, storedMs: number }

/** What a replica knows of an object version. */
export type VersionState = 'live' | 'tombstone' | 'unknown'

/** A record's identity and clock, what anti-entropy compares per leaf. */
export interface RecordSummary { table: MetaTable, pk: string, hlc: string, origin: string, tombstone: boolean }

/**
 * Sub-leaves per Merkle leaf (2^6), the level anti-entropy compares below a
 * differing leaf before it asks for record summaries: at a million records a
 * leaf holds ~244 of them, a sub-leaf ~4. Their hashes are not stored; a
 * replica computes them from the leaf's rows when asked.
 */
export const MERKLE_SUB_LEAVES = 64

/** The Merkle leaf of a (table, pk): the first 12 bits of the SHA-256 of both. */
export function leafOf (table: string, pk: string): number {
  return hash('sha256', `${table}\u0000${pk}`, 'buffer').readUInt16BE(0) >> 4
}

/**
 * The sub-leaf of a (table, pk) within its leaf: the top 6 bits of a 32-bit
 * FNV-1a over the UTF-16 code units of table, NUL, key (every replica must
 * compute the same; a spread, not a security property: a
 * sub-leaf's hash is still the XOR of its records' SHA-256 digests). FNV
 * instead of a second SHA-256, because a leaf's sub-leaves are computed when
 * asked for: ~0.1 against ~3 µs per record (docs/PERFORMANCE.md).
 */
export function subLeafOf (table: string, pk: string): number {
  let h = 0x811c9dc5
  for (const text of [table, '\u0000', pk]) {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  }
  return h >>> 26
}

/** One Merkle leaf split into its sub-leaves: each one's hash (XOR of its records' digests) and record summaries. */
export interface LeafParts { hashes: Buffer[], summaries: RecordSummary[][] }

function digestOf (r: RecordSummary): Buffer {
  return hash('sha256', `${r.table}\u0000${r.pk}\u0000${r.hlc}\u0000${r.origin}\u0000${r.tombstone ? 1 : 0}`, 'buffer')
}

function xorInto (target: Buffer, other: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) ^ (other[i] as number)
}

interface RecordRow { tbl: string, pk: string, hlc: string, origin: string, tombstone: number, body: string }

const VERSION_COLUMNS = 'v.version_id, v.key, v.size, v.time_ms, v.node, v.node_name, v.delete_marker, v.sha256, v.null_version'

interface VersionRow { version_id: string, key: string, size: number, time_ms: number, node: string, node_name: string, delete_marker: number, sha256: string, null_version: number | null, etag?: string | null }

function versionInfo (bucket: string, r: VersionRow, current: boolean): VersionInfo {
  return { id: r.version_id, bucket, key: r.key, size: r.size, timeMs: r.time_ms, node: r.node, nodeName: r.node_name, deleteMarker: r.delete_marker === 1, current, sha256: r.sha256, ...(r.null_version === 1 ? { nullVersion: true } : {}) }
}

/** Bring a database of schema `from` to SCHEMA_VERSION in one transaction (nothing changes if a step fails). */
function migrate (db: DatabaseSync, from: number): void {
  db.exec('BEGIN IMMEDIATE')
  try {
    for (let v = from; v < SCHEMA_VERSION; v++) {
      const sql = SCHEMA_MIGRATIONS[v]
      if (sql === undefined) throw new Error(`no migration from schema ${v}`)
      db.exec(sql)
    }
    db.prepare('UPDATE schema_version SET v = ?').run(SCHEMA_VERSION)
    db.exec('COMMIT')
  } catch (err) {
    db.exec('ROLLBACK')
    throw new CairnError('CONFIG', `cannot migrate the metadata database from schema ${from} to ${SCHEMA_VERSION}: ${(err as Error).message}`, 'nothing was changed; check the disk, or report this with the node log')
  }
}

function rowToRecord (row: RecordRow): MetaRecord {
  return { v: 1, table: row.tbl as MetaTable, pk: row.pk, hlc: row.hlc, origin: row.origin, tombstone: row.tombstone === 1, body: JSON.parse(row.body) }
}

/**
 * A node's metadata replica.
 *
 * @example
 * const meta = MetaStore.open('/data/node-1/meta.db')
 * meta.apply([record]); meta.list('photos', '', 100)
 */
export class MetaStore {
  private readonly db: DatabaseSync
  private readonly statements = new Map<string, StatementSync>()

  private constructor (db: DatabaseSync) {
    this.db = db
  }

  /** Open (creating if needed) the replica at `path`. */
  static open (path: string): MetaStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    let db: DatabaseSync
    try {
      db = new DatabaseSync(path)
      db.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=OFF;')
      db.exec(SCHEMA_SQL)
    } catch (err) {
      throw new CairnError('CONFIG', `cannot open metadata database ${path}: ${(err as Error).message}`, 'check the data directory is writable and not used by another Cairn process')
    }
    const row = db.prepare('SELECT v FROM schema_version').get() as { v: number } | undefined
    if (row === undefined) db.prepare('INSERT INTO schema_version(v) VALUES (?)').run(SCHEMA_VERSION)
    else if (row.v < SCHEMA_VERSION && row.v >= 1) migrate(db, row.v)
    else if (row.v !== SCHEMA_VERSION) throw new CairnError('CONFIG', `metadata database ${path} has schema ${row.v}, this Cairn expects ${SCHEMA_VERSION}`, 'upgrade Cairn on this node')
    db.exec(SCHEMA_INDEX_SQL)
    return new MetaStore(db)
  }

  close (): void {
    this.db.close()
  }

  private stmt (sql: string): StatementSync {
    let s = this.statements.get(sql)
    if (s === undefined) {
      s = this.db.prepare(sql)
      this.statements.set(sql, s)
    }
    return s
  }

  /**
   * Merge `records` into the replica in one transaction. Returns the records
   * that changed this replica (the ones worth forwarding to peers).
   */
  apply (records: readonly MetaRecord[]): MetaRecord[] {
    const changed: MetaRecord[] = []
    this.db.exec('BEGIN IMMEDIATE')
    try {
      let newest = ''
      for (const incoming of records) {
        const record = parseRecord(incoming)
        if (this.applyOne(record)) {
          changed.push(record)
          if (record.hlc > newest) newest = record.hlc
        }
      }
      if (newest !== '' && newest > (this.maxHlc() ?? '')) this.setLocalState(MAX_HLC_STATE, newest)
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      this.#maxHlc = undefined // read again from the replica: the transaction's value was rolled back
      throw err
    }
    return changed
  }

  private applyOne (record: MetaRecord): boolean {
    const row = this.stmt('SELECT hlc, origin, tombstone, body FROM records WHERE tbl = ? AND pk = ?').get(record.table, record.pk) as Omit<RecordRow, 'tbl' | 'pk'> | undefined
    const existing = row === undefined ? undefined : { table: record.table, pk: record.pk, hlc: row.hlc, origin: row.origin, tombstone: row.tombstone === 1 }
    let bodyText: string | undefined
    if (existing !== undefined) {
      // The heads order almost every pair; the body (an inline object's
      // ciphertext, kilobytes) is parsed only when they tie (mergeRecords'
      // order, unchanged), and a copy of the stored record — gossip brings
      // one to a node more than once — ties with the same text.
      const head = compareHeads(existing, record)
      if (head > 0) return false
      if (head === 0) {
        bodyText = JSON.stringify(record.body)
        if (bodyText === row?.body || mergeRecords(rowToRecord({ ...(row as RecordRow), tbl: record.table, pk: record.pk }), record) !== record) return false
      }
    }
    const leaf = leafOf(record.table, record.pk)
    const digest = digestOf(record)
    if (existing !== undefined) xorInto(digest, digestOf(existing))
    this.stmt(`INSERT INTO records(tbl, pk, hlc, origin, tombstone, body, leaf) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT(tbl, pk) DO UPDATE SET hlc=excluded.hlc, origin=excluded.origin, tombstone=excluded.tombstone, body=excluded.body`)
      .run(record.table, record.pk, record.hlc, record.origin, record.tombstone ? 1 : 0, bodyText ?? JSON.stringify(record.body), leaf)
    this.#merkle = undefined
    const old = this.stmt('SELECT hash FROM merkle WHERE leaf = ?').get(leaf) as { hash: Uint8Array } | undefined
    if (old !== undefined) xorInto(digest, Buffer.from(old.hash))
    this.stmt('INSERT INTO merkle(leaf, hash, count) VALUES (?, ?, 1) ON CONFLICT(leaf) DO UPDATE SET hash = excluded.hash, count = count + ?')
      .run(leaf, digest, existing === undefined ? 1 : 0)
    if (record.table === 'version') this.projectVersion(record)
    return true
  }

  private projectVersion (record: MetaRecord): void {
    const body = record.body as VersionBody
    this.stmt('DELETE FROM part_versions WHERE version_id = ?').run(record.pk)
    if (record.tombstone) {
      this.stmt('DELETE FROM versions WHERE version_id = ?').run(record.pk)
    } else {
      const owners = body.manifest?.upload
      if (owners !== undefined) {
        for (const partKey of owners.partKeys) this.stmt('INSERT OR IGNORE INTO part_versions(part_id, version_id) VALUES (?, ?)').run(`${owners.uploadId}/${partKey}`, record.pk)
      }
      this.stmt(`INSERT OR REPLACE INTO versions(version_id, bucket, key, size, time_ms, node, node_name, delete_marker, sha256, null_version, inline)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(record.pk, body.bucket, body.key, body.size, body.timeMs, record.origin, body.nodeName, body.deleteMarker ? 1 : 0, body.sha256, body.nullVersion === true ? 1 : 0, body.manifest?.inline === undefined ? 0 : 1)
    }
    const newest = this.stmt('SELECT version_id, size, time_ms, delete_marker FROM versions WHERE bucket = ? AND key = ? ORDER BY version_id DESC LIMIT 1')
      .get(body.bucket, body.key) as { version_id: string, size: number, time_ms: number, delete_marker: number } | undefined
    if (newest === undefined) {
      this.stmt('DELETE FROM current WHERE bucket = ? AND key = ?').run(body.bucket, body.key)
    } else {
      this.stmt('INSERT OR REPLACE INTO current(bucket, key, version_id, size, time_ms, delete_marker) VALUES (?, ?, ?, ?, ?, ?)')
        .run(body.bucket, body.key, newest.version_id, newest.size, newest.time_ms, newest.delete_marker)
    }
  }

  /** The stored record for (table, pk), tombstones included. */
  get (table: MetaTable, pk: string): MetaRecord | undefined {
    const row = this.stmt('SELECT tbl, pk, hlc, origin, tombstone, body FROM records WHERE tbl = ? AND pk = ?').get(table, pk) as RecordRow | undefined
    return row === undefined ? undefined : rowToRecord(row)
  }

  /** Live records of a table (no tombstones). */
  live (table: MetaTable): MetaRecord[] {
    return (this.stmt('SELECT tbl, pk, hlc, origin, tombstone, body FROM records WHERE tbl = ? AND tombstone = 0 ORDER BY pk').all(table) as unknown as RecordRow[]).map(rowToRecord)
  }

  /** Every version of a key, newest first, delete markers included. */
  versions (bucket: string, key: string): VersionInfo[] {
    const rows = this.stmt(`SELECT ${VERSION_COLUMNS} FROM versions v WHERE v.bucket = ? AND v.key = ? ORDER BY v.version_id DESC`).all(bucket, key) as unknown as VersionRow[]
    return rows.map((r, i) => versionInfo(bucket, r, i === 0))
  }

  /**
   * One page of every version in a bucket under `prefix`: keys in byte
   * order, each key's versions newest first (S3's ListObjectVersions
   * order), starting after key `afterKey` — or, with `afterVersionId`, after
   * that version of `afterKey`. `current` marks each key's newest version.
   */
  versionPage (bucket: string, prefix: string, limit: number, afterKey = '', afterVersionId?: string): Array<VersionInfo & { etag?: string }> {
    const cap = Math.max(1, Math.min(limit, MAX_LIST_LIMIT))
    const out: Array<VersionInfo & { etag?: string }> = []
    const add = (rows: VersionRow[]): void => {
      for (const r of rows) {
        const newest = this.currentVersion(bucket, r.key) === r.version_id
        out.push({ ...versionInfo(bucket, r, newest), ...(r.etag === null ? {} : { etag: r.etag }) })
      }
    }
    if (afterVersionId !== undefined && afterKey.startsWith(prefix)) {
      add(this.stmt(`SELECT ${VERSION_COLUMNS}, json_extract(r.body, '$.meta.etag') AS etag FROM versions v JOIN records r ON r.tbl = 'version' AND r.pk = v.version_id
        WHERE v.bucket = ? AND v.key = ? AND v.version_id < ? ORDER BY v.version_id DESC LIMIT ?`).all(bucket, afterKey, afterVersionId, cap) as unknown as VersionRow[])
    }
    if (out.length >= cap) return out
    // Compared as UTF-8 bytes, the order SQLite sorts keys in.
    const beforePrefix = Buffer.compare(Buffer.from(afterKey), Buffer.from(prefix)) < 0
    const from = beforePrefix ? prefix : afterKey
    const inclusive = beforePrefix ? '>=' : '>'
    add(this.stmt(`SELECT ${VERSION_COLUMNS}, json_extract(r.body, '$.meta.etag') AS etag FROM versions v JOIN records r ON r.tbl = 'version' AND r.pk = v.version_id
      WHERE v.bucket = ? AND v.key ${inclusive} ? AND v.key < ? AND substr(v.key, 1, ?) = ? ORDER BY v.key, v.version_id DESC LIMIT ?`)
      .all(bucket, from, prefixEnd(prefix) ?? KEY_ABOVE_ALL, characters(prefix), prefix, cap - out.length) as unknown as VersionRow[])
    return out
  }

  /** The newest version of a key and whether it is a delete marker, or undefined when none exists. */
  currentEntry (bucket: string, key: string): { versionId: string, deleteMarker: boolean } | undefined {
    const row = this.stmt('SELECT version_id, delete_marker FROM current WHERE bucket = ? AND key = ?').get(bucket, key) as { version_id: string, delete_marker: number } | undefined
    return row === undefined ? undefined : { versionId: row.version_id, deleteMarker: row.delete_marker === 1 }
  }

  /** The newest version of a key, or undefined when none exists. */
  currentVersion (bucket: string, key: string): string | undefined {
    const row = this.stmt('SELECT version_id FROM current WHERE bucket = ? AND key = ?').get(bucket, key) as { version_id: string } | undefined
    return row?.version_id
  }

  /** Current, non-deleted objects of a bucket whose keys start with `prefix`, in key order. */
  list (bucket: string, prefix: string, limit: number, startAfter = ''): ObjectInfo[] {
    const cap = Math.max(1, Math.min(limit, MAX_LIST_LIMIT))
    // Bounded on both sides by the prefix, so the index range holds only its keys
    // (without the bounds SQLite walked the bucket from its first key: O(bucket) per page).
    // One lower bound (SQLite ranges an index on one), compared as UTF-8 bytes.
    const beforePrefix = Buffer.compare(Buffer.from(startAfter), Buffer.from(prefix)) < 0
    const rows = this.stmt(`SELECT key, size, version_id, time_ms FROM current
      WHERE bucket = ? AND delete_marker = 0 AND key ${beforePrefix ? '>=' : '>'} ? AND key < ? AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?`)
      .all(bucket, beforePrefix ? prefix : startAfter, prefixEnd(prefix) ?? KEY_ABOVE_ALL, characters(prefix), prefix, cap) as unknown as Array<{ key: string, size: number, version_id: string, time_ms: number }>
    return rows.map((r) => ({ key: r.key, size: r.size, version: r.version_id, timeMs: r.time_ms }))
  }

  /** Keys of `bucket` with more than one live version. */
  keysWithHistory (bucket: string): string[] {
    const rows = this.stmt('SELECT key FROM versions WHERE bucket = ? GROUP BY key HAVING count(*) > 1').all(bucket) as unknown as Array<{ key: string }>
    return rows.map((r) => r.key)
  }

  /** The largest HLC of any stored record (tombstones included), or undefined for an empty replica: the seed of the node's clock. */
  maxHlc (): string | undefined {
    // Kept in local_state by apply: records have no index on hlc, and scanning a
    // million of them (~1 GB) at every start cost seconds. A replica written
    // before this has no entry yet: scanned once, then kept.
    this.#maxHlc ??= this.localState(MAX_HLC_STATE) ?? null
    if (this.#maxHlc === null) {
      const row = this.stmt('SELECT max(hlc) AS hlc FROM records').get() as { hlc: string | null } | undefined
      if (row?.hlc === null || row?.hlc === undefined) return undefined
      this.setLocalState(MAX_HLC_STATE, row.hlc)
    }
    return this.#maxHlc ?? undefined
  }

  #maxHlc: string | null | undefined

  /** Number of live objects, versions and records, for status. */
  counts (): { objects: number, versions: number, records: number } {
    const objects = (this.stmt('SELECT count(*) AS n FROM current WHERE delete_marker = 0').get() as { n: number }).n
    const versions = (this.stmt('SELECT count(*) AS n FROM versions').get() as { n: number }).n
    // The Merkle leaves count every record (records are never deleted, only tombstoned): 4096 counts kept in memory, not a walk of the table.
    const records = this.merkle().counts.reduce((sum, n) => sum + n, 0)
    return { objects, versions, records }
  }

  /**
   * The hash of every Merkle leaf (32 zero bytes for an empty leaf); the
   * caller must not modify the Buffers. Kept in memory until a record
   * changes a leaf: every anti-entropy round reads them on both sides, and
   * reading 4,096 rows cost ~13 ms, about 1% of an idle node's CPU at a
   * round every 15 s with 6 peers (docs/PERFORMANCE.md).
   */
  merkleLeaves (): Buffer[] {
    return [...this.merkle().leaves]
  }

  /** Local record count of every Merkle leaf (what `merkle.count` keeps), from the same copy as merkleLeaves. */
  leafCounts (): Uint32Array {
    return this.merkle().counts.slice()
  }

  private merkle (): { leaves: Buffer[], counts: Uint32Array } {
    if (this.#merkle === undefined) {
      const leaves = Array.from({ length: MERKLE_LEAF_COUNT }, () => ZERO_LEAF)
      const counts = new Uint32Array(MERKLE_LEAF_COUNT)
      for (const row of this.stmt('SELECT leaf, hash, count FROM merkle').all() as unknown as Array<{ leaf: number, hash: Uint8Array, count: number }>) {
        leaves[row.leaf] = Buffer.from(row.hash)
        counts[row.leaf] = row.count
      }
      this.#merkle = { leaves, counts }
    }
    return this.#merkle
  }

  /** The `merkle` table in memory; undefined once a write may have changed a leaf (a rolled-back one too: it is read again). */
  #merkle: { leaves: Buffer[], counts: Uint32Array } | undefined

  /** Identity and clock of every record in the given leaves. */
  summaries (leaves: readonly number[]): RecordSummary[] {
    const out: RecordSummary[] = []
    for (const leaf of leaves) {
      const rows = this.stmt('SELECT tbl, pk, hlc, origin, tombstone FROM records WHERE leaf = ?').all(leaf) as unknown as Array<Omit<RecordRow, 'body'>>
      for (const r of rows) out.push({ table: r.tbl as MetaTable, pk: r.pk, hlc: r.hlc, origin: r.origin, tombstone: r.tombstone === 1 })
    }
    return out
  }

  /**
   * `leaf` split into its MERKLE_SUB_LEAVES sub-leaves (anti-entropy's level
   * below the leaves); without `hashes` only the summaries (the hashes are
   * then all zero), which saves a SHA-256 per record.
   */
  leafParts (leaf: number, hashes = true): LeafParts {
    const out: LeafParts = { hashes: Array.from({ length: MERKLE_SUB_LEAVES }, () => Buffer.alloc(32)), summaries: Array.from({ length: MERKLE_SUB_LEAVES }, () => []) }
    for (const r of this.summaries([leaf])) {
      const sub = subLeafOf(r.table, r.pk)
      if (hashes) xorInto(out.hashes[sub] as Buffer, digestOf(r));
      (out.summaries[sub] as RecordSummary[]).push(r)
    }
    return out
  }

  /**
   * Record that this node holds shard `hash` for `versionId`, written by
   * `writer`. Idempotent; a second store of the same shard (a repair putting
   * it back) keeps the first writer and moves the time forward, so the
   * collector gives the new copy a whole grace period.
   */
  addShardOwner (hash: string, versionId: string, writer: string, storedMs: number): void {
    this.stmt(`INSERT INTO shard_owners(hash, version_id, writer, stored_ms) VALUES (?, ?, ?, ?)
      ON CONFLICT(hash, version_id) DO UPDATE SET stored_ms = max(stored_ms, excluded.stored_ms)`).run(hash, versionId, writer, storedMs)
  }

  /** Every shard hash this node is tagged to hold. */
  ownedShardHashes (): string[] {
    return (this.stmt('SELECT DISTINCT hash FROM shard_owners').all() as unknown as Array<{ hash: string }>).map((r) => r.hash)
  }

  /** The versions this node holds shard `hash` for (empty for a shard written before owners were recorded). */
  shardOwners (hash: string): ShardOwner[] {
    const rows = this.stmt('SELECT version_id, writer, stored_ms FROM shard_owners WHERE hash = ?').all(hash) as unknown as Array<{ version_id: string, writer: string, stored_ms: number }>
    return rows.map((r) => ({ versionId: r.version_id, writer: r.writer, storedMs: r.stored_ms }))
  }

  /** Forget one owner of a shard (the version released it); returns the owners left. */
  removeShardOwner (hash: string, versionId: string): ShardOwner[] {
    this.stmt('DELETE FROM shard_owners WHERE hash = ? AND version_id = ?').run(hash, versionId)
    return this.shardOwners(hash)
  }

  /** Forget every owner of a shard (its file was deleted), or only those stored before `storedBeforeMs`. */
  clearShardOwners (hash: string, storedBeforeMs?: number): void {
    if (storedBeforeMs === undefined) this.stmt('DELETE FROM shard_owners WHERE hash = ?').run(hash)
    else this.stmt('DELETE FROM shard_owners WHERE hash = ? AND stored_ms < ?').run(hash, storedBeforeMs)
  }

  /**
   * Whether the owner `id` of shards is live, a tombstone, or unknown in this
   * replica. An owner is an object version, or a multipart part (an `mpart`
   * pk). A part is live while a live version was completed from it, or while
   * its record and its upload are live and no newer upload of the same part
   * number exists; a part record that is known here and none of these is
   * dead ('tombstone': aborted, completed without it, replaced, or uploaded
   * after its upload ended).
   */
  versionState (id: string): VersionState {
    const row = this.stmt("SELECT tombstone FROM records WHERE tbl = 'version' AND pk = ?").get(id) as { tombstone: number } | undefined
    if (row !== undefined) return row.tombstone === 1 ? 'tombstone' : 'live'
    if (this.partVersion(id) !== undefined) return 'live'
    const part = this.get('mpart', id)
    if (part === undefined) return 'unknown'
    if (part.tombstone) return 'tombstone'
    const upload = this.get('upload', (part.body as PartBody).uploadId)
    if (upload?.tombstone === true) return 'tombstone'
    const slot = id.slice(0, id.lastIndexOf('/') + 1)
    const newer = this.stmt("SELECT 1 AS x FROM records WHERE tbl = 'mpart' AND tombstone = 0 AND pk > ? AND substr(pk, 1, ?) = ? LIMIT 1").get(id, slot.length, slot)
    return newer === undefined ? 'live' : 'tombstone'
  }

  /** A live version completed from part `partId` (an `mpart` pk), if any. */
  partVersion (partId: string): string | undefined {
    const row = this.stmt('SELECT version_id FROM part_versions WHERE part_id = ? LIMIT 1').get(partId) as { version_id: string } | undefined
    return row?.version_id
  }

  /** Live records of `table` whose pk starts with `prefix`, in pk order, at most `limit`, after `after` (exclusive). */
  liveWithPrefix (table: MetaTable, prefix: string, limit: number, after = ''): MetaRecord[] {
    const rows = this.stmt(`SELECT tbl, pk, hlc, origin, tombstone, body FROM records
      WHERE tbl = ? AND tombstone = 0 AND pk >= ? AND pk > ? AND substr(pk, 1, ?) = ? ORDER BY pk LIMIT ?`)
      .all(table, prefix, after, characters(prefix), prefix, Math.max(1, limit)) as unknown as RecordRow[]
    return rows.map(rowToRecord)
  }

  /**
   * Every live version that is not a delete marker and not stored inline
   * (the erasure-coded ones, and any without a manifest), in version-id
   * order, a page at a time through the partial index `versions_coded`: what
   * the healer, auditor and mover scan, at a cost that grows with the coded
   * versions, not with all of them. CROSS JOIN keeps the index as the outer
   * loop (with a plain JOIN SQLite walked every version record and probed
   * the index: 0.1 s per page at 300,000 inline versions).
   */
  * codedVersionsPaged (pageSize = LIVE_PAGE_RECORDS): Generator<MetaRecord> {
    let after = ''
    for (;;) {
      const page = (this.stmt(`SELECT r.tbl, r.pk, r.hlc, r.origin, r.tombstone, r.body FROM versions v INDEXED BY versions_coded
        CROSS JOIN records r ON r.tbl = 'version' AND r.pk = v.version_id
        WHERE v.inline = 0 AND v.delete_marker = 0 AND v.version_id > ? ORDER BY v.version_id LIMIT ?`).all(after, Math.max(1, pageSize)) as unknown as RecordRow[]).map(rowToRecord)
      yield * page
      if (page.length < pageSize) return
      after = (page[page.length - 1] as MetaRecord).pk
    }
  }

  /** Live object versions stored inline (not delete markers): healthy wherever the metadata is. */
  inlineVersionCount (): number {
    return (this.stmt('SELECT count(*) AS n FROM versions WHERE inline = 1 AND delete_marker = 0').get() as { n: number }).n
  }

  /** A value this node keeps for itself (`local_state`), or undefined. */
  localState (name: string): string | undefined {
    const row = this.stmt('SELECT value FROM local_state WHERE name = ?').get(name) as { value: string } | undefined
    return row?.value
  }

  /** Keep `value` under `name` in `local_state` (durable when this returns). */
  setLocalState (name: string, value: string): void {
    this.stmt('INSERT INTO local_state(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value').run(name, value)
    if (name === MAX_HLC_STATE) this.#maxHlc = value
  }

  /** SQLite's synchronous level on this connection (2 = FULL: every commit fsynced). */
  synchronousLevel (): number {
    return (this.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous
  }

  /** Run `fn` in one write transaction. */
  transaction<T> (fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      this.db.exec('COMMIT')
      return result
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }
}
