/**
 * Weekly profiles of typical machines (UTC hour of week, Monday 00:00 = 0)
 * for placement tests: office PCs on in working hours, machines left on at
 * night and over the weekend, and always-on ones.
 */
import type { PlacementNode } from '../../src/cluster/placement.ts'
import { PROFILE_HOURS } from '../../src/cluster/profile-placement.ts'

/** Monday to Friday, 08:00 to 18:00. */
export const isWorkingHour = (hour: number): boolean => hour % 24 >= 8 && hour % 24 < 18 && Math.floor(hour / 24) < 5

/** A profile that is `on` in the hours `when` accepts and `off` otherwise. */
export function profileOf (when: (hour: number) => boolean, on: number, off: number): number[] {
  return Array.from({ length: PROFILE_HOURS }, (_, h) => when(h) ? on : off)
}

/** Online 90% of working hours, 2% otherwise. */
export const DAY_PROFILE = profileOf(isWorkingHour, 0.9, 0.02)
/** The complement: online 90% of nights and weekends, 5% in working hours. */
export const NIGHT_PROFILE = profileOf((h) => !isWorkingHour(h), 0.9, 0.05)

/** `day` day-time PCs, `night` night-time PCs, equal free space, ids d0…, n0…. */
export function dayNightFleet (day: number, night: number): PlacementNode[] {
  return [
    ...Array.from({ length: day }, (_, i) => ({ id: `d${i}`, weight: 1000, profile: DAY_PROFILE })),
    ...Array.from({ length: night }, (_, i) => ({ id: `n${i}`, weight: 1000, profile: NIGHT_PROFILE }))
  ]
}

/** Expected online shards at each hour of the week for holders `ids`. */
export function expectedOnline (ids: readonly string[], nodes: readonly PlacementNode[]): number[] {
  const byId = new Map(nodes.map((n) => [n.id, n]))
  return Array.from({ length: PROFILE_HOURS }, (_, h) => ids.reduce((sum, id) => sum + (byId.get(id)?.profile?.[h] ?? 1), 0))
}
