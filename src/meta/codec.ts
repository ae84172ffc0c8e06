/**
 * Validation of metadata records that arrive from peers or disk: every field
 * is type- and size-checked before use, anything else is rejected with a clear
 * PROTOCOL error (a lying or broken peer never corrupts the store).
 */
import { CairnError } from '../util/errors.ts'
import { isHlc } from '../util/hlc.ts'
import { BUCKET_VERSIONING_STATES, CHECKSUM_ALGORITHMS, MANIFEST_FORMS, MAX_OBJECT_META_BYTES, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_VERSION, META_RECORD_VERSION, META_TABLES } from './types.ts'
import type { MetaRecord, MetaTable } from './types.ts'
import { nodePresenceProblem } from './node-presence.ts'
import { nodeAttrProblem } from './node-attrs.ts'
import { auditRecordProblem } from './audit-records.ts'

/** Largest primary key accepted (a version id or a 1024-byte object key plus room). */
export const MAX_PK_BYTES = 2048
/** Largest record body accepted: a manifest of a ~16 GiB object fits (4096 stripes of 6 shards). */
export const MAX_RECORD_BODY_BYTES = 8 * 1024 * 1024
/**
 * Largest record (encoded JSON) a node writes: well below the 4 MiB
 * anti-entropy message budget and the 16 MiB frame limit. Large manifests go
 * out of the record (engine/stripe-list.ts), so only a bug or an absurd input
 * reaches it. Older records up to MAX_RECORD_BODY_BYTES are still accepted.
 */
export const MAX_RECORD_BYTES = 1024 * 1024
/** Environment variable that lowers MAX_RECORD_BYTES (tests only). */
export const MAX_RECORD_BYTES_VARIABLE = 'CAIRN_MAX_RECORD_BYTES'

/** The write limit in force: MAX_RECORD_BYTES, or lower when the test variable says so. */
export function maxRecordBytes (): number {
  const n = Number(process.env[MAX_RECORD_BYTES_VARIABLE])
  return Number.isSafeInteger(n) && n > 0 && n < MAX_RECORD_BYTES ? n : MAX_RECORD_BYTES
}

/**
 * Refuse to write a record larger than the limit, before it is committed.
 *
 * @example
 * checkRecordSize(record, `version of ${bucket}/${key}`)
 */
export function checkRecordSize (record: MetaRecord, what: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(record))
  const max = maxRecordBytes()
  if (bytes > max) {
    throw new CairnError('TOO_LARGE', `the metadata record of ${what} would be ${bytes} bytes; the limit is ${max} bytes`,
      'nothing was stored; a record this large is a bug (large manifests are kept out of the record), please report it', { recordBytes: bytes, maxRecordBytes: max })
  }
}

/** Longest setting value accepted (values are short: "5m", "2"). */
export const MAX_SETTING_VALUE_CHARS = 256

function fail (what: string): never {
  throw new CairnError('PROTOCOL', `invalid metadata record: ${what}`, 'the peer runs an incompatible or broken version of Cairn')
}

/**
 * Check that `value` is a well-formed MetaRecord and return it typed.
 *
 * @example
 * const record = parseRecord(JSON.parse(text))
 */
export function parseRecord (value: unknown): MetaRecord {
  if (value === null || typeof value !== 'object') fail('not an object')
  const r = value as Record<string, unknown>
  if (r.v !== META_RECORD_VERSION) fail(`unsupported record version ${String(r.v)}`)
  if (typeof r.table !== 'string' || !(META_TABLES as readonly string[]).includes(r.table)) fail(`unknown table ${String(r.table)}`)
  if (typeof r.pk !== 'string' || r.pk.length === 0 || Buffer.byteLength(r.pk) > MAX_PK_BYTES) fail('bad primary key')
  if (!isHlc(r.hlc)) fail('bad hlc')
  if (typeof r.origin !== 'string' || r.origin.length === 0 || r.origin.length > 128) fail('bad origin')
  if (typeof r.tombstone !== 'boolean') fail('bad tombstone flag')
  if (r.body === null || typeof r.body !== 'object' || Array.isArray(r.body)) fail('bad body')
  checkBody(r.table as MetaTable, r.pk, r.body as Record<string, unknown>)
  return value as MetaRecord
}

