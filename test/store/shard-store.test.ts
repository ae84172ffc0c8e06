// Goal: the shard store keeps shards safe on a real file system: it refuses
// bytes that do not match their name, enforces the quota (also under concurrent
// puts), never serves a corrupted file (quarantines and reports it), cleans up
// after a crash, and never turns a bad name into a path.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createShardStore } from '../../src/store/index.ts'
import type { ShardStore, ShardStoreInit } from '../../src/store/index.ts'
import { sha256Hex } from '../../src/crypto/index.ts'
import { CairnError } from '../../src/util/errors.ts'

function isCode (code: string): (err: unknown) => boolean {
  return (err) => err instanceof CairnError && err.code === code
}

async function withStore (init: Partial<ShardStoreInit>, fn: (store: ShardStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-store-'))
  try {
    const store = createShardStore({ dir, quotaBytes: 1024 * 1024, ...init })
    await store.open()
    await fn(store, dir)
    await store.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function shard (size: number): { hash: string, bytes: Buffer } {
  const bytes = randomBytes(size)
  return { hash: sha256Hex(bytes), bytes }
}

test('put, get, has, list, delete and stats on real files', async () => {
  await withStore({}, async (store, dir) => {
    const a = shard(1000)
    const b = shard(24)
    await store.put(a.hash, a.bytes)
    await store.put(b.hash, b.bytes)
    await store.put(a.hash, a.bytes) // idempotent
    assert.deepEqual(await readFile(join(dir, 'shards', a.hash.slice(0, 2), a.hash)), a.bytes, 'layout is shards/ab/abcd…')
    assert.deepEqual(await store.get(a.hash), a.bytes)
    assert.equal(await store.has(b.hash), true)
    assert.deepEqual(store.stats(), { usedBytes: 1024, quotaBytes: 1024 * 1024, shardCount: 2, corruptCount: 0 })
    const listed: string[] = []
    for await (const hash of store.list()) listed.push(hash)
    assert.deepEqual(listed.sort(), [a.hash, b.hash].sort())
    assert.equal(await store.delete(a.hash), true)
    assert.equal(await store.delete(a.hash), false)
    assert.equal(await store.get(a.hash), null)
    assert.equal(await store.has(a.hash), false)
    assert.deepEqual(store.stats(), { usedBytes: 24, quotaBytes: 1024 * 1024, shardCount: 1, corruptCount: 0 })
  })
})

test('concurrent puts of the same shard store it once and count it once', async () => {
  await withStore({}, async (store) => {
    const a = shard(4096)
    await Promise.all(Array.from({ length: 8 }, () => store.put(a.hash, a.bytes)))
    assert.deepEqual(store.stats().usedBytes, 4096)
    assert.deepEqual(store.stats().shardCount, 1)
  })
})

test('bytes that do not match their hash are refused with CORRUPT_SHARD and nothing is written', async () => {
  await withStore({}, async (store) => {
    const a = shard(100)
    const other = shard(100)
    await assert.rejects(store.put(other.hash, a.bytes), isCode('CORRUPT_SHARD'))
    assert.equal(await store.has(other.hash), false)
    assert.equal(store.stats().usedBytes, 0)
  })
})

test('quota: a put that would exceed it is refused with used/quota in the message, also under concurrency', async () => {
  await withStore({ quotaBytes: 10_000 }, async (store) => {
    await store.put(...Object.values(shard(6000)) as [string, Buffer])
    const big = shard(5000)
    await assert.rejects(store.put(big.hash, big.bytes), (err: unknown) => {
      assert.ok(err instanceof CairnError && err.code === 'QUOTA_EXCEEDED')
      assert.match(err.message, /6000 of 10000 bytes used/)
      assert.ok(err.hint !== undefined && err.hint.length > 0)
      return true
    })
    assert.equal(await store.has(big.hash), false)
    // Ten concurrent 1000-byte puts into 4000 free bytes: exactly four succeed.
    const small = Array.from({ length: 10 }, () => shard(1000))
    const results = await Promise.allSettled(small.map((s) => store.put(s.hash, s.bytes)))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4)
    assert.equal(store.stats().usedBytes, 10_000)
  })
})

test('a flipped byte on disk is detected: quarantined, reported, recorded, never served', async () => {
  const reported: string[] = []
  await withStore({ onCorrupt: (hash) => reported.push(hash) }, async (store, dir) => {
    const a = shard(2048)
    await store.put(a.hash, a.bytes)
    const path = join(dir, 'shards', a.hash.slice(0, 2), a.hash)
    const onDisk = await readFile(path)
    onDisk[1000] = (onDisk[1000] ?? 0) ^ 0x04
    await writeFile(path, onDisk)
    assert.equal(await store.get(a.hash), null)
    assert.deepEqual(reported, [a.hash])
    assert.deepEqual(store.corruptShards(), [a.hash])
    assert.equal(await store.has(a.hash), false)
    assert.deepEqual(store.stats(), { usedBytes: 0, quotaBytes: 1024 * 1024, shardCount: 0, corruptCount: 1 })
    assert.deepEqual(await readdir(join(dir, 'quarantine')), [a.hash])
    // Repair can put a good copy back; it is then served again.
    await store.put(a.hash, a.bytes)
    assert.deepEqual(await store.get(a.hash), a.bytes)
  })
})

test('crash safety: open() removes stale temp files and recounts bytes and quarantine', async () => {
  await withStore({}, async (store, dir) => {
    const a = shard(3000)
    await store.put(a.hash, a.bytes)
    const fanOut = join(dir, 'shards', a.hash.slice(0, 2))
    // A crash between write and rename leaves a temp file behind.
    const temp = join(fanOut, `.tmp-${a.hash}-deadbeef0000`)
    await writeFile(temp, randomBytes(500))
    await writeFile(join(dir, 'quarantine', 'f'.repeat(64)), 'x')
    const reopened = createShardStore({ dir, quotaBytes: 1024 * 1024 })
    await reopened.open()
    await assert.rejects(stat(temp), { code: 'ENOENT' })
    assert.deepEqual(reopened.stats(), { usedBytes: 3000, quotaBytes: 1024 * 1024, shardCount: 1, corruptCount: 1 })
    assert.deepEqual(await reopened.get(a.hash), a.bytes)
    await reopened.close()
  })
})

test('bad names are rejected with BAD_INPUT before any file system access', async () => {
  await withStore({}, async (store) => {
    const bytes = Buffer.from('x')
    const bad = ['../../etc/passwd', '', 'AB'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33), '/' + 'a'.repeat(63),
      'a'.repeat(63) + '\0', '..' + 'a'.repeat(62), 'a'.repeat(62) + '/b', 'z'.repeat(64)]
    for (const name of bad) {
      await assert.rejects(store.put(name, bytes), isCode('BAD_INPUT'), name)
      await assert.rejects(store.get(name), isCode('BAD_INPUT'), name)
      await assert.rejects(store.has(name), isCode('BAD_INPUT'), name)
      await assert.rejects(store.delete(name), isCode('BAD_INPUT'), name)
    }
  })
})

test('a bad quota or directory is a CONFIG error', () => {
  assert.throws(() => createShardStore({ dir: '', quotaBytes: 1 }), isCode('CONFIG'))
  assert.throws(() => createShardStore({ dir: '/tmp/x', quotaBytes: -1 }), isCode('CONFIG'))
  assert.throws(() => createShardStore({ dir: '/tmp/x', quotaBytes: 1.5 }), isCode('CONFIG'))
})

test('many concurrent puts into the same fan-out directory are all durable and readable', async () => {
  await withStore({ quotaBytes: 100 * 1024 * 1024 }, async (store) => {
    // Pick shards whose hash starts with '00' so all land in one directory and share fsyncs.
    const shards: Array<{ hash: string, bytes: Buffer }> = []
    while (shards.length < 100) {
      const s = shard(4096)
      if (s.hash.startsWith('00')) shards.push(s)
    }
    await Promise.all(shards.map((s) => store.put(s.hash, s.bytes)))
    for (const s of shards) assert.deepEqual(await store.get(s.hash), s.bytes)
    assert.equal(store.stats().shardCount, 100)
  })
})

test('the directory syncer coalesces concurrent requests and still fails loudly on a bad directory', async () => {
  const { createDirSyncer } = await import('../../src/store/index.ts')
  const dir = await mkdtemp(join(tmpdir(), 'cairn-sync-'))
  try {
    const syncer = createDirSyncer()
    await Promise.all(Array.from({ length: 50 }, () => syncer.sync(dir)))
    await syncer.sync(dir)
    await assert.rejects(syncer.sync(join(dir, 'missing')), { code: 'ENOENT' })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
