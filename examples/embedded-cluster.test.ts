/**
 * A test of your own code against the embedded cluster, with `@effect/vitest` and the
 * test kit: one layer gives the cluster, a connection and views for a describe block.
 *
 * The cluster and the client share one simulated network whose time is Effect's
 * `TestClock`: a TTL of a minute passes with `TestClock.adjust`, without waiting, and
 * the run is deterministic.
 *
 * Run: npx vitest run examples/embedded-cluster.test.ts
 */
import { expect, layer } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Connection, EmbeddedCluster, TestKit } from "effect-couchbase"

/** The code under test: sessions that expire after a minute. */
const startSession = (user: string) =>
  Effect.flatMap(Connection.Connection, (cb) => cb.upsert(`session::${user}`, { user, started: "now" }, { ttl: 60 }))

layer(TestKit.layerSimulated({ cluster: { nodes: 2, replicas: 1 } }))("sessions", (it) => {
  it.effect("expire after a minute of TestClock time", () =>
    Effect.gen(function* () {
      const cb = yield* Connection.Connection
      yield* startSession("ada")

      yield* TestClock.adjust("59 seconds")
      expect((yield* cb.get("session::ada")).value).toEqual({ user: "ada", started: "now" })

      yield* TestClock.adjust("2 seconds")
      const gone = yield* cb.get("session::ada", { quiet: true })
      expect(gone.success).toBe(false)
      const error = yield* Effect.flip(cb.get("session::ada"))
      expect(error._tag).toBe("NotFoundError")
    })
  )

  it.effect("survive a failover: the replica is promoted and the session is still there", () =>
    Effect.gen(function* () {
      const cb = yield* Connection.Connection
      const cluster = yield* EmbeddedCluster.EmbeddedCluster
      yield* startSession("grace")
      const before = yield* cb.get("session::grace")
      yield* cluster.control.failover(0)
      const after = yield* cb.get("session::grace")
      expect(after.value).toEqual(before.value)
    })
  )
})