/** Highest S3 part number (S3's limit). */
export const MAX_PART_NUMBER = 10_000
const PART_KEY_PATTERN = /^\d{5}\/[0-9a-f]{12}-[0-9a-f]{4}-[0-9a-f]{8}$/

/** The shape of a manifest's form and, for form `parts`, its part fields (the rest is checked where it is read). */
function checkManifest (value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('bad manifest')
  const m = value as Record<string, unknown>
  if (m.form !== undefined && !(MANIFEST_FORMS as readonly unknown[]).includes(m.form)) fail(`unknown manifest form ${String(m.form)}`)
  if (m.form !== 'parts') return
  const upload = m.upload as Record<string, unknown> | undefined
  if (typeof upload !== 'object' || upload === null || typeof upload.uploadId !== 'string' || !Array.isArray(upload.partKeys)) fail('multipart manifest without its part owners')
  const keys = upload.partKeys as unknown[]
  if (keys.length === 0 || keys.length > MAX_PART_NUMBER || !keys.every((k) => typeof k === 'string' && PART_KEY_PATTERN.test(k))) fail('bad part owners in a multipart manifest')
  const inline = Array.isArray(m.parts)
  const list = m.partList as Record<string, unknown> | undefined
  if (inline === (list !== undefined)) fail('a multipart manifest needs exactly one of parts and partList')
  if (inline && (m.parts as unknown[]).length !== keys.length) fail('a multipart manifest lists a different number of parts and owners')
  if (list !== undefined && (list.partCount !== keys.length || typeof list.manifest !== 'object' || list.manifest === null)) fail('bad part list reference')
}

