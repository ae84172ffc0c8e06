/**
 * Goal: a node's scrubber keeps track of a shard that is being stored here
 * while its placement is still on the way, so that when the shard later goes
 * bad it is reported lost (and rebuilt); a tag that stays unplaced past the
 * orphan grace is forgotten. Real shard files, real SQLite.
 *
 * The first case is the redundancy loss seen under load in
 * healing-repair.test.ts: a scrub that ended while a repair's shard was being
 * written (its owner tag in, its file not yet) dropped the tag, and when that
 * shard was corrupted later no node ever reported it.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { sha256Hex } from '../../src/crypto/index.ts'
import { createNodeScrubber } from '../../src/daemon/scrubbing.ts'
import { MetaStore } from '../../src/meta/store.ts'
import type { MetaRecord } from '../../src/meta/types.ts'
import { createShardStore } from '../../src/store/index.ts'
import { createLayout } from '../../src/store/layout.ts'

const GRACE_MS = 60_000
const SELF = 'self-node'
const WRITER = 'writer-node'
const VERSION = '0194cccccccc-0000-dddddddd'

function versionRecord (): MetaRecord {
  return { v: 1, table: 'version', pk: VERSION, hlc: '0194cccccccc-0000', origin: WRITER, tombstone: false, body: { bucket: 'data', key: 'k', size: 1, timeMs: 1, nodeName: 'w', deleteMarker: false, sha256: '' } }
}

async function node (): Promise<{ dir: string, placed: Set<string>, scrub: ReturnType<typeof createNodeScrubber>, meta: MetaStore, store: ReturnType<typeof createShardStore>, close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-scrubbing-'))
  const store = createShardStore({ dir, quotaBytes: 1 << 20 })
  await store.open()
  const meta = MetaStore.open(join(dir, 'meta.db'))
  meta.apply([versionRecord()])
  // The hashes the version's current placement lists on this node (what the engine's location lookup answers).
  const placed = new Set<string>()
  const scrub = createNodeScrubber({ store, meta, self: SELF, listsHolder: (_v, hash, n) => n === SELF && placed.has(hash), graceMs: () => GRACE_MS, share: () => 1 })
  return { dir, placed, scrub, meta, store, close: async () => { meta.close(); await store.close(); await rm(dir, { recursive: true, force: true }) } }
}

async function flipOneByte (path: string): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    const one = Buffer.alloc(1)
    await handle.read(one, 0, 1, 0)
    one[0] = (one[0] as number) ^ 0xff
    await handle.write(one, 0, 1, 0)
  } finally { await handle.close() }
}

describe('scrubbing on a node: owner tags of shards in flight', () => {
  it('a shard tagged while a scrub ends, before its file and its placement arrive, is reported lost when it goes bad later', async () => {
    const n = await node()
    try {
      const bytes = randomBytes(4096)
      const hash = sha256Hex(bytes)
      // The first half of a shard put: the owner tag is in, the file is not yet.
      n.meta.addShardOwner(hash, VERSION, WRITER, Date.now())
      await n.scrub.pass()
      assert.deepEqual(n.scrub.lost(), [], 'a shard still being written is not reported lost')
      assert.equal(n.meta.shardOwners(hash).length, 1, 'the scrub keeps the owner tag of a shard still being written')
      // The file lands, then the placement that lists this node.
      await n.store.put(hash, bytes)
      n.placed.add(hash)
      await n.scrub.pass()
      assert.deepEqual(n.scrub.lost(), [], 'a good shard is not lost')
      // It goes bad on disk: the next pass quarantines it and reports it lost, so a coordinator rebuilds it.
      await flipOneByte(createLayout(n.dir).shardPath(hash))
      await n.scrub.pass()
      assert.equal(n.scrub.stats.corruptFoundByScrub, 1, 'the scrub finds the corrupt shard')
      assert.deepEqual(n.scrub.lost(), [hash], 'the corrupt shard is reported lost')
    } finally { await n.close() }
  })

  it('a tag older than the orphan grace, with no file and no placement here, is forgotten (and never reported lost)', async () => {
    const n = await node()
    try {
      const hash = sha256Hex(randomBytes(64))
      n.meta.addShardOwner(hash, VERSION, WRITER, Date.now() - GRACE_MS - 1000)
      await n.scrub.pass()
      assert.deepEqual(n.scrub.lost(), [])
      assert.deepEqual(n.meta.shardOwners(hash), [], 'the stale tag is dropped')
    } finally { await n.close() }
  })

  it('a shard placed here whose file is missing is reported lost', async () => {
    const n = await node()
    try {
      const hash = sha256Hex(randomBytes(64))
      n.meta.addShardOwner(hash, VERSION, WRITER, Date.now() - GRACE_MS - 1000)
      n.placed.add(hash)
      await n.scrub.pass()
      assert.deepEqual(n.scrub.lost(), [hash])
      assert.equal(n.scrub.stats.missingFound, 1)
    } finally { await n.close() }
  })
})
