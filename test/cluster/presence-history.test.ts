/**
 * Goal: a node's presence history splits time correctly into hours of the
 * week, days and the last 24 hours, gives the right 1/7/30-day fractions,
 * stays bounded (size on the wire, absences kept, work for any span), and
 * survives its wire form; a malformed wire form is refused with the roster
 * record that carries it.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addAbsence, addSpan, emptyHistory, fromNodePresence, hourOfWeekAt, nextHourMs, observedMs, profileObservations, projectHistory, summarize, toNodePresence } from '../../src/cluster/presence-history.ts'
import { parseRecord } from '../../src/meta/codec.ts'
import { MAX_PRESENCE_ABSENCES, nodePresenceProblem } from '../../src/meta/node-presence.ts'
import { DAY, HOUR, MONDAY, officePc } from './presence-fixtures.ts'

describe('presence history', () => {
  it('numbers hours of the week from Monday 00:00 local time', () => {
    assert.equal(hourOfWeekAt(MONDAY, 0), 0)
    assert.equal(hourOfWeekAt(MONDAY + 6 * DAY + 23 * HOUR + 59 * 60_000, 0), 167)
    assert.equal(hourOfWeekAt(MONDAY - 60 * 60_000, 60), 0, 'Sunday 23:00 UTC is Monday 00:00 at UTC+1')
    assert.equal(hourOfWeekAt(MONDAY, -300), 163, 'Monday 00:00 UTC is Sunday 19:00 at UTC-5')
    assert.equal(nextHourMs(MONDAY + 30 * 60_000, 330), MONDAY + 30 * 60_000 + HOUR, 'at UTC+5:30 local hours start at :30 UTC')
  })

  it('splits a span over the hours it covers', () => {
    const start = MONDAY + 9 * HOUR + 30 * 60_000
    const h = addSpan(emptyHistory(start, 0), start + 2 * HOUR, true)
    assert.deepEqual(h.weekObservedMs.slice(9, 12), [30 * 60_000, HOUR, 30 * 60_000])
    assert.equal(observedMs(h), 2 * HOUR)
    assert.deepEqual(profileObservations(h).map((o) => o.hour), [9, 10, 11])
    assert.deepEqual(summarize(h), { d1: 1, d7: 1, d30: 1 })
  })

  it('gives the 1, 7 and 30 day fractions of a PC on ten hours a day', () => {
    const h = addSpan(officePc(40), MONDAY + 40 * DAY + 18 * HOUR, false)
    const s = summarize(h)
    assert.ok(Math.abs((s.d1 as number) - 0) < 1e-9, `a day away: d1 ${s.d1}`)
    assert.ok(Math.abs((s.d7 as number) - 60 / (6 * 24 + 18)) < 1e-9, `d7 ${s.d7}: six days of 10 h and today's 18 h away`)
    assert.ok((s.d30 as number) > 0.33 && (s.d30 as number) < 0.42, `d30 ${s.d30}`)
  })

  it('knows nothing before anything was observed', () => {
    assert.deepEqual(summarize(emptyHistory(MONDAY, 0)), { d1: null, d7: null, d30: null })
  })

  it('projects what an observer saw since the report: online until last seen, away since', () => {
    const report = addSpan(emptyHistory(MONDAY, 0), MONDAY + 10 * HOUR, true)
    const seen = projectHistory(report, MONDAY + 12 * HOUR, MONDAY + 16 * HOUR)
    assert.equal(seen.atMs, MONDAY + 16 * HOUR)
    assert.ok(Math.abs((summarize(seen).d1 as number) - 12 / 16) < 1e-9)
    assert.equal(projectHistory(report, MONDAY, MONDAY + 10 * HOUR), report, 'nothing to add at the report\'s own end')
  })

  it('stays bounded: a year away is summed in whole weeks, the rings empty', () => {
    const h = officePc(3)
    const t0 = performance.now()
    const away = addSpan(h, h.atMs + 400 * DAY, false)
    assert.ok(performance.now() - t0 < 200, 'bounded work')
    assert.deepEqual(summarize(away), { d1: 0, d7: 0, d30: 0 })
    assert.ok(away.weekObservedMs.every((ms) => ms <= 8 * HOUR + 1e-6), 'the profile holds about 8 weeks per hour')
    let many = h
    for (let i = 0; i < 200; i++) many = addAbsence(many, (i + 1) * 1000)
    assert.equal(many.absencesMs.length, MAX_PRESENCE_ABSENCES)
    assert.equal(many.absencesMs.at(-1), 200_000, 'the newest are kept')
  })

  it('ignores a clock stepped back', () => {
    const h = officePc(2)
    assert.equal(addSpan(h, h.atMs - HOUR, true), h)
  })

  it('round-trips through its wire form in whole seconds, in a few KiB', () => {
    let h = officePc(60, true)
    for (let i = 0; i < 100; i++) h = addAbsence(h, 987_654_321)
    const wire = toNodePresence(h)
    const bytes = Buffer.byteLength(JSON.stringify(wire))
    assert.ok(bytes < 4096, `${bytes} bytes`)
    const back = fromNodePresence(JSON.parse(JSON.stringify(wire)))
    assert.deepEqual(back.absencesMs.at(-1), 987_654_000)
    assert.ok(back.weekObservedMs.every((ms, i) => Math.abs(ms - (h.weekObservedMs[i] as number)) <= 500))
    assert.deepEqual(summarize(back).d7?.toFixed(3), summarize(h).d7?.toFixed(3))
  })

  it('refuses malformed wire forms, and the roster record that carries one', () => {
    const good = toNodePresence(officePc(3))
    assert.equal(nodePresenceProblem(good), undefined)
    const bad: Array<[string, unknown]> = [
      ['not an object', []],
      ['unsupported version 2', { ...good, v: 2 }],
      ['bad times', { ...good, sinceMs: good.atMs + 1 }],
      ['bad weekly profile', { ...good, weekOnlineS: good.weekOnlineS.slice(1) }],
      ['bad weekly profile', { ...good, weekOnlineS: good.weekObservedS.map((s) => s + 1) }],
      ['bad daily history', { ...good, daysOnlineS: good.daysOnlineS.map(() => -1) }],
      ['bad absences', { ...good, absencesS: new Array(65).fill(1) }],
      ['bad UTC offset', { ...good, utcOffsetMin: 24 * 60 }],
      ['larger than 8192 bytes', { ...good, padding: 'x'.repeat(9000) }]
    ]
    for (const [problem, value] of bad) assert.equal(nodePresenceProblem(value), problem)
    const record = { v: 1, table: 'node', pk: 'peer', hlc: '000000000001-0000', origin: 'peer', tombstone: false, body: { name: 'pc', addrs: [], zone: '', anchor: false, quotaBytes: 1, joinedMs: 1, presence: { ...good, absencesS: ['x'] } } }
    assert.throws(() => parseRecord(record), /bad presence history in roster entry: bad absences/)
    assert.doesNotThrow(() => parseRecord({ ...record, body: { ...record.body, presence: good } }))
  })
})
