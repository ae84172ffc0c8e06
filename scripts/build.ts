/**
 * `npm run build` (and `prepare`, so `npm install`/`npm ci` of a clone runs
 * it): compiles src/**\/*.ts to JavaScript in dist/, so a node or a CLI
 * command starts without type stripping (about a fifth of a node's start-up
 * CPU, docs/PERFORMANCE.md).
 *
 * Each file is transpiled on its own (`ts.transpileModule`): the sources use
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
 * node scripts/build.ts            # prints "built N files into dist/ in T ms"
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
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

/** What a build did. */
export interface BuildReport { files: number, outDir: string, elapsedMs: number }

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
 * Compile the sources under `root` into `root/dist` and write its manifest.
 *
 * @example
 * const r = build(); console.log(`${r.files} files`)
 */
export function build (root: string = ROOT): BuildReport {
  const started = performance.now()
  // Snapshot first: a source edited while we compile leaves the build stale.
  const files = settledSnapshot(root)
  const outDir = join(root, BUILD_DIR_NAME)
  const tmpDir = join(root, `.${BUILD_DIR_NAME}-build-${process.pid}`)
  rmSync(tmpDir, { recursive: true, force: true })
  let count = 0
  try {
    for (const [path] of files) {
      if (!path.startsWith(`${SOURCE_DIR_NAME}/`)) continue
      const target = join(tmpDir, path.slice(SOURCE_DIR_NAME.length + 1))
      mkdirSync(dirname(target), { recursive: true })
      if (path.endsWith('.ts') && !path.endsWith('.d.ts')) writeFileSync(target.slice(0, -3) + '.js', transpile(join(root, path)))
      else copyFileSync(join(root, path), target)
      count++
    }
    writeFileSync(join(tmpDir, MANIFEST_FILE_NAME), JSON.stringify({ v: MANIFEST_VERSION, builtAt: new Date().toISOString(), files }) + '\n')
    const oldDir = join(root, `.${BUILD_DIR_NAME}-old-${process.pid}`)
    let hadOld = true
    try { renameSync(outDir, oldDir) } catch { hadOld = false }
    renameSync(tmpDir, outDir)
    if (hadOld) rmSync(oldDir, { recursive: true, force: true })
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true })
    throw err
  }
  return { files: count, outDir, elapsedMs: performance.now() - started }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = build()
  console.log(`built ${r.files} files into ${BUILD_DIR_NAME}/ in ${r.elapsedMs.toFixed(0)} ms`)
}
