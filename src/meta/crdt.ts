/**
 * The merge function of Cairn's metadata CRDT, pure.
 *
 * Each (table, pk) is a last-writer-wins register. `mergeRecords(a, b)`
 * returns the winner under one total order:
 *   higher `hlc`, then higher `origin`, then tombstone over live, then the
 *   larger canonical JSON of the body.
 * Because the order is total, merge is commutative (merge(a,b) = merge(b,a)),
 * associative (merge(merge(a,b),c) = merge(a,merge(b,c))) and idempotent
 * (merge(a,a) = a), so replicas that saw the same records in any order, any
 * number of times, hold the same state. Property tests check these laws.
 */
import type { MetaRecord } from './types.ts'

/** A record's clock part: what orders it before its body does. */
export type RecordHead = Pick<MetaRecord, 'hlc' | 'origin' | 'tombstone'>

/**
 * -1, 0 or 1: how `a` orders against `b` by their heads alone; 0 means the
 * bodies decide (`compareRecords`). Lets a replica order a stored record
 * without parsing its body, which almost always differs in its head.
 *
 * @example
 * compareHeads({ hlc: 'a', origin: 'n1', tombstone: false }, { hlc: 'b', origin: 'n1', tombstone: false }) // -1
 */
export function compareHeads (a: RecordHead, b: RecordHead): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1
  if (a.tombstone !== b.tombstone) return a.tombstone ? 1 : -1
  return 0
}

/** -1, 0 or 1: how `a` orders against `b` for the same (table, pk). */
export function compareRecords (a: MetaRecord, b: MetaRecord): number {
  const head = compareHeads(a, b)
  if (head !== 0) return head
  const ja = canonicalJson(a.body)
  const jb = canonicalJson(b.body)
  return ja === jb ? 0 : ja < jb ? -1 : 1
}

/**
 * The winner of two records for the same (table, pk).
 *
 * @example
 * mergeRecords(older, newer) === newer
 */
export function mergeRecords (a: MetaRecord, b: MetaRecord): MetaRecord {
  return compareRecords(a, b) >= 0 ? a : b
}

/** JSON with object keys sorted, so equal values have equal text. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}
