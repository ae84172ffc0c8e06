/**
 * S3's additional checksums (x-amz-checksum-crc32 / crc32c / crc64nvme /
 * sha1 / sha256): which one a request declares, in a header or announced by
 * x-amz-trailer, and a running checksum per algorithm whose value is the
 * base64 of the big-endian digest, as S3 encodes it. The value a client
 * sent is verified against the body (BadDigest) before the version is
 * committed, stored with the version (ObjectMeta.checksum) and returned on
 * GET/HEAD with `x-amz-checksum-mode: ENABLED`.
 */
import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { crc32 } from 'node:zlib'
import { CHECKSUM_ALGORITHMS } from '../../meta/types.ts'
import type { ChecksumAlgorithm } from '../../meta/types.ts'
import { crc32c, Crc64Nvme } from '../../util/crc.ts'
import { S3Error } from './errors.ts'

/** A running checksum of a body. */
export interface RunningChecksum {
  update: (bytes: Buffer) => void
  /** base64 of the digest of everything fed so far. */
  value: () => string
}

/** A running checksum for `algorithm`. */
export function newChecksum (algorithm: ChecksumAlgorithm): RunningChecksum {
  switch (algorithm) {
    case 'crc32':
    case 'crc32c': {
      const fn = algorithm === 'crc32' ? crc32 : crc32c
      let crc = 0
      return { update: (b) => { crc = fn(b, crc) }, value: () => { const out = Buffer.alloc(4); out.writeUInt32BE(crc >>> 0); return out.toString('base64') } }
    }
    case 'crc64nvme': {
      const c = new Crc64Nvme()
      return { update: (b) => { c.update(b) }, value: () => c.digest().toString('base64') }
    }
    case 'sha1':
    case 'sha256': {
      const h = createHash(algorithm)
      return { update: (b) => { h.update(b) }, value: () => h.digest('base64') }
    }
  }
}

/** The algorithm of a header name `x-amz-checksum-NAME`, or undefined for other headers. */
export function algorithmOfHeader (name: string): ChecksumAlgorithm | undefined {
  const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(name.toLowerCase())
  return m !== null && (CHECKSUM_ALGORITHMS as readonly string[]).includes(m[1] as string) ? m[1] as ChecksumAlgorithm : undefined
}

/** The checksum one upload declares: its algorithm and the value from the header (undefined when it comes in the trailer). */
export interface DeclaredChecksum {
  algorithm: ChecksumAlgorithm
  value?: string
}

// Headers that share the prefix but carry no checksum value.
const NOT_A_VALUE = new Set(['x-amz-checksum-mode', 'x-amz-checksum-type', 'x-amz-checksum-algorithm'])

/**
 * The checksum a PutObject (or UploadPart) declares: at most one
 * x-amz-checksum-ALGO header or an x-amz-trailer naming one. More than one,
 * or an algorithm S3 does not define, is InvalidRequest.
 */
export function declaredChecksum (headers: IncomingHttpHeaders): DeclaredChecksum | undefined {
  const found: DeclaredChecksum[] = []
  for (const [name, raw] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-checksum-') || NOT_A_VALUE.has(name)) continue
    const algorithm = algorithmOfHeader(name)
    if (algorithm === undefined) throw new S3Error('InvalidRequest', `${name} is not a checksum S3 defines; use one of ${CHECKSUM_ALGORITHMS.map((a) => `x-amz-checksum-${a}`).join(', ')}`)
    found.push({ algorithm, value: Array.isArray(raw) ? raw.join(',') : String(raw) })
  }
  const trailer = String(headers['x-amz-trailer'] ?? '').trim().toLowerCase()
  if (trailer !== '') {
    const algorithm = algorithmOfHeader(trailer)
    if (algorithm === undefined) throw new S3Error('InvalidRequest', `The trailer ${trailer} is not a checksum S3 defines`)
    found.push({ algorithm })
  }
  if (found.length > 1) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum types are not allowed.')
  return found[0]
}

/** The response headers of a stored checksum (GET/HEAD with x-amz-checksum-mode: ENABLED). */
export function checksumHeaders (checksum: { algorithm: ChecksumAlgorithm, value: string } | undefined): Record<string, string> {
  if (checksum === undefined) return {}
  return { [`x-amz-checksum-${checksum.algorithm}`]: checksum.value, 'x-amz-checksum-type': 'FULL_OBJECT' }
}
