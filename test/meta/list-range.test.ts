/**
 * Goal: listing a prefix reads only that prefix's index range (so `ls` of
 * one user's directory costs the same in a bucket of a million keys as in
 * one of a thousand) and still returns exactly the keys a plain "starts
 * with" filter would, in byte order, paging with startAfter, also for
 * prefixes ending in multi-byte characters, the last code point before the
 * surrogates, and U+10FFFF.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MetaStore, prefixEnd } from '../../src/meta/store.ts'
import type { MetaRecord, VersionBody } from '../../src/meta/types.ts'
import { HybridClock } from '../../src/util/hlc.ts'

const KEYS = ['a', 'a😀', 'a😀/b', 'a/', 'a/b', 'a/b/c', 'a0', 'a\u{7f}', 'aé', 'aé/x', 'aê', 'a\u{D7FF}', 'a\u{D7FF}z', 'a\u{E000}', 'a\u{10FFFF}', 'a\u{10FFFF}\u{10FFFF}x', 'b', 'dept-07/user-0001/file-000001.txt', 'dept-07/user-0001/file-000100.txt', 'dept-070', 'dept-07/user-0002/x']
const PREFIXES = ['', 'a', 'a😀', 'a/', 'aé', 'a\u{D7FF}', 'a\u{10FFFF}', '\u{10FFFF}', 'dept-07/', 'dept-07/user-0001/', 'dept-07/user-0001/file-0001', 'zzz']

function store (): MetaStore {
  const meta = MetaStore.open(':memory:')
  const clock = new HybridClock()
  const records: MetaRecord[] = KEYS.map((key) => {
    const hlc = clock.now()
    const body: VersionBody = { bucket: 'bkt', key, size: 1, timeMs: 1, nodeName: 'n', deleteMarker: false, sha256: '0'.repeat(64) }
    return { v: 1, table: 'version', pk: `${hlc}-00000000`, hlc, origin: 'n1', tombstone: false, body }
  })
  meta.apply(records)
  return meta
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

describe('prefix ranges', () => {
  it('prefixEnd is above every extension of the prefix and below everything after it', () => {
    assert.equal(prefixEnd('dept-07/'), 'dept-070')
    assert.equal(prefixEnd(''), undefined)
    assert.equal(prefixEnd('\u{10FFFF}'), undefined)
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b')
    assert.equal(prefixEnd('a\u{D7FF}'), 'a\u{E000}')
    for (const p of PREFIXES) {
      const end = prefixEnd(p)
      if (end === undefined) continue
      for (const k of KEYS) assert.equal(k.startsWith(p), byBytes(k, p) >= 0 && byBytes(k, end) < 0, `${JSON.stringify(k)} vs prefix ${JSON.stringify(p)}`)
    }
  })

  it('list and versionPage return exactly the keys under the prefix, paged', () => {
    const meta = store()
    for (const prefix of PREFIXES) {
      const want = KEYS.filter((k) => k.startsWith(prefix)).sort(byBytes)
      assert.deepEqual(meta.list('bkt', prefix, 100).map((o) => o.key), want, `list ${JSON.stringify(prefix)}`)
      assert.deepEqual(meta.versionPage('bkt', prefix, 100).map((v) => v.key), want, `versionPage ${JSON.stringify(prefix)}`)
      const paged: string[] = []
      let after = ''
      for (let i = 0; i < 50; i++) {
        const page = meta.list('bkt', prefix, 2, after)
        paged.push(...page.map((o) => o.key))
        if (page.length < 2) break
        after = page[page.length - 1]?.key as string
      }
      assert.deepEqual(paged, want, `paged list ${JSON.stringify(prefix)}`)
      // startAfter before the prefix, inside it and after it.
      assert.deepEqual(meta.list('bkt', prefix, 100, '\u0001').map((o) => o.key), want.filter((k) => byBytes(k, '\u0001') > 0))
      assert.deepEqual(meta.list('bkt', prefix, 100, 'zzzz'), [])
    }
  })
})
