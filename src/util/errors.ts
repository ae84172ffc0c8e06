/**
 * Operating errors of Cairn: one typed class with a stable `code`, a message
 * that says what happened, and a hint that says what to do. One table maps every
 * code to a CLI exit code and an HTTP status, so the CLI, the JSON API and
 * the S3 gateway report the same failure the same way.
 *
 * Programmer errors are not CairnErrors: they are assertions (see `assert`).
 */

/** Every error code Cairn reports, with its exit code and HTTP status. */
export const ERROR_CODES = {
  BAD_INPUT: { exit: 2, http: 400 },
  BAD_KEY: { exit: 2, http: 400 },
  BAD_BUCKET: { exit: 2, http: 400 },
  NOT_FOUND: { exit: 4, http: 404 },
  NO_SUCH_BUCKET: { exit: 4, http: 404 },
  NO_SUCH_VERSION: { exit: 4, http: 404 },
  UNAUTHORIZED: { exit: 5, http: 401 },
  NOT_ENOUGH_NODES: { exit: 6, http: 503 },
  NOT_ENOUGH_SHARDS: { exit: 6, http: 503 },
  QUOTA_EXCEEDED: { exit: 7, http: 507 },
  CORRUPT_SHARD: { exit: 8, http: 500 },
  PEER_ERROR: { exit: 9, http: 502 },
  PROTOCOL: { exit: 9, http: 502 },
  TIMEOUT: { exit: 10, http: 504 },
  NODE_UNREACHABLE: { exit: 11, http: 503 },
  CONFIG: { exit: 12, http: 500 },
  CONFLICT: { exit: 13, http: 409 },
  CLOCK_SKEW: { exit: 9, http: 502 },
  TOO_LARGE: { exit: 2, http: 413 },
  NO_SUCH_UPLOAD: { exit: 4, http: 404 },
  INVALID_PART: { exit: 2, http: 400 },
  INVALID_PART_ORDER: { exit: 2, http: 400 },
  ENTITY_TOO_SMALL: { exit: 2, http: 400 },
  INTERNAL: { exit: 1, http: 500 }
} as const satisfies Record<string, { exit: number, http: number }>

export type ErrorCode = keyof typeof ERROR_CODES

/**
 * An operating error: something a user or operator can act on.
 *
 * @example
 * throw new CairnError('NOT_FOUND', 'object photos/a.jpg does not exist', 'check the key with `cairn ls photos`')
 */
export class CairnError extends Error {
  readonly code: ErrorCode
  readonly hint: string | undefined
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message: string, hint?: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'CairnError'
    this.code = code
    this.hint = hint
    this.details = details
  }

  /** The exit code the CLI uses for this error. */
  get exitCode (): number { return ERROR_CODES[this.code].exit }

  /** The HTTP status the API answers with for this error. */
  get httpStatus (): number { return ERROR_CODES[this.code].http }

  /** One line for a terminal: what happened, then what to do. */
  oneLine (): string {
    return this.hint === undefined ? this.message : `${this.message}; ${this.hint}`
  }

  /** The JSON body the HTTP API sends for this error. */
  toJSON (): { error: { code: ErrorCode, message: string, hint?: string, details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.hint === undefined ? {} : { hint: this.hint }), ...(this.details === undefined ? {} : { details: this.details }) } }
  }
}

/** True when `code` is one of Cairn's error codes. */
export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)
}

/**
 * Crash on a programmer error. Never use for input from users, disks or peers.
 *
 * @example
 * assert(k > 0, 'k must be positive')
 */
export function assert (condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}

/** The message of any thrown value, for logs. */
export function errorMessage (err: unknown): string {
  if (err instanceof CairnError) return err.oneLine()
  if (err instanceof Error) return err.message
  return String(err)
}
