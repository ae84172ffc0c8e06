#!/usr/bin/env node
// Entry point of the `cairn` CLI and of every node daemon (tests, `npm start`
// and `cairn cluster` spawn nodes through this file).
//
// It runs the JavaScript build in dist/ (scripts/build.ts, made by `npm
// install` through `prepare`, or `npm run build`: one esbuild bundle of the
// CLI and the daemon, split into lazily loaded chunks, or one JavaScript file
// per source where esbuild is not installed) only when that build is
// provably current: bin/build-manifest.js compares the size and mtime of every
// file under src/ (and of the build's own inputs) with the manifest the build
// recorded before compiling. Any difference — an edited, added or removed
// source, or no build at all — and it runs the TypeScript sources instead,
// which Node 24 runs directly (type stripping): slower to start, never stale.
// CAIRN_RUN_SOURCES=1 forces the sources (exact line numbers in stacks).
//
// Node's compile cache (module.enableCompileCache) keeps V8's code cache, and
// for .ts files the stripped JavaScript, keyed by each file's content, so an
// edited file is recompiled and the rest is not. It lives in the installation
// (.cache/), not in the shared /tmp where another user could plant code
// cache; where that is not writable Node runs without it. NODE_COMPILE_CACHE
// or NODE_DISABLE_COMPILE_CACHE=1 in the environment take precedence.
process.removeAllListeners('warning')
process.on('warning', (w) => { if (w.name !== 'ExperimentalWarning') console.error(w.message) })
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`cairn: Node ${process.versions.node} is too old; run it through npm (npx cairn …) so the pinned Node 24 is used, or install Node >= 22.`)
  process.exit(2)
}
const { currentBuildEntry } = await import('./build-manifest.js')
const { fileURLToPath } = await import('node:url')
const { enableCompileCache } = await import('node:module')
if (process.env.NODE_COMPILE_CACHE === undefined) enableCompileCache(fileURLToPath(new URL('../.cache/node-compile-cache', import.meta.url)))
const entry = process.env.CAIRN_RUN_SOURCES === '1' ? undefined : currentBuildEntry(fileURLToPath(new URL('..', import.meta.url)))
const { main } = await import(entry !== undefined ? `../dist/${entry}` : '../src/cli/main.ts')
await main(process.argv.slice(2))