function checkBody (table: MetaTable, pk: string, body: Record<string, unknown>): void {
  if (table === 'version') {
    if (typeof body.bucket !== 'string' || typeof body.key !== 'string') fail('version without bucket/key')
    if (typeof body.size !== 'number' || !Number.isSafeInteger(body.size) || body.size < 0) fail('bad version size')
    if (typeof body.timeMs !== 'number' || typeof body.deleteMarker !== 'boolean') fail('bad version fields')
    if (body.meta !== undefined && (typeof body.meta !== 'object' || body.meta === null || Buffer.byteLength(JSON.stringify(body.meta)) > MAX_OBJECT_META_BYTES)) fail('bad object metadata')
    if (body.nullVersion !== undefined && typeof body.nullVersion !== 'boolean') fail('bad null-version flag')
    const checksum = (body.meta as { checksum?: unknown } | undefined)?.checksum
    if (checksum !== undefined && !isChecksum(checksum)) fail('bad object checksum')
    if (body.manifest !== undefined) checkManifest(body.manifest)
  } else if (table === 'upload') {
    if (typeof body.bucket !== 'string' || typeof body.key !== 'string' || typeof body.initiatedMs !== 'number' || typeof body.initiator !== 'string') fail('bad multipart upload')
    if (typeof body.meta !== 'object' || body.meta === null || Buffer.byteLength(JSON.stringify(body.meta)) > MAX_OBJECT_META_BYTES) fail('bad multipart upload metadata')
  } else if (table === 'mpart') {
    if (typeof body.uploadId !== 'string' || !Number.isInteger(body.number) || (body.number as number) < 1 || (body.number as number) > MAX_PART_NUMBER) fail('bad multipart part')
    if (body.manifest !== undefined && (typeof body.manifest !== 'object' || body.manifest === null || (body.manifest as Record<string, unknown>).inline !== undefined)) fail('bad multipart part manifest')
  } else if (table === 's3key') {
    if (typeof body.name !== 'string' || typeof body.secret !== 'string' || typeof body.admin !== 'boolean' || typeof body.grants !== 'object' || body.grants === null) fail('bad access key')
  } else if (table === 'node') {
    if (typeof body.name !== 'string' || !Array.isArray(body.addrs)) fail('bad roster entry')
    const problem = body.presence === undefined ? undefined : nodePresenceProblem(body.presence)
    if (problem !== undefined) fail(`bad presence history in roster entry: ${problem}`)
  } else if (table === 'location') {
    if (!Array.isArray(body.nodes) || !body.nodes.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 128)) fail('bad location nodes')
    if (typeof body.shards !== 'object' || body.shards === null || Array.isArray(body.shards)) fail('bad location shards')
    const count = body.nodes.length
    for (const [hash, holders] of Object.entries(body.shards as Record<string, unknown>)) {
      if (!/^[0-9a-f]{64}$/.test(hash) || !Array.isArray(holders) || !holders.every((i) => Number.isInteger(i) && i >= 0 && i < count)) fail('bad location entry')
    }
  } else if (table === 'nodeattr') {
    const problem = nodeAttrProblem(pk, body.value)
    if (problem !== undefined) fail(problem)
  } else if (table === 'job') {
    if (pk !== 'rebalance' || (body.state !== 'running' && body.state !== 'done') || typeof body.startedMs !== 'number' || typeof body.startedBy !== 'string' || typeof body.doneMs !== 'number') fail('bad job record')
  } else if (table === 'audit') {
    const problem = auditRecordProblem(pk, body)
    if (problem !== undefined) fail(problem)
  } else if (table === 'tagging') {
    const problem = tagsProblem(body.tags)
    if (problem !== undefined) fail(`bad tags: ${problem}`)
  } else if (table === 'setting') {
    if (typeof body.value !== 'string' || body.value.length > MAX_SETTING_VALUE_CHARS) fail('bad setting value')
  } else if (typeof body.createdMs !== 'number') {
    fail('bad bucket entry')
  } else if (body.versioning !== undefined && !(BUCKET_VERSIONING_STATES as readonly unknown[]).includes(body.versioning)) {
    fail(`bad bucket versioning ${String(body.versioning).slice(0, 20)}`)
  }
}

function isChecksum (value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false
  const c = value as Record<string, unknown>
  return (CHECKSUM_ALGORITHMS as readonly unknown[]).includes(c.algorithm) && typeof c.value === 'string' && /^[A-Za-z0-9+/=]{1,64}$/.test(c.value)
}

/**
 * What is wrong with a tag list (undefined when it is valid): at most
 * MAX_TAGS_PER_VERSION tags, keys 1..MAX_TAG_KEY_CHARS characters, values up
 * to MAX_TAG_VALUE_CHARS, keys unique. Shared by the codec and the engine.
 *
 * @example
 * tagsProblem([{ key: 'a', value: '1' }]) // undefined
 */
export function tagsProblem (tags: unknown): string | undefined {
  if (!Array.isArray(tags)) return 'not a list'
  if (tags.length > MAX_TAGS_PER_VERSION) return `${tags.length} tags, at most ${MAX_TAGS_PER_VERSION} are allowed`
  const seen = new Set<string>()
  for (const tag of tags as unknown[]) {
    if (tag === null || typeof tag !== 'object') return 'a tag is not an object'
    const { key, value } = tag as Record<string, unknown>
    if (typeof key !== 'string' || key.length === 0 || [...key].length > MAX_TAG_KEY_CHARS) return `a tag key must be 1 to ${MAX_TAG_KEY_CHARS} characters`
    if (typeof value !== 'string' || [...value].length > MAX_TAG_VALUE_CHARS) return `a tag value must be at most ${MAX_TAG_VALUE_CHARS} characters`
    if (seen.has(key)) return `the tag key ${JSON.stringify(key.slice(0, 40))} appears twice`
    seen.add(key)
  }
  return undefined
}
