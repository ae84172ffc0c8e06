/**
 * Goal: a node collects dropped Buffers once they hold more than the
 * governor's limit outside the V8 heap, instead of at V8's own ~64 MiB
 * (daemon/external-memory.ts), and the governor can be turned off.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { getHeapStatistics } from 'node:v8'
import { EXTERNAL_GARBAGE_ENV, EXTERNAL_GARBAGE_LIMIT_BYTES, externalGarbageLimitBytes, governorStats, startExternalMemoryGovernor } from '../../src/daemon/external-memory.ts'
import { waitFor } from '../helpers/process.ts'

const MiB = 1024 * 1024

describe('external-memory governor', () => {
  it('frees dropped Buffers once they exceed the limit, and counts the collection', async () => {
    const stop = startExternalMemoryGovernor(8 * MiB)
    try {
      const before = getHeapStatistics().external_memory
      // 32 MiB of Buffers, each dropped at once: about four times the limit, and under V8's own trigger.
      let sum = 0
      for (let i = 0; i < 8; i++) sum += Buffer.alloc(4 * MiB, i)[i] as number
      assert.equal(sum, 28)
      await waitFor(() => governorStats().collections >= 1, 10_000, 'a collection by the governor')
      await waitFor(() => getHeapStatistics().external_memory < before + 8 * MiB, 10_000, 'the dropped Buffers freed')
      assert.equal(governorStats().limitBytes, 8 * MiB)
    } finally { stop() }
  })

  it('reads its limit from the environment; unset or 0 is off', () => {
    assert.equal(externalGarbageLimitBytes({}), EXTERNAL_GARBAGE_LIMIT_BYTES)
    assert.equal(EXTERNAL_GARBAGE_LIMIT_BYTES, 0, 'off unless set (its CPU cost: docs/PERFORMANCE.md)')
    assert.equal(externalGarbageLimitBytes({ [EXTERNAL_GARBAGE_ENV]: '16' }), 16 * MiB)
    assert.equal(externalGarbageLimitBytes({ [EXTERNAL_GARBAGE_ENV]: '0' }), 0)
    assert.equal(externalGarbageLimitBytes({ [EXTERNAL_GARBAGE_ENV]: 'lots' }), EXTERNAL_GARBAGE_LIMIT_BYTES, 'a bad value keeps the default')
    const before = governorStats().collections
    const stop = startExternalMemoryGovernor(0)
    stop()
    assert.equal(governorStats().collections, before)
  })
})
