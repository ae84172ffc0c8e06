/**
 * S3 client helpers for the integration tests: a client aimed at one node's
 * S3 endpoint the way the tests use it, the code and status of an S3 error,
 * a node's endpoint from its status, a whole GET body, and ETags as S3
 * computes them.
 *
 * @example
 * const s3 = s3Client(await s3Endpoint(c, 'node-1'), key)
 * assert.equal((await s3Error(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'nope' })))).code, 'NoSuchKey')
 */
import { createHash } from 'node:crypto'
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import type { TestCluster } from './cluster.ts'

/** An S3 access key as `cairn key create NAME --json` prints it. */
export interface S3Key { accessKeyId: string, secretAccessKey: string }

/** A path-style us-east-1 client for `endpoint`, without retries (a test sees the first answer). */
export function s3Client (endpoint: string, key: S3Key, extra: Record<string, unknown> = {}): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: key, maxAttempts: 1, ...extra })
}

/** The S3 error code and HTTP status `promise` rejects with; throws if it succeeds or fails otherwise. */
export async function s3Error (promise: Promise<unknown>, what = 'the request'): Promise<{ code: string, status: number }> {
  try {
    await promise
  } catch (err) {
    if (err instanceof S3ServiceException) return { code: err.name, status: err.$metadata.httpStatusCode ?? 0 }
    throw err
  }
  throw new Error(`${what} succeeded`)
}

/** The S3 endpoint of node `name`, from its status document. */
export async function s3Endpoint (c: TestCluster, name: string): Promise<string> {
  return ((await c.apiStatus(name)) as unknown as { s3: string }).s3
}

/** The whole body of a GetObject answer. */
export async function bodyBytes (body: unknown): Promise<Buffer> {
  return Buffer.from(await (body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
}

/** Hex MD5 of `bytes` (a single-part ETag without its quotes). */
export function md5 (bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex')
}

/** The ETag S3 gives a multipart object of these parts: `"<MD5 of the parts' binary MD5s>-N"`. */
export function multipartEtag (parts: Uint8Array[]): string {
  return `"${createHash('md5').update(Buffer.concat(parts.map((p) => Buffer.from(md5(p), 'hex')))).digest('hex')}-${parts.length}"`
}
