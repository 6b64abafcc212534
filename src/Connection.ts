/**
 * The key/value connection: a service whose every operation is an
 * `Effect` with its exact error union.
 *
 * ## `quiet` in the types
 *
 * In the Python SDK, `quiet` turns "not found" from an exception into a result with
 * `success: false`, for get, getReplica (`rget`), lock, touch and remove (single and
 * multi). Here it is a type-level switch:
 *
 * ```ts
 * Effect.gen(function* () {
 *   const cb = yield* Connection
 *   const a = yield* cb.get("k") // ValueResult; E includes NotFoundError
 *   const b = yield* cb.get("k", { quiet: true }) // ValueResult | MissingResult; E has no NotFoundError
 * })
 * ```
 *
 * The connection-level default is the service's first type parameter,
 * `Connection.Service<Quiet>`. Two tags carry the two defaults, so the default is
 * visible wherever the service is used and a program cannot be given a connection
 * whose default differs from what it was type-checked against:
 *
 * - {@link Connection}: `Connection.Service<false>`, the loud default;
 * - {@link QuietConnection}: `Connection.Service<true>`, quiet by default (a call
 *   still opts out with `quiet: false`).
 *
 * `service.withQuiet(true)` gives a quiet view of the same connection (same sockets,
 * other default), so one layer serves both styles. A `quiet` whose value is only known
 * at run time (a `boolean`, not a literal) types conservatively: the error union keeps
 * `NotFoundError` and the result may be missing.
 *
 * ## Values
 *
 * The second type parameter is the document type the connection's transcoder reads
 * and writes (`unknown` by default). `service.withTranscoder(schemaTranscoder(S))`
 * gives a view whose reads are validated against the schema, so the type is earned,
 * not asserted. `noFormat: true` returns the raw bytes as a `Buffer`.
 *
 * ## Numbers and durations
 *
 * CAS values are `bigint`. TTLs accept seconds (as in the Python SDK: up to 30 days
 * relative, beyond that an absolute Unix time), a `Duration` (always relative) or a
 * `Date` (absolute). Durations of operations (`endure`'s `timeout`, `interval`) take
 * seconds or a `Duration`. Counter deltas and initial values take a safe integer or a
 * `bigint`; a counter's value is a `bigint`.
 *
 * ## Interruption
 *
 * Interrupting an operation ends its fiber at once, whatever state it is in. An
 * operation still waiting for a node's connection is taken out of the queue and never
 * sent. One whose bytes are already on their way is not recalled: a mutation may still
 * be applied, and its answer, when it comes, is dropped (the connection stays in step
 * with the operations after it). Retries and durability polling stop where they are.
 *
 * The same signatures, written once in {@link Operations}, serve the Effect service,
 * the callback adapter (the `AsyncResult` module) and its Promise wrapper.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Connection, Iops, Transcoder } from "effect-couchbase"
 *
 * const Profile = Schema.Struct({ visits: Schema.Number })
 *
 * // Count a visit, writing the profile back only if nobody changed it since it was read.
 * const recordVisit = (id: string) =>
 *   Effect.gen(function* () {
 *     const profiles = (yield* Connection.Connection).withTranscoder(Transcoder.schemaTranscoder(Profile))
 *     const profile = yield* profiles.get(`profile::${id}`, { quiet: true })
 *     if (!profile.success) return yield* profiles.insert(`profile::${id}`, { visits: 1 })
 *     return yield* profiles.replace(`profile::${id}`, { visits: profile.value.visits + 1 }, { cas: profile.cas })
 *   })
 *
 * // The connection from the COUCHBASE_* environment variables, over Node's sockets.
 * const CouchbaseLive = Connection.layerConfig().pipe(Layer.provide(Iops.layerNode()))
 *
 * const main = recordVisit("ada").pipe(Effect.provide(CouchbaseLive))
 * ```
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type { Clock, Duration, HKT, Redacted, Scope } from "effect"
import { Config, type ConfigError, Context, Effect, Layer } from "effect"
import type * as ConnectionStringModule from "./ConnectionString.js"
import type {
  AuthError,
  BucketNotFoundError,
  BusyError,
  ClientTemporaryFailError,
  ConnectError,
  DeltaBadvalError,
  InvalidError,
  KeyExistsError,
  NetworkError,
  NoMemoryError,
  NotFoundError,
  NotMyVbucketError,
  NotStoredError,
  NotSupportedError,
  ProtocolError,
  TemporaryFailError,
  TimeoutError,
  TooBigError,
  UnknownCommandError,
  ValueFormatError
} from "./Errors.js"
import { ArgumentError } from "./Errors.js"
import type { Iops } from "./Iops.js"
import { type MakeClientError, makeClient } from "./internal/connection/Client.js"
import * as ConnectionOptions from "./internal/connection/options.js"
import type {
  CounterResult,
  MissingResult,
  MultiResult,
  ObserveResult,
  OperationResult,
  ValueResult
} from "./Result.js"
import type { Transcoder } from "./Transcoder.js"

export type {
  /**
   * The options a connection runs with, every field decided (the given value, else the
   * connection string's, else the default).
   *
   * @since 0.1.0
   * @category models
   */
  ResolvedOptions
} from "./internal/connection/options.js"

