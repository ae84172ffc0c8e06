// Types of bin/build-manifest.js (plain JavaScript, so the bin loads it without type stripping).

/** Version of the manifest format; a manifest of another version is stale. */
export const MANIFEST_VERSION: number
/** Where the build goes, relative to the repository root. */
export const BUILD_DIR_NAME: string
/** The manifest's file name inside the build directory. */
export const MANIFEST_FILE_NAME: string
/** Source tree compiled by the build, relative to the root. */
export const SOURCE_DIR_NAME: string
/** Files outside src/ whose change changes the build's output. */
export const BUILD_INPUT_FILES: string[]
/** Files that change when the installed dependencies change; watched when present. */
export const DEPENDENCY_FILES: string[]
/** Youngest a source may be when the build snapshots it (coarse file-system mtime ticks). */
export const RACY_WINDOW_MS: number
/** Every watched file with its size and mtime in nanoseconds: [path, sizeBytes, mtimeNs], sorted by path. */
export function snapshot (root: string): Array<[string, number, string]>
/** The CLI's entry file relative to dist/ when root/dist holds a build of exactly the files now on disk; else undefined. */
export function currentBuildEntry (root: string): string | undefined
/** True when root/dist holds a build of exactly the files now on disk. */
export function buildIsCurrent (root: string): boolean
/** Milliseconds since the newest file of a snapshot was modified (negative for a future mtime). */
export function newestMtimeAgeMs (files: Array<[string, number, string]>): number
