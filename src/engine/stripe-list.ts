/**
 * Out-of-record stripe lists. A version's stripe list grows with the object
 * (about 1 KiB per 4 MiB stripe at 4+2), while a metadata record must stay
 * small (MAX_RECORD_BYTES): above MANIFEST_INLINE_MAX_BYTES of list, the put
 * path stores the list as a blob in the pool instead, and the record keeps
 * only the blob's small manifest (form `segments`, see meta/types.ts).
 *
 * The blob is cut into segments of about MANIFEST_SEGMENT_BYTES of JSON; each
 * segment is one stripe of the blob, encrypted with the blob's own key and
 * erasure coded and placed like object data (the caller stores it with the
 * same helper as data stripes). Writing and reading both hold one segment at
 * a time, so memory does not grow with the object.
 */
import { randomBytes } from 'node:crypto'
import { generateDataKey, wrapDataKey } from '../crypto/index.ts'
import type { Manifest, StripeListRef, StripeManifest } from '../meta/types.ts'
import { CairnError } from '../util/errors.ts'

/** Stripe lists up to this many JSON bytes stay in the record (~256 stripes, ~1 GiB at 4+2). */
export const MANIFEST_INLINE_MAX_BYTES = 256 * 1024
/** Environment variable that overrides MANIFEST_INLINE_MAX_BYTES (tests lower it). */
export const MANIFEST_INLINE_MAX_BYTES_VARIABLE = 'CAIRN_MANIFEST_INLINE_MAX_BYTES'
/** JSON bytes of stripe list per segment of the blob (one blob stripe). */
export const MANIFEST_SEGMENT_BYTES = 4 * 1024 * 1024
/** Environment variable that overrides MANIFEST_SEGMENT_BYTES (tests lower it to get several segments). */
export const MANIFEST_SEGMENT_BYTES_VARIABLE = 'CAIRN_MANIFEST_SEGMENT_BYTES'

function envBytes (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1) throw new CairnError('CONFIG', `${name} must be a positive integer number of bytes, got ${raw}`, `unset ${name} or set it to e.g. 65536`)
  return n
}

/** Bytes of JSON per segment in force: MANIFEST_SEGMENT_BYTES unless the test variable overrides it. */
export function manifestSegmentBytes (): number {
  return envBytes(MANIFEST_SEGMENT_BYTES_VARIABLE, MANIFEST_SEGMENT_BYTES)
}

/** Stores one segment (blob stripe `index`, plaintext `plain`) and returns its stripe entry. */
export type SegmentStore = (keys: { dataKey: Buffer, nonceBase: Buffer }, index: number, plain: Buffer) => Promise<StripeManifest>

/**
 * Collects the stripes of a put in order; keeps them in memory while the
 * list is small, streams them out in segments once it is not.
 *
 * @example
 * const list = new StripeListWriter(manifest, masterKey, storeSegment)
 * for (const stripe of doneInOrder) await list.add(stripe)
 * await list.finish() // fills manifest.stripes or manifest.stripeList
 */
export class StripeListWriter {
  private readonly manifest: Manifest
  private readonly masterKey: Buffer
  private readonly store: SegmentStore
  private readonly inlineMaxBytes = envBytes(MANIFEST_INLINE_MAX_BYTES_VARIABLE, MANIFEST_INLINE_MAX_BYTES)
  private readonly segmentBytes = envBytes(MANIFEST_SEGMENT_BYTES_VARIABLE, MANIFEST_SEGMENT_BYTES)
  private buffered: string[] = []
  private bufferedBytes = 0
  private count = 0
  private blob: Manifest | undefined
  private blobKeys: { dataKey: Buffer, nonceBase: Buffer } | undefined

  /** `manifest` is the version's manifest (its coding parameters are the blob's too). */
  constructor (manifest: Manifest, masterKey: Buffer, store: SegmentStore) {
    this.manifest = manifest
    this.masterKey = masterKey
    this.store = store
  }

  /** Add the next stripe (stripes must come in index order). */
  async add (stripe: StripeManifest): Promise<void> {
    const text = JSON.stringify(stripe)
    this.buffered.push(text)
    this.bufferedBytes += Buffer.byteLength(text) + 1
    this.count++
    if (this.blob === undefined && this.bufferedBytes > this.inlineMaxBytes) this.startBlob()
    if (this.blob !== undefined && this.bufferedBytes >= this.segmentBytes) await this.flushSegment()
  }

  private startBlob (): void {
    const dataKey = generateDataKey()
    const nonceBase = randomBytes(8)
    this.blobKeys = { dataKey, nonceBase }
    // A full manifest: fields of the version's (coding parameters, any codec) carry over.
    const { inline: _inline, stripeList: _list, ...base } = this.manifest
    this.blob = { ...base, form: 'stripes', stripeSizeBytes: this.segmentBytes, wrappedKey: wrapDataKey(this.masterKey, dataKey), nonceBase: nonceBase.toString('base64'), stripes: [] }
  }

  private async flushSegment (): Promise<void> {
    const blob = this.blob as Manifest
    const plain = Buffer.from(`[${this.buffered.join(',')}]`)
    this.buffered = []
    this.bufferedBytes = 0
    blob.stripes.push(await this.store(this.blobKeys as { dataKey: Buffer, nonceBase: Buffer }, blob.stripes.length, plain))
  }

  /** Write the last segment and set the manifest's stripe list (in the record or as a reference). */
  async finish (): Promise<void> {
    if (this.blob === undefined) {
      this.manifest.stripes = this.buffered.map((t) => JSON.parse(t) as StripeManifest)
      return
    }
    if (this.buffered.length > 0) await this.flushSegment()
    const ref: StripeListRef = { stripeCount: this.count, manifest: this.blob }
    this.manifest.form = 'segments'
    this.manifest.stripes = []
    this.manifest.stripeList = ref
  }
}

/**
 * The stripes of a version, in order, whatever the manifest's form: from the
 * record, or read segment by segment from the blob with `readSegments`.
 */
export async function * stripesOf (manifest: Manifest, readSegments: (blob: Manifest) => AsyncIterable<Buffer>): AsyncGenerator<StripeManifest> {
  const form = manifest.form ?? 'stripes'
  if (form === 'stripes') {
    yield * manifest.stripes
    return
  }
  if (form !== 'segments' || manifest.stripeList === undefined || (manifest.stripeList.manifest.form ?? 'stripes') !== 'stripes') {
    throw new CairnError('BAD_INPUT', `unsupported manifest form ${String(form)}`, 'upgrade Cairn on this node: the version was written by a newer one')
  }
  const expected = manifest.stripeList.stripeCount
  let seen = 0
  for await (const plain of readSegments(manifest.stripeList.manifest)) {
    let segment: unknown
    try {
      segment = JSON.parse(plain.toString('utf8'))
    } catch {
      segment = undefined
    }
    if (!Array.isArray(segment)) throw new CairnError('BAD_INPUT', 'a segment of the stripe list is not a JSON array', 'the manifest of this version is damaged')
    seen += segment.length
    if (seen > expected) break
    yield * (segment as StripeManifest[])
  }
  if (seen !== expected) throw new CairnError('BAD_INPUT', `the stripe list has ${seen} stripes, the record says ${expected}`, 'the manifest of this version is damaged')
}
