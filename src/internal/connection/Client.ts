/**
 * The key/value client: `makeClient(options)` bootstraps from the seeds and returns
 * the `Connection.Service`, whose operations run on the {@link Core}.
 *
 * Lifecycle, all owned by the caller's `Scope`:
 * - bootstrap (probe on acquire): the first seed that completes connect → HELLO →
 *   SASL → bucket → config wins; failure is a typed `BootstrapError` naming host and
 *   step. The other nodes connect in the background; operations for them wait;
 * - a config poller fiber (every `configPollInterval`, 0 disables it) and one-off
 *   fetches when NOT_MY_VBUCKET brings no config;
 * - background reconnects with backoff when a node's connection is lost;
 * - on scope close: every node connection is closed, waiting and in-flight
 *   operations fail with a `NetworkError`, the background fibers are interrupted.
 *   Nothing in the shutdown waits on the network, so it is bounded.
 *
 * Each public operation: arguments are checked and encoded synchronously by the
 * `ops` modules (an `ArgumentError` before anything is sent), then one `Effect.async`
 * sends the request and is resumed by the response callback. A span covers the
 * public operation only.
 *
 * @internal
 */
import { Duration, Effect, Either, FiberSet, type Scope } from "effect"
import type { ClusterAccess, Connection, OperationName } from "../../Connection.js"
import {
  type ArgumentError,
  type CouchbaseErrorBase,
  NetworkError,
  NotSupportedError,
  ProtocolError
} from "../../Errors.js"
import { Iops } from "../../Iops.js"
import { MultiResult, type ObserveResult } from "../../Result.js"
import type * as Transcoder from "../../Transcoder.js"
import { makeIopsHttpClient } from "../http/IopsHttpClient.js"
import { releaseLoop, retainLoop } from "../iops/core.js"
import { makeIopsClock } from "../iops/IopsClock.js"
import { prepareCounter, prepareCounterMulti } from "../ops/counter.js"
import {
  prepareGet,
  prepareGetMulti,
  prepareGetReplica,
  prepareGetReplicaMulti,
  prepareLock,
  prepareLockMulti,
  prepareTouch,
  prepareTouchMulti,
  prepareUnlock,
  prepareUnlockMulti
} from "../ops/get.js"
import { validatePing, validateWaitUntilReady } from "../ops/health.js"
import { assembleMulti } from "../ops/multi.js"
import {
  observeResult,
  prepareEndure,
  prepareEndureMulti,
  prepareObserve,
  prepareObserveMulti
} from "../ops/observe.js"
import type { OpContext, PreparedOp, Route } from "../ops/PreparedOp.js"
import { prepareRemove, prepareRemoveMulti } from "../ops/remove.js"
import { StatsCollector, validateStats } from "../ops/stats.js"
import { prepareConcat, prepareConcatMulti, prepareStore, prepareStoreMulti } from "../ops/store.js"
import { argumentErrorOf } from "../ops/validate.js"
import { Opcode, Status } from "../protocol/constants.js"
import { agentJson, type BootstrapError, bootstrap, type HandshakeSettings, newClientId } from "./Bootstrap.js"
import { hostPort, parse as parseConfig } from "./ClusterConfig.js"
import { Core } from "./Core.js"
import {
  type ArgumentCheck,
  CallbackRequest,
  type Cancelable,
  CheckArguments,
  DirectStart,
  type DirectStarter,
  MultiCallback,
  NATIVE_TRACER,
  settled
} from "./Direct.js"
import { endureKeys, observeKeys } from "./Durability.js"
import * as Health from "./Health.js"
import { ClientMetrics } from "./Metrics.js"
import type { NodeOwner } from "./NodeConnection.js"
import { defaults, type Options, resolve } from "./options.js"
import { StatsRequest } from "./Requests.js"

/** What `makeClient` can fail with: bad options, or no seed could be bootstrapped from. */
export type MakeClientError = ArgumentError | BootstrapError

/** Reconnection backoff: 10 ms doubling up to 2 s. */
const BACKOFF = { initial: 10, max: 2000 } as const

const millis = (d: Duration.Duration): number => Duration.toMillis(d)