/**
 * What a caller gives to connect: connection string, credentials, bucket, quiet
 * default, format and transcoder, timeouts, TLS. Everything is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Quiet extends boolean = boolean> {
  /**
   * Where to connect; a string is parsed. Default `couchbase://localhost/default`.
   * Options after `?`: libcouchbase's `operation_timeout`, `views_timeout`,
   * `bootstrap_timeout` (or `config_total_timeout`), `config_poll_interval`,
   * `durability_timeout`, `durability_interval` (a bare number is seconds), the SDK 3
   * spellings `kv_timeout`, `kv_durable_timeout`, `view_timeout` and their
   * `timeout.`-prefixed forms, `timeout.bootstrap_timeout` (a bare number is
   * milliseconds), and `username`, `sasl_mech_force=PLAIN`, `certpath`. Durations also
   * take `2500ms` / `2.5s` / `1m30s`. Any other option is an `ArgumentError` naming it
   * and the closest known one. An explicit option below wins over the string.
   */
  readonly connectionString?: string | ConnectionStringModule.ConnectionString | undefined
  /** The RBAC user. Defaults to the bucket name when a password is given (pre-RBAC servers). */
  readonly username?: string | undefined
  /** The password, unwrapped only when written to the wire. */
  readonly password?: Redacted.Redacted<string> | undefined
  /** The bucket; overrides the one in the connection string. Default `default`. */
  readonly bucket?: string | undefined
  /**
   * The connection-level `quiet` default, as the Python SDK's `Bucket(quiet=…)`: a
   * missing key read by `get`, `getReplica`, `lock`, `touch` or `remove` is then a
   * result with `success: false` instead of a `NotFoundError`. A literal `true` types
   * the connection as quiet by default (`Connection.Service<true>`).
   */
  readonly quiet?: Quiet | undefined
  /** The format values are written with when an operation names none. Default `FMT_JSON`. */
  readonly defaultFormat?: number | undefined
  /** Replaces all of the transcoding, of keys and of values (see the `Transcoder` module). */
  readonly transcoder?: Transcoder<any> | undefined
  /**
   * How long one key/value operation may take, retries included. Default 2.5 s.
   * On Node's clock a single-key operation counts it, as Node's own timers count from
   * the event loop's time, from a reading shared with the operations that start with it
   * (up to 64 in one pass of the microtask queue), not from a reading of its own.
   */
  readonly operationTimeout?: Duration.DurationInput | undefined
  /** How long a view query may take. Default 75 s. */
  readonly viewsTimeout?: Duration.DurationInput | undefined
  /** How long connecting (every seed in turn) may take. Default 10 s. */
  readonly bootstrapTimeout?: Duration.DurationInput | undefined
  /** How often the cluster config is polled for a newer revision. Default 2.5 s. */
  readonly configPollInterval?: Duration.DurationInput | undefined
  /** How long `persistTo`/`replicateTo` and `endure` wait by default. Default 5 s. */
  readonly durabilityTimeout?: Duration.DurationInput | undefined
  /** How often durability is polled with OBSERVE by default. Default 10 ms. */
  readonly durabilityInterval?: Duration.DurationInput | undefined
  /** Use SASL PLAIN even without TLS (the password then crosses the network in clear). */
  readonly forceSaslPlain?: boolean | undefined
  /**
   * How many operations may wait for one node's connection (while it connects or
   * reconnects); beyond that an operation fails at once with
   * `ClientTemporaryFailError` instead of holding memory until its timeout. A multi
   * operation counts one per key. Default 16384 (the request buffer of the Java SDK).
   */
  readonly maxWaitingOperations?: number | undefined
  /**
   * How many bytes of requests may wait to be written to one node's connection (when
   * the node reads slower than the client writes, or stops reading while connected);
   * beyond that an operation fails at once with `ClientTemporaryFailError`. A request
   * whose deadline passes while it still waits is taken out and never sent: its
   * `TimeoutError` has `ambiguous: false`. Default 64 MiB.
   */
  readonly maxQueuedBytes?: number | undefined
  /**
   * How many requests may wait to be written to one node's connection, as
   * `maxQueuedBytes` bounds their bytes. Each key of a multi operation is one request,
   * except a multi-get's, which go as one batch per node. Default 65536.
   */
  readonly maxQueuedRequests?: number | undefined
  /**
   * Records Effect `Metric`s of the key/value traffic: `couchbase.operations`,
   * `couchbase.operation.errors` (by error), `couchbase.operation.duration` (ms),
   * `couchbase.operations.in_flight`, `couchbase.retries`, `couchbase.reconnects` and
   * `couchbase.bytes` (by direction),
   * labelled with the bucket, the operation and the node (`server.address`). Export
   * them with `@effect/opentelemetry` or read them with `Metric.value`. Default false:
   * off, the hot path pays nothing for them.
   */
  readonly metrics?: boolean | undefined
  /**
   * The largest value, in bytes once encoded, that a store sends (upsert, insert,
   * replace, append, prepend and their multi forms). A larger one fails that
   * operation at once with `TooBigError` and is never sent: the server would refuse
   * it, and a body of that size only delays every request behind it on the
   * connection. Default 20 MiB, Couchbase Server's item size limit.
   */
  readonly maxValueSize?: number | undefined
  /**
   * How `couchbases://` connections trust the cluster: `ca` (PEM; replaces the
   * system's CA store), `rejectUnauthorized` (default `true`; `false` accepts any
   * certificate and is for experiments only), `servername` (the name the certificate
   * is checked against; default the host when it is a name, else its IP address).
   * The connection-string option `certpath=/path/to/ca.pem` gives `ca` from a file
   * (this field's `ca` wins when both are given).
   *
   * Ignored for `couchbase://` and `memcached://` (as libcouchbase ignores `certpath`
   * there): only the scheme switches TLS on.
   */
  readonly tls?: Iops.TlsOptions | undefined
}

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

/**
 * An item's lifetime: seconds (0 = never; up to 30 days relative; larger = absolute
 * Unix time), a `Duration` (relative, any length; infinite = never) or a `Date`
 * (absolute).
 *
 * @since 0.1.0
 * @category models
 */
export type TtlInput =
  | number
  | Date
  | Duration.Duration
  | readonly [seconds: number, nanos: number]
  | `${number} ${Duration.Unit}`

/**
 * A duration where a bare number is seconds (the Python SDK's convention).
 *
 * @since 0.1.0
 * @category models
 */
export type SecondsInput =
  | number
  | Duration.Duration
  | readonly [seconds: number, nanos: number]
  | `${number} ${Duration.Unit}`

/**
 * Per-key values of a multi operation: a `Record` (JavaScript property order) or a `Map` (insertion order).
 *
 * @since 0.1.0
 * @category models
 */
