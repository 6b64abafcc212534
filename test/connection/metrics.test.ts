/**
 * Metrics of the key/value traffic, opt-in per connection: after a known workload the
 * counters and the latency histogram hold the expected counts, by operation, node and
 * error; retries and reconnects are counted; a connection without `metrics` records
 * nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Metric, MetricLabel } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as NodeIops from "../../src/Iops/Node.js"
import * as Iops from "../../src/Iops.js"
import * as Metrics from "../../src/internal/connection/Metrics.js"
import { ResumeRequest } from "../../src/internal/connection/Requests.js"
import { prepareGet } from "../../src/internal/ops/get.js"
import { defaultTranscoder, FMT_JSON } from "../../src/Transcoder.js"

const labels = (tags: Record<string, string>) => Object.entries(tags).map(([k, v]) => MetricLabel.make(k, v))
const counterOf = (metric: Metric.Metric.Counter<number>, tags: Record<string, string>) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(tags))), (state) => state.count)

describe("metrics", () => {
  it.live("count operations, errors, latencies, retries and reconnects, by operation and node", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, buckets: [{ name: "metered" }] })
      const node = `127.0.0.1:${cluster.nodes[0]!.kv}`
      const cb = yield* Connection.make({
        connectionString: `${cluster.connectionString}/metered`,
        username: cluster.username,
        password: cluster.password,
        metrics: true
      }).pipe(Effect.provide(Iops.layerNode()))
      for (let i = 0; i < 10; i++) yield* cb.upsert(`m${i}`, i)
      for (let i = 0; i < 5; i++) yield* cb.get(`m${i}`)
      for (let i = 0; i < 3; i++) yield* Effect.flip(cb.get(`absent${i}`))
      const op = (name: string) => ({ "db.namespace": "metered", "db.operation.name": name, "server.address": node })
      expect(yield* counterOf(Metrics.operations, op("upsert"))).toBe(10)
      expect(yield* counterOf(Metrics.operations, op("get"))).toBe(8)
      expect(yield* counterOf(Metrics.operationErrors, { ...op("get"), "error.type": "NotFoundError" })).toBe(3)
      const histogram = yield* Metric.value(Metric.taggedWithLabels(Metrics.operationDuration, labels(op("get"))))
      expect(histogram.count).toBe(8)
      expect(histogram.min).toBeGreaterThanOrEqual(0)
      expect(histogram.max).toBeLessThan(5000)
      // Bytes each way: at least a 24-byte header per request and per response.
      const traffic = (direction: string) =>
        counterOf(Metrics.bytes, {
          "db.namespace": "metered",
          "server.address": node,
          "network.io.direction": direction
        })
      expect(yield* traffic("transmit")).toBeGreaterThanOrEqual(18 * 24)
      expect(yield* traffic("receive")).toBeGreaterThanOrEqual(18 * 24)
      const inFlight = yield* Metric.value(
        Metric.taggedWithLabels(Metrics.inFlight, labels({ "db.namespace": "metered" }))
      )
      expect(inFlight.value).toBe(0)

      // Two temporary failures: three attempts, two of them retried.
      yield* cluster.control.injectStatus("retried", 0x86, { times: 2, bucket: "metered" })
      yield* cb.upsert("retried", 1)
      expect(yield* counterOf(Metrics.retries, { "db.namespace": "metered", "db.operation.name": "upsert" })).toBe(2)
      expect(yield* counterOf(Metrics.operations, op("upsert"))).toBe(13)

      // A restart: the client reconnects, and counts it.
      yield* cluster.control.restart(0)
      yield* cb.waitUntilReady("5 seconds")
      expect(
        yield* counterOf(Metrics.reconnects, { "db.namespace": "metered", "server.address": node })
      ).toBeGreaterThanOrEqual(1)

      // A connection without metrics records nothing.
      const quietCb = yield* Connection.make({
        connectionString: `${cluster.connectionString}/metered`,
        username: cluster.username,
        password: cluster.password
      }).pipe(Effect.provide(Iops.layerNode()))
      yield* quietCb.get("m1")
      expect(yield* counterOf(Metrics.operations, op("get"))).toBe(8)
    }).pipe(Effect.scoped)
  )

  it.effect("an attempt taken out of its node's queue by an interruption is no longer in flight", () =>
    Effect.gen(function* () {
      const metrics = new Metrics.ClientMetrics("queued")
      const iops = NodeIops.make()
      const op = Either.getOrThrow(
        prepareGet("k", undefined, {
          transcoder: defaultTranscoder,
          defaultFormat: FMT_JSON,
          quiet: false,
          replicas: 0,
          now: () => 0
        } as any)
      )
      const request = new ResumeRequest({ metrics, iops } as never, op, 0, Number.POSITIVE_INFINITY, 0, () => {})
      // A node whose queue holds the request: cancel takes it out.
      request.node = { address: "n:1", cancel: (r: { ended: boolean }) => (r.ended = true) } as never
      const gauge = Metric.taggedWithLabels(Metrics.inFlight, labels({ "db.namespace": "queued" }))
      expect((yield* Metric.value(gauge)).value).toBe(1)
      request.cancelWaiting()
      expect((yield* Metric.value(gauge)).value).toBe(0)
      const tags = { "db.namespace": "queued", "db.operation.name": "get", "server.address": "n:1" }
      expect(yield* counterOf(Metrics.operationErrors, { ...tags, "error.type": "Interrupted" })).toBe(1)
      // Once ended, a second cancel counts nothing more.
      request.cancelWaiting()
      expect(yield* counterOf(Metrics.operationErrors, { ...tags, "error.type": "Interrupted" })).toBe(1)
    })
  )
})
