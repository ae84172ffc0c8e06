/**
 * Goal: a node's secrets and metadata are private to its owner. `cairn init`
 * into a directory that already exists with mode 0755 leaves it 0700 and the
 * key files 0600; `cairn start` makes meta.db (and its -wal/-shm) 0600, and
 * restores every mode after they were loosened while the node was down.
 */

import { strict as assert } from 'node:assert'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CAIRN_BIN, NODE_EXIT_TIMEOUT_MS, spawnNode } from '../helpers/cluster.ts'
import { run, waitForChildExit } from '../helpers/process.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'

const PRIVATE_FILES = ['node.json', 'secret.json', 'meta.db', 'meta.db-wal', 'meta.db-shm']

function modeOf (path: string): string {
  return (statSync(path).mode & 0o777).toString(8)
}

function modes (dir: string, names: string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => existsSync(join(dir, n))).map((n) => [n, modeOf(join(dir, n))]))
}

test('init into an existing 0755 directory and start make the directory 0700 and keys and metadata 0600, also after they were loosened', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'cairn-perm-'))
  t.after(() => { rmSync(base, { recursive: true, force: true }) })
  const dir = join(base, 'node')
  const created = await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--name', 'perm'], { timeoutMs: 60_000 })
  assertSucceeded(created, 'cairn init')
  // Same again on a directory made beforehand with a loose mode.
  const early = join(base, 'early')
  mkdirSync(early)
  chmodSync(early, 0o755)
  assertSucceeded(await run(process.execPath, [CAIRN_BIN, 'init', '--dir', early], { timeoutMs: 60_000 }), 'cairn init into an existing directory')
  assert.equal(modeOf(early), '700')
  assert.deepEqual(modes(early, ['node.json', 'secret.json']), { 'node.json': '600', 'secret.json': '600' })

  for (const round of ['first start', 'start after the modes were loosened']) {
    const node = await spawnNode(dir)
    try {
      assert.equal(modeOf(dir), '700', round)
      const seen = modes(dir, PRIVATE_FILES)
      assert.ok('meta.db' in seen, `${round}: meta.db exists`)
      for (const [name, mode] of Object.entries(seen)) assert.equal(mode, '600', `${round}: ${name} is ${mode}`)
    } finally {
      node.child.kill('SIGTERM')
      await waitForChildExit(node.child, NODE_EXIT_TIMEOUT_MS)
    }
    chmodSync(dir, 0o755)
    for (const name of PRIVATE_FILES) if (existsSync(join(dir, name))) chmodSync(join(dir, name), 0o644)
  }
})
