/**
 * The local content-addressed shard store: the only place that reads or writes
 * shard files.
 *
 * Safety rules, in order of importance:
 * - A shard is stored only if its bytes hash to its name (checked before writing).
 * - put() resolves only once the shard is durable: temp file written and
 *   fsynced, renamed into place, directory fsynced (batched, see dir-sync.ts).
 *   A crash leaves either no file or the whole file, plus maybe a temp file
 *   that open() deletes.
 * - get() re-hashes every read; a bad shard is moved to `quarantine/`,
 *   reported through `onCorrupt`, and never served.
 * - Operations on one hash run one at a time (a per-hash lock), so concurrent
 *   puts, deletes and quarantines cannot double-count bytes or race renames.
 * - The quota counts reserved bytes of writes in flight, so concurrent puts
 *   never overshoot it.
 */
import { mkdir, opendir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { sha256Hex, isSha256Hex } from '../crypto/index.ts'
import { CairnError, assert } from '../util/errors.ts'
import { MAX_SHARD_SIZE_BYTES, TEMP_FILE_PREFIX } from './constants.ts'
import { createDirSyncer } from './dir-sync.ts'
import { checkShardHash, createLayout } from './layout.ts'
import type { StoreLayout } from './layout.ts'
import type { ShardStore, ShardStoreInit, ShardStoreOptions, ShardStoreStats } from './types.ts'

interface StoreState {
  opened: boolean
  closed: boolean
  usedBytes: number
  reservedBytes: number
  shardCount: number
  corrupt: Set<string>
  locks: Map<string, Promise<unknown>>
}

function errnoCode (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

function ioError (action: string, hashHex: string, err: unknown): CairnError {
  const code = errnoCode(err)
  if (code === 'ENOSPC') {
    return new CairnError('QUOTA_EXCEEDED', `shard store: the disk is full while ${action} shard ${hashHex}`,
      'free disk space or lower this node\'s quota below the free space', { errno: code })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new CairnError('INTERNAL', `shard store: ${action} shard ${hashHex} failed: ${message}`,
    'check the disk and the permissions of the store directory', { errno: code })
}

/** Run `fn` after every earlier operation on `key` has settled. */
function withLock<T> (locks: Map<string, Promise<unknown>>, key: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve()
  const run = previous.catch(() => undefined).then(fn)
  const tail = run.catch(() => undefined)
  locks.set(key, tail)
  void tail.then(() => { if (locks.get(key) === tail) locks.delete(key) })
  return run
}

async function fileSize (path: string): Promise<number | null> {
  try {
    return (await stat(path)).size
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null
    throw err
  }
}

async function createDirectories (layout: StoreLayout, dir: string): Promise<void> {
  const syncer = createDirSyncer()
  await mkdir(layout.shardsDir, { recursive: true })
  await mkdir(layout.quarantineDir, { recursive: true })
  await Promise.all(layout.fanOutNames().map((name) => mkdir(`${layout.shardsDir}/${name}`, { recursive: true })))
  // New directory entries are durable only once their parents are synced.
  await Promise.all([syncer.sync(dir), syncer.sync(layout.shardsDir)])
}

/** Count shards and bytes of one fan-out directory, deleting stale temp files. */
async function scanFanOut (fanOutPath: string, prefix: string): Promise<{ bytes: number, count: number }> {
  let bytes = 0
  let count = 0
  for (const entry of await readdir(fanOutPath, { withFileTypes: true })) {
    const path = `${fanOutPath}/${entry.name}`
    if (entry.name.startsWith(TEMP_FILE_PREFIX)) {
      await unlink(path).catch(() => undefined)
    } else if (entry.isFile() && isSha256Hex(entry.name) && entry.name.startsWith(prefix)) {
      const size = await fileSize(path)
      if (size !== null) { bytes += size; count++ }
    }
  }
  return { bytes, count }
}

/**
 * A shard store rooted at `init.dir`; call `open()` before use.
 *
 * @example
 * const store = createShardStore({ dir: '/var/cairn', quotaBytes: 50e9, onCorrupt: (h) => { reports.push(h) } })
 * await store.open()
 * await store.put(sha256Hex(bytes), bytes)
 * const bytes = await store.get(hash) // null when absent or corrupt
 */
export function createShardStore (init: ShardStoreInit): ShardStore {
  if (typeof init.dir !== 'string' || init.dir.length === 0) {
    throw new CairnError('CONFIG', 'shard store needs a directory', 'set the node\'s data directory')
  }
  if (!Number.isSafeInteger(init.quotaBytes) || init.quotaBytes < 0) {
    throw new CairnError('CONFIG', `shard store quota must be a whole number of bytes >= 0, got ${init.quotaBytes}`, 'set the node\'s quota, e.g. 50GB')
  }
  const layout = createLayout(init.dir)
  const syncer = createDirSyncer()
  const state: StoreState = {
    opened: false, closed: false, usedBytes: 0, reservedBytes: 0, shardCount: 0, corrupt: new Set(), locks: new Map()
  }

  function checkOpen (): void {
    assert(state.opened, 'shard store used before open()')
    if (state.closed) throw new CairnError('INTERNAL', 'shard store is closed', 'the node is shutting down; retry on another node')
  }

  async function open (options?: ShardStoreOptions): Promise<void> {
    assert(!state.opened, 'shard store opened twice')
    await createDirectories(layout, init.dir)
    for (const name of layout.fanOutNames()) {
      options?.signal?.throwIfAborted()
      const { bytes, count } = await scanFanOut(layout.fanOutDir(name), name)
      state.usedBytes += bytes
      state.shardCount += count
    }
    for (const name of await readdir(layout.quarantineDir)) {
      if (isSha256Hex(name)) state.corrupt.add(name)
    }
    state.opened = true
  }

  async function close (): Promise<void> {
    state.closed = true
    await Promise.all([...state.locks.values()])
  }

  function reserve (hashHex: string, sizeBytes: number): void {
    const committed = state.usedBytes + state.reservedBytes
    if (committed + sizeBytes > init.quotaBytes) {
      throw new CairnError('QUOTA_EXCEEDED',
        `shard store quota exceeded: ${state.usedBytes} of ${init.quotaBytes} bytes used (${state.reservedBytes} reserved), shard ${hashHex} needs ${sizeBytes}`,
        'raise this node\'s quota or delete old versions; the engine places the shard on another node meanwhile',
        { usedBytes: state.usedBytes, reservedBytes: state.reservedBytes, quotaBytes: init.quotaBytes, shardBytes: sizeBytes })
    }
    state.reservedBytes += sizeBytes
  }

  async function writeDurably (hashHex: string, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const tempPath = layout.tempPath(hashHex)
    try {
      // flush: true fsyncs the file before it is closed, so the rename below
      // can never expose a file whose data is not on disk yet.
      await writeFile(tempPath, bytes, { flag: 'wx', flush: true, signal })
      await rename(tempPath, layout.shardPath(hashHex))
    } catch (err) {
      await unlink(tempPath).catch(() => undefined)
      if (signal?.aborted === true) throw err
      throw ioError('writing', hashHex, err)
    }
    await syncer.sync(layout.fanOutDir(hashHex)).catch((err: unknown) => { throw ioError('syncing the directory of', hashHex, err) })
  }

  async function put (hashHex: string, bytes: Uint8Array, options?: ShardStoreOptions): Promise<void> {
    checkOpen()
    checkShardHash(hashHex)
    if (bytes.length > MAX_SHARD_SIZE_BYTES) {
      throw new CairnError('TOO_LARGE', `shard ${hashHex} is ${bytes.length} bytes, above the ${MAX_SHARD_SIZE_BYTES}-byte limit`, 'use a smaller stripe size')
    }
    if (sha256Hex(bytes) !== hashHex) {
      throw new CairnError('CORRUPT_SHARD', `shard bytes do not hash to ${hashHex}`, 'the sender has a damaged copy; fetch it from another holder')
    }
    await withLock(state.locks, hashHex, async () => {
      options?.signal?.throwIfAborted()
      if (await fileSize(layout.shardPath(hashHex)) !== null) return
      reserve(hashHex, bytes.length)
      try {
        await writeDurably(hashHex, bytes, options?.signal)
        state.usedBytes += bytes.length
        state.shardCount++
      } finally {
        state.reservedBytes -= bytes.length
      }
    })
  }

  async function quarantine (hashHex: string, sizeBytes: number): Promise<void> {
    try {
      await rename(layout.shardPath(hashHex), layout.quarantinePath(hashHex))
    } catch (err) {
      // Moving failed (e.g. a read-only quarantine): delete, so it is never served.
      if (errnoCode(err) !== 'ENOENT') await unlink(layout.shardPath(hashHex)).catch(() => undefined)
    }
    state.usedBytes -= sizeBytes
    state.shardCount--
    state.corrupt.add(hashHex)
    try {
      init.onCorrupt?.(hashHex)
    } catch {
      // A failing listener must not turn a handled corruption into a failed read.
    }
  }

  async function get (hashHex: string, options?: ShardStoreOptions): Promise<Buffer | null> {
    checkOpen()
    checkShardHash(hashHex)
    return await withLock(state.locks, hashHex, async () => {
      let bytes: Buffer
      try {
        bytes = await readFile(layout.shardPath(hashHex), { signal: options?.signal })
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return null
        if (options?.signal?.aborted === true) throw err
        throw ioError('reading', hashHex, err)
      }
      if (sha256Hex(bytes) === hashHex) return bytes
      await quarantine(hashHex, bytes.length)
      return null
    })
  }

  async function has (hashHex: string): Promise<boolean> {
    checkOpen()
    checkShardHash(hashHex)
    return await fileSize(layout.shardPath(hashHex)) !== null
  }

  async function sizeOf (hashHex: string): Promise<number | null> {
    checkOpen()
    checkShardHash(hashHex)
    return await fileSize(layout.shardPath(hashHex))
  }

  async function remove (hashHex: string): Promise<boolean> {
    checkOpen()
    checkShardHash(hashHex)
    // No directory fsync: a delete lost in a crash leaves a shard that garbage
    // collection removes again, and open() recounts the bytes.
    return await withLock(state.locks, hashHex, async () => {
      const size = await fileSize(layout.shardPath(hashHex))
      if (size === null) return false
      try {
        await unlink(layout.shardPath(hashHex))
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return false
        throw ioError('deleting', hashHex, err)
      }
      state.usedBytes -= size
      state.shardCount--
      return true
    })
  }

  async function * list (options?: ShardStoreOptions): AsyncIterableIterator<string> {
    checkOpen()
    for (const name of layout.fanOutNames()) {
      options?.signal?.throwIfAborted()
      const dir = await opendir(layout.fanOutDir(name))
      for await (const entry of dir) {
        if (entry.isFile() && isSha256Hex(entry.name) && entry.name.startsWith(name)) yield entry.name
      }
    }
  }

  function stats (): ShardStoreStats {
    return { usedBytes: state.usedBytes, quotaBytes: init.quotaBytes, shardCount: state.shardCount, corruptCount: state.corrupt.size }
  }

  return {
    open, close, put, get, has, sizeOf, delete: remove, list, stats,
    corruptShards: () => [...state.corrupt].sort()
  }
}
