/**
 * A test of your own code against the embedded cluster, with `@effect/vitest`.
 *
 * The cluster and the client share one simulated network whose time is Effect's
 * `TestClock`: a TTL of a minute passes with `TestClock.adjust`, without waiting, and
 * the run is deterministic.
 *
 * Run: npx vitest run examples/embedded-cluster.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Connection, EmbeddedCluster, Iops } from "effect-couchbase"

/** The code under test: sessions that expire after a minute. */
const startSession = (cb: Connection.Connection.Service, user: string) =>
  cb.upsert(`session::${user}`, { user, started: "now" }, { ttl: 60 })

/** A cluster and a connection to it, on the simulated network of the test. */
const setup = Effect.gen(function* () {
  const network = yield* Iops.SimulatedNetwork
  const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tcp: false, network })
  const cb: Connection.Connection.Service = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  })
  return { cluster, cb }
})

describe("sessions", () => {
  it.scoped("expire after a minute of TestClock time", () =>
    Effect.gen(function* () {
      const { cb } = yield* setup
      yield* startSession(cb, "ada")

      yield* TestClock.adjust("59 seconds")
      expect((yield* cb.get("session::ada")).value).toEqual({ user: "ada", started: "now" })

      yield* TestClock.adjust("2 seconds")
      const gone = yield* cb.get("session::ada", { quiet: true })
      expect(gone.success).toBe(false)
      const error = yield* Effect.flip(cb.get("session::ada"))
      expect(error._tag).toBe("NotFoundError")
    }).pipe(Effect.provide(Iops.layerSimulated({ seed: 1 })))
  )

  it.scoped("survive a failover: the replica is promoted and the session is still there", () =>
    Effect.gen(function* () {
      const { cb, cluster } = yield* setup
      yield* startSession(cb, "grace")
      const before = yield* cb.get("session::grace")
      yield* cluster.control.failover(0)
      const after = yield* cb.get("session::grace")
      expect(after.value).toEqual(before.value)
    }).pipe(Effect.provide(Iops.layerSimulated({ seed: 2 })))
  )
})
