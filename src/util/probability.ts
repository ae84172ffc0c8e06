/**
 * Exact availability arithmetic for erasure-coded objects.
 *
 * An object with k data and m parity shards on n = k + m nodes is readable
 * when at least k holders are online. With every node online independently
 * with probability p this is the binomial tail; with per-node probabilities it
 * is the Poisson-binomial tail. We always compute the small side,
 * P(unreadable) = P(X <= k - 1), as a sum of non-negative terms, so there is no
 * cancellation and the "nines" stay right far beyond 1e-16.
 *
 * It lives in util/ because both the repair policy (heal/, which derives the
 * repair threshold from it) and the planner (sim/) need it, and heal/ may not
 * import from sim/.
 */
import { assert } from './errors.ts'

/** ln(n!) for n = 0..size-1, by summing logarithms (exact to a few ulps). */
export function logFactorials (size: number): Float64Array {
  const table = new Float64Array(size)
  for (let i = 1; i < size; i++) table[i] = (table[i - 1] as number) + Math.log(i)
  return table
}

/** log(sum(exp(values))) without overflow or underflow. */
function logSumExp (values: readonly number[]): number {
  let max = -Infinity
  for (const v of values) if (v > max) max = v
  if (max === -Infinity) return -Infinity
  let sum = 0
  for (const v of values) sum += Math.exp(v - max)
  return max + Math.log(sum)
}

/**
 * log10 of P(Bin(n, p) <= k - 1): the chance that fewer than k of n nodes,
 * each online with probability p, are online. Computed in log space, so it
 * is finite even when the probability underflows a double.
 *
 * @example
 * Math.pow(10, binomialUnreadableLog10(8, 4, 0.5)) // 93/256
 */
export function binomialUnreadableLog10 (n: number, k: number, p: number): number {
  assert(Number.isInteger(n) && Number.isInteger(k) && k >= 1 && k <= n, 'need 1 <= k <= n')
  assert(p >= 0 && p <= 1, 'p must be a probability')
  if (p === 0) return 0
  if (p === 1) return -Infinity
  const lnP = Math.log(p)
  const lnQ = Math.log1p(-p)
  const lf = logFactorials(n + 1)
  const terms: number[] = []
  for (let i = 0; i < k; i++) {
    terms.push((lf[n] as number) - (lf[i] as number) - (lf[n - i] as number) + i * lnP + (n - i) * lnQ)
  }
  return logSumExp(terms) / Math.LN10
}

/**
 * P(X <= k - 1) for X the number of online nodes among nodes online with
 * probabilities `ps` (Poisson-binomial lower tail), by the exact dynamic
 * programme over the count, truncated at k states.
 *
 * @example
 * poissonBinomialUnreadable([0.5, 0.5], 1) // 0.25
 */
export function poissonBinomialUnreadable (ps: ArrayLike<number>, k: number): number {
  assert(k >= 1, 'k must be at least 1')
  const dp = new Float64Array(k)
  dp[0] = 1
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as number
    const q = 1 - p
    for (let j = k - 1; j >= 1; j--) dp[j] = (dp[j] as number) * q + (dp[j - 1] as number) * p
    dp[0] = (dp[0] as number) * q
  }
  let sum = 0
  for (let j = 0; j < k; j++) sum += dp[j] as number
  return sum
}

/**
 * P(fewer than k shards online) when node i, online with probability
 * `ps[i]`, holds `shards[i]` shards (an anchor may hold several shards of one
 * stripe): losing such a node loses all of them at once. Truncated
 * distribution of the online shard count, O(nodes × k).
 *
 * @example
 * groupedUnreadable([0.999, 0.999, 0.4], [2, 2, 1], 4) // ≈ 0.002 (both anchors needed)
 */
export function groupedUnreadable (ps: ArrayLike<number>, shards: ArrayLike<number>, k: number): number {
  assert(k >= 1, 'k must be at least 1')
  assert(ps.length === shards.length, 'one shard count per node')
  const dp = new Float64Array(k)
  dp[0] = 1
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as number
    const q = 1 - p
    const c = shards[i] as number
    for (let j = k - 1; j >= 0; j--) dp[j] = (dp[j] as number) * q + (j - c >= 0 ? (dp[j - c] as number) * p : 0)
  }
  let sum = 0
  for (let j = 0; j < k; j++) sum += dp[j] as number
  return sum
}

/**
 * The full Poisson-binomial distribution: element K is the probability that
 * exactly K of the nodes are online.
 */
export function poissonBinomialDistribution (ps: ArrayLike<number>): Float64Array {
  const dist = new Float64Array(ps.length + 1)
  dist[0] = 1
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i] as number
    const q = 1 - p
    for (let j = i + 1; j >= 1; j--) dist[j] = (dist[j] as number) * q + (dist[j - 1] as number) * p
    dist[0] = (dist[0] as number) * q
  }
  return dist
}

/**
 * P(unreadable) averaged over ALL placements of n shards on distinct nodes
 * chosen uniformly (what equal-weight rendezvous hashing does), exactly:
 * draw which of the N nodes are online (K of them, Poisson-binomial), then
 * the chosen n nodes hold a hypergeometric number of online ones.
 *
 * @param onlineCountDist poissonBinomialDistribution of all N nodes
 * @param lf logFactorials(N + 1) or larger
 */
export function uniformPlacementUnreadable (onlineCountDist: Float64Array, lf: Float64Array, n: number, k: number): number {
  const total = onlineCountDist.length - 1
  assert(n <= total && k >= 1 && k <= n, 'need 1 <= k <= n <= N')
  const lnChoose = (a: number, b: number): number => (lf[a] as number) - (lf[b] as number) - (lf[a - b] as number)
  const lnAll = lnChoose(total, n)
  let sum = 0
  for (let online = 0; online <= total; online++) {
    const weight = onlineCountDist[online] as number
    if (weight === 0) continue
    let tail = 0
    const low = Math.max(0, n - (total - online))
    for (let i = low; i < k && i <= online; i++) tail += Math.exp(lnChoose(online, i) + lnChoose(total - online, n - i) - lnAll)
    sum += weight * tail
  }
  return sum
}

/**
 * Nines of a probability p close to 1, given the small side 1 - p.
 *
 * @example
 * ninesFromFailure(1e-4) // 4
 */
export function ninesFromFailure (failure: number): number {
  return failure <= 0 ? Infinity : -Math.log10(failure)
}
