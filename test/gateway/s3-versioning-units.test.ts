/**
 * Goal: the pure parts of S3 versioning, tagging and checksums behave as S3
 * documents them: ListObjectVersions pages (keys in byte order, versions
 * newest first, common prefixes counted once, resuming from key and
 * version markers without repeating or skipping an entry), Version and
 * DeleteMarker elements rendered in the order given, x-amz-tagging headers
 * parsed and S3's tag limits refused with InvalidTag, the one declared
 * x-amz-checksum-* found (two, or an unknown one, refused), and replicated
 * tag and versioning records validated on decode.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { declaredChecksum, newChecksum } from '../../src/gateway/s3/checksums.ts'
import { S3Error } from '../../src/gateway/s3/errors.ts'
import { parseTaggingHeader } from '../../src/gateway/s3/tagging.ts'
import { versionsPage } from '../../src/gateway/s3/versioning.ts'
import { XML_SEQUENCE, xmlDocument } from '../../src/gateway/s3/xml.ts'
import { parseRecord } from '../../src/meta/codec.ts'
import type { VersionInfo } from '../../src/meta/types.ts'

const code = (fn: () => unknown): string => {
  try { fn() } catch (err) { if (err instanceof S3Error) return err.code; throw err }
  return 'none'
}

function version (key: string, id: string): VersionInfo {
  return { id, bucket: 'b', key, size: 1, timeMs: 0, node: 'n', nodeName: 'n', deleteMarker: false, current: false, sha256: '' }
}

/** A replica of versions in S3's order, paged like MetaStore.versionPage. */
function replica (versions: VersionInfo[], prefix = ''): (afterKey: string, afterVersionId: string | undefined, limit: number) => VersionInfo[] {
  const sorted = [...versions].sort((a, b) => (a.key === b.key ? (a.id < b.id ? 1 : -1) : Buffer.compare(Buffer.from(a.key), Buffer.from(b.key))))
  return (afterKey, afterVersionId, limit) => sorted.filter((v) => v.key.startsWith(prefix)).filter((v) => v.key > afterKey || (afterVersionId !== undefined && v.key === afterKey && v.id < afterVersionId)).slice(0, limit)
}

