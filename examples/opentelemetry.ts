/**
 * The client's spans and metrics exported with `@effect/opentelemetry`: one layer
 * (`NodeSdk.layer`) installs an OpenTelemetry tracer and a metric producer, and every
 * operation gets a `couchbase.<op>` client span with `server.address`/`server.port`;
 * with `metrics: true` the connection's counters and histograms (operations, errors,
 * latency, in flight, retries, reconnects, bytes) are read by the metric reader.
 *
 * The exporters here keep what they receive in memory so the program can print it;
 * in production use the OTLP ones (`@opentelemetry/exporter-trace-otlp-http`,
 * `@opentelemetry/exporter-metrics-otlp-http`) in their place.
 *
 * Run: npx tsx examples/opentelemetry.ts
 * (with @effect/opentelemetry, @opentelemetry/api, @opentelemetry/resources,
 * @opentelemetry/sdk-trace-base, @opentelemetry/sdk-trace-node,
 * @opentelemetry/sdk-metrics, @opentelemetry/sdk-logs and
 * @opentelemetry/semantic-conventions installed)
 */
import { NodeSdk } from "@effect/opentelemetry"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { Connection, EmbeddedCluster, Iops } from "effect-couchbase"

const spans = new InMemorySpanExporter()
const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })

const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "profiles" },
  spanProcessor: new SimpleSpanProcessor(spans),
  metricReader: reader
}))

const program = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 2 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password,
    metrics: true
  })
  yield* cb.upsert("user::1", { name: "Ada" })
  yield* cb.get("user::1")
  yield* cb.get("user::2", { quiet: true })
  // The reader exports every minute; flush now to see this run's numbers (and read
  // them before the SDK shuts down, which empties the in-memory exporters).
  yield* Effect.promise(() => reader.forceFlush())
  return { finished: spans.getFinishedSpans(), exportedMetrics: metrics.getMetrics() }
}).pipe(Effect.scoped, Effect.provide(Iops.layerNode()), Effect.provide(Telemetry))

const { finished, exportedMetrics } = await Effect.runPromise(program)

const exported = finished.filter((s) => s.name.startsWith("couchbase."))
for (const span of exported) {
  console.log(
    `span ${span.name} server.address=${span.attributes["server.address"]} server.port=${span.attributes["server.port"]}`
  )
}
const points = exportedMetrics
  .flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics))
  .filter((m) => m.descriptor.name.startsWith("couchbase."))
const names = [...new Set(points.map((m) => m.descriptor.name))].sort()
console.log(`metrics ${names.join(", ")}`)

if (!["couchbase.get", "couchbase.upsert"].every((name) => exported.some((s) => s.name === name))) {
  throw new Error("the operations' spans were not exported")
}
if (!exported.every((s) => typeof s.attributes["server.port"] === "number")) throw new Error("a span lacks server.port")
if (!["couchbase.operations", "couchbase.operation.duration", "couchbase.bytes"].every((n) => names.includes(n))) {
  throw new Error("the connection's metrics were not exported")
}
