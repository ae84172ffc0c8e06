/**
 * Goal: a node's secrets and metadata are private on disk (issue 8, item 10):
 * the data directory is 0700 and the files holding the node's private key,
 * the cluster keys and the metadata database are 0600 — also when the
 * directory existed before `cairn init` and when the files were left with
 * wider modes by an earlier version.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CAIRN_BIN, spawnNode } from '../helpers/cluster.ts'
import { run, waitFor, waitForChildExit } from '../helpers/process.ts'
import { assertSucceeded } from '../helpers/cli-assert.ts'

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8)

test('the node directory is 0700 and its key and database files 0600, whatever they were before', { timeout: 120_000 }, async () => {
  const parent = await mkdtemp(join(tmpdir(), 'cairn-it-modes-'))
  const dir = join(parent, 'node')
  mkdirSync(dir, { mode: 0o755 })
  chmodSync(dir, 0o755)
  try {
    assertSucceeded(await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--k', '1', '--m', '0', '--name', 'solo']), 'init')
    assert.equal(mode(dir), '700', 'init left the existing directory open')
    assert.equal(mode(join(dir, 'node.json')), '600', 'node.json holds the private key')
    assert.equal(mode(join(dir, 'secret.json')), '600')
    // An earlier version wrote these with wider modes.
    chmodSync(dir, 0o755)
    chmodSync(join(dir, 'node.json'), 0o644)
    const node = await spawnNode(dir)
    try {
      await waitFor(() => existsSync(join(dir, 'meta.db-wal')), 30_000, 'the metadata WAL to exist')
      assert.equal(mode(dir), '700')
      for (const name of ['node.json', 'secret.json', 'api.json', 'meta.db', 'meta.db-wal']) assert.equal(mode(join(dir, name)), '600', `${name} is ${mode(join(dir, name))}`)
    } finally {
      node.child.kill('SIGTERM')
      await waitForChildExit(node.child, 15_000)
    }
  } finally {
    await rm(parent, { recursive: true, force: true })
  }
})
