/**
 * Retention policy (pure): which versions of one key a bucket's retention
 * setting removes. The current version is always kept; a non-current version
 * (a delete marker included) goes when it is beyond the newest
 * `keepVersions` versions, or older than `keepDays` days; and a `null`
 * version goes once a newer `null` version replaced it.
 */
import type { RetentionPolicy, VersionInfo } from '../meta/types.ts'

/** Milliseconds in a day. */
export const DAY_MS = 24 * 3600 * 1000

/**
 * Ids of the versions `policy` removes, from `versions` sorted newest first.
 * Whatever the policy, a `null` version (S3: written while the bucket was
 * Unversioned or Suspended) that a newer `null` version superseded goes
 * too: a key has at most one, as in S3.
 *
 * @example
 * expiredVersions([v3, v2, v1], { keepVersions: 2 }, Date.now()) // [v1.id]
 */
export function expiredVersions (versions: readonly VersionInfo[], policy: RetentionPolicy | undefined, nowMs: number): string[] {
  const out: string[] = []
  let newerNull = false
  versions.forEach((v, index) => {
    const superseded = v.nullVersion === true && newerNull
    if (v.nullVersion === true) newerNull = true
    if (index === 0) return
    const tooMany = policy?.keepVersions !== undefined && index >= policy.keepVersions
    const tooOld = policy?.keepDays !== undefined && nowMs - v.timeMs > policy.keepDays * DAY_MS
    if (superseded || tooMany || tooOld) out.push(v.id)
  })
  return out
}
