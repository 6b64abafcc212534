/**
 * One layer for tests: an {@link EmbeddedCluster}, a {@link Connection} to it and the
 * {@link View} service over that connection, on real TCP ({@link layer}) or on a
 * simulated network whose time is Effect's clock ({@link layerSimulated},
 * deterministic under `TestClock`). Give it to
 * `@effect/vitest`'s `layer(...)` for a describe block; the cluster's control handle
 * (failover, stop, hang, injected statuses…) is the `EmbeddedCluster` service.
 *
 * @example
 * ```ts
 * import { Effect, TestClock } from "effect"
 * import { Connection, EmbeddedCluster, TestKit } from "effect-couchbase"
 *
 * // In a test file: layer(TestKit.layerSimulated(…))("sessions", (it) => { it.effect(…) })
 * // from @effect/vitest, with a body such as this one.
 * const sessionsExpire = Effect.gen(function* () {
 *   const cb = yield* Connection.Connection
 *   const cluster = yield* EmbeddedCluster.EmbeddedCluster
 *   yield* cb.upsert("session::ada", { user: "ada" }, { ttl: 60 })
 *   yield* TestClock.adjust("61 seconds")
 *   yield* cluster.control.failover(0)
 *   return (yield* cb.get("session::ada", { quiet: true })).success // false
 * })
 *
 * const kit = TestKit.layerSimulated({ cluster: { nodes: 2, replicas: 1 } })
 * const program = sessionsExpire.pipe(Effect.provide(kit))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import * as Connection from "./Connection.js"
import * as EmbeddedCluster from "./EmbeddedCluster.js"
import * as Iops from "./Iops.js"
import * as View from "./View.js"

/**
 * Options of {@link layer} and {@link layerSimulated}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestKitOptions {
  /** The cluster: nodes, replicas, buckets, samples, TLS… (`tcp` and `network` are the kit's). */
  readonly cluster?: Omit<EmbeddedCluster.Options, "tcp" | "network"> | undefined
  /** The bucket the connection opens. Default: the cluster's first bucket (`default`). */
  readonly bucket?: string | undefined
  /** Further connection options (not `quiet`: the layer provides the loud `Connection`). */
  readonly connection?: Omit<Connection.Options, "connectionString" | "username" | "password" | "quiet"> | undefined
}

/**
 * What the kit's layers provide: the cluster, a connection to it, the View service over
 * that connection, and the Iops they share.
 *
 * @since 0.1.0
 * @category models
 */
export type TestKit = EmbeddedCluster.EmbeddedCluster | Connection.Connection | View.View | Iops.Iops

/** The error of building the kit. */
type TestKitError = EmbeddedCluster.EmbeddedClusterError | Connection.MakeError

const connectionLayer = (options: TestKitOptions) =>
  Layer.scoped(
    Connection.Connection,
    Effect.gen(function* () {
      const embedded = yield* EmbeddedCluster.EmbeddedCluster
      const bucket = options.bucket ?? options.cluster?.buckets?.[0]?.name ?? "default"
      return yield* Connection.make({
        ...options.connection,
        connectionString: `${embedded.connectionString}/${bucket}`,
        username: embedded.username,
        password: embedded.password
      })
    })
  )

/**
 * The kit over TCP on 127.0.0.1 (Node's Iops, the live clock for the network).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: TestKitOptions = {}): Layer.Layer<TestKit, TestKitError> =>
  View.layerFromConnection().pipe(
    Layer.provideMerge(connectionLayer(options)),
    Layer.provideMerge(EmbeddedCluster.layer(options.cluster ?? {})),
    Layer.provideMerge(Iops.layerNode())
  )

/**
 * The kit on a simulated network whose time is Effect's clock (under `@effect/vitest`,
 * the test's `TestClock`: TTLs, timeouts and latencies pass with `TestClock.adjust`),
 * with its `SimulatedNetwork` for fault injection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSimulated = (
  options: TestKitOptions & { readonly seed?: number | undefined } = {}
): Layer.Layer<TestKit | Iops.SimulatedNetwork, TestKitError> =>
  View.layerFromConnection().pipe(
    Layer.provideMerge(connectionLayer(options)),
    Layer.provideMerge(
      Layer.scoped(
        EmbeddedCluster.EmbeddedCluster,
        Effect.flatMap(Iops.SimulatedNetwork, (network) =>
          EmbeddedCluster.make({ ...options.cluster, tcp: false, network })
        )
      )
    ),
    Layer.provideMerge(Iops.layerSimulated({ seed: options.seed ?? 1 }))
  )
