/**
 * Goal: `cairn plan --node DIR` plans the live cluster from the availability
 * every member measured of itself and published, extended with what the
 * planning node saw since: the cluster's own k and m, one entry per member,
 * and a member that went offline lowers the measured availability and
 * P(readable). The repair threshold is derived from the cluster's `target`
 * setting, or is the cluster's `repairThreshold` when an admin set one.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseJsonOutput, assertSucceeded } from '../helpers/cli-assert.ts'
import type { RunResult } from '../helpers/process.ts'
import { startCluster } from '../helpers/cluster.ts'
import type { TestCluster } from '../helpers/cluster.ts'

describe('live planning', { timeout: 300_000 }, () => {
  let cluster: TestCluster | undefined
  before(async () => {
    cluster = await startCluster({ nodes: 4, k: 2, m: 1 })
  })
  after(async () => { await cluster?.stop() })

  it('uses the measured availability of every member', async () => {
    const c = cluster as TestCluster
    await new Promise((resolve) => setTimeout(resolve, 1500))
    // Two of the four members go offline: a 2+1 placement that holds both needs
    // one of them, so P(readable) drops below 1.
    await c.kill('node-3')
    await c.kill('node-4')
    await new Promise((resolve) => setTimeout(resolve, 2500))
    const dir = c.node('node-1').dir
    const plan = parseJsonOutput<{ k: number, m: number, nodes: number, pReadable: number, nines: number, overhead: number }>(await c.cli(['plan', '--node', dir, '--json']), 'plan --node')
    assert.equal(plan.k, 2)
    assert.equal(plan.m, 1)
    assert.equal(plan.nodes, 4)
    assert.ok(plan.pReadable > 0 && plan.pReadable < 1, `pReadable ${plan.pReadable} reflects a member that was offline part of the time`)
    const api = JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as { url: string, token: string }
    const res = await fetch(`${api.url}/api/v1/availability`, { headers: { authorization: `Bearer ${api.token}` } })
    const live = await res.json() as { nodes: Array<{ name: string, availability: number, observedHours: number }> }
    const byName = new Map(live.nodes.map((n) => [n.name, n]))
    assert.equal(byName.get('node-1')?.availability, 1)
    const killed = byName.get('node-4')?.availability ?? 1
    assert.ok(killed < 1, `node-4 was seen offline: availability ${killed}`)
    const human = await c.cli(['plan', '--node', dir])
    assertSucceeded(human, 'plan --node without --json')
  })

  it('derives the repair threshold from the cluster target unless one is set', async () => {
    const c = cluster as TestCluster
    const dir = c.node('node-1').dir
    type Threshold = { target: number, repairThreshold: number, repairThresholdDerived: boolean, readabilityAtRepairThreshold: number }
    const planned = async (): Promise<Threshold> => parseJsonOutput<Threshold>(await c.cli(['plan', '--node', dir, '--json']), 'plan --node')
    const set = async (key: string, value: string): Promise<RunResult> => c.cli(['config', 'set', key, value, '--node', dir])
    const before = await planned()
    assert.equal(before.target, 0.9999)
    assert.equal(before.repairThresholdDerived, true)
    // A 2+1 code has one threshold above k: k + m = 3.
    assert.equal(before.repairThreshold, 3)
    assert.ok(before.readabilityAtRepairThreshold >= 0 && before.readabilityAtRepairThreshold <= 1)
    assertSucceeded(await set('target', '0.99'), 'config set target')
    assert.equal((await planned()).target, 0.99)
    assertSucceeded(await set('repairThreshold', '2'), 'config set repairThreshold')
    const fixed = await planned()
    assert.equal(fixed.repairThreshold, 2)
    assert.equal(fixed.repairThresholdDerived, false)
  })
})
