/**
 * `npm run build` (and `prepare`, so `npm install`/`npm ci` of a clone runs
 * it): compiles src/**\/*.ts to JavaScript in dist/, so a node or a CLI
 * command starts without type stripping (about a fifth of a node's start-up
 * CPU, docs/PERFORMANCE.md).
 *
 * With esbuild installed (a devDependency) the build is a bundle: the CLI
 * (which is also the daemon, `cairn start`) and the wasm worker are entry
 * points, the npm dependencies are bundled in, and every dynamic `import()`
 * (a CLI command, TLS, Noise, mDNS) becomes a chunk of its own, loaded only
 * when used. Node then resolves and reads a few dozen files instead of
 * ~600, which was most of a node's start-up CPU. All outputs sit flat in
 * dist/, so a chunk's `new URL('./wasm-worker.js', import.meta.url)` finds
 * the worker entry, and `createRequire(import.meta.url)` (the native
 * Reed-Solomon addon, the wasm file) resolves node_modules/ from dist/ as it
 * does from src/. Nothing is left external because nothing needs to be: the
 * addon and the wasm file are loaded through createRequire, which esbuild
 * leaves alone.
 *
 * Without esbuild (`npm ci --omit=dev`) each file is transpiled on its own (`ts.transpileModule`): the sources use
 * only erasable syntax and `import type` (tsconfig: erasableSyntaxOnly,
 * verbatimModuleSyntax), so per-file output is exactly what Node's type
 * stripping runs, and `rewriteRelativeImportExtensions` turns `./x.ts`
 * specifiers into `./x.js`. Type checking stays with `npm run check`.
 *
 * The build is written to a temporary directory and renamed into place, so a
 * concurrent command never sees half a build; dist/build-manifest.json holds
 * the snapshot of the sources taken before compiling (bin/build-manifest.js),
 * which bin/cairn.js checks to run dist/ only while it is current. A node
 * already running from dist/ that loads a module lazily later (the wasm
 * worker) gets it from the newer build, as a node run from src/ gets an
 * edited source file.
 *
 * @example
 * node scripts/build.ts                   # a bundle (esbuild), else one file per source
 * node scripts/build.ts --layout modules  # one file per source even with esbuild
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import ts from 'typescript'
import { BUILD_DIR_NAME, MANIFEST_FILE_NAME, MANIFEST_VERSION, newestMtimeAgeMs, RACY_WINDOW_MS, snapshot, SOURCE_DIR_NAME } from '../bin/build-manifest.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Compiler options of the emitted JavaScript; the same target as tsconfig.json. */
const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2023,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  useDefineForClassFields: true
}

/** How dist/ is laid out: one esbuild bundle (with chunks), or one JavaScript file per source. */
export type BuildLayout = 'bundle' | 'modules'

/** What a build did: the sources compiled, the files written, where, and how. */
export interface BuildReport { files: number, outputs: number, outDir: string, layout: BuildLayout, elapsedMs: number }

/** The CLI's entry point of each layout, relative to dist/ (bin/cairn.js imports it, as the manifest names it). */
const ENTRY_OF: Record<BuildLayout, string> = { bundle: 'main.js', modules: 'cli/main.js' }

/** The part of esbuild's API the build uses (esbuild is an optional devDependency, so it is not imported statically). */
interface Esbuild {
  buildSync: (options: Record<string, unknown>) => { errors: unknown[], warnings: Array<{ text: string, location?: { file: string, line: number } | null }>, metafile?: { outputs: Record<string, unknown> } }
}

/** esbuild when installed, else undefined (the build then writes one file per source). */
function loadEsbuild (): Esbuild | undefined {
  try {
    return createRequire(import.meta.url)('esbuild') as Esbuild
  } catch {
    return undefined
  }
}

/**
 * Bundle the CLI and the wasm worker from `root/src` into `outDir`; returns
 * the number of files written. Throws on any build error (a syntax error, an
 * import that does not resolve).
 */
function bundle (esbuild: Esbuild, root: string, outDir: string): number {
  const result = esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: [
      { in: `${SOURCE_DIR_NAME}/cli/main.ts`, out: 'main' },
      // Started as `new Worker(new URL('./wasm-worker.js', import.meta.url))` by erasure/wasm-pool.ts.
      { in: `${SOURCE_DIR_NAME}/erasure/wasm-worker.ts`, out: 'wasm-worker' }
    ],
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    chunkNames: '[name]-[hash]',
    // Bundled CommonJS dependencies call require() for Node's built-ins; an ESM bundle has none of its own.
    banner: { js: "import { createRequire as __cairnCreateRequire } from 'node:module'; const require = __cairnCreateRequire(import.meta.url);" },
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent'
  })
  for (const w of result.warnings) console.error(`build warning: ${w.text}${w.location == null ? '' : ` (${w.location.file}:${w.location.line})`}`)
  return Object.keys(result.metafile?.outputs ?? {}).length
}

