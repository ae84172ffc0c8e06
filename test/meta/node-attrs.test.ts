/**
 * Goal: an administrator's role and zone overrides (table `nodeattr`) win
 * over what a member declared in its own roster record, malformed ones are
 * refused when they arrive from a peer, and members without overrides keep
 * their declaration.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { adminStates, applyNodeAttrs, nodeAttrProblem, roleOf } from '../../src/meta/node-attrs.ts'
import { parseRecord } from '../../src/meta/codec.ts'
import type { NodeBody } from '../../src/meta/types.ts'

const body = (name: string, anchor: boolean, zone: string): NodeBody => ({ name, addrs: [], zone, anchor, quotaBytes: 1, joinedMs: 1 })

describe('node attributes', () => {
  it('overrides win over declarations, per attribute', () => {
    const roster = [{ id: 'a', body: body('a', false, 'z1') }, { id: 'b', body: body('b', true, '') }, { id: 'c', body: body('c', false, 'z3') }]
    const out = applyNodeAttrs(roster, [{ pk: 'a/role', body: { value: 'anchor' } }, { pk: 'b/zone', body: { value: 'floor-2' } }, { pk: 'b/role', body: { value: 'pc' } }])
    assert.deepEqual(out.map((m) => [m.id, roleOf(m.body), m.body.zone]), [['a', 'anchor', 'z1'], ['b', 'pc', 'floor-2'], ['c', 'pc', 'z3']])
    // The declaration itself is untouched (the member republishes it).
    assert.equal(roster[0]?.body.anchor, false)
  })

  it('ignores and refuses malformed attribute records', () => {
    assert.equal(nodeAttrProblem('a/role', 'anchor'), undefined)
    assert.match(nodeAttrProblem('a/role', 'server') ?? '', /unknown role/)
    assert.match(nodeAttrProblem('a/colour', 'red') ?? '', /bad node attribute key/)
    assert.match(nodeAttrProblem('a/zone', 'x'.repeat(65)) ?? '', /at most 64/)
    assert.match(nodeAttrProblem('a/zone', 'a\nb') ?? '', /control/)
    const roster = [{ id: 'a', body: body('a', false, '') }]
    assert.deepEqual(applyNodeAttrs(roster, [{ pk: 'a/role', body: { value: 'server' } }]), roster)
    const record = { v: 1, table: 'nodeattr', pk: 'a/role', hlc: '000000000001-0000', origin: 'a', tombstone: false, body: { value: 'anchor' } }
    assert.equal(parseRecord(record).pk, 'a/role')
    assert.throws(() => parseRecord({ ...record, body: { value: 'boss' } }), /unknown role/)
  })

  it('a decommission state is an attribute of its own: it never changes role or zone, and bad values are refused', () => {
    const roster = [{ id: 'a', body: body('a', false, 'z1') }]
    const attrs = [{ pk: 'a/state', body: { value: 'decommissioning' } }, { pk: 'b/state', body: { value: 'gone' } }]
    assert.deepEqual(applyNodeAttrs(roster, attrs).map((m) => [roleOf(m.body), m.body.zone]), [['pc', 'z1']])
    assert.deepEqual([...adminStates(attrs)], [['a', 'decommissioning']])
    assert.equal(nodeAttrProblem('a/state', 'decommissioned'), undefined)
    assert.match(nodeAttrProblem('a/state', 'gone') ?? '', /unknown node state/)
    assert.throws(() => parseRecord({ v: 1, table: 'nodeattr', pk: 'a/state', hlc: '000000000001-0000', origin: 'a', tombstone: false, body: { value: 'gone' } }), /unknown node state/)
  })
})
