/**
 * S3 object tagging: PutObjectTagging, GetObjectTagging,
 * DeleteObjectTagging (also of one version, `versionId`), and the parsing
 * of the `x-amz-tagging` header of PutObject and CopyObject. Tags are a
 * mutable record per version (table `tagging`): changing them makes no new
 * version. S3's limits (10 tags, keys of 1-128 and values of up to 256
 * characters, each key once) are InvalidTag.
 */
import { tagsProblem } from '../../meta/codec.ts'
import type { Tag } from '../../meta/types.ts'
import { S3Error } from './errors.ts'
import type { S3Request } from './server.ts'
import { sendXml } from './server.ts'
import { readableVersion, versionIdHeader } from './versioning.ts'
import { checkWellFormed, elementBlocks, elementTexts, readXmlBody } from './xml.ts'

function invalidTag (problem: string): never {
  throw new S3Error('InvalidTag', `The TagSet is not valid: ${problem}.`)
}

/** Check S3's limits on a tag set; InvalidTag otherwise. */
export function checkTagSet (tags: Tag[]): Tag[] {
  const problem = tagsProblem(tags)
  if (problem !== undefined) invalidTag(problem)
  return tags
}

/**
 * The tags of an `x-amz-tagging` header (URL-encoded `k1=v1&k2=v2`).
 *
 * @example
 * parseTaggingHeader('project=cairn&team=storage') // [{ key: 'project', value: 'cairn' }, ...]
 */
export function parseTaggingHeader (value: string): Tag[] {
  if (value.trim() === '') return []
  const tags: Tag[] = []
  for (const part of value.split('&')) {
    const at = part.indexOf('=')
    const decode = (text: string): string => {
      try { return decodeURIComponent(text.replace(/\+/g, ' ')) } catch { return invalidTag('the x-amz-tagging header is not validly URL-encoded') }
    }
    tags.push({ key: decode(at < 0 ? part : part.slice(0, at)), value: at < 0 ? '' : decode(part.slice(at + 1)) })
  }
  return checkTagSet(tags)
}

/** Dispatch `?tagging` on an object. */
export async function objectTagging (s3: S3Request): Promise<void> {
  if (s3.engine.bucket(s3.bucket) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: s3.bucket })
  switch (s3.method) {
    case 'GET': return getObjectTagging(s3)
    case 'PUT': return await putObjectTagging(s3)
    case 'DELETE': return await deleteObjectTagging(s3)
    default: throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }
}

function getObjectTagging (s3: S3Request): void {
  s3.authorize(s3.bucket, 'read')
  const v = readableVersion(s3, s3.bucket, s3.key, s3.query.get('versionId'))
  const tags = s3.engine.tags(v.id)
  sendXml(s3.res, 200, 'Tagging', { TagSet: { Tag: tags.map((t) => ({ Key: t.key, Value: t.value })) } }, versionIdHeader(s3.engine.versioning(s3.bucket), v))
}

async function putObjectTagging (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const xml = await readXmlBody(s3)
  checkWellFormed(xml)
  const sets = elementBlocks(xml, 'TagSet')
  if (elementBlocks(xml, 'Tagging').length !== 1 || sets.length !== 1) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.')
  const tags: Tag[] = elementBlocks(sets[0] as string, 'Tag').map((block) => {
    const key = elementTexts(block, 'Key')
    const value = elementTexts(block, 'Value')
    if (key.length !== 1 || value.length > 1) throw new S3Error('MalformedXML', 'Each Tag needs one Key and at most one Value.')
    return { key: key[0] as string, value: value[0] ?? '' }
  })
  checkTagSet(tags)
  const v = readableVersion(s3, s3.bucket, s3.key, s3.query.get('versionId'))
  await s3.engine.setTags(s3.bucket, s3.key, v.id, tags, s3.signal)
  s3.res.writeHead(200, { 'content-length': 0, ...versionIdHeader(s3.engine.versioning(s3.bucket), v) })
  s3.res.end()
}

async function deleteObjectTagging (s3: S3Request): Promise<void> {
  s3.authorize(s3.bucket, 'write')
  const v = readableVersion(s3, s3.bucket, s3.key, s3.query.get('versionId'))
  await s3.engine.setTags(s3.bucket, s3.key, v.id, [], s3.signal)
  s3.res.writeHead(204, versionIdHeader(s3.engine.versioning(s3.bucket), v))
  s3.res.end()
}
