/**
 * A tiny seeded pseudo-random generator for the simulated network: a Weyl sequence
 * mixed through a 32-bit avalanche finaliser. Same seed, same numbers, on every
 * platform (only 32-bit integer arithmetic), which is what makes fault scripts
 * replayable. Not for anything security-related.
 *
 * @internal
 */
export class Prng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** The next value in [0, 2^32). */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0
    let z = this.state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }

  /** The next value in [0, 1). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000
  }

  /** An integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
}
