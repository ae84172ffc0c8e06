/**
 * Goal: a report list fed by a failing disk or a peer keeps only its newest
 * entries and counts the rest, so memory stays bounded however many arrive.
 */

import { strict as assert } from 'node:assert'
import { test } from 'node:test'
import { MAX_BAD_SHARD_REPORTS } from '../../src/daemon/daemon.ts'
import { BoundedLog } from '../../src/util/bounded-log.ts'

test('the bad-shard report list keeps the newest MAX_BAD_SHARD_REPORTS entries and counts the dropped ones', () => {
  const log = new BoundedLog<number>(MAX_BAD_SHARD_REPORTS)
  const added = MAX_BAD_SHARD_REPORTS * 5 + 7
  for (let i = 0; i < added; i++) log.push(i)
  const kept = log.list()
  assert.equal(kept.length, MAX_BAD_SHARD_REPORTS)
  assert.equal(kept[0], added - MAX_BAD_SHARD_REPORTS)
  assert.equal(kept.at(-1), added - 1)
  assert.equal(log.dropped, added - MAX_BAD_SHARD_REPORTS)
})