export type KeyValues<V> = Readonly<Record<string, V>> | ReadonlyMap<string, V>

/**
 * A 64-bit counter amount: a safe integer or a `bigint`.
 *
 * @since 0.1.0
 * @category models
 */
export type CounterAmount = number | bigint

/**
 * Durability of a mutation, observed by polling OBSERVE: `persistTo` nodes (the
 * master included) have it on disk and `replicateTo` replicas have it in memory. -1
 * means "as many as the bucket has"; more than the bucket's replica count is an
 * `ArgumentError`. When not reached within the durability timeout: `TimeoutError`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DurabilityOptions {
  readonly persistTo?: number | undefined
  readonly replicateTo?: number | undefined
}

/**
 * Options of `get` and `getMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetOptions {
  /** Also set the expiry (GAT). 0 reads without touching. Not with `replica`. */
  readonly ttl?: TtlInput | undefined
  /** A missing key is a `MissingResult` instead of a `NotFoundError`. */
  readonly quiet?: boolean | undefined
  /** Read from a replica (the first that answers). */
  readonly replica?: boolean | undefined
  /** Return the stored bytes as a `Buffer`, without the transcoder. */
  readonly noFormat?: boolean | undefined
}

/**
 * Options of `getReplica` and `getReplicaMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface GetReplicaOptions {
  /** Which replica (0-based); absent: the replicas in turn until one answers. */
  readonly replicaIndex?: number | undefined
  readonly quiet?: boolean | undefined
}

/**
 * Options of `upsert` and `replace`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpsertOptions extends DurabilityOptions {
  /** Only store if the item's CAS is still this one (`KeyExistsError` otherwise). */
  readonly cas?: bigint | undefined
  readonly ttl?: TtlInput | undefined
  /** One of the `FMT_*` constants (or a custom transcoder's code). Default: the connection's. */
  readonly format?: number | undefined
}

/**
 * Options of `replace`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplaceOptions extends UpsertOptions {}

/**
 * Options of `insert` (no CAS: the key must not exist).
 *
 * @since 0.1.0
 * @category models
 */
export interface InsertOptions extends DurabilityOptions {
  readonly ttl?: TtlInput | undefined
  readonly format?: number | undefined
}

/**
 * Options of `upsertMulti`, `insertMulti` and `replaceMulti` (apply to every key).
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreMultiOptions extends DurabilityOptions {
  readonly ttl?: TtlInput | undefined
  readonly format?: number | undefined
}

/**
 * Options of `append` and `prepend`: only `FMT_UTF8` or `FMT_BYTES`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendOptions extends DurabilityOptions {
  readonly cas?: bigint | undefined
  /** Default: from the fragment (string → UTF-8, bytes → bytes). */
  readonly format?: number | undefined
}

/**
 * Options of `appendMulti` and `prependMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendMultiOptions extends DurabilityOptions {
  readonly format?: number | undefined
}

/**
 * Options of `remove`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoveOptions extends DurabilityOptions {
  readonly cas?: bigint | undefined
  readonly quiet?: boolean | undefined
}

/**
 * Options of `removeMulti` (per-key CAS values go in the first argument).
 *
 * @since 0.1.0
 * @category models
 */
export interface RemoveMultiOptions extends DurabilityOptions {
  readonly quiet?: boolean | undefined
}

/**
 * Options of `counter`, and per-key options of `counterMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CounterOptions {
  /** Added to the value; negative decrements (flooring at 0). Default 1. */
  readonly delta?: CounterAmount | undefined
  /** A missing key is created with this value (delta ignored); absent: `NotFoundError`. */
  readonly initial?: CounterAmount | undefined
  /** The expiry of a created counter. */
  readonly ttl?: TtlInput | undefined
}

/**
 * Options of `touch`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TouchOptions {
  /** The new expiry; 0 removes it. */
  readonly ttl: TtlInput
  readonly quiet?: boolean | undefined
}

/**
 * Options of `touchMulti` with per-key TTLs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TouchMultiOptions {
  readonly quiet?: boolean | undefined
}

/**
 * Options of `lock` and `lockMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** How long to hold the lock: 1 to 30 seconds. */
  readonly ttl: SecondsInput
  readonly quiet?: boolean | undefined
}

/**
 * Options of `observe` and `observeMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObserveOptions {
  /** Ask only the master, not the replicas. */
  readonly masterOnly?: boolean | undefined
}

/**
 * Options of `endureMulti`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EndureMultiOptions {
  /** Nodes (master included) that must have the item on disk; -1: all. */
  readonly persistTo: number
  /** Replicas that must have the item in memory; -1: all. */
  readonly replicateTo: number
  /** Wait until the key is gone instead (after a remove). */
  readonly checkRemoved?: boolean | undefined
  /** Default: the connection's durability timeout (5 s). */
  readonly timeout?: SecondsInput | undefined
  /** How often to poll. Default: the connection's durability interval (10 ms). */
  readonly interval?: SecondsInput | undefined
}

/**
 * Options of `endure`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EndureOptions extends EndureMultiOptions {
  /** Only a copy with this CAS counts (a different master CAS: `KeyExistsError`). */
  readonly cas?: bigint | undefined
}

/**
 * What `stats` returns: stat name → `"host:port"` → value (integers as numbers).
 *
 * @since 0.1.0
 * @category models
 */
export type Stats = Readonly<Record<string, Readonly<Record<string, number | string>>>>

/**
 * A service of the nodes that `ping` checks: `kv` (a NOOP on each node's connection)
 * and `views` (an HTTP request to each node's capi port).
 *
 * @since 0.1.0
 * @category models
 */
export type PingService = "kv" | "views"

/**
 * Options of `ping` and `waitUntilReady`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingOptions {
  /** How long each endpoint may take to answer (default: the operation timeout). */
  readonly timeout?: Duration.DurationInput | undefined
  /** The services to check (default: every one the connection uses; memcached: `kv`). */
  readonly services?: ReadonlyArray<PingService> | undefined
}

