// Goal: the CLI commands that only talk HTTP to a node (`--help`, `status`,
// `ls`) answer fast because they load neither libp2p nor SQLite (issue 12:
// CLI commands under 300 ms). Each runs from the TypeScript sources with a
// hook that records every module it resolves; the sources' import graph is
// the one the bundle's chunks are cut from (scripts/build.ts), so a static
// import that drags libp2p or node:sqlite into a command shows up here as a
// node_modules/ URL. Against a stopped node the commands fail (nothing
// answers), but only after their modules, all static, have loaded.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertSucceeded } from '../helpers/cli-assert.ts'
import { run } from '../helpers/process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(ROOT, 'bin', 'cairn.js')
const HOOK = join(ROOT, 'test', 'helpers', 'record-loads.ts')
/** Packages and built-ins only a node (or `init`/`join`, which make keys) may load. */
const HEAVY = /\/node_modules\/(libp2p|@libp2p|@chainsafe|@multiformats|@noble)\/|^node:sqlite$/

/** Every module URL `cairn ARGS` resolved, from the sources. */
async function loadsOf (work: string, args: string[], label: string): Promise<string[]> {
  const file = join(work, `${label}.loads`)
  await run(process.execPath, ['--import', HOOK, BIN, ...args], { env: { CAIRN_RUN_SOURCES: '1', CAIRN_TEST_LOADS_FILE: file } })
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '')
}

test('cairn --help, status and ls load neither libp2p nor SQLite', async () => {
  const work = mkdtempSync(join(tmpdir(), 'cairn-cli-loads-'))
  try {
    const nodeDir = join(work, 'node')
    assertSucceeded(await run(process.execPath, [BIN, 'init', '--dir', nodeDir]), 'cairn init')
    const init = await loadsOf(work, ['init', '--dir', join(work, 'other')], 'init')
    assert.ok(init.some((url) => HEAVY.test(url)), 'the check can see libp2p: init (which makes a libp2p key) loads it')
    for (const [label, args] of [['help', ['--help']], ['status', ['status', '--node', nodeDir]], ['ls', ['ls', '--node', nodeDir]]] as const) {
      const loads = await loadsOf(work, [...args], label)
      assert.ok(loads.some((url) => url.includes('/src/cli/')), `cairn ${label} ran the CLI's sources`)
      assert.deepEqual(loads.filter((url) => HEAVY.test(url)), [], `cairn ${label} loads no libp2p and no SQLite`)
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
