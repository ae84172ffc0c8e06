/**
 * Goal: the pool capacity in `cairn status` is right: raw is the sum of the
 * quotas, usable takes the code's overhead off, and the bytes still writable
 * at full redundancy follow the stripe rule (the smallest free spaces bound
 * it when every stripe needs k+m distinct nodes; anchors and PCs are bounded
 * separately), checked against a greedy simulation of small stripes.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { maxSlotBytes, poolCapacity } from '../../src/cluster/capacity.ts'

const pc = (free: number, quota = free): { quotaBytes: number, freeBytes: number, anchor: boolean } => ({ quotaBytes: quota, freeBytes: free, anchor: false })
const anchor = (free: number): { quotaBytes: number, freeBytes: number, anchor: boolean } => ({ quotaBytes: free, freeBytes: free, anchor: true })

/** Unit stripes placed greedily on the d nodes with most free space left (optimal for this problem). */
function greedyStripes (free: number[], d: number): number {
  const left = [...free]
  let stripes = 0
  for (;;) {
    const order = left.map((f, i) => [f, i] as const).sort((a, b) => b[0] - a[0]).slice(0, d)
    if (order.length < d || (order[d - 1]?.[0] ?? 0) < 1) return stripes
    for (const [, i] of order) left[i] = (left[i] as number) - 1
    stripes++
  }
}

describe('pool capacity', () => {
  it('raw, usable and free for equal nodes', () => {
    assert.deepEqual(poolCapacity(Array.from({ length: 6 }, () => pc(100 * 1024 ** 2)), 4, 2), { rawBytes: 600 * 1024 ** 2, usableBytes: 400 * 1024 ** 2, freeAtFullRedundancyBytes: 400 * 1024 ** 2 })
  })

  it('one big node does not add room: every stripe needs k+m distinct nodes', () => {
    // 5 small nodes of 10 and one of 1000: each stripe takes one slot on 6 nodes, so 10 slots, 40 object bytes.
    assert.equal(poolCapacity([pc(1000), pc(10), pc(10), pc(10), pc(10), pc(10)], 4, 2).freeAtFullRedundancyBytes, 40)
    assert.equal(poolCapacity([pc(0), pc(10), pc(10), pc(10), pc(10), pc(10)], 4, 2).freeAtFullRedundancyBytes, 0)
  })

  it('matches a greedy placement of unit stripes', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 9 }), fc.integer({ min: 1, max: 6 }), (free, d) => {
      assert.ok(Math.abs(maxSlotBytes(free, 1, d) - greedyStripes(free, d)) < 1 + 1e-9, `${free.join(',')} d=${d}`)
    }), { numRuns: 300 })
  })

  it('anchors and PCs are bounded separately', () => {
    // 2 anchors of 100 (2 shards each per stripe at k=4: 50 slots) and 3 PCs of 30 (m=2: 45 slots).
    const c = poolCapacity([anchor(100), anchor(100), pc(30), pc(30), pc(30)], 4, 2)
    assert.equal(c.freeAtFullRedundancyBytes, 4 * 45)
    // Too few PCs and too few anchors to take the rest: nothing can be written at full redundancy.
    assert.equal(poolCapacity([anchor(100), anchor(100), pc(30)], 4, 2).freeAtFullRedundancyBytes, 0)
  })
})
