/**
 * Goal: a report list never holds more than its capacity however many
 * entries arrive, keeps the newest ones in order, and counts the rest.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RecentList } from '../../src/util/recent-list.ts'

test('a RecentList keeps the newest `capacity` entries, oldest first, and counts the dropped ones', () => {
  const list = new RecentList<number>(100)
  for (let i = 0; i < 10_000; i++) list.push(i)
  const items = list.items()
  assert.equal(items.length, 100)
  assert.deepEqual(items, Array.from({ length: 100 }, (_, i) => 9_900 + i))
  assert.equal(list.dropped, 9_900)
})
