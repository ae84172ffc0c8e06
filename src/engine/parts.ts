/**
 * The part list of a multipart version (manifest form `parts`). Complete
 * does not copy data: the version's manifest lists the parts as they were
 * uploaded, each PartManifest holding the part's own manifest (own data key,
 * own nonce base, its stripes inline or in its own out-of-record stripe
 * list). A list of up to PART_LIST_INLINE_MAX_BYTES of JSON stays in the
 * record (`Manifest.parts`); a longer one (thousands of parts) is stored as
 * a blob in the pool, like an out-of-record stripe list (stripe-list.ts):
 * segments of about MANIFEST_SEGMENT_BYTES (manifestSegmentBytes()) of JSON
 * `PartManifest[]`, each one stripe of the blob, encrypted under the blob's
 * own key and erasure coded.
 * The record then holds `Manifest.partList` (the blob's small manifest).
 */
import { randomBytes } from 'node:crypto'
import { generateDataKey, wrapDataKey } from '../crypto/index.ts'
import type { Manifest, PartManifest } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'
import { MANIFEST_INLINE_MAX_BYTES, manifestSegmentBytes } from './stripe-list.ts'
import type { SegmentStore } from './stripe-list.ts'

/** Part lists up to this many JSON bytes stay in the version record (same budget as a stripe list). */
export const PART_LIST_INLINE_MAX_BYTES = MANIFEST_INLINE_MAX_BYTES
/** Environment variable that overrides PART_LIST_INLINE_MAX_BYTES (tests lower it to exercise the blob). */
export const PART_LIST_INLINE_MAX_BYTES_VARIABLE = 'CAIRN_PART_LIST_INLINE_MAX_BYTES'

function inlineLimitBytes (): number {
  const n = Number(process.env[PART_LIST_INLINE_MAX_BYTES_VARIABLE])
  return Number.isSafeInteger(n) && n > 0 ? n : PART_LIST_INLINE_MAX_BYTES
}

/**
 * Put `parts` into `manifest` (form `parts`): inline when small, else as a
 * blob written segment by segment through `store`.
 *
 * @example
 * await writePartList(manifest, parts, masterKey, storeSegment)
 */
export async function writePartList (manifest: Manifest, parts: PartManifest[], masterKey: Buffer, store: SegmentStore): Promise<void> {
  const texts = parts.map((p) => JSON.stringify(p))
  const total = texts.reduce((sum, t) => sum + Buffer.byteLength(t) + 1, 0)
  if (total <= inlineLimitBytes()) {
    manifest.parts = parts
    return
  }
  const dataKey = generateDataKey()
  const nonceBase = randomBytes(8)
  const { inline: _inline, stripeList: _list, parts: _parts, partList: _partList, upload: _upload, ...base } = manifest
  const maxSegmentBytes = manifestSegmentBytes()
  const blob: Manifest = { ...base, form: 'stripes', stripeSizeBytes: maxSegmentBytes, wrappedKey: wrapDataKey(masterKey, dataKey), nonceBase: nonceBase.toString('base64'), stripes: [] }
  let segment: string[] = []
  let segmentBytes = 0
  const flush = async (): Promise<void> => {
    blob.stripes.push(await store({ dataKey, nonceBase }, blob.stripes.length, Buffer.from(`[${segment.join(',')}]`)))
    segment = []
    segmentBytes = 0
  }
  for (const text of texts) {
    if (segmentBytes > 0 && segmentBytes + Buffer.byteLength(text) + 1 > maxSegmentBytes) await flush()
    segment.push(text)
    segmentBytes += Buffer.byteLength(text) + 1
  }
  if (segment.length > 0) await flush()
  manifest.partList = { partCount: parts.length, manifest: blob }
}

function checkPart (value: unknown): PartManifest {
  const p = value as Partial<PartManifest> | null
  if (p === null || typeof p !== 'object' || !Number.isInteger(p.number) || !Number.isSafeInteger(p.size) || (p.size as number) < 0 ||
    typeof p.manifest !== 'object' || p.manifest === null || p.manifest.form === 'parts' || p.manifest.inline !== undefined) {
    throw new CairnError('BAD_INPUT', 'an entry of the part list is malformed', 'the manifest of this version is damaged')
  }
  return p as PartManifest
}

/**
 * The parts of a version of form `parts`, in order: from the record, or read
 * segment by segment from the blob with `readSegments`.
 *
 * @example
 * for await (const part of partsOf(manifest, readBlob)) console.log(part.number, part.size)
 */
export async function * partsOf (manifest: Manifest, readSegments: (blob: Manifest) => AsyncIterable<Buffer>): AsyncGenerator<PartManifest> {
  if (manifest.parts !== undefined) {
    for (const part of manifest.parts) yield checkPart(part)
    return
  }
  const ref = manifest.partList
  if (ref === undefined || (ref.manifest.form ?? 'stripes') !== 'stripes') throw new CairnError('BAD_INPUT', 'a multipart manifest without a usable part list', 'the manifest of this version is damaged')
  let seen = 0
  for await (const plain of readSegments(ref.manifest)) {
    let segment: unknown
    try {
      segment = JSON.parse(plain.toString('utf8'))
    } catch {
      segment = undefined
    }
    if (!Array.isArray(segment)) throw new CairnError('BAD_INPUT', 'a segment of the part list is not a JSON array', 'the manifest of this version is damaged')
    seen += segment.length
    if (seen > ref.partCount) break
    for (const part of segment) yield checkPart(part)
  }
  if (seen !== ref.partCount) throw new CairnError('BAD_INPUT', `the part list has ${seen} parts, the record says ${ref.partCount}`, 'the manifest of this version is damaged')
}