/** What a view of the connection reads and writes with. */
interface View {
  readonly quiet: boolean
  readonly transcoder: Transcoder.Transcoder<any>
  readonly defaultFormat: number
}

type AnyEffect = Effect.Effect<any, any>

const MEMCACHED_UNSUPPORTED: ReadonlySet<string> = new Set([
  "lock",
  "lockMulti",
  "unlock",
  "unlockMulti",
  "getReplica",
  "getReplicaMulti",
  "observe",
  "observeMulti",
  "endure",
  "endureMulti"
])

const copyOf = (route: Route): number => (route._tag === "Replica" ? route.index + 1 : 0)

/**
 * The views (capi) base URLs of the current config's servers: one per node (a node
 * appears once even if listed twice), HTTPS on `capiSSL` over TLS.
 */
const capiBaseUrls = (core: Core): ReadonlyArray<string> => {
  const config = core.config
  if (config === undefined) return []
  const tls = core.settings.tls
  const urls: Array<string> = []
  for (const server of config.servers) {
    const port = tls ? server.services.capiSSL : server.services.capi
    if (port === undefined) continue
    const url = `${tls ? "https" : "http"}://${hostPort(server.host, port)}`
    if (!urls.includes(url)) urls.push(url)
  }
  return urls
}

/** Builds the service object of one view (quiet default, transcoder) over `core`. */
const makeService = (
  core: Core,
  view: View,
  now: () => number,
  cluster: ClusterAccess
): Connection.Service<any, any> => {
  const ctx: OpContext = {
    transcoder: view.transcoder,
    defaultFormat: view.defaultFormat,
    quiet: view.quiet,
    now,
    maxValueSize: core.settings.maxValueSize ?? defaults.maxValueSize,
    get replicas() {
      return core.replicas
    }
  }

  // The OpenTelemetry database attributes of each operation's span, under both the
  // older (db.name, db.operation) and the current (db.namespace, db.operation.name)
  // names, built once per operation name.
  const spanAttributes = new Map<string, Record<string, string>>()
  const attributesOf = (name: string): Record<string, string> => {
    let attributes = spanAttributes.get(name)
    if (attributes === undefined) {
      const bucket = core.settings.bucket
      attributes = {
        "db.system": core.settings.memcached === true ? "memcached" : "couchbase",
        "db.operation": name,
        "db.operation.name": name,
        ...(bucket === undefined ? {} : { "db.name": bucket, "db.namespace": bucket })
      }
      spanAttributes.set(name, attributes)
    }
    return attributes
  }

  /** `effect` in the span of operation `name`. */
  const withSpanOf = <A, E>(name: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.withSpan(effect, `couchbase.${name}`, {
      kind: "client",
      captureStackTrace: false,
      attributes: attributesOf(name)
    })

  const span = <A, E>(name: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    // The fiber's tracer read directly (Effect.tracerWith adds a closure and a lookup
    // per operation). Effect's built-in tracer records nothing anyone can read, and a
    // span costs more than the rest of a key/value operation: create one only for a
    // real tracer.
    Effect.withFiberRuntime((fiber) => (fiber.currentTracer === NATIVE_TRACER ? effect : withSpanOf(name, effect)))

  /**
   * memcached has no locks, replicas, OBSERVE or durability, and Debian's memcached
   * drops the connection on an unknown opcode: refuse before sending.
   */
  const unsupported = (name: string, op?: PreparedOp<any, any>): NotSupportedError | undefined => {
    if (core.settings.memcached !== true) return undefined
    const what = MEMCACHED_UNSUPPORTED.has(name)
      ? name
      : op !== undefined && op.route._tag !== "Master"
        ? `${name} from a replica`
        : op?.durability !== undefined
          ? `${name} with persistTo/replicateTo`
          : undefined
    if (what === undefined) return undefined
    return new NotSupportedError({
      key: op?.key,
      message: `${what} is not supported by memcached servers (memcached:// connection)`
    })
  }

  /** A prepared single-key operation, run on its route. */
  const one = (name: string, prepared: Either.Either<PreparedOp<any, any>, CouchbaseErrorBase>): AnyEffect => {
    if (Either.isLeft(prepared)) return prepared
    const op = prepared.right
    const refused = unsupported(name, op)
    if (refused !== undefined) return Effect.fail(refused)
    if (op.route._tag === "AnyReplica") return span(name, core.anyReplica(op))
    return core.executePublic(op, copyOf(op.route), name, withSpanOf)
  }

  /**
   * Multi-key operations, prepared on each run and pipelined per node. Each run
   * prepares its own operations because it lets go of them as soon as it has its
   * results (see `Core.executeMulti`), which an Effect run twice could not do with one
   * shared array.
   */
  const many = (name: string, a: unknown, b?: unknown): AnyEffect =>
    Effect.suspend(() => manyPrepared(name, multis[name]!(a, b)))

  /** Whether the batch of `name` sends quiet gets closed by a NOOP (see `Core.executeMulti`). */
  const quietBatchOf = (name: string): boolean => name === "getMulti"

  /** The Effect of a prepared multi-key operation not sent as one batch per node: its refusal, or its keys read replica by replica; undefined for a batch. */
  const unbatched = (name: string, ops: ReadonlyArray<PreparedOp<any, any>>): AnyEffect | undefined => {
    const refused = unsupported(name, ops[0])
    if (refused !== undefined) return Effect.fail(refused)
    if (ops[0]!.route._tag === "AnyReplica") {
      // Each key tries the replicas in turn on its own.
      return span(
        name,
        Effect.flatMap(
          Effect.forEach(ops, (op) => Effect.either(core.anyReplica(op)), { concurrency: "unbounded" }),
          (outcomes) => assembleMulti(ops, outcomes as Array<Either.Either<any, any>>)
        )
      )
    }
    return undefined
  }

  const manyPrepared = (
    name: string,
    prepared: Either.Either<ReadonlyArray<PreparedOp<any, any>>, CouchbaseErrorBase>
  ): AnyEffect => {
    if (Either.isLeft(prepared)) return prepared
    const ops = prepared.right
    return (
      unbatched(name, ops) ??
      span(name, core.executeMulti(ops, { copy: copyOf(ops[0]!.route), quietBatch: quietBatchOf(name) }))
    )
  }

  /**
   * How each single-key operation is prepared from its arguments (shared by the
   * Effect methods and the fiber-free start below).
   */
  const singles: Record<string, (a: any, b?: any, c?: any) => Either.Either<PreparedOp<any, any>, CouchbaseErrorBase>> =
    {
      get: (key, options) => prepareGet(key, options, ctx),
      getReplica: (key, options) => prepareGetReplica(key, options, ctx),
      upsert: (key, value, options) => prepareStore("upsert", key, value, options, ctx),
      insert: (key, value, options) => prepareStore("insert", key, value, options, ctx),
      replace: (key, value, options) => prepareStore("replace", key, value, options, ctx),
      append: (key, value, options) => prepareConcat("append", key, value, options, ctx),
      prepend: (key, value, options) => prepareConcat("prepend", key, value, options, ctx),
      remove: (key, options) => prepareRemove(key, options, ctx),
      counter: (key, options) => prepareCounter(key, options, ctx),
      touch: (key, options) => prepareTouch(key, options, ctx),
      lock: (key, options) => prepareLock(key, options, ctx),
      unlock: (key, cas) => prepareUnlock(key, cas, ctx)
    }

  /**
   * How each multi-key operation sent as one batch per node is prepared from its
   * arguments (shared by the Effect methods and the fiber-free start below).
   */
  const multis: Record<
    string,
    (a: any, b?: any) => Either.Either<ReadonlyArray<PreparedOp<any, any>>, CouchbaseErrorBase>
  > = {
    getMulti: (keys, options) => prepareGetMulti(keys, options, ctx),
    getReplicaMulti: (keys, options) => prepareGetReplicaMulti(keys, options, ctx),
    upsertMulti: (values, options) => prepareStoreMulti("upsert", values, options, ctx),
    insertMulti: (values, options) => prepareStoreMulti("insert", values, options, ctx),
    replaceMulti: (values, options) => prepareStoreMulti("replace", values, options, ctx),
    appendMulti: (values, options) => prepareConcatMulti("append", values, options, ctx),
    prependMulti: (values, options) => prepareConcatMulti("prepend", values, options, ctx),
    removeMulti: (keys, options) => prepareRemoveMulti(keys, options, ctx),
    counterMulti: (keys, options) => prepareCounterMulti(keys, options, ctx),
    touchMulti: (keys, options) => prepareTouchMulti(keys, options, ctx),
    lockMulti: (keys, options) => prepareLockMulti(keys, options, ctx),
    unlockMulti: (locks) => prepareUnlockMulti(locks, ctx)
  }

  /**
   * Starts a multi-key operation without a fiber: its batches are sent here and now,
   * and the run calls back once every key is accounted for (a fiber only finishes
   * what waits: retries, durability). Anything else runs as its Effect through `run`.
   */
  const startMultiDirect: DirectStarter = (name, args, onSuccess, onFailure, run, progress) => {
    const prepared = multis[name]!(args[0], args[1])
    if (Either.isLeft(prepared)) return refusedStart(prepared.left, onFailure)
    const ops = prepared.right
    const refusal = unbatched(name, ops)
    if (refusal !== undefined) return run(refusal, onSuccess, onFailure)
    const callback = new MultiCallback(onSuccess, onFailure, run)
    callback.run = core.runMulti(ops, copyOf(ops[0]!.route), quietBatchOf(name), progress, callback.deliver)
    return callback
  }

  /** An operation refused while it was prepared: its `ArgumentError` is returned (nothing started), another error is its failure. */
  const refusedStart = (error: CouchbaseErrorBase, onFailure: (error: any) => void): ArgumentError | Cancelable => {
    if (error._tag === "ArgumentError") return error as ArgumentError
    onFailure(error)
    return settled
  }

  /**
   * The `ArgumentError` of a call, from the same checks as the operation makes (the
   * bucket's replicas included: more durability than it has is one), or undefined.
   */
  const checkArguments: ArgumentCheck = (name, args) => {
    const prepared = singles[name]?.(args[0], args[1], args[2]) ?? multis[name]?.(args[0], args[1])
    if (prepared === undefined) return argumentErrorOf(name as OperationName, args, now())
    return Either.isLeft(prepared) && prepared.left._tag === "ArgumentError"
      ? (prepared.left as ArgumentError)
      : undefined
  }

  /**
   * Starts an operation without a fiber (see `Direct.ts`): a single-key operation
   * that needs nothing but its response, or a multi-key one's batches, is sent here
   * and now; anything else runs as its Effect through `run`.
   */
  const startDirect: DirectStarter = (name, args, onSuccess, onFailure, run, progress) => {
    const prepare = singles[name]
    if (prepare === undefined) {
      if (multis[name] !== undefined) return startMultiDirect(name, args, onSuccess, onFailure, run, progress)
      const invalid = argumentErrorOf(name as OperationName, args, now())
      if (invalid !== undefined) return invalid
      return run((service as any)[name](...args), onSuccess, onFailure)
    }
    const prepared = prepare(args[0], args[1], args[2])
    if (Either.isLeft(prepared)) return refusedStart(prepared.left, onFailure)
    const op = prepared.right
    if (op.route._tag === "AnyReplica" || op.durability !== undefined || unsupported(name, op) !== undefined) {
      return run(one(name, prepared), onSuccess, onFailure)
    }
    const request = new CallbackRequest(core, op, copyOf(op.route), core.keyDeadline(), onSuccess, onFailure, run)
    core.dispatch(request)
    return request
  }

  const service = {
    quiet: view.quiet,
    withQuiet: (quiet: boolean) => makeService(core, { ...view, quiet }, now, cluster),
    withTranscoder: (transcoder: Transcoder.Transcoder<any>) =>
      makeService(core, { ...view, transcoder }, now, cluster),
    cluster,

    get: (key: unknown, options?: any) => one("get", singles.get!(key, options)),
    getMulti: (keys: unknown, options?: any) => many("getMulti", keys, options),
    getReplica: (key: unknown, options?: any) => one("getReplica", singles.getReplica!(key, options)),
    getReplicaMulti: (keys: unknown, options?: any) => many("getReplicaMulti", keys, options),

    upsert: (key: unknown, value: unknown, options?: any) => one("upsert", singles.upsert!(key, value, options)),
    upsertMulti: (values: unknown, options?: any) => many("upsertMulti", values, options),
    insert: (key: unknown, value: unknown, options?: any) => one("insert", singles.insert!(key, value, options)),
    insertMulti: (values: unknown, options?: any) => many("insertMulti", values, options),
    replace: (key: unknown, value: unknown, options?: any) => one("replace", singles.replace!(key, value, options)),
    replaceMulti: (values: unknown, options?: any) => many("replaceMulti", values, options),
    append: (key: unknown, value: unknown, options?: any) => one("append", singles.append!(key, value, options)),
    appendMulti: (values: unknown, options?: any) => many("appendMulti", values, options),
    prepend: (key: unknown, value: unknown, options?: any) => one("prepend", singles.prepend!(key, value, options)),
    prependMulti: (values: unknown, options?: any) => many("prependMulti", values, options),

    remove: (key: unknown, options?: any) => one("remove", singles.remove!(key, options)),
    removeMulti: (keys: unknown, options?: any) => many("removeMulti", keys, options),
    counter: (key: unknown, options?: any) => one("counter", singles.counter!(key, options)),
    counterMulti: (keys: unknown, options?: any) => many("counterMulti", keys, options),
    touch: (key: unknown, options?: any) => one("touch", singles.touch!(key, options)),
    touchMulti: (keys: unknown, options?: any) => many("touchMulti", keys, options),
    lock: (key: unknown, options?: any) => one("lock", singles.lock!(key, options)),
    lockMulti: (keys: unknown, options?: any) => many("lockMulti", keys, options),
    unlock: (key: unknown, cas: unknown) => one("unlock", singles.unlock!(key, cas)),
    unlockMulti: (locks: unknown) => many("unlockMulti", locks),

    observe: (key: unknown, options?: any): AnyEffect => {
      const prepared = prepareObserve(key, options, ctx)
      if (Either.isLeft(prepared)) return prepared
      const refused = unsupported("observe")
      if (refused !== undefined) return Effect.fail(refused)
      const p = prepared.right
      return span(
        "observe",
        Effect.suspend(() => observeKeys(core, [p], p.masterOnly, core.deadline())).pipe(
          Effect.map((infos) => observeResult(p.key, infos[0]!))
        )
      )
    },
    observeMulti: (keys: unknown, options?: any): AnyEffect => {
      const prepared = prepareObserveMulti(keys, options, ctx)
      if (Either.isLeft(prepared)) return prepared
      const refused = unsupported("observeMulti")
      if (refused !== undefined) return Effect.fail(refused)
      const ps = prepared.right
      return span(
        "observeMulti",
        Effect.suspend(() => observeKeys(core, ps, ps[0]!.masterOnly, core.deadline())).pipe(
          Effect.map((infos) => {
            const out = new MultiResult<ObserveResult>()
            for (let i = 0; i < ps.length; i++) out.set(ps[i]!.key, observeResult(ps[i]!.key, infos[i]!))
            return out
          })
        )
      )
    },

    endure: (key: unknown, options?: any): AnyEffect => {
      const prepared = prepareEndure(key, options, ctx)
      if (Either.isLeft(prepared)) return prepared
      const refused = unsupported("endure")
      if (refused !== undefined) return Effect.fail(refused)
      const p = prepared.right
      const timeout = p.timeout === undefined ? core.settings.durabilityTimeout : millis(p.timeout)
      const interval = p.interval === undefined ? core.settings.durabilityInterval : millis(p.interval)
      return span(
        "endure",
        Effect.flatMap(endureKeys(core, [p], timeout, interval), (outcomes) => outcomes[0]!)
      )
    },
    endureMulti: (keys: unknown, options?: any): AnyEffect => {
      const prepared = prepareEndureMulti(keys, options, ctx)
      if (Either.isLeft(prepared)) return prepared
      const refused = unsupported("endureMulti")
      if (refused !== undefined) return Effect.fail(refused)
      const ps = prepared.right
      const first = ps[0]!
      const timeout = first.timeout === undefined ? core.settings.durabilityTimeout : millis(first.timeout)
      const interval = first.interval === undefined ? core.settings.durabilityInterval : millis(first.interval)
      return span(
        "endureMulti",
        Effect.flatMap(endureKeys(core, ps, timeout, interval), (outcomes) => assembleMulti(ps, outcomes))
      )
    },

    stats: (groups?: unknown): AnyEffect => {
      const checked = validateStats(groups)
      if (Either.isLeft(checked)) return checked
      return span(
        "stats",
        Effect.suspend(() => {
          const collector = new StatsCollector()
          const deadline = core.deadline()
          const requests = core.activeNodes.flatMap((node) => checked.right.map((group) => [node, group] as const))
          if (requests.length === 0) {
            return Effect.fail(new NetworkError({ message: "stats: the connection has no nodes (is it closed?)" }))
          }
          return Effect.forEach(
            requests,
            ([node, group]) =>
              Effect.async<void, CouchbaseErrorBase>((resume) => {
                const request = new StatsRequest(group, node.address, collector, deadline, resume)
                request.node = node
                node.send(request)
                return Effect.sync(() => node.cancel(request))
              }),
            { concurrency: "unbounded", discard: true }
          ).pipe(Effect.as(collector.result()))
        })
      )
    },
    ping: (options?: unknown): AnyEffect => {
      const checked = validatePing(options as any)
      if (Either.isLeft(checked)) return checked
      return span("ping", Health.ping(core, cluster, checked.right))
    },
    diagnostics: (): AnyEffect => Health.diagnostics(core, cluster),
    waitUntilReady: (timeout: unknown, options?: unknown): AnyEffect => {
      const checked = validateWaitUntilReady(timeout, options as any)
      if (Either.isLeft(checked)) return checked
      return span("waitUntilReady", Health.waitUntilReady(core, cluster, checked.right))
    },
    [DirectStart]: startDirect,
    [CheckArguments]: checkArguments
  }
  return service as unknown as Connection.Service<any, any>
}

/** The connection's options with the quiet default as a literal, for the result type. */
type QuietOf<O> = O extends { readonly quiet: true } ? true : false

/**
 * Connects (bootstrap from the seeds, see the module documentation) and returns the
 * connection service. The connection lives until `Scope` closes.
 */
export const makeClient = <const O extends Options = {}>(
  options?: O
): Effect.Effect<Connection.Service<QuietOf<O>>, MakeClientError, Scope.Scope | Iops> =>
  // Every wait of the connection's own fibers (bootstrap and connect timeouts, config
  // polling, reconnect backoff), which inherit this, is a timer of its Iops.
  Effect.flatMap(Iops, (iops) =>
    Effect.clockWith((base) => Effect.withClock(makeClientOn(iops, options), makeIopsClock(iops, base)))
  )

const makeClientOn = <const O extends Options = {}>(
  iops: Iops.Service,
  options?: O
): Effect.Effect<Connection.Service<QuietOf<O>>, MakeClientError, Scope.Scope> =>
  Effect.gen(function* () {
    const resolved = yield* resolve(options ?? {})
    // Added first, so it runs last: after every socket and timer of the connection is gone.
    yield* Effect.acquireRelease(
      Effect.sync(() => retainLoop(iops)),
      () =>
        Effect.try(() => releaseLoop(iops)).pipe(
          Effect.catchAll((error) => Effect.logWarning("the Iops's stopWatching() threw", error.error))
        )
    )
    const clock = yield* Effect.clock
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    const httpClient = yield* makeIopsHttpClient({
      iops,
      tls: resolved.tls === false ? true : resolved.tls,
      connectTimeout: millis(resolved.bootstrapTimeout),
      run: (effect) => run(effect)
    })
    const metrics = resolved.metrics ? new ClientMetrics(resolved.bucket) : undefined
    const clientId = newClientId()
    let connections = 0
    const settings: HandshakeSettings = {
      memcached: resolved.memcached,
      tls: resolved.tls,
      bucket: resolved.bucket,
      username: resolved.username,
      password: resolved.password,
      forceSaslPlain: resolved.forceSaslPlain,
      maxQueuedBytes: resolved.maxQueuedBytes,
      maxQueuedRequests: resolved.maxQueuedRequests,
      metrics,
      // Each connection reports its own id in the agent JSON (servers log it).
      get agent() {
        connections++
        return agentJson(clientId, connections.toString(16).padStart(16, "0"))
      }
    }
    const owner: NodeOwner = {
      iops,
      settings,
      connectTimeout: millis(resolved.bootstrapTimeout),
      maxWaiting: resolved.maxWaitingOperations,
      backoff: BACKOFF,
      fork: (effect) => {
        run(effect, { immediate: false })
      }
    }
    const core = new Core(
      iops,
      { ...owner, metrics },
      {
        tls: resolved.tls !== false,
        bucket: resolved.memcached ? undefined : resolved.bucket,
        operationTimeout: millis(resolved.operationTimeout),
        durabilityTimeout: millis(resolved.durabilityTimeout),
        durabilityInterval: millis(resolved.durabilityInterval),
        memcached: resolved.memcached,
        maxValueSize: resolved.maxValueSize
      }
    )
    core.metrics = metrics
    yield* Effect.addFinalizer(() => Effect.sync(() => core.close()))

    const boot = yield* bootstrap(iops, resolved.seeds, settings, millis(resolved.bootstrapTimeout))
    if (resolved.memcached) {
      const index = resolved.seeds.indexOf(boot.seed)
      core.useServers(resolved.seeds, { index, pipeline: boot.pipeline, info: boot.info })
    } else {
      const config = boot.config!
      const seed = { host: boot.seed.host, port: boot.seed.port, pipeline: boot.pipeline, info: boot.info }
      if (!core.applyConfig(config, seed)) {
        boot.pipeline.close()
        return yield* Effect.fail(
          new ProtocolError({
            message: `${hostPort(boot.seed.host, boot.seed.port)}: GET_CLUSTER_CONFIG returned the config of bucket ${JSON.stringify(config.bucket)}, not of ${JSON.stringify(resolved.bucket)}`
          })
        )
      }
    }

    let turn = 0
    /** One GET_CLUSTER_CONFIG from the next ready node, applied if newer; failures wait for the next round. */
    const refreshOnce: Effect.Effect<void> = Effect.suspend(() => {
      const ready = core.activeNodes.filter((n) => n.ready)
      if (ready.length === 0) return Effect.void
      const node = ready[turn++ % ready.length]!
      return node.pipeline!.exchange({ opcode: Opcode.GetClusterConfig }, core.deadline()).pipe(
        Effect.map((frame) => {
          const parsed = frame.status === Status.Success ? parseConfig(frame.value, node.host) : undefined
          return parsed !== undefined && Either.isRight(parsed) && core.applyConfig(parsed.right)
        }),
        Effect.ignore
      )
    })
    core.durability = (op, cas) =>
      Effect.flatMap(
        endureKeys(
          core,
          [{ key: op.key, keyBytes: op.keyBytes, cas, requirement: op.durability! }],
          core.settings.durabilityTimeout,
          core.settings.durabilityInterval
        ),
        (outcomes) => outcomes[0]!
      )
    if (!resolved.memcached) {
      core.refresh = () => refreshOnce
      const interval = millis(resolved.configPollInterval)
      if (interval > 0) yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), refreshOnce)))
    }

    return makeService(
      core,
      { quiet: resolved.quiet, transcoder: resolved.transcoder, defaultFormat: resolved.defaultFormat },
      () => clock.unsafeCurrentTimeMillis(),
      {
        bucket: resolved.bucket,
        username: resolved.username,
        password: resolved.password,
        viewsTimeout: resolved.viewsTimeout,
        capiBaseUrls: Effect.sync(() => capiBaseUrls(core)),
        httpClient,
        clock
      }
    ) as Connection.Service<QuietOf<O>>
  })
