/**
 * Validation of bucket names and object keys, shared by every interface.
 * Bucket names follow S3's rules so any S3 client can use them; keys are
 * UTF-8 up to 1024 bytes with no NUL byte and no `.` or `..` path segment
 * (so a key can never escape a folder when synced to a file system).
 */
import { CairnError } from '../util/errors.ts'

/** Longest object key, in UTF-8 bytes (S3's limit). */
export const MAX_KEY_BYTES = 1024

const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/**
 * Throw BAD_BUCKET unless `name` is a valid bucket name.
 *
 * @example
 * checkBucketName('photos') // ok
 */
export function checkBucketName (name: string): void {
  if (name === '') throw new CairnError('BAD_BUCKET', 'the bucket name is empty', 'write BUCKET/KEY, e.g. photos/2024/a.jpg')
  if (!BUCKET_PATTERN.test(name) || name.includes('..')) {
    throw new CairnError('BAD_BUCKET', `invalid bucket name ${JSON.stringify(name)}`, 'use 3-63 characters: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit')
  }
}

/** Throw BAD_KEY unless `key` is a valid object key. */
export function checkObjectKey (key: string): void {
  if (key === '') throw new CairnError('BAD_KEY', 'the object key is empty', 'write BUCKET/KEY, e.g. photos/2024/a.jpg')
  if (key.includes('\u0000')) throw new CairnError('BAD_KEY', 'the object key contains a NUL byte', 'remove the NUL byte from the key')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new CairnError('BAD_KEY', `the object key is ${Buffer.byteLength(key)} bytes long`, `keep keys under ${MAX_KEY_BYTES} bytes`)
  if (key.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new CairnError('BAD_KEY', `the object key ${JSON.stringify(key)} contains a "." or ".." segment`, 'use a key without relative path segments')
  }
}

/**
 * Split `BUCKET/KEY` (or `BUCKET` when `keyOptional`).
 *
 * @example
 * splitPath('photos/2024/a.jpg') // { bucket: 'photos', key: '2024/a.jpg' }
 */
export function splitPath (path: string, keyOptional = false): { bucket: string, key: string } {
  const slash = path.indexOf('/')
  const bucket = slash === -1 ? path : path.slice(0, slash)
  const key = slash === -1 ? '' : path.slice(slash + 1)
  checkBucketName(bucket)
  if (!keyOptional || key !== '') {
    if (key === '' && !keyOptional) throw new CairnError('BAD_KEY', `${JSON.stringify(path)} names no object key`, 'write BUCKET/KEY, e.g. photos/2024/a.jpg')
  }
  return { bucket, key }
}