/** Transpile every source of `files` into `outDir`, one JavaScript file per source; returns the files written. */
function transpileEach (root: string, files: Array<[string, number, string]>, outDir: string): number {
  let count = 0
  for (const [path] of files) {
    if (!path.startsWith(`${SOURCE_DIR_NAME}/`)) continue
    const target = join(outDir, path.slice(SOURCE_DIR_NAME.length + 1))
    mkdirSync(dirname(target), { recursive: true })
    if (path.endsWith('.ts') && !path.endsWith('.d.ts')) writeFileSync(target.slice(0, -3) + '.js', transpile(join(root, path)))
    else copyFileSync(join(root, path), target)
    count++
  }
  return count
}

/** Turn one TypeScript source into JavaScript; throws on a syntax error. */
function transpile (path: string): string {
  const out = ts.transpileModule(readFileSync(path, 'utf8'), { compilerOptions: COMPILER_OPTIONS, fileName: path, reportDiagnostics: true })
  const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error)
  if (errors.length > 0) throw new Error(`${path}: ${ts.flattenDiagnosticMessageText(errors[0]?.messageText ?? '', '\n')}`)
  return out.outputText
}

/** Waits of RACY_WINDOW_MS for a just-edited source to age; a file with a future mtime is given up on after these. */
const MAX_SETTLE_WAITS = 3

/**
 * A snapshot in which no source is younger than RACY_WINDOW_MS, so any later
 * write gets a newer mtime even on a coarse file system.
 */
function settledSnapshot (root: string): Array<[string, number, string]> {
  for (let wait = 0; ; wait++) {
    const files = snapshot(root)
    const ageMs = newestMtimeAgeMs(files)
    if (ageMs >= RACY_WINDOW_MS || wait === MAX_SETTLE_WAITS) return files
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(RACY_WINDOW_MS, RACY_WINDOW_MS - ageMs))
  }
}

/**
 * Compile the sources under `root` into `root/dist` and write its manifest:
 * a bundle when esbuild is installed and `layout` does not say otherwise,
 * else one file per source.
 *
 * @example
 * const r = build(); console.log(`${r.files} sources, ${r.layout}`)
 */
export function build (root: string = ROOT, layout?: BuildLayout): BuildReport {
  const started = performance.now()
  // Snapshot first: a source edited while we compile leaves the build stale.
  const files = settledSnapshot(root)
  const outDir = join(root, BUILD_DIR_NAME)
  const tmpDir = join(root, `.${BUILD_DIR_NAME}-build-${process.pid}`)
  rmSync(tmpDir, { recursive: true, force: true })
  const esbuild = layout === 'modules' ? undefined : loadEsbuild()
  if (layout === 'bundle' && esbuild === undefined) throw new Error('a bundle needs esbuild: run npm install (it is a devDependency)')
  const chosen: BuildLayout = esbuild === undefined ? 'modules' : 'bundle'
  let outputs = 0
  try {
    mkdirSync(tmpDir, { recursive: true })
    outputs = esbuild === undefined ? transpileEach(root, files, tmpDir) : bundle(esbuild, root, tmpDir)
    writeFileSync(join(tmpDir, MANIFEST_FILE_NAME), JSON.stringify({ v: MANIFEST_VERSION, builtAt: new Date().toISOString(), layout: chosen, entry: ENTRY_OF[chosen], files }) + '\n')
    const oldDir = join(root, `.${BUILD_DIR_NAME}-old-${process.pid}`)
    let hadOld = true
    try { renameSync(outDir, oldDir) } catch { hadOld = false }
    renameSync(tmpDir, outDir)
    if (hadOld) rmSync(oldDir, { recursive: true, force: true })
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true })
    throw err
  }
  const sources = files.filter(([path]) => path.startsWith(`${SOURCE_DIR_NAME}/`)).length
  return { files: sources, outputs, outDir, layout: chosen, elapsedMs: performance.now() - started }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const layoutFlag = process.argv.indexOf('--layout')
  const layout = layoutFlag < 0 ? undefined : process.argv[layoutFlag + 1]
  if (layout !== undefined && layout !== 'bundle' && layout !== 'modules') throw new Error('--layout takes bundle or modules')
  const r = build(ROOT, layout)
  console.log(`built ${r.files} sources into ${BUILD_DIR_NAME}/ (${r.layout === 'bundle' ? 'bundle' : 'one file per source'}, ${r.outputs} files) in ${r.elapsedMs.toFixed(0)} ms`)
}
