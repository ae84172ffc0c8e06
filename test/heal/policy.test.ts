/**
 * Tests of the pure repair policy shared by the daemon and the simulator.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chooseRepairTargets, decideRepair, defaultRepairThreshold, isNodeDead, repairTransferBytes } from '../../src/heal/policy.ts'

test('a node is dead only after deadAfter without a heartbeat', () => {
  // Goal: a PC asleep for a night is not dead; one silent past the limit is.
  assert.equal(isNodeDead(0, 10 * 3600e3, 72 * 3600e3), false)
  assert.equal(isNodeDead(0, 72 * 3600e3, 72 * 3600e3), true)
})

test('repair is lazy: nothing above the threshold, rebuild all below it', () => {
  // Goal: the decision follows the documented rules for every live count.
  const base = { k: 4, m: 4, repairThreshold: defaultRepairThreshold(4, 4) }
  assert.equal(base.repairThreshold, 6)
  assert.deepEqual(decideRepair({ ...base, liveShards: 8 }), { action: 'none' })
  assert.deepEqual(decideRepair({ ...base, liveShards: 6 }), { action: 'none' })
  assert.deepEqual(decideRepair({ ...base, liveShards: 5, onlineShards: 5 }), { action: 'repair', rebuildShards: 3, readShards: 4 })
  assert.equal(decideRepair({ ...base, liveShards: 5, onlineShards: 3 }).action, 'wait')
  assert.deepEqual(decideRepair({ ...base, liveShards: 3 }), { action: 'lost' })
})

test('repair targets skip current holders and keep placement order', () => {
  // Goal: only missing shards move, onto the best-ranked free nodes.
  assert.deepEqual(chooseRepairTargets(['a', 'b', 'c', 'd'], ['b', 'x'], 2), ['a', 'c'])
  assert.deepEqual(chooseRepairTargets([1, 2], [1, 2], 3), [])
  assert.equal(repairTransferBytes(100, 4, 2), 600)
  assert.equal(repairTransferBytes(100, 4, 0), 0)
})

test('bad repair inputs are programmer errors', () => {
  // Goal: a threshold outside [k, k+m] crashes instead of deciding nonsense.
  assert.throws(() => decideRepair({ liveShards: 4, k: 4, m: 2, repairThreshold: 7 }))
})
