/**
 * Size of a node's whole replicated metadata table as JSON: the sum of
 * JSON.stringify of every record (what one full transfer of the table would
 * at least cost), computed in SQL from the replica opened read-only. Used by
 * the metadata test and bench/metadata-sync.ts to compare anti-entropy
 * traffic with the table size.
 */
import { DatabaseSync } from 'node:sqlite'

/** Record count and JSON size of the replica at `dbPath`. */
export function tableJsonBytes (dbPath: string): { records: number, jsonBytes: number } {
  const db = new DatabaseSync(dbPath, { readOnly: true })
  try {
    // The JSON of a record is this frame around the text of its fields.
    const frame = JSON.stringify({ v: 1, table: '', pk: '', hlc: '', origin: '', tombstone: false, body: null }).length - 'null'.length
    const row = db.prepare(`SELECT count(*) AS n, coalesce(sum(length(CAST(tbl AS BLOB)) + length(CAST(pk AS BLOB)) + length(CAST(hlc AS BLOB))
      + length(CAST(origin AS BLOB)) + length(CAST(body AS BLOB)) - tombstone), 0) AS fields FROM records`).get() as { n: number, fields: number }
    return { records: row.n, jsonBytes: row.fields + row.n * frame }
  } finally {
    db.close()
  }
}
