/**
 * Goal: the ports handed to new nodes never repeat within one process, so a
 * local cluster whose nodes are all created before any starts never gives
 * two nodes (or two servers of one node) the same port.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { freePort, PORT_RANGE_MAX, PORT_RANGE_MIN } from '../../src/daemon/ports.ts'

test('freePort never hands out the same port twice in one process', async () => {
  // 600 picks from ~12,800 ports: random picks alone would repeat with a probability near 1.
  const ports = await Promise.all(Array.from({ length: 600 }, async () => await freePort()))
  assert.equal(new Set(ports).size, ports.length)
  assert.ok(ports.every((p) => p >= PORT_RANGE_MIN && p <= PORT_RANGE_MAX))
})
