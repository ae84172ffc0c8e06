// Goal: bin/cairn.js never runs a stale build. In a copy of the tree it runs
// the compiled dist/ right after a build, and the TypeScript sources as soon
// as any source was edited, touched, added or removed, when dist/ is absent,
// or when CAIRN_RUN_SOURCES=1 asks for them — so a developer who edits src/
// and reruns a test runs the edit, without rebuilding.
//
// To tell the two apart, the test marks the compiled usage line after each
// build (dist/ is not part of the manifest, only the sources are), so
// `cairn --help` prints "[compiled]" only when dist/ ran. The build is the
// esbuild bundle (dist/main.js and its chunks) unless a test asks for one
// file per source (the build without esbuild); both must run and go stale
// alike, and so must a bundle whose bundled dependencies changed (the lock
// files npm rewrites).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { build } from '../../scripts/build.ts'
import type { BuildLayout } from '../../scripts/build.ts'
import { wasmEncode } from '../../src/erasure/wasm-codec.ts'
import type { WasmReply } from '../../src/erasure/wasm-pool.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { run } from '../helpers/process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** How the CLI's usage line starts (cli/main.ts). */
const USAGE_PREFIX = 'usage: cairn'
const USAGE = `${USAGE_PREFIX} COMMAND`

/** A copy of what the build and the bin read, with node_modules linked, not copied. */
function copyTree (): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-build-freshness-'))
  for (const part of ['bin', 'scripts', 'src', 'package.json', 'package-lock.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/** Build the copy, then mark its compiled usage line (in the CLI's entry, which the manifest names). */
function buildMarked (dir: string, layout: BuildLayout = 'bundle'): void {
  const report = build(dir, layout)
  assert.equal(report.layout, layout)
  const manifest = JSON.parse(readFileSync(join(dir, 'dist', 'build-manifest.json'), 'utf8')) as { entry: string }
  assert.equal(manifest.entry, layout === 'bundle' ? 'main.js' : 'cli/main.js')
  const main = join(dir, 'dist', manifest.entry)
  const text = readFileSync(main, 'utf8')
  // TypeScript's output quotes strings as the source does ('), esbuild's with ".
  const quoted = [`'${USAGE_PREFIX}`, `"${USAGE_PREFIX}`].find((q) => text.includes(q))
  assert.ok(quoted !== undefined, 'the compiled CLI holds the usage line')
  writeFileSync(main, text.replace(quoted, `${quoted}[compiled]`))
}

/** The first line `cairn --help` prints in the copy. */
async function usageLine (dir: string, env: Record<string, string> = { CAIRN_RUN_SOURCES: '0' }): Promise<string> {
  const r = await run(process.execPath, [join(dir, 'bin', 'cairn.js'), '--help'], { env })
  assertSucceeded(r, 'cairn --help')
  return r.stdout.split('\n')[0] ?? ''
}

test('bin/cairn.js runs dist/ only while every source matches the build', async () => {
  const dir = copyTree()
  try {
    assert.match(await usageLine(dir), /^usage: cairn COMMAND/, 'no build yet: the sources run')

    buildMarked(dir)
    assert.match(await usageLine(dir), /\[compiled\]/, 'right after a build, dist/ runs')
    assert.doesNotMatch(await usageLine(dir, { CAIRN_RUN_SOURCES: '1' }), /\[compiled\]/, 'CAIRN_RUN_SOURCES=1 runs the sources')

    const mainTs = join(dir, 'src', 'cli', 'main.ts')
    writeFileSync(mainTs, readFileSync(mainTs, 'utf8').replace(USAGE, 'usage: cairn[edited] COMMAND'))
    assert.match(await usageLine(dir), /\[edited\]/, 'an edited source runs at once, not the stale build')

    buildMarked(dir)
    assert.match(await usageLine(dir), /\[compiled\]/, 'a rebuild makes dist/ current again')
    const later = new Date(Date.now() + 5_000)
    utimesSync(join(dir, 'src', 'util', 'errors.ts'), later, later)
    assert.doesNotMatch(await usageLine(dir), /\[compiled\]/, 'a touched source (same content, new mtime) is not trusted')

    buildMarked(dir)
    const extra = join(dir, 'src', 'util', 'extra.ts')
    writeFileSync(extra, 'export const extra = 1\n')
    assert.doesNotMatch(await usageLine(dir), /\[compiled\]/, 'an added source makes the build stale')

    buildMarked(dir)
    unlinkSync(extra)
    assert.doesNotMatch(await usageLine(dir), /\[compiled\]/, 'a removed source makes the build stale')

    buildMarked(dir)
    const lock = join(dir, 'package-lock.json')
    writeFileSync(lock, readFileSync(lock, 'utf8') + '\n')
    assert.doesNotMatch(await usageLine(dir), /\[compiled\]/, 'a changed package-lock.json (other bundled dependencies) makes the build stale')

    buildMarked(dir)
    const buildScript = join(dir, 'scripts', 'build.ts')
    writeFileSync(buildScript, readFileSync(buildScript, 'utf8') + '\n')
    assert.doesNotMatch(await usageLine(dir), /\[compiled\]/, 'a changed build script makes the build stale')

    rmSync(join(dir, 'dist'), { recursive: true, force: true })
    assert.match(await usageLine(dir), /^usage: cairn\[edited\] COMMAND/, 'without dist/ the sources (with the edit) run')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

for (const layout of ['bundle', 'modules'] as const) {
  test(`the compiled build (${layout}) runs a command that loads lazily imported modules`, async () => {
    // `cairn plan` loads its command module on demand (cli/main.ts): in a
    // bundle a chunk of its own, in one file per source a `.ts` specifier
    // that must have become `.js`.
    const dir = copyTree()
    try {
      buildMarked(dir, layout)
      assert.match(await usageLine(dir), /\[compiled\]/)
      const r = await run(process.execPath, [join(dir, 'bin', 'cairn.js'), 'plan', '--nodes', '12', '--availability', '0.9', '--k', '4', '--m', '2', '--json'], { env: { CAIRN_RUN_SOURCES: '0' } })
      assertSucceeded(r, `cairn plan from dist/ (${layout})`)
      assert.ok(typeof JSON.parse(r.stdout) === 'object')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

test('the bundle\'s wasm worker (a separate entry beside the chunks) codes as the sources do', async () => {
  // erasure/wasm-pool.ts starts `new Worker(new URL('./wasm-worker.js',
  // import.meta.url))` from whichever chunk holds it; in the bundle every
  // output sits flat in dist/, so that is dist/wasm-worker.js, which must
  // load its codec (and the package's .wasm file) from there.
  const dir = copyTree()
  try {
    buildMarked(dir)
    const worker = join(dir, 'dist', 'wasm-worker.js')
    assert.ok(readdirSync(join(dir, 'dist'), { withFileTypes: true }).every((e) => e.isFile()), 'the bundle\'s outputs sit flat in dist/')
    const k = 4
    const m = 7
    const shardSizeBytes = 64
    const data = new Uint8Array(k * shardSizeBytes).map((_, i) => (i * 31 + 7) & 0xff)
    const expected = wasmEncode(k, m, data, shardSizeBytes)
    const w = new Worker(worker)
    try {
      const reply = await new Promise<WasmReply>((resolve, reject) => {
        w.once('message', resolve)
        w.once('error', reject)
        w.postMessage({ id: 1, op: 'encode', k, m, shardSizeBytes, bytes: data })
      })
      assert.ok('bytes' in reply, `the worker answered an error: ${JSON.stringify(reply)}`)
      assert.deepEqual(Buffer.from(reply.bytes), Buffer.from(expected), 'parity from the bundled worker equals the sources\'')
    } finally {
      await w.terminate()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
