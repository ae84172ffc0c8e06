/**
 * Brute-force probabilities for checking the exact formulas on small cases.
 */

/** P(at least k of the nodes online), each online independently with ps[i], by enumerating every on/off state. */
export function bruteReadable (ps: readonly number[], k: number): number {
  let sum = 0
  for (let mask = 0; mask < 1 << ps.length; mask++) {
    let p = 1
    let online = 0
    for (let i = 0; i < ps.length; i++) {
      const on = (mask >> i) & 1
      online += on
      p *= on === 1 ? ps[i] as number : 1 - (ps[i] as number)
    }
    if (online >= k) sum += p
  }
  return sum
}

/** P(fewer than k of the nodes online). */
export function bruteUnreadable (ps: readonly number[], k: number): number {
  return 1 - bruteReadable(ps, k)
}
