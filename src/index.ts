/**
 * effect-couchbase: a Couchbase client for TypeScript on Effect.
 *
 * Each module is a namespace here and a subpath of its own
 * (`effect-couchbase/Connection`, …); the Iops implementations are only subpaths
 * (`effect-couchbase/Iops/Node`, `effect-couchbase/Iops/Simulated`).
 *
 * @example
 * ```ts
 * import { Effect, Layer, Redacted } from "effect"
 * import { Connection, Iops } from "effect-couchbase"
 *
 * const program = Effect.gen(function* () {
 *   const cb = yield* Connection.Connection
 *   yield* cb.upsert("airline_10", { name: "40-Mile Air", country: "United States" })
 *   const airline = yield* cb.get("airline_10")
 *   return airline.value
 * })
 *
 * // A real cluster over Node's sockets; the password stays Redacted until the wire.
 * const CouchbaseLive = Connection.layer({
 *   connectionString: "couchbase://db1.example.com,db2.example.com/travel-sample",
 *   username: "app",
 *   password: Redacted.make("s3cret")
 * }).pipe(Layer.provide(Iops.layerNode()))
 *
 * const main = program.pipe(Effect.provide(CouchbaseLive))
 * ```
 *
 * @since 0.1.0
 */

/**
 * The callback adapter for code outside Effect: an `AsyncConnection` of `AsyncResult`s,
 * and its `Promise` wrapper.
 *
 * @since 0.1.0
 */
export * as AsyncResult from "./AsyncResult.js"

/**
 * `AsyncViewBase`: view results delivered to callbacks, for code outside Effect.
 *
 * @since 0.1.0
 */
export * as AsyncViewBase from "./AsyncViewBase.js"

/**
 * The key/value connection: the `Connection` service, its layers and its typed
 * operations.
 *
 * @since 0.1.0
 */
export * as Connection from "./Connection.js"

/**
 * Parsing and formatting `couchbase://`, `couchbases://` and `memcached://`
 * connection strings.
 *
 * @since 0.1.0
 */
export * as ConnectionString from "./ConnectionString.js"

/**
 * An in-process Couchbase-compatible cluster for tests and demos.
 *
 * @since 0.1.0
 */
export * as EmbeddedCluster from "./EmbeddedCluster.js"

/**
 * The error classes, one per condition, named as in the Python SDK.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * The swappable I/O layer every socket and timer of the client goes through.
 *
 * @since 0.1.0
 */
export * as Iops from "./Iops.js"

/**
 * The results of key/value operations (`OperationResult`, `ValueResult`,
 * `MultiResult`, …).
 *
 * @since 0.1.0
 */
export * as Result from "./Result.js"

/**
 * One layer for tests: an embedded cluster, a connection and views, on TCP or on a
 * simulated network under TestClock.
 *
 * @since 0.1.0
 */
export * as TestKit from "./TestKit.js"

/**
 * Keys and values to bytes and back: formats, flags, custom and Schema-typed
 * transcoders.
 *
 * @since 0.1.0
 */
export * as Transcoder from "./Transcoder.js"

/**
 * Map/reduce view queries as a service whose rows arrive as a `Stream`.
 *
 * @since 0.1.0
 */
export * as View from "./View.js"