/**
 * One endpoint's answer to `ping`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingEndpoint {
  readonly service: PingService
  /** `host:port` of the endpoint. */
  readonly remote: string
  /** `ok`; `timeout` when it did not answer in time; `error` (not connected, refused, a 5xx…). */
  readonly state: "ok" | "timeout" | "error"
  /** Round-trip time in milliseconds, when it answered. */
  readonly latencyMs: number | undefined
  /** Why it is not `ok`. */
  readonly error: string | undefined
}

/**
 * What `ping` returns: every endpoint of the current cluster map, checked at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface PingReport {
  readonly bucket: string
  /** The revision of the cluster map the endpoints come from (undefined for memcached). */
  readonly configRevision: number | undefined
  readonly endpoints: ReadonlyArray<PingEndpoint>
  /** True when every endpoint is `ok`. */
  readonly ok: boolean
}

/**
 * One node's connection in `diagnostics`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeDiagnostics {
  /** `host:port` of the node's KV service. */
  readonly remote: string
  /** `connected` (handshaken), `connecting` (opening or reopening), `disconnected`. */
  readonly state: "connected" | "connecting" | "disconnected"
  /** Milliseconds since bytes last arrived from the node, if they ever did on this connection. */
  readonly lastActivityMs: number | undefined
  /** Requests sent and not answered yet. */
  readonly inFlight: number
  /** Requests waiting for the connection to open. */
  readonly waiting: number
}

/**
 * What `diagnostics` returns: the state of every node's connection, as it is (nothing is sent).
 *
 * @since 0.1.0
 * @category models
 */
export interface DiagnosticsReport {
  readonly bucket: string
  readonly configRevision: number | undefined
  readonly nodes: ReadonlyArray<NodeDiagnostics>
}

// ---------------------------------------------------------------------------
// Type-level quiet
// ---------------------------------------------------------------------------

type Field<O, K extends PropertyKey> = K extends keyof O ? O[K] : undefined

/**
 * The literal value of boolean option `K` of `O`, absent reading as `Default`.
 *
 * @since 0.1.0
 * @category type-level
 */
export type FlagOf<O, K extends PropertyKey, Default extends boolean = false> =
  | Exclude<Field<O, K>, undefined>
  | (undefined extends Field<O, K> ? Default : never)

/**
 * The quiet mode an operation runs in: the `quiet` given in its options, or the
 * connection's default. `boolean` when only known at run time.
 *
 * @since 0.1.0
 * @category type-level
 */
export type EffectiveQuiet<O, Default extends boolean> = FlagOf<O, "quiet", Default>

/**
 * `O` with every key that `Shape` lacks typed `never`, so that an option the operation
 * would ignore (`{ quiet: true }` on `upsert`, a misspelt `tll`) is a type error
 * rather than silently dropped.
 *
 * @since 0.1.0
 * @category type-level
 */
export type Exact<O, Shape> = O & { readonly [K in Exclude<keyof O, keyof Shape>]: never }

/**
 * `R`, or `R | MissingResult` unless quiet is known to be off.
 *
 * @since 0.1.0
 * @category type-level
 */
export type WithMissing<R, Quiet extends boolean> = [Quiet] extends [false] ? R : R | MissingResult

/**
 * `NotFoundError` unless quiet is known to be on.
 *
 * @since 0.1.0
 * @category type-level
 */
export type NotFoundUnlessQuiet<Quiet extends boolean> = [Quiet] extends [true] ? never : NotFoundError

/**
 * The value type of a read: the document type, or a `Buffer` under `noFormat`.
 *
 * @since 0.1.0
 * @category type-level
 */
export type ValueOf<Doc, O> = [FlagOf<O, "noFormat">] extends [true]
  ? Buffer
  : [FlagOf<O, "noFormat">] extends [false]
    ? Doc
    : Doc | Buffer

type IfGiven<O, K extends PropertyKey, T> = K extends keyof O ? ([Field<O, K>] extends [undefined] ? never : T) : never

// ---------------------------------------------------------------------------
// Error unions
// ---------------------------------------------------------------------------

/**
 * What any operation that reaches the network may fail with, besides its own data
 * errors: bad arguments, the network, the deadline, the server's temporary states
 * (left after retries within the deadline), and a bucket or user that is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export type CommonError =
  | ArgumentError
  | TimeoutError
  | NetworkError
  | ConnectError
  | ProtocolError
  | ClientTemporaryFailError
  | TemporaryFailError
  | BusyError
  | NoMemoryError
  | NotMyVbucketError
  | InvalidError
  | AuthError
  | BucketNotFoundError
  | UnknownCommandError
  | NotSupportedError

/**
 * Durability polling may find the item gone (`NotFoundError`) or replaced (`KeyExistsError`).
 *
 * @since 0.1.0
 * @category errors
 */
export type DurabilityError<O> = IfGiven<O, "persistTo" | "replicateTo", NotFoundError | KeyExistsError>

/**
 * Errors of `get`/`getMulti` (and `getReplica`, `lock`) in quiet mode `Q`.
 *
 * @since 0.1.0
 * @category errors
 */
export type GetError<Q extends boolean> = CommonError | ValueFormatError | NotFoundUnlessQuiet<Q>

/**
 * Errors of `touch`/`touchMulti` in quiet mode `Q`.
 *
 * @since 0.1.0
 * @category errors
 */
export type TouchError<Q extends boolean> = CommonError | NotFoundUnlessQuiet<Q>

/**
 * Errors of `unlock`: a wrong CAS is a `TemporaryFailError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type UnlockError = CommonError | NotFoundError

/**
 * Errors of `upsert`: `NotFoundError` only when a CAS is given for a missing key.
 *
 * @since 0.1.0
 * @category errors
 */
export type UpsertError<O> =
  | CommonError
  | KeyExistsError
  | TooBigError
  | ValueFormatError
  | IfGiven<O, "cas", NotFoundError>
  | DurabilityError<O>

