/**
 * S3 errors: the one error type of the S3 gateway, which knows its S3 code,
 * HTTP status and XML body, and the mapping of Cairn's own error codes onto
 * S3's (src/util/errors.ts holds Cairn's table).
 */
import { CairnError } from '../../util/errors.ts'
import type { ErrorCode } from '../../util/errors.ts'

/** HTTP status of every S3 error code this gateway sends. */
export const S3_ERROR_STATUS: Record<string, number> = {
  AccessDenied: 403,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  NoSuchUpload: 404,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidTag: 400,
  KeyTooLongError: 400,
  MalformedXML: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchVersion: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  ExpiredToken: 400
}

/**
 * An S3 error response.
 *
 * @example
 * throw new S3Error('NoSuchKey', 'The specified key does not exist.')
 */
export class S3Error extends Error {
  readonly code: string
  readonly status: number
  readonly extra: Record<string, string>
  /** Response headers the error carries (e.g. x-amz-delete-marker on a 404 of a deleted key). */
  readonly headers: Record<string, string>

  constructor (code: string, message: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'S3Error'
    this.code = code
    this.status = S3_ERROR_STATUS[code] ?? 400
    this.extra = extra
    this.headers = headers
  }
}

const FROM_CAIRN: Partial<Record<ErrorCode, string>> = {
  BAD_INPUT: 'InvalidArgument',
  BAD_KEY: 'InvalidArgument',
  BAD_BUCKET: 'InvalidBucketName',
  NOT_FOUND: 'NoSuchKey',
  NO_SUCH_BUCKET: 'NoSuchBucket',
  NO_SUCH_VERSION: 'NoSuchVersion',
  UNAUTHORIZED: 'AccessDenied',
  NOT_ENOUGH_NODES: 'ServiceUnavailable',
  NOT_ENOUGH_SHARDS: 'ServiceUnavailable',
  QUOTA_EXCEEDED: 'ServiceUnavailable',
  TOO_LARGE: 'EntityTooLarge',
  TIMEOUT: 'ServiceUnavailable',
  NODE_UNREACHABLE: 'ServiceUnavailable',
  CONFLICT: 'BucketAlreadyOwnedByYou',
  NO_SUCH_UPLOAD: 'NoSuchUpload',
  INVALID_PART: 'InvalidPart',
  INVALID_PART_ORDER: 'InvalidPartOrder',
  ENTITY_TOO_SMALL: 'EntityTooSmall'
}

/** The S3 error for any thrown value (a CairnError keeps its message). */
export function toS3Error (err: unknown): S3Error {
  if (err instanceof S3Error) return err
  if (err instanceof CairnError) return new S3Error(FROM_CAIRN[err.code] ?? 'InternalError', err.oneLine())
  return new S3Error('InternalError', 'We encountered an internal error. Please try again.')
}
