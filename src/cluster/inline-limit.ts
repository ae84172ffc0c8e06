/**
 * The inline limit (pure): the largest object a put stores inside its
 * version record instead of erasure coding it. An inline object is
 * replicated to every member (N copies of about 4/3 × its size, base64 of
 * the ciphertext); an erasure-coded one is stored (k+m)/k times, in shard
 * files of at least one disk block each, plus a stripe list of k+m shard
 * hashes and holders in the record every member keeps. So the limit shrinks
 * with the cluster: the inline bytes one small object costs the whole
 * cluster stay within INLINE_BUDGET_BYTES, never below INLINE_FLOOR_BYTES
 * (under which inlining costs each node less than a coded record's stripe
 * list alone) and never above INLINE_CEILING_BYTES. The rule and its
 * arithmetic: docs/PERFORMANCE.md, "Large metadata".
 */

/** The largest inline object at any cluster size (the limit before issue 12: 16 KiB). */
export const INLINE_CEILING_BYTES = 16 * 1024

/**
 * Plaintext bytes of one inline object summed over every replica: 8 × 16 KiB,
 * so clusters of up to 8 members inline up to 16 KiB as before, and beyond
 * that the replicated cost of a small object stays at most ~171 KiB
 * (4/3 × 128 KiB of base64) however many members there are.
 */
export const INLINE_BUDGET_BYTES = 8 * INLINE_CEILING_BYTES

/**
 * The limit never goes below this. Measured in a node's meta.db (bench/bigmeta.ts):
 * the version record of a 1 KiB object is 1,802 bytes of JSON inline and
 * 1,299 erasure coded at 4+2, so a stripe list costs every node ~885 bytes
 * more than an inline record without its payload (414 bytes), while
 * 512 bytes inline cost 4/3 × (512 + 16) = 704: under this size inlining is
 * cheaper for every node than the coded record alone, shards aside, at any
 * cluster size.
 */
export const INLINE_FLOOR_BYTES = 512

/**
 * The inline limit of a cluster of `memberCount` members: `override` when
 * set (the `inlineMaxBytes` cluster setting, 0 = derived), else
 * INLINE_BUDGET_BYTES / memberCount within [INLINE_FLOOR_BYTES,
 * INLINE_CEILING_BYTES]. Deterministic for a given roster size.
 *
 * @example
 * inlineLimitBytes(6)   // 16384
 * inlineLimitBytes(48)  // 2730
 * inlineLimitBytes(300) // 512
 * inlineLimitBytes(48, 4096) // 4096
 */
export function inlineLimitBytes (memberCount: number, override = 0): number {
  if (override > 0) return Math.min(override, INLINE_CEILING_BYTES)
  const members = Math.max(1, Math.floor(memberCount))
  return Math.min(INLINE_CEILING_BYTES, Math.max(INLINE_FLOOR_BYTES, Math.floor(INLINE_BUDGET_BYTES / members)))
}
