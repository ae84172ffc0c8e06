/**
 * Durable directory entries: fsync of a directory, batched per directory.
 *
 * A rename is durable only once its directory is fsynced. When many writes land
 * in one directory at once, one fsync can cover all renames that finished
 * before it started (group commit). A caller whose rename finished while an
 * fsync was already running cannot rely on that one, so it joins the next one,
 * which starts as soon as the running one ends. Every caller's promise resolves
 * only after an fsync that started after its rename: no durability is lost.
 */
import { open } from 'node:fs/promises'

/** Syncs directories, coalescing concurrent requests per directory. */
export interface DirSyncer {
  /** Resolve once an fsync of `dirPath` that began after this call has completed. */
  sync: (dirPath: string) => Promise<void>
}

interface DirState {
  running: Promise<void> | null
  queued: Promise<void> | null
}

/**
 * Windows cannot open a directory for fsync (NTFS journals its metadata
 * instead); these errors mean "not supported here", not a failure.
 */
const UNSUPPORTED_DIR_FSYNC_CODES = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL'])

async function fsyncDir (dirPath: string): Promise<void> {
  let handle
  try {
    handle = await open(dirPath, 'r')
    await handle.sync()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (process.platform === 'win32' && code !== undefined && UNSUPPORTED_DIR_FSYNC_CODES.has(code)) return
    throw err
  } finally {
    await handle?.close()
  }
}

/**
 * A directory syncer with group commit per directory.
 *
 * @example
 * const syncer = createDirSyncer()
 * await rename(tempPath, finalPath)
 * await syncer.sync(dirname(finalPath))
 */
export function createDirSyncer (): DirSyncer {
  const states = new Map<string, DirState>()

  function start (dirPath: string, state: DirState): Promise<void> {
    const run = fsyncDir(dirPath).finally(() => {
      state.running = null
      if (state.queued === null) states.delete(dirPath)
    })
    state.running = run
    return run
  }

  function sync (dirPath: string): Promise<void> {
    let state = states.get(dirPath)
    if (state === undefined) {
      state = { running: null, queued: null }
      states.set(dirPath, state)
    }
    if (state.queued !== null) return state.queued
    if (state.running === null) return start(dirPath, state)
    const current = state
    const next = current.running!.catch(() => undefined).then(() => {
      current.queued = null
      return start(dirPath, current)
    })
    current.queued = next
    return next
  }

  return { sync }
}
