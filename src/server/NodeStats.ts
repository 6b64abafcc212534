/**
 * Per node and bucket operation counters, reported by STAT (the memcached names, so
 * tools that read memcached stats understand them).
 *
 * @internal
 */

/** The counters of one bucket on one node. */
export class BucketCounters {
  cmd_get = 0
  get_hits = 0
  get_misses = 0
  cmd_set = 0
  delete_hits = 0
  delete_misses = 0
  incr_hits = 0
  incr_misses = 0
  decr_hits = 0
  decr_misses = 0
  cas_hits = 0
  cas_misses = 0
  cas_badval = 0
  touch_hits = 0
  touch_misses = 0
  cmd_touch = 0
  cmd_flush = 0
  cmd_lock = 0
  lock_errors = 0
  /** Requests answered NOT_MY_VBUCKET (kv_engine's `ep_num_not_my_vbuckets`). */
  ep_num_not_my_vbuckets = 0
  bytes_read = 0
  bytes_written = 0
}

/** The counters of one node: connection totals and per-bucket counters. */
export class NodeStats {
  totalConnections = 0
  /** KV connections accepted over TLS (a part of `totalConnections`). */
  tlsConnections = 0
  authCmds = 0
  authErrors = 0
  rejectedConnections = 0
  /** Successful SASL authentications by mechanism (`PLAIN`, `SCRAM-SHA512`, …). */
  readonly saslAuthentications = new Map<string, number>()
  private readonly perBucket = new Map<string, BucketCounters>()

  /** Counts a successful SASL authentication with `mechanism`. */
  authenticated(mechanism: string): void {
    this.saslAuthentications.set(mechanism, (this.saslAuthentications.get(mechanism) ?? 0) + 1)
  }

  /** The counters of `bucket` on this node. */
  bucket(name: string): BucketCounters {
    let counters = this.perBucket.get(name)
    if (counters === undefined) {
      counters = new BucketCounters()
      this.perBucket.set(name, counters)
    }
    return counters
  }
}
