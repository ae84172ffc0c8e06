// The compiled build's freshness check, shared by `scripts/build.ts` (which
// writes the manifest) and `bin/cairn.js` (which reads it on every start).
//
// Why a manifest of sizes and nanosecond mtimes, not a content hash: the bin
// runs this check on every `cairn` command, so it must cost a few
// milliseconds; stat()ing ~150 files does, hashing them would cost more than
// it saves on small commands. Why the bin falls back instead of rebuilding:
// developers edit src/*.ts and rerun tests, which spawn daemons through the
// bin; a fallback to the TypeScript sources is always correct, a rebuild from
// inside a command would race with other commands doing the same.
//
// The build is current only when the set of watched files is exactly the one
// recorded (no file added, removed or renamed) and every file has the
// recorded size and mtime. The snapshot is taken before compiling, so a file
// edited during a build makes that build stale at once. A file written less
// than RACY_WINDOW_MS before the snapshot could be written again within the
// same mtime tick of a coarse file system (git's "racily clean" problem), so
// the build waits until no source is that young (`newestMtimeAgeMs`). Plain
// JavaScript on purpose: loading it must not need type stripping.
//
// The build bundles the npm dependencies into dist/ (scripts/build.ts), so
// the files npm rewrites whenever node_modules changes (package.json,
// package-lock.json and npm's hidden node_modules/.package-lock.json) are
// watched too, where they exist: after an `npm install` of another version
// of a dependency the old bundle is stale, as an edited source makes it.
// An edit by hand inside node_modules/ is not noticed (rebuild after one).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

/** Version of the manifest format; a manifest of another version is stale. */
export const MANIFEST_VERSION = 2
/** Where the build goes, relative to the repository root. */
export const BUILD_DIR_NAME = 'dist'
/** The manifest's file name inside the build directory. */
export const MANIFEST_FILE_NAME = 'build-manifest.json'
/** Source tree compiled by the build, relative to the root. */
export const SOURCE_DIR_NAME = 'src'
/** Files outside src/ whose change changes the build's output. */
export const BUILD_INPUT_FILES = ['scripts/build.ts', 'bin/build-manifest.js']
/** Files that change when the installed dependencies change; watched when present (a copy of the tree may lack the lock file). */
export const DEPENDENCY_FILES = ['package.json', 'package-lock.json', 'node_modules/.package-lock.json']
/** Youngest a source may be when the build snapshots it: 2 s, FAT's mtime granularity, the coarsest in use. */
export const RACY_WINDOW_MS = 2000
/** Bound on the files walked, so a runaway tree (a symlink loop) cannot hang the bin. */
const MAX_WATCHED_FILES = 10_000

/**
 * Every watched file (all of src/ and the build inputs) with its size and
 * mtime in nanoseconds, sorted by path (forward slashes, relative to root).
 *
 * @param {string} root repository root
 * @returns {Array<[string, number, string]>} [path, sizeBytes, mtimeNs]
 */
export function snapshot (root) {
  const paths = [...BUILD_INPUT_FILES, ...DEPENDENCY_FILES.filter((path) => existsSync(join(root, path)))]
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else paths.push(relative(root, full).split(sep).join('/'))
      if (paths.length > MAX_WATCHED_FILES) throw new Error(`more than ${MAX_WATCHED_FILES} files under ${SOURCE_DIR_NAME}/`)
    }
  }
  walk(join(root, SOURCE_DIR_NAME))
  paths.sort()
  return paths.map((path) => {
    const s = statSync(join(root, path), { bigint: true })
    return [path, Number(s.size), String(s.mtimeNs)]
  })
}

/**
 * The CLI's entry file of `root/dist` (relative to dist/, as the manifest
 * names it: `main.js` of a bundle, `cli/main.js` of a per-file build) when
 * dist/ holds a build of exactly the files now on disk; else undefined. Any
 * error (no build, unreadable manifest, a file vanished mid-walk) means not
 * current.
 *
 * @param {string} root repository root
 * @returns {string | undefined}
 */
export function currentBuildEntry (root) {
  try {
    const manifest = JSON.parse(readFileSync(join(root, BUILD_DIR_NAME, MANIFEST_FILE_NAME), 'utf8'))
    if (manifest.v !== MANIFEST_VERSION || !Array.isArray(manifest.files) || typeof manifest.entry !== 'string') return undefined
    const now = snapshot(root)
    if (now.length !== manifest.files.length) return undefined
    for (let i = 0; i < now.length; i++) {
      const [path, size, mtime] = now[i]
      const recorded = manifest.files[i]
      if (recorded[0] !== path || recorded[1] !== size || recorded[2] !== mtime) return undefined
    }
    return manifest.entry
  } catch {
    return undefined
  }
}

/**
 * True when `root/dist` holds a build of exactly the files now on disk.
 *
 * @param {string} root repository root
 * @returns {boolean}
 */
export function buildIsCurrent (root) {
  return currentBuildEntry(root) !== undefined
}

/**
 * Milliseconds since the newest file of `files` was modified (negative when
 * an mtime lies in the future).
 *
 * @param {Array<[string, number, string]>} files a snapshot
 * @returns {number}
 */
export function newestMtimeAgeMs (files) {
  let newestNs = 0n
  for (const [, , mtime] of files) if (BigInt(mtime) > newestNs) newestNs = BigInt(mtime)
  return Date.now() - Number(newestNs / 1_000_000n)
}
