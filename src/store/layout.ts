/**
 * Where a shard lives on disk, and validation of shard names: only 64
 * lowercase hex characters are ever turned into a path, so no name can escape
 * the store (`../`, absolute paths, separators, NUL are all refused).
 */
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { isSha256Hex } from '../crypto/index.ts'
import { CairnError } from '../util/errors.ts'
import { FAN_OUT_PREFIX_CHARS, QUARANTINE_DIR_NAME, SHARDS_DIR_NAME, TEMP_FILE_PREFIX } from './constants.ts'

/** Random bytes in a temp file name, so concurrent writers never share a temp file. */
const TEMP_SUFFIX_BYTES = 6

/**
 * Throw CairnError('BAD_INPUT') unless `hashHex` is 64 lowercase hex characters.
 *
 * @example
 * checkShardHash(hash) // throws for '../../etc/passwd'
 */
export function checkShardHash (hashHex: unknown): asserts hashHex is string {
  if (!isSha256Hex(hashHex)) {
    const shown = typeof hashHex === 'string' ? JSON.stringify(hashHex.slice(0, 80)) : typeof hashHex
    throw new CairnError('BAD_INPUT', `invalid shard hash ${shown}`, 'a shard hash is 64 lowercase hex characters (its SHA-256)')
  }
}

/** The paths of one store root. */
export interface StoreLayout {
  shardsDir: string
  quarantineDir: string
  fanOutDir: (hashHex: string) => string
  shardPath: (hashHex: string) => string
  tempPath: (hashHex: string) => string
  quarantinePath: (hashHex: string) => string
  fanOutNames: () => string[]
}

/**
 * The layout under `dir`: `shards/ab/abcdef…`, `quarantine/abcdef…`.
 *
 * @example
 * createLayout('/var/cairn').shardPath(hash) // '/var/cairn/shards/ab/ab…'
 */
export function createLayout (dir: string): StoreLayout {
  const shardsDir = join(dir, SHARDS_DIR_NAME)
  const quarantineDir = join(dir, QUARANTINE_DIR_NAME)
  const fanOutDir = (hashHex: string): string => join(shardsDir, hashHex.slice(0, FAN_OUT_PREFIX_CHARS))
  return {
    shardsDir,
    quarantineDir,
    fanOutDir,
    shardPath: (hashHex) => join(fanOutDir(hashHex), hashHex),
    tempPath: (hashHex) => join(fanOutDir(hashHex), `${TEMP_FILE_PREFIX}${hashHex}-${randomBytes(TEMP_SUFFIX_BYTES).toString('hex')}`),
    quarantinePath: (hashHex) => join(quarantineDir, hashHex),
    fanOutNames: () => {
      const count = 16 ** FAN_OUT_PREFIX_CHARS
      return Array.from({ length: count }, (_, i) => i.toString(16).padStart(FAN_OUT_PREFIX_CHARS, '0'))
    }
  }
}
