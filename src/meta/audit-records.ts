/**
 * Audit counts as replicated records (table `audit`), pure: validation and
 * the sums every node computes from them.
 *
 * Each auditor keeps, per holder it audits (the subject), how many shard
 * challenges it made, how many the subject failed, and which failed shards
 * the subject is still named for (shard hash → version id), so that every
 * node's healer treats them as lost and the version's coordinator rebuilds
 * them elsewhere. The record is a last-writer-wins register with pk
 * `<auditor id>/<subject id>`, written only by the auditor (a record whose
 * origin is not the auditor of its pk is ignored), so it needs no merge of
 * counts: the auditor's latest record is the truth about its own audits.
 */
import type { MetaRecord } from './types.ts'

/** Most failed shards one record lists (oldest dropped first; a later audit finds the rest again). */
export const MAX_FAILED_LISTED = 1000
/** Longest node id in an audit pk (libp2p peer ids are ~52 characters). */
const MAX_NODE_ID_CHARS = 128

/** One auditor's counts about one subject (table `audit`). */
export interface AuditBody {
  /** Shard challenges answered (pass or fail); timeouts and offline holders are not counted. */
  audits: number
  /** Of those, failed: a wrong digest, or missing while the subject did not report it lost. */
  failures: number
  /** Failed shards the subject is still named for: hash → version id. */
  failed: Record<string, string>
  updatedMs: number
}

/** Per-node sums over every auditor. */
export interface AuditTally {
  audits: number
  failures: number
}

/** The pk of `auditor`'s record about `subject`. */
export function auditPk (auditor: string, subject: string): string {
  return `${auditor}/${subject}`
}

/** Split an audit pk; undefined when malformed. */
export function parseAuditPk (pk: string): { auditor: string, subject: string } | undefined {
  const parts = pk.split('/')
  if (parts.length !== 2) return undefined
  const [auditor, subject] = parts as [string, string]
  if (auditor.length === 0 || subject.length === 0 || auditor.length > MAX_NODE_ID_CHARS || subject.length > MAX_NODE_ID_CHARS) return undefined
  return { auditor, subject }
}

const count = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

/**
 * Why an `audit` record (pk and body) is malformed, or undefined when it is
 * well formed. Used on every record that arrives.
 *
 * @example
 * auditRecordProblem('a/b', { audits: 3, failures: 1, failed: {}, updatedMs: 0 }) // undefined
 */
export function auditRecordProblem (pk: string, body: Record<string, unknown>): string | undefined {
  if (parseAuditPk(pk) === undefined) return `bad audit key ${JSON.stringify(pk.slice(0, 80))}`
  if (!count(body.audits) || !count(body.failures) || (body.failures as number) > (body.audits as number)) return 'bad audit counts'
  if (typeof body.updatedMs !== 'number') return 'bad audit time'
  const failed = body.failed
  if (typeof failed !== 'object' || failed === null || Array.isArray(failed)) return 'bad failed-shard list'
  const entries = Object.entries(failed as Record<string, unknown>)
  if (entries.length > MAX_FAILED_LISTED) return `more than ${MAX_FAILED_LISTED} failed shards listed`
  if (!entries.every(([hash, id]) => /^[0-9a-f]{64}$/.test(hash) && typeof id === 'string' && id.length > 0 && id.length <= 128)) return 'bad failed-shard entry'
  return undefined
}

/** The records that count: live, well formed, written by the auditor their pk names. */
function* trusted (records: readonly MetaRecord[]): Generator<{ auditor: string, subject: string, body: AuditBody }> {
  for (const r of records) {
    if (r.table !== 'audit' || r.tombstone) continue
    const parsed = parseAuditPk(r.pk)
    if (parsed === undefined || parsed.auditor !== r.origin || auditRecordProblem(r.pk, r.body as unknown as Record<string, unknown>) !== undefined) continue
    yield { ...parsed, body: r.body as unknown as AuditBody }
  }
}

/**
 * Audits and failures per subject, summed over every auditor.
 *
 * @example
 * tallyAudits(meta.live('audit')).get(nodeId) // { audits: 40, failures: 0 }
 */
export function tallyAudits (records: readonly MetaRecord[]): Map<string, AuditTally> {
  const out = new Map<string, AuditTally>()
  for (const { subject, body } of trusted(records)) {
    const t = out.get(subject) ?? { audits: 0, failures: 0 }
    t.audits += body.audits
    t.failures += body.failures
    out.set(subject, t)
  }
  return out
}

/**
 * Shards each subject failed and is still named for, over every auditor:
 * subject → hashes (the healer counts them as lost on that subject).
 *
 * @example
 * failedShards(meta.live('audit')).get(nodeId)?.has(hash) // true
 */
export function failedShards (records: readonly MetaRecord[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const { subject, body } of trusted(records)) {
    const hashes = Object.keys(body.failed)
    if (hashes.length === 0) continue
    const set = out.get(subject) ?? new Set<string>()
    for (const h of hashes) set.add(h)
    out.set(subject, set)
  }
  return out
}
