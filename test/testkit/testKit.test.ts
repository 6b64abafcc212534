/**
 * The test kit used the way README shows it: `layer(TestKit.layerSimulated(…))` for a
 * describe block (TestClock time, the cluster's control handle from the context), and
 * `TestKit.layer` over TCP with the beer-sample views.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Stream, TestClock } from "effect"
import { Connection, EmbeddedCluster, Iops, TestKit, View } from "../../src/index.js"

layer(TestKit.layerSimulated({ cluster: { nodes: 2, replicas: 1 } }))("TestKit.layerSimulated", (it) => {
  it.effect("a TTL passes with TestClock.adjust, no waiting", () =>
    Effect.gen(function* () {
      const cb = yield* Connection.Connection
      yield* cb.upsert("session::ada", { user: "ada" }, { ttl: 60 })
      yield* TestClock.adjust("59 seconds")
      expect((yield* cb.get("session::ada")).value).toEqual({ user: "ada" })
      yield* TestClock.adjust("2 seconds")
      expect((yield* cb.get("session::ada", { quiet: true })).success).toBe(false)
    })
  )

  it.effect("the cluster's control handle and the network's faults are in the context", () =>
    Effect.gen(function* () {
      const cb = yield* Connection.Connection
      const cluster = yield* EmbeddedCluster.EmbeddedCluster
      const network = yield* Iops.SimulatedNetwork
      expect(cluster.nodes).toHaveLength(2)
      yield* cb.upsert("k", 1)
      yield* cluster.control.failover(0)
      expect((yield* cb.get("k")).value).toBe(1)
      expect(network.connections().length).toBeGreaterThan(0)
    })
  )
})

layer(TestKit.layer({ cluster: { buckets: [{ name: "beer-sample", sample: "beer-sample" }] } }))(
  "TestKit.layer (TCP)",
  (it) => {
    it.effect("connects to the cluster's first bucket, with views", () =>
      Effect.gen(function* () {
        const cb = yield* Connection.Connection
        const view = yield* View.View
        expect(cb.cluster.bucket).toBe("beer-sample")
        expect((yield* cb.get("21st_amendment_brewery_cafe")).value).toMatchObject({ type: "brewery" })
        expect(yield* Stream.runCount(view.query("beer", "brewery_beers", { limit: 10 }))).toBe(10)
      })
    )
  }
)
