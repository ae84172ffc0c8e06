// Goal: `cairn init` and `cairn cluster` accept every code that `cairn plan`
// can recommend (k + m <= 255, such as 32+97), plan recommends nothing wider
// even for hundreds of unreliable nodes, and init and cluster refuse a code beyond 255
// shards with one clear line that names the limit, before creating anything.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CAIRN_BIN } from '../helpers/cluster.ts'
import { assertFailedClearly, assertSucceeded, parseJsonOutput } from '../helpers/cli-assert.ts'
import { run } from '../helpers/process.ts'

test('cairn init --k 32 --m 97 creates a cluster with that code', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cairn-init-codes-'))
  try {
    const dir = join(root, 'wide')
    const r = await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--k', '32', '--m', '97', '--name', 'wide'])
    assertSucceeded(r, 'init --k 32 --m 97')
    assert.match(r.stdout, /32\+97 coding/)
    const cluster = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')) as { k: number, m: number }
    assert.deepEqual([cluster.k, cluster.m], [32, 97])
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('the code cairn plan recommends for 400 nodes at 20% availability fits 255 shards and cairn init accepts it', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cairn-init-codes-'))
  try {
    const plan = parseJsonOutput<{ recommended: { k: number, m: number } | null }>(
      await run(process.execPath, [CAIRN_BIN, 'plan', '--nodes', '400', '--availability', '0.2', '--target', '0.999999', '--json']), 'plan --target')
    assert.ok(plan.recommended !== null, 'plan recommends a code')
    const { k, m } = plan.recommended
    assert.ok(k + m <= 255, `plan recommended ${k}+${m}, more than 255 shards`)
    const dir = join(root, 'planned')
    assertSucceeded(await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--k', String(k), '--m', String(m)]), `init --k ${k} --m ${m}`)
    const cluster = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')) as { k: number, m: number }
    assert.deepEqual([cluster.k, cluster.m], [k, m])
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})

test('cairn init --k 200 --m 60 and cairn cluster --k 200 --m 60 are refused clearly', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cairn-init-codes-'))
  try {
    const dir = join(root, 'too-wide')
    const r = await run(process.execPath, [CAIRN_BIN, 'init', '--dir', dir, '--k', '200', '--m', '60'])
    assertFailedClearly(r, 'init --k 200 --m 60', /260 shards/, /at most 255/)
    assert.equal(existsSync(join(dir, 'cluster.json')), false, 'nothing is created')
    const c = await run(process.execPath, [CAIRN_BIN, 'cluster', '--nodes', '3', '--dir', join(root, 'local'), '--k', '200', '--m', '60'])
    assertFailedClearly(c, 'cluster --k 200 --m 60', /at most 255/)
    assert.equal(existsSync(join(root, 'local', 'node-1')), false, 'no node is created')
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})
