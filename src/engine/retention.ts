/**
 * Retention policy (pure): which versions of one key a bucket's retention
 * setting removes. The current version is always kept; a non-current version
 * (a delete marker included) goes when it is beyond the newest
 * `keepVersions` versions, or older than `keepDays` days.
 */
import type { RetentionPolicy, VersionInfo } from '../meta/types.ts'

/** Milliseconds in a day. */
export const DAY_MS = 24 * 3600 * 1000

/**
 * Ids of the versions `policy` removes, from `versions` sorted newest first.
 *
 * @example
 * expiredVersions([v3, v2, v1], { keepVersions: 2 }, Date.now()) // [v1.id]
 */
export function expiredVersions (versions: readonly VersionInfo[], policy: RetentionPolicy | undefined, nowMs: number): string[] {
  if (policy === undefined || (policy.keepVersions === undefined && policy.keepDays === undefined)) return []
  const out: string[] = []
  versions.forEach((v, index) => {
    if (index === 0) return
    const tooMany = policy.keepVersions !== undefined && index >= policy.keepVersions
    const tooOld = policy.keepDays !== undefined && nowMs - v.timeMs > policy.keepDays * DAY_MS
    if (tooMany || tooOld) out.push(v.id)
  })
  return out
}
