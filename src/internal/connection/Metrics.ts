/**
 * The connection's metrics, as Effect `Metric`s (exported by `@effect/opentelemetry`
 * or read with `Metric.value`), recorded only when the connection was opened with
 * `metrics: true`: otherwise nothing here runs and the hot path pays one branch.
 *
 * Recorded from the request callbacks with `unsafeUpdate` (no Effect per operation):
 * - `couchbase.operations` — attempts sent, by operation, node and bucket;
 * - `couchbase.operation.errors` — attempts that failed, by operation, node and error;
 * - `couchbase.operation.duration` — milliseconds from send to answer, by operation and node;
 * - `couchbase.operations.in_flight` — attempts not answered yet, by bucket;
 * - `couchbase.retries` — retries scheduled, by operation;
 * - `couchbase.reconnects` — connection attempts after the first, by node;
 * - `couchbase.bytes` — bytes read and written, by node and direction.
 *
 * A retried operation counts each attempt, and one retry per attempt after the first.
 *
 * @internal
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

/** Attempts sent. */
export const operations = Metric.counter("couchbase.operations", {
  description: "key/value attempts sent, by operation, node and bucket",
  incremental: true
})
/** Attempts that failed. */
export const operationErrors = Metric.counter("couchbase.operation.errors", {
  description: "key/value attempts that failed, by operation, node and error",
  incremental: true
})
/** Latency of answered attempts. */
export const operationDuration = Metric.histogram(
  "couchbase.operation.duration",
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 18 }),
  "milliseconds from sending a key/value request to its answer, by operation and node"
)
/** Attempts in flight. */
export const inFlight = Metric.gauge("couchbase.operations.in_flight", {
  description: "key/value attempts not answered yet, by bucket"
})
/** Retries scheduled. */
export const retries = Metric.counter("couchbase.retries", {
  description: "retries scheduled (temporary failures, NOT_MY_VBUCKET, a node missing from the map), by operation",
  incremental: true
})
/** Reconnection attempts. */
export const reconnects = Metric.counter("couchbase.reconnects", {
  description: "connection attempts to a node after the first, by node",
  incremental: true
})

/** Bytes on the wire. */
export const bytes = Metric.counter("couchbase.bytes", {
  description: "bytes read and written on the key/value connections, by node and direction",
  incremental: true
})

/** One connection's recorder, with its label sets cached (they are built once per operation name and node). */
export class ClientMetrics {
  private readonly bucketLabel: MetricLabel.MetricLabel
  private readonly bucketTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly tags = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  private pending = 0

  constructor(bucket: string) {
    this.bucketLabel = MetricLabel.make("db.namespace", bucket)
    this.bucketTags = [this.bucketLabel]
  }

  private tagsOf(operation: string, node: string): ReadonlyArray<MetricLabel.MetricLabel> {
    const key = `${operation}\u0000${node}`
    let tags = this.tags.get(key)
    if (tags === undefined) {
      tags = [
        this.bucketLabel,
        MetricLabel.make("db.operation.name", operation),
        MetricLabel.make("server.address", node)
      ]
      this.tags.set(key, tags)
    }
    return tags
  }

  /** An attempt was created (it is sent, or waits for its node). */
  started(): void {
    this.pending++
    inFlight.unsafeUpdate(this.pending, this.bucketTags)
  }

  /**
   * An attempt ended: answered (with `millis` since it started), failed with `error`,
   * or handed to a retry.
   */
  finished(
    operation: string,
    node: string,
    millis: number,
    error: { readonly _tag: string } | "retry" | undefined
  ): void {
    this.pending--
    inFlight.unsafeUpdate(this.pending, this.bucketTags)
    const tags = this.tagsOf(operation, node)
    operations.unsafeUpdate(1, tags)
    if (error === "retry") {
      retries.unsafeUpdate(1, [this.bucketLabel, MetricLabel.make("db.operation.name", operation)])
      return
    }
    operationDuration.unsafeUpdate(millis, tags)
    if (error !== undefined) operationErrors.unsafeUpdate(1, [...tags, MetricLabel.make("error.type", error._tag)])
  }

  /** What a connection to `node` reads and writes, counted. */
  trafficOf(node: string): (read: number, written: number) => void {
    const readTags = [
      this.bucketLabel,
      MetricLabel.make("server.address", node),
      MetricLabel.make("network.io.direction", "receive")
    ]
    const writeTags = [
      this.bucketLabel,
      MetricLabel.make("server.address", node),
      MetricLabel.make("network.io.direction", "transmit")
    ]
    return (read, written) => {
      if (read > 0) bytes.unsafeUpdate(read, readTags)
      if (written > 0) bytes.unsafeUpdate(written, writeTags)
    }
  }

  /** A connection attempt to `node` after the first. */
  reconnect(node: string): void {
    reconnects.unsafeUpdate(1, [this.bucketLabel, MetricLabel.make("server.address", node)])
  }
}
