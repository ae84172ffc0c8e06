/**
 * Seeded pseudo-random numbers for the simulator and the planner. The same
 * seed gives the same run on every machine; Math.random is never used.
 *
 * `Prng` is sfc32 (a small, fast, well-tested 128-bit generator) seeded
 * through splitmix32. `hashUniform` is a stateless hash of integers to (0,1),
 * used where a value must not depend on the order of queries (e.g. whether
 * PC 17 is at work on day 230).
 */

/** One splitmix32 step: a well-mixed 32-bit value from a 32-bit counter. */
function splitmix32 (x: number): number {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * A uniform number in (0,1) that depends only on the integers given.
 *
 * @example
 * hashUniform(7, 17, 230) === hashUniform(7, 17, 230) // true
 */
export function hashUniform (...parts: number[]): number {
  let h = 0x2545f491
  for (const part of parts) h = splitmix32(h ^ splitmix32(part | 0) ^ Math.floor(part / 2 ** 32))
  const h2 = splitmix32(h ^ 0x5bd1e995)
  return ((h >>> 5) * 2 ** 26 + (h2 >>> 6) + 0.5) / 2 ** 53
}

/**
 * A seeded generator (sfc32).
 *
 * @example
 * const rng = new Prng(42); rng.next() // same value on every run
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    this.a = splitmix32(seed | 0)
    this.b = splitmix32(this.a ^ 0x1234567)
    this.c = splitmix32(this.b ^ Math.floor(seed / 2 ** 32))
    this.d = 1
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  /** The next 32-bit unsigned value. */
  nextUint32 (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** A uniform number in (0,1), never 0 so logarithms are safe. */
  next (): number {
    return (this.nextUint32() + 0.5) / 2 ** 32
  }

  /** An exponentially distributed value with the given mean. */
  exponential (mean: number): number {
    return -mean * Math.log(this.next())
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }
}

/** A standard normal value from two uniforms (Box-Muller). */
export function normalFromUniforms (u1: number, u2: number): number {
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
}
