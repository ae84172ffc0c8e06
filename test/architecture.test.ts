/**
 * Goal: the layering of DESIGN.md holds. Imports between src/ layers point
 * down only; libp2p is imported only in net/, node:sqlite only in meta/.
 * A change that breaks the layering fails here.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

/** Rank of each layer: a module may import layers of equal or lower rank only (same layer always allowed). */
const RANK: Record<string, number> = {
  util: 0, crypto: 0, erasure: 0, ui: 0,
  store: 1, net: 1,
  meta: 2,
  cluster: 3,
  heal: 4,
  engine: 5, sim: 5,
  gateway: 6,
  daemon: 7,
  cli: 8
}

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

function imports (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] as string)
}

const layerOf = (file: string): string => relative(SRC, file).split('/')[0] as string

describe('layering', () => {
  const all = files(SRC)
  it('knows every layer folder', () => {
    for (const f of all) assert.ok(layerOf(f) in RANK, `unknown layer folder for ${relative(SRC, f)}`)
  })
  it('imports point down only', () => {
    const bad: string[] = []
    for (const f of all) {
      for (const spec of imports(f).filter((s) => s.startsWith('.'))) {
        const target = resolve(dirname(f), spec)
        const from = layerOf(f)
        const to = layerOf(target)
        if (from !== to && (RANK[to] ?? 99) > (RANK[from] ?? -1)) bad.push(`${relative(SRC, f)} imports ${relative(SRC, target)}`)
      }
    }
    assert.deepEqual(bad, [])
  })
  it('libp2p only in net/, node:sqlite only in meta/', () => {
    const bad: string[] = []
    for (const f of all) {
      for (const spec of imports(f)) {
        if ((spec.startsWith('@libp2p/') || spec === 'libp2p' || spec.startsWith('@chainsafe/libp2p')) && layerOf(f) !== 'net') bad.push(`${relative(SRC, f)} imports ${spec}`)
        if (spec === 'node:sqlite' && layerOf(f) !== 'meta') bad.push(`${relative(SRC, f)} imports ${spec}`)
      }
    }
    assert.deepEqual(bad, [])
  })
})