describe('S3 versioning, tagging and checksum units', () => {
  const all = [version('a/1', 'v1'), version('a/1', 'v2'), version('a/2', 'v3'), version('b', 'v4'), version('b', 'v5'), version('b', 'v6'), version('c/x/y', 'v7'), version('é', 'v8')]
  const names = (entries: ReturnType<typeof versionsPage>['entries']): string[] => entries.map((e) => ('prefix' in e ? `P:${e.prefix}` : `${e.version.key}@${e.version.id}`))

  it('ListObjectVersions: byte order, newest first, and prefixes once', () => {
    const page = versionsPage(replica(all), '', '/', '', undefined, 1000)
    assert.deepEqual(names(page.entries), ['P:a/', 'b@v6', 'b@v5', 'b@v4', 'P:c/', 'é@v8'])
    assert.equal(page.truncated, false)
    const inA = versionsPage(replica(all, 'a/'), 'a/', '/', '', undefined, 1000)
    assert.deepEqual(names(inA.entries), ['a/1@v2', 'a/1@v1', 'a/2@v3'])
  })

  it('ListObjectVersions: pages resume from the key and version markers without repeats or gaps', () => {
    for (const delimiter of ['', '/']) {
      const expected = names(versionsPage(replica(all), '', delimiter, '', undefined, 1000).entries)
      for (const size of [1, 2, 3]) {
        const seen: string[] = []
        let keyMarker = ''
        let versionMarker: string | undefined
        for (let pageNo = 0; pageNo < 20; pageNo++) {
          const page = versionsPage(replica(all), '', delimiter, keyMarker, versionMarker, size)
          assert.ok(page.entries.length <= size)
          seen.push(...names(page.entries))
          if (!page.truncated) break
          const last = page.entries[page.entries.length - 1]
          assert.ok(last !== undefined)
          if ('prefix' in last) { keyMarker = last.prefix; versionMarker = undefined } else { keyMarker = last.version.key; versionMarker = last.version.id }
        }
        assert.deepEqual(seen, expected, `pages of ${size}, delimiter ${JSON.stringify(delimiter)}`)
      }
    }
  })

  it('renders Version and DeleteMarker elements in the order given', () => {
    const xml = xmlDocument('ListVersionsResult', { Name: 'b', [XML_SEQUENCE]: [{ Version: { Key: 'k', VersionId: '2' } }, { DeleteMarker: { Key: 'k', VersionId: '1' } }, { Version: { Key: 'k', VersionId: '0' } }] })
    assert.match(xml, /<Name>b<\/Name><Version><Key>k<\/Key><VersionId>2<\/VersionId><\/Version><DeleteMarker><Key>k<\/Key><VersionId>1<\/VersionId><\/DeleteMarker><Version>/)
  })

  it('x-amz-tagging: URL-encoded pairs; S3 limits are InvalidTag', () => {
    assert.deepEqual(parseTaggingHeader('project=cairn&note=two%20words&empty='), [{ key: 'project', value: 'cairn' }, { key: 'note', value: 'two words' }, { key: 'empty', value: '' }])
    assert.deepEqual(parseTaggingHeader(''), [])
    assert.equal(code(() => parseTaggingHeader('a=1&a=2')), 'InvalidTag')
    assert.equal(code(() => parseTaggingHeader(Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&'))), 'InvalidTag')
    assert.equal(code(() => parseTaggingHeader(`${'k'.repeat(129)}=v`)), 'InvalidTag')
    assert.equal(code(() => parseTaggingHeader(`k=${'v'.repeat(257)}`)), 'InvalidTag')
    assert.equal(code(() => parseTaggingHeader(`${'k'.repeat(128)}=${'é'.repeat(256)}`)), 'none')
    assert.equal(code(() => parseTaggingHeader('=v')), 'InvalidTag')
  })

  it('finds the one declared checksum; two, or an unknown one, are InvalidRequest', () => {
    assert.deepEqual(declaredChecksum({ 'x-amz-checksum-crc32c': '4waSgw==' }), { algorithm: 'crc32c', value: '4waSgw==' })
    assert.deepEqual(declaredChecksum({ 'x-amz-trailer': 'x-amz-checksum-crc64nvme', 'x-amz-checksum-mode': 'ENABLED' }), { algorithm: 'crc64nvme' })
    assert.equal(declaredChecksum({ 'content-type': 'x' }), undefined)
    assert.equal(code(() => declaredChecksum({ 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-sha1': 'x' })), 'InvalidRequest')
    assert.equal(code(() => declaredChecksum({ 'x-amz-checksum-md4': 'x' })), 'InvalidRequest')
    assert.equal(code(() => declaredChecksum({ 'x-amz-trailer': 'x-amz-checksum-nope' })), 'InvalidRequest')
    const crc = newChecksum('crc32c')
    crc.update(Buffer.from('1234'))
    crc.update(Buffer.from('56789'))
    assert.equal(crc.value(), Buffer.from('e3069283', 'hex').toString('base64'))
  })

  it('replicated tag and versioning records are validated on decode', () => {
    const base = { v: 1, hlc: '000000000001-0000', origin: 'peer', tombstone: false } as const
    assert.doesNotThrow(() => parseRecord({ ...base, table: 'tagging', pk: 'v1', body: { tags: [{ key: 'a', value: '1' }] } }))
    assert.throws(() => parseRecord({ ...base, table: 'tagging', pk: 'v1', body: { tags: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] } }), /appears twice/)
    assert.throws(() => parseRecord({ ...base, table: 'tagging', pk: 'v1', body: { tags: Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: '' })) } }), /at most 10/)
    assert.throws(() => parseRecord({ ...base, table: 'tagging', pk: 'v1', body: { tags: 'a=1' } }), /bad tags/)
    assert.doesNotThrow(() => parseRecord({ ...base, table: 'bucket', pk: 'b', body: { createdMs: 1, versioning: 'Suspended' } }))
    assert.throws(() => parseRecord({ ...base, table: 'bucket', pk: 'b', body: { createdMs: 1, versioning: 'Sometimes' } }), /bad bucket versioning/)
    const versionBody = { bucket: 'b', key: 'k', size: 0, timeMs: 0, nodeName: 'n', deleteMarker: true, sha256: '' }
    assert.throws(() => parseRecord({ ...base, table: 'version', pk: 'v', body: { ...versionBody, nullVersion: 'yes' } }), /null-version/)
    assert.throws(() => parseRecord({ ...base, table: 'version', pk: 'v', body: { ...versionBody, meta: { checksum: { algorithm: 'md5', value: 'x' } } } }), /checksum/)
  })
})
