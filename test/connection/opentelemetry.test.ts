/**
 * The client's spans and metrics through `@effect/opentelemetry` (the setup of
 * examples/opentelemetry.ts): operation spans with the node's address and port, and
 * the connection's metrics with the counts of a known workload, as an OpenTelemetry
 * exporter receives them.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { describe, expect, it } from "@effect/vitest"
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"

describe("export with @effect/opentelemetry", () => {
  it.live("spans carry the operation and the node; metrics hold the workload's counts", () =>
    Effect.gen(function* () {
      const spans = new InMemorySpanExporter()
      const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
      const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })
      const telemetry = NodeSdk.layer(() => ({
        resource: { serviceName: "otel-test" },
        spanProcessor: new SimpleSpanProcessor(spans),
        metricReader: reader
      }))
      const bucket = `otel${Date.now() % 100000}`
      const { ports, finished, exported } = yield* Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2, buckets: [{ name: bucket }] })
        const cb = yield* Connection.make({
          connectionString: `${cluster.connectionString}/${bucket}`,
          username: cluster.username,
          password: cluster.password,
          metrics: true
        })
        for (let i = 0; i < 5; i++) yield* cb.upsert(`k${i}`, { i })
        for (let i = 0; i < 5; i++) yield* cb.get(`k${i}`)
        yield* Effect.flip(cb.get("missing"))
        yield* Effect.promise(() => reader.forceFlush())
        // Read before the SDK shuts down: shutting the in-memory exporters down empties them.
        return {
          ports: cluster.nodes.map((n) => n.kv),
          finished: spans.getFinishedSpans(),
          exported: metrics.getMetrics().flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics))
        }
      }).pipe(Effect.scoped, Effect.provide(Iops.layerNode()), Effect.provide(telemetry))

      const operations = finished.filter((s) => s.name.startsWith("couchbase."))
      expect(operations.filter((s) => s.name === "couchbase.upsert")).toHaveLength(5)
      expect(operations.filter((s) => s.name === "couchbase.get")).toHaveLength(6)
      for (const s of operations) {
        expect(s.attributes["server.address"]).toBe("127.0.0.1")
        expect(ports).toContain(s.attributes["server.port"])
      }
      expect(operations.find((s) => s.name === "couchbase.get" && s.status.code === 2)).toBeDefined()

      const sum = (name: string, filter: (attributes: Record<string, unknown>) => boolean) =>
        exported
          .filter((m) => m.descriptor.name === name)
          .flatMap((m) => m.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown>; value: unknown }>)
          .filter((p) => filter(p.attributes) && p.attributes["db.namespace"] === bucket)
          .reduce((n, p) => n + (typeof p.value === "number" ? p.value : (p.value as { count: number }).count), 0)
      expect(sum("couchbase.operations", (a) => a["db.operation.name"] === "upsert")).toBe(5)
      expect(sum("couchbase.operations", (a) => a["db.operation.name"] === "get")).toBe(6)
      const duration = exported.find((m) => m.descriptor.name === "couchbase.operation.duration")
      expect(duration?.dataPointType).toBe(DataPointType.HISTOGRAM)
      expect(sum("couchbase.operation.duration", (a) => a["db.operation.name"] === "get")).toBe(6)
      expect(sum("couchbase.operation.errors", (a) => a["error.type"] === "NotFoundError")).toBe(1)
      expect(sum("couchbase.bytes", (a) => a["network.io.direction"] === "transmit")).toBeGreaterThan(0)
    })
  )
})
