/**
 * Goal: the rebalance plan (heal/balance.ts) ends with every node within
 * a shard of its quota's share, moves only what improves the balance,
 * never puts two shards of a stripe on one node nor moves a shard between an
 * anchor and a PC, keeps the zone limit, and plans nothing for a balanced
 * cluster; and two planners given the same input plan the same moves (every
 * node computes the plan on its own).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BalancePlanner } from '../../src/heal/balance.ts'
import type { BalanceMove, BalanceNode, BalanceStripe } from '../../src/heal/balance.ts'

const MIB = 1024 * 1024

/** `count` stripes of 6 one-MiB shards, each on 6 of `holders` (rotating). */
function stripes (count: number, holders: readonly string[]): BalanceStripe[] {
  return Array.from({ length: count }, (_, s) => ({
    versionId: `v${s}`,
    key: `v${s}/0`,
    shards: Array.from({ length: 6 }, (_, i) => ({ index: i, hash: `h${s}-${i}`, sizeBytes: MIB, holders: [holders[(s + i) % holders.length] as string] }))
  }))
}

function plan (nodes: BalanceNode[], input: BalanceStripe[]): { planner: BalancePlanner, moves: BalanceMove[] } {
  const planner = new BalancePlanner(nodes)
  for (const s of input) planner.account(s)
  planner.freeze()
  return { planner, moves: input.flatMap((s) => planner.decide(s)) }
}

const node = (id: string, extra: Partial<BalanceNode> = {}): BalanceNode => ({ id, quotaBytes: 10 * MIB * 1024, online: true, ...extra })

describe('rebalance plan', () => {
  it('6 full nodes and 3 empty ones end within a shard of the mean', () => {
    const old = ['a', 'b', 'c', 'd', 'e', 'f']
    const nodes = [...old, 'g', 'h', 'i'].map((id) => node(id))
    const input = stripes(100, old)
    const { planner, moves } = plan(nodes, input)
    const loads = planner.loads()
    for (const l of loads) assert.ok(Math.abs(l.heldBytes - l.targetBytes) <= MIB, `${l.id}: ${l.heldBytes} vs ${l.targetBytes}`)
    // 600 MiB over 9 nodes: each new node takes about a ninth; the plan moves only that much.
    const moved = moves.reduce((a, m) => a + m.sizeBytes, 0)
    assert.ok(moved <= 3 * (600 / 9 + 1) * MIB, `moved ${moved / MIB} MiB`)
    assert.ok(moves.every((m) => old.includes(m.from) && !old.includes(m.to)))
    // No stripe ends with two shards on one node.
    const after = new Map(input.map((s) => [s.key, s.shards.map((x) => x.holders[0] as string)]))
    for (const m of moves) { const h = after.get(m.key) as string[]; h[m.index] = m.to }
    for (const [key, holders] of after) assert.equal(new Set(holders).size, holders.length, `stripe ${key} has one shard per node`)
    assert.deepEqual(plan(nodes, input).moves, moves, 'deterministic')
  })

  it('plans nothing when balanced, and moves nothing from or to an offline node', () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f']
    assert.deepEqual(plan(names.map((id) => node(id)), stripes(60, names)).moves, [])
    const nodes = [...names.map((id) => node(id, { online: id !== 'a' })), node('g', { online: false }), node('h')]
    const { moves } = plan(nodes, stripes(60, names))
    assert.ok(moves.length > 0)
    assert.ok(moves.every((m) => m.from !== 'a' && m.to !== 'g'))
  })

  it('keeps anchors and PCs apart and quotas proportional', () => {
    const nodes = [node('n1', { anchor: true }), node('n2', { anchor: true }), node('p1'), node('p2'), node('p3'), node('p4'), node('p5', { quotaBytes: 20 * MIB * 1024 })]
    const input = stripes(60, ['n1', 'n2', 'p1', 'p2', 'p3', 'p4'])
    const { moves, planner } = plan(nodes, input)
    assert.ok(moves.length > 0)
    assert.ok(moves.every((m) => m.to === 'p5' || m.to.startsWith('p') === m.from.startsWith('p')))
    const p5 = planner.loads().find((l) => l.id === 'p5')
    assert.ok((p5?.heldBytes ?? 0) > 0)
  })

  it('a move into another zone keeps that zone within ceil((k+m)/zones) shards of the stripe', () => {
    const nodes = [node('a', { zone: 'x' }), node('b', { zone: 'x' }), node('c', { zone: 'x' }), node('d', { zone: 'y' }), node('e', { zone: 'y' }), node('f', { zone: 'y' }), node('g', { zone: 'y' })]
    const input = stripes(40, ['a', 'b', 'c', 'd', 'e', 'f'])
    const zone = new Map(nodes.map((n) => [n.id, n.zone]))
    const { moves } = plan(nodes, input)
    const after = new Map(input.map((s) => [s.key, s.shards.map((x) => x.holders[0] as string)]))
    for (const m of moves) { const h = after.get(m.key) as string[]; h[m.index] = m.to }
    for (const holders of after.values()) assert.ok(holders.filter((h) => zone.get(h) === 'y').length <= 3)
  })
})