/**
 * Errors of `insert`: the key exists → `KeyExistsError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type InsertError<O> = CommonError | KeyExistsError | TooBigError | ValueFormatError | DurabilityError<O>

/**
 * Errors of `replace`: a missing key is a `NotFoundError`, quiet or not.
 *
 * @since 0.1.0
 * @category errors
 */
export type ReplaceError<O> =
  | CommonError
  | NotFoundError
  | KeyExistsError
  | TooBigError
  | ValueFormatError
  | DurabilityError<O>

/**
 * Errors of `append`/`prepend`: a missing key is a `NotStoredError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type AppendError<O> =
  | CommonError
  | NotStoredError
  | KeyExistsError
  | TooBigError
  | ValueFormatError
  | DurabilityError<O>

/**
 * Errors of `remove` in quiet mode `Q`.
 *
 * @since 0.1.0
 * @category errors
 */
export type RemoveError<Q extends boolean> = CommonError | KeyExistsError | NotFoundUnlessQuiet<Q>

/**
 * Errors of `counter`: `NotFoundError` unless an `initial` value is given.
 *
 * @since 0.1.0
 * @category errors
 */
export type CounterError<O> =
  | CommonError
  | DeltaBadvalError
  | ([Field<O, "initial">] extends [CounterAmount] ? never : NotFoundError)

/**
 * Errors of `observe`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ObserveError = CommonError

/**
 * Errors of `endure`: the key gone or replaced while waiting, or the deadline.
 *
 * @since 0.1.0
 * @category errors
 */
export type EndureError = CommonError | NotFoundError | KeyExistsError

/**
 * Errors of `stats`: `NotFoundError` for a group the server does not know (its `key`
 * is the group).
 *
 * @since 0.1.0
 * @category errors
 */
export type StatsError = CommonError | NotFoundError

// ---------------------------------------------------------------------------
// Operations, once for every wrapper
// ---------------------------------------------------------------------------

/**
 * Every key/value operation of the Python SDK 2.x, named in camelCase (`rget` is
 * `getReplica`), written once for any result wrapper `F` (an Effect, an
 * `AsyncResult`, a `Promise`: see `HKT.Kind`). `Quiet` is the connection's quiet
 * default and `Doc` its document type.
 *
 * Multi operations return a `MultiResult` keyed like their input. Without quiet, the
 * first failing key (in input order) fails the whole operation with that key's error,
 * carrying `key`, `rc`, `result` and `allResults` (every key's result). Under quiet,
 * missing keys are `MissingResult`s, `allOk` is false, and other failures still fail.
 *
 * @since 0.1.0
 * @category models
 */
