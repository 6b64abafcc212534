/**
 * Latencies of a load run, in buckets 1/16 of a power of two wide (each within 4.5%),
 * from 1 µs to over a minute: recording is one `Math.log2` and an increment, memory is
 * fixed whatever the run's length, and percentiles are read at any time.
 *
 * @since 0.1.0
 */

const STEPS_PER_OCTAVE = 16
/** 2^27 µs ≈ 134 s: anything slower lands in the last bucket. */
const BUCKETS = 27 * STEPS_PER_OCTAVE

/**
 * A histogram of durations in milliseconds.
 *
 * @since 0.1.0
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS + 1)
  /**
   * How many durations were recorded.
   *
   * @since 0.1.0
   */
  count = 0
  /**
   * The longest, in milliseconds.
   *
   * @since 0.1.0
   */
  max = 0

  /**
   * Records one duration in milliseconds.
   *
   * @since 0.1.0
   */
  record(ms: number): void {
    const micros = ms * 1000
    const index = micros <= 1 ? 0 : Math.min(BUCKETS, Math.ceil(Math.log2(micros) * STEPS_PER_OCTAVE))
    this.counts[index]! += 1
    this.count += 1
    if (ms > this.max) this.max = ms
  }

  /**
   * The duration (ms, the upper bound of its bucket) under which a fraction `q` of
   * the recorded ones fall; 0 when none were recorded.
   *
   * @since 0.1.0
   */
  percentile(q: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(this.max, 2 ** (i / STEPS_PER_OCTAVE) / 1000)
    }
    return this.max
  }

  /**
   * Adds another histogram's counts to this one.
   *
   * @since 0.1.0
   */
  add(other: LatencyHistogram): void {
    for (let i = 0; i <= BUCKETS; i++) this.counts[i]! += other.counts[i]!
    this.count += other.count
    if (other.max > this.max) this.max = other.max
  }
}