export interface Operations<F extends HKT.TypeLambda, Quiet extends boolean, Doc> {
  /** Reads a document. With `ttl`, also sets its expiry (GAT). */
  get<const O extends GetOptions = {}>(
    key: string,
    options?: Exact<O, GetOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    WithMissing<ValueResult<ValueOf<Doc, O>>, EffectiveQuiet<O, Quiet>>
  >
  /** Reads several documents, pipelined per node. */
  getMulti<const O extends GetOptions = {}>(
    keys: ReadonlyArray<string>,
    options?: Exact<O, GetOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<ValueResult<ValueOf<Doc, O>>, EffectiveQuiet<O, Quiet>>>
  >

  /** Reads a replica's copy (the Python SDK's `rget`). */
  getReplica<const O extends GetReplicaOptions = {}>(
    key: string,
    options?: Exact<O, GetReplicaOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    WithMissing<ValueResult<Doc>, EffectiveQuiet<O, Quiet>>
  >
  /** Reads several replicas' copies. */
  getReplicaMulti<const O extends GetReplicaOptions = {}>(
    keys: ReadonlyArray<string>,
    options?: Exact<O, GetReplicaOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<ValueResult<Doc>, EffectiveQuiet<O, Quiet>>>
  >

  /** Stores a document whatever the key's state (with `cas`: only over that version). */
  upsert<const O extends UpsertOptions = {}>(
    key: string,
    value: Doc,
    options?: Exact<O, UpsertOptions>
  ): HKT.Kind<F, unknown, never, UpsertError<O>, OperationResult>
  /** Stores several documents. */
  upsertMulti<const O extends StoreMultiOptions = {}>(
    values: KeyValues<Doc>,
    options?: Exact<O, StoreMultiOptions>
  ): HKT.Kind<F, unknown, never, UpsertError<O>, MultiResult<OperationResult>>

  /** Stores a document only if the key does not exist. */
  insert<const O extends InsertOptions = {}>(
    key: string,
    value: Doc,
    options?: Exact<O, InsertOptions>
  ): HKT.Kind<F, unknown, never, InsertError<O>, OperationResult>
  /** Inserts several documents. */
  insertMulti<const O extends StoreMultiOptions = {}>(
    values: KeyValues<Doc>,
    options?: Exact<O, StoreMultiOptions>
  ): HKT.Kind<F, unknown, never, InsertError<O>, MultiResult<OperationResult>>

  /** Stores a document only if the key exists. */
  replace<const O extends ReplaceOptions = {}>(
    key: string,
    value: Doc,
    options?: Exact<O, ReplaceOptions>
  ): HKT.Kind<F, unknown, never, ReplaceError<O>, OperationResult>
  /** Replaces several documents. */
  replaceMulti<const O extends StoreMultiOptions = {}>(
    values: KeyValues<Doc>,
    options?: Exact<O, StoreMultiOptions>
  ): HKT.Kind<F, unknown, never, ReplaceError<O>, MultiResult<OperationResult>>

  /** Appends bytes or text to a stored value. */
  append<const O extends AppendOptions = {}>(
    key: string,
    value: string | Uint8Array,
    options?: Exact<O, AppendOptions>
  ): HKT.Kind<F, unknown, never, AppendError<O>, OperationResult>
  /** Appends to several values. */
  appendMulti<const O extends AppendMultiOptions = {}>(
    values: KeyValues<string | Uint8Array>,
    options?: Exact<O, AppendMultiOptions>
  ): HKT.Kind<F, unknown, never, AppendError<O>, MultiResult<OperationResult>>

  /** Prepends bytes or text to a stored value. */
  prepend<const O extends AppendOptions = {}>(
    key: string,
    value: string | Uint8Array,
    options?: Exact<O, AppendOptions>
  ): HKT.Kind<F, unknown, never, AppendError<O>, OperationResult>
  /** Prepends to several values. */
  prependMulti<const O extends AppendMultiOptions = {}>(
    values: KeyValues<string | Uint8Array>,
    options?: Exact<O, AppendMultiOptions>
  ): HKT.Kind<F, unknown, never, AppendError<O>, MultiResult<OperationResult>>

  /** Removes a key (with `cas`: only that version). */
  remove<const O extends RemoveOptions = {}>(
    key: string,
    options?: Exact<O, RemoveOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    RemoveError<EffectiveQuiet<O, Quiet>>,
    WithMissing<OperationResult, EffectiveQuiet<O, Quiet>>
  >
  /** Removes several keys; `{k: cas}`, or the `MultiResult` of a read, guards each by its CAS. */
  removeMulti<const O extends RemoveMultiOptions = {}>(
    keys: ReadonlyArray<string> | KeyValues<bigint | OperationResult>,
    options?: Exact<O, RemoveMultiOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    RemoveError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<OperationResult, EffectiveQuiet<O, Quiet>>>
  >

  /** Adds `delta` (default 1) to a decimal counter; the value after is a `bigint`. */
  counter<const O extends CounterOptions = {}>(
    key: string,
    options?: Exact<O, CounterOptions>
  ): HKT.Kind<F, unknown, never, CounterError<O>, CounterResult>
  /**
   * Updates several counters. Per key: a delta, or `{delta, initial, ttl}`; the
   * options give the defaults for what a key leaves out.
   */
  counterMulti<const O extends CounterOptions = {}>(
    keys: ReadonlyArray<string> | KeyValues<CounterAmount | CounterOptions>,
    options?: Exact<O, CounterOptions>
  ): HKT.Kind<F, unknown, never, CounterError<O>, MultiResult<CounterResult>>

  /** Sets a key's expiry. */
  touch<const O extends TouchOptions>(
    key: string,
    options: O
  ): HKT.Kind<
    F,
    unknown,
    never,
    TouchError<EffectiveQuiet<O, Quiet>>,
    WithMissing<OperationResult, EffectiveQuiet<O, Quiet>>
  >
  /** Sets the expiry of several keys, each its own (`{k: ttl}`). */
  touchMulti<const O extends TouchMultiOptions = {}>(
    ttls: KeyValues<TtlInput>,
    options?: Exact<O, TouchMultiOptions>
  ): HKT.Kind<
    F,
    unknown,
    never,
    TouchError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<OperationResult, EffectiveQuiet<O, Quiet>>>
  >
  /** Sets the same expiry on several keys. */
  touchMulti<const O extends TouchOptions>(
    keys: ReadonlyArray<string>,
    options: O
  ): HKT.Kind<
    F,
    unknown,
    never,
    TouchError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<OperationResult, EffectiveQuiet<O, Quiet>>>
  >

  /** Reads and locks a document for `ttl` seconds (1 to 30); the result's CAS unlocks it. */
  lock<const O extends LockOptions>(
    key: string,
    options: O
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    WithMissing<ValueResult<Doc>, EffectiveQuiet<O, Quiet>>
  >
  /** Locks several documents. */
  lockMulti<const O extends LockOptions>(
    keys: ReadonlyArray<string>,
    options: O
  ): HKT.Kind<
    F,
    unknown,
    never,
    GetError<EffectiveQuiet<O, Quiet>>,
    MultiResult<WithMissing<ValueResult<Doc>, EffectiveQuiet<O, Quiet>>>
  >

  /** Releases a lock with the CAS that `lock` returned. */
  unlock(key: string, cas: bigint): HKT.Kind<F, unknown, never, UnlockError, OperationResult>
  /** Releases several locks: `{k: cas}`, or the `MultiResult` of `lockMulti`. */
  unlockMulti(
    locks: KeyValues<bigint | OperationResult>
  ): HKT.Kind<F, unknown, never, UnlockError, MultiResult<OperationResult>>

  /** Asks the master (and replicas) about a key's persistence and replication. */
  observe(key: string, options?: ObserveOptions): HKT.Kind<F, unknown, never, ObserveError, ObserveResult>
  /** Observes several keys. */
  observeMulti(
    keys: ReadonlyArray<string>,
    options?: ObserveOptions
  ): HKT.Kind<F, unknown, never, ObserveError, MultiResult<ObserveResult>>

  /** Waits until a key meets a durability requirement (OBSERVE polling). */
  endure(key: string, options: EndureOptions): HKT.Kind<F, unknown, never, EndureError, OperationResult>
  /** Waits for several keys; `{k: cas | result}` (e.g. a `MultiResult`) pins each CAS. */
  endureMulti(
    keys: ReadonlyArray<string> | KeyValues<bigint | OperationResult>,
    options: EndureMultiOptions
  ): HKT.Kind<F, unknown, never, EndureError, MultiResult<OperationResult>>

  /** Server statistics of every node: one group, several, or the default group. */
  stats(groups?: string | ReadonlyArray<string>): HKT.Kind<F, unknown, never, StatsError, Stats>

  /**
   * Checks every endpoint of the current cluster map at once (a KV NOOP per node, a
   * views request per node) and reports each one's state and latency; it fails only
   * for bad options: an endpoint that does not answer is in the report.
   */
  ping(options?: PingOptions): HKT.Kind<F, unknown, never, ArgumentError, PingReport>
  /** The state of each node's connection, without sending anything. */
  diagnostics(): HKT.Kind<F, unknown, never, never, DiagnosticsReport>
  /**
   * Pings until every endpoint is `ok`, for at most `timeout`: the report, or a
   * `TimeoutError` saying which endpoints were not ready and why.
   */
  waitUntilReady(
    timeout: Duration.DurationInput,
    options?: Omit<PingOptions, "timeout">
  ): HKT.Kind<F, unknown, never, TimeoutError | ArgumentError, PingReport>
}

/**
 * The name of every operation of {@link Operations}.
 *
 * @since 0.1.0
 * @category models
 */
export type OperationName = keyof Operations<HKT.TypeLambda, boolean, unknown>

/**
 * Every operation name, each single-key operation followed by its multi variant
 * (`get`, `getMulti`, `getReplica`, …), `stats` last.
 *
 * @since 0.1.0
 * @category constants
 */
export const operationNames: ReadonlyArray<OperationName> = [
  "get",
  "getMulti",
  "getReplica",
  "getReplicaMulti",
  "upsert",
  "upsertMulti",
  "insert",
  "insertMulti",
  "replace",
  "replaceMulti",
  "append",
  "appendMulti",
  "prepend",
  "prependMulti",
  "remove",
  "removeMulti",
  "counter",
  "counterMulti",
  "touch",
  "touchMulti",
  "lock",
  "lockMulti",
  "unlock",
  "unlockMulti",
  "observe",
  "observeMulti",
  "endure",
  "endureMulti",
  "stats",
  "ping",
  "diagnostics",
  "waitUntilReady"
]

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/**
 * The key/value connection with the loud default: "not found" is a `NotFoundError`
 * unless a call passes `quiet: true`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Connection extends Context.Tag("effect-couchbase/Connection")<Connection, Connection.Service>() {}

/**
 * The same connection with the quiet default (`quiet: true` given to the layer).
 *
 * @since 0.1.0
 * @category tags
 */
export class QuietConnection extends Context.Tag("effect-couchbase/QuietConnection")<
  QuietConnection,
  Connection.Service<true>
>() {}

/**
 * What the cluster's HTTP services (views) need from a connection: its bucket, its
 * credentials and the nodes' service URLs, read from the cluster config it holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterAccess {
  /** The bucket the connection opened (`default` for a memcached connection). */
  readonly bucket: string
  /** The user it authenticates as; `undefined` without credentials. */
  readonly username: string | undefined
  /** Its password, kept `Redacted` until written to the wire. */
  readonly password: Redacted.Redacted<string> | undefined
  /** The `viewsTimeout` option (default 75 s). */
  readonly viewsTimeout: Duration.Duration
  /**
   * The views (capi) base URLs, e.g. `http://10.0.0.1:8092`, of the nodes of the
   * CURRENT cluster config that run the views service, in config order (HTTPS and the
   * `capiSSL` ports over TLS). Read at each call, so that it follows rebalances;
   * `$HOST` stands for the host the config was read from. Empty for memcached.
   */
  readonly capiBaseUrls: Effect.Effect<ReadonlyArray<string>>
  /**
   * The HTTP client of the cluster's HTTP services: `node:http` over sockets of the
   * connection's Iops (TLS with its settings for `https:` URLs), with keep-alive, open
   * as long as the connection. Views use it, so they run on whatever Iops the KV
   * operations run on.
   */
  readonly httpClient: HttpClient.HttpClient
  /**
   * The connection's clock: the time of the fiber that opened it, with every sleep a
   * timer of its Iops. The View over the connection runs its timeouts on it.
   */
  readonly clock: Clock.Clock
}

/**
 * The service types of {@link Connection}.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace Connection {
  /**
   * The connection: every operation of {@link Operations} as an `Effect`, plus views
   * that share its sockets with another quiet default or another transcoder.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service<Quiet extends boolean = false, Doc = unknown>
    extends Operations<Effect.EffectTypeLambda, Quiet, Doc> {
    /** The quiet default of this view. */
    readonly quiet: Quiet
    /** The same connection with another quiet default. */
    withQuiet<Q extends boolean>(quiet: Q): Service<Q, Doc>
    /** The same connection reading and writing documents with another transcoder. */
    withTranscoder<A>(transcoder: Transcoder<A>): Service<Quiet, A>
    /** The bucket, credentials and HTTP service URLs of the cluster (what `View.layerFromConnection` uses). */
    readonly cluster: ClusterAccess
  }
}

/**
 * The tag that carries a connection with quiet default `Q`.
 *
 * @since 0.1.0
 * @category type-level
 */
export type TagFor<Q extends boolean> = Q extends true ? QuietConnection : Connection

/**
 * What building a connection can fail with: invalid options, or no seed could be bootstrapped.
 *
 * @since 0.1.0
 * @category errors
 */
export type MakeError = MakeClientError

/**
 * The quiet default of options `O`, as a literal type.
 *
 * @since 0.1.0
 * @category type-level
 */
export type QuietDefault<O> = O extends { readonly quiet: true } ? true : false

/**
 * Connects: bootstraps from the first seed that answers (connect, HELLO, SASL, bucket,
 * cluster config) and returns the connection, which lives until the `Scope` closes.
 * A bootstrap that fails names the host and the step. Sockets and timers come from
 * the {@link Iops} service, which the program provides (`Iops.layerNode()` for Node's
 * sockets, `Iops.layerSimulated()` in tests).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <const O extends Options = {}>(
  options?: O
) => Effect.Effect<Connection.Service<QuietDefault<O>>, MakeError, Scope.Scope | Iops> = makeClient

/**
 * A layer providing {@link Connection} (the loud default); the connection closes with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options & { readonly quiet?: false | undefined }
): Layer.Layer<Connection, MakeError, Iops> =>
  Layer.scoped(Connection, make(options) as Effect.Effect<Connection.Service, MakeError, Scope.Scope | Iops>)

/**
 * A layer providing {@link QuietConnection}: every read treats a missing key as a value.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Connection, Iops } from "effect-couchbase"
 *
 * // A cache lookup: a missing key is an ordinary result, and NotFoundError is not in E.
 * const cached = (key: string) =>
 *   Effect.gen(function* () {
 *     const cache = yield* Connection.QuietConnection
 *     const hit = yield* cache.get(key)
 *     return hit.success ? hit.value : undefined
 *   })
 *
 * const CacheLive = Connection.layerQuiet({ connectionString: "couchbase://cache.example.com/sessions" }).pipe(
 *   Layer.provide(Iops.layerNode())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerQuiet = (options: Omit<Options, "quiet">): Layer.Layer<QuietConnection, MakeError, Iops> =>
  Layer.scoped(QuietConnection, make({ ...options, quiet: true as const }))

/**
 * The connection's options from the environment: every entry is optional, durations
 * are seconds (`2.5`) or Effect duration strings (`"2500 millis"`).
 *
 * | variable | option |
 * | --- | --- |
 * | `COUCHBASE_CONNECTION_STRING` | `connectionString` (`couchbase://host1,host2/bucket?…`) |
 * | `COUCHBASE_USERNAME` | `username` |
 * | `COUCHBASE_PASSWORD` | `password` (read as `Redacted`) |
 * | `COUCHBASE_BUCKET` | `bucket` |
 * | `COUCHBASE_QUIET` | `quiet` (`true` / `false`) |
 * | `COUCHBASE_DEFAULT_FORMAT` | `defaultFormat`: `json`, `bytes`, `utf8` or `auto` |
 * | `COUCHBASE_OPERATION_TIMEOUT` | `operationTimeout` |
 * | `COUCHBASE_VIEWS_TIMEOUT` | `viewsTimeout` |
 * | `COUCHBASE_BOOTSTRAP_TIMEOUT` | `bootstrapTimeout` |
 * | `COUCHBASE_CONFIG_POLL_INTERVAL` | `configPollInterval` |
 * | `COUCHBASE_DURABILITY_TIMEOUT` | `durabilityTimeout` |
 * | `COUCHBASE_DURABILITY_INTERVAL` | `durabilityInterval` |
 * | `COUCHBASE_FORCE_SASL_PLAIN` | `forceSaslPlain` |
 * | `COUCHBASE_MAX_WAITING_OPERATIONS` | `maxWaitingOperations` |
 * | `COUCHBASE_MAX_VALUE_SIZE` | `maxValueSize` (bytes) |
 * | `COUCHBASE_MAX_QUEUED_BYTES` | `maxQueuedBytes` |
 * | `COUCHBASE_MAX_QUEUED_REQUESTS` | `maxQueuedRequests` |
 *
 * It reads from the current `ConfigProvider` (the environment by default), so a test
 * can supply the same names with `ConfigProvider.fromMap`. For another prefix, nest
 * {@link configUnprefixed} yourself: `Config.nested(Connection.configUnprefixed, "CB")`.
 *
 * @example
 * ```ts
 * import { Config, Effect } from "effect"
 * import { Connection } from "effect-couchbase"
 *
 * // The options, e.g. to decide between a real cluster and an embedded one.
 * const options = Effect.gen(function* () {
 *   const options = yield* Connection.config
 *   return options.connectionString ?? "couchbase://127.0.0.1"
 * })
 *
 * // Or a layer straight from the environment.
 * const live = Connection.layerConfig(Connection.config)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.nested(ConnectionOptions.config, "COUCHBASE")

/**
 * {@link config} without the `COUCHBASE_` prefix (`CONNECTION_STRING`, `USERNAME`, …),
 * to nest under a prefix of your own with `Config.nested`. (Nest the `Config`, not the
 * provider: `ConfigProvider.nested` splits values at commas, and a connection string's
 * commas separate hosts.)
 *
 * @since 0.1.0
 * @category config
 */
export const configUnprefixed: Config.Config<Options> = ConnectionOptions.config

/**
 * The options of a configuration, with `quiet` as the layer's tag says: a
 * configuration cannot change a type, so a `quiet` that contradicts the tag is an
 * `ArgumentError` naming the way out, never a quiet connection under the loud tag.
 */
const configuredFor = (wrapped: Config.Config.Wrap<Options>, quiet: boolean) =>
  Effect.flatMap(ConnectionOptions.unwrap(wrapped), (options) =>
    options.quiet !== undefined && options.quiet !== quiet
      ? Effect.fail(
          new ArgumentError({
            message: quiet
              ? "the configuration says quiet: false (COUCHBASE_QUIET=false), but Connection.layerQuietConfig provides the quiet connection: use Connection.layerConfig"
              : "the configuration says quiet: true (COUCHBASE_QUIET=true), but Connection.layerConfig provides the loud Connection, whose reads are typed to fail on a missing key: use Connection.layerQuietConfig and the QuietConnection tag"
          })
        )
      : Effect.succeed({ ...options, quiet })
  )

/**
 * A layer providing {@link Connection} from configuration: by default {@link config}
 * (the `COUCHBASE_*` environment variables); any field may also be a `Config` of its
 * own (`{ password: Config.redacted("CB_PASSWORD") }`). The connection is the loud
 * one: a configuration with `quiet: true` fails with an `ArgumentError` (a
 * configuration cannot change the type a program was written against); use
 * {@link layerQuietConfig} for {@link QuietConnection}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<Connection, MakeError | ConfigError.ConfigError, Iops> =>
  Layer.scoped(
    Connection,
    Effect.flatMap(configuredFor(options, false), (options) => make(options)) as Effect.Effect<
      Connection.Service,
      MakeError | ConfigError.ConfigError,
      Scope.Scope | Iops
    >
  )

/**
 * {@link layerConfig} for {@link QuietConnection}: every read treats a missing key as
 * a value. A configuration with `quiet: false` fails with an `ArgumentError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerQuietConfig = (
  options: Config.Config.Wrap<Options> = config
): Layer.Layer<QuietConnection, MakeError | ConfigError.ConfigError, Iops> =>
  Layer.scoped(
    QuietConnection,
    Effect.flatMap(configuredFor(options, true), (options) => make(options)) as unknown as Effect.Effect<
      Connection.Service<true>,
      MakeError | ConfigError.ConfigError,
      Scope.Scope | Iops
    >
  )
