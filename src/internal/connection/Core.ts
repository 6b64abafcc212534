/**
 * The client's engine: the current cluster map, one {@link NodeConnection} per node,
 * and how an operation gets from a {@link PreparedOp} to its outcome.
 *
 * - **Routing.** The router of the newest config maps the key to a server index; the
 *   request goes to that node's connection (or waits there while it connects).
 * - **NOT_MY_VBUCKET.** The body's config is applied when it is newer (configs are
 *   ordered by `(revEpoch, rev)`) and the operation is re-routed at once; when the
 *   body brings nothing new, a config fetch is triggered and the operation retried
 *   after a short backoff.
 * - **ETMPFAIL / EBUSY.** Retried with exponential backoff while the operation's
 *   deadline allows; the last error is returned when it does not. A locked key is
 *   never retried: it is a `TemporaryFailError` at once, as the Python SDK raises it.
 * - **Durability.** A mutation with `persistTo`/`replicateTo` completes only after
 *   OBSERVE polling (see `Durability.ts`) sees the requirement met.
 *
 * Every operation has one deadline, fixed when it starts: retries, waiting for a
 * connection and the response all count against it.
 *
 * @internal
 */
import { Effect, Either, Fiber } from "effect"
import { ArgumentError, type CouchbaseErrorBase, NetworkError, NotMyVbucketError, ProtocolError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import type { MultiResult } from "../../Result.js"
import { now, onRealClock } from "../iops/core.js"
import { iopsSleep } from "../iops/IopsClock.js"
import { LockOp, UnlockOp } from "../ops/get.js"
import { assembleMulti } from "../ops/multi.js"
import type { PreparedOp } from "../ops/PreparedOp.js"
import { Datatype, Status } from "../protocol/constants.js"
import type { Frame } from "../protocol/Frame.js"
import type { NodeInfo } from "./Bootstrap.js"
import { type ClusterConfig, hostPort, isNewer, parse as parseConfig } from "./ClusterConfig.js"
import { NATIVE_TRACER } from "./Direct.js"
import type { ErrorMapEntry } from "./ErrorMap.js"
import * as ErrorMap from "./ErrorMap.js"
import { type KeyObserver, KeyProgress } from "./KeyProgress.js"
import type { ClientMetrics } from "./Metrics.js"
import { NodeConnection, type NodeOwner } from "./NodeConnection.js"
import type { Pipeline } from "./Pipeline.js"
import {
  isOutcome,
  MultiKeyRequest,
  MultiRun,
  type OpRequest,
  QuietBatchRequest,
  type Resume,
  ResumeRequest
} from "./Requests.js"
import { fromConfig, ketamaRouter, type Router } from "./Router.js"

/** Tuning of the engine, in milliseconds. */
export interface CoreSettings {
  /** Whether the connection uses TLS (picks the TLS KV ports of the config). */
  readonly tls: boolean
  /** The bucket configs must be about. */
  readonly bucket: string | undefined
  /** Default operation timeout. */
  readonly operationTimeout: number
  /** Durability polling defaults. */
  readonly durabilityTimeout: number
  readonly durabilityInterval: number
  /** Plain memcached servers: no locks, replicas, OBSERVE or durability. */
  readonly memcached?: boolean | undefined
  /** The least time between two config fetches triggered by NOT_MY_VBUCKET. */
  readonly refreshInterval?: number | undefined
  /** The largest encoded value a store sends (default the server's 20 MiB item limit). */
  readonly maxValueSize?: number | undefined
}

const EMPTY_ROUTER: Router = ketamaRouter([], "couchbase")

/**
 * The most keys of one quiet batch: a larger multi-get goes to a node as several
 * batches, each written as soon as it is complete, so that the node answers the
 * first keys while the client routes and encodes the others (the batches of one run
 * are otherwise independent, each closed by its NOOP).
 */
const QUIET_CHUNK = 128

const RESOLVED = Promise.resolve()

/**
 * How many single-key operations of one pass of the microtask queue share one reading
 * of the clock (see `Core.keyDeadline`): a batch of responses at 256 in flight resumes
 * about a hundred fibers, and 64 operations take some 150 µs.
 */
const CLOCK_SHARED_BY = 64

/** Delay before retry `attempt` (1, 2, …) of a transient failure: 1, 2, 4 … up to 256 ms. */
export const backoffDelay = (attempt: number): number => Math.min(2 ** Math.max(0, attempt - 1), 256)

/** What a request that may be retried carries. */
export interface Retryable {
  readonly op: PreparedOp<any, any>
  readonly copy: number
  readonly deadline: number
  readonly attempt: number
  readonly pipeline: Pipeline | undefined
}

/** See the module documentation. */
export class Core {
  config: ClusterConfig | undefined = undefined
  router: Router = EMPTY_ROUTER
  /** Node connections by server index. */
  nodes: ReadonlyArray<NodeConnection | undefined> = []
  closed = false
  private readonly byAddress = new Map<string, NodeConnection>()
  private lastRefresh = Number.NEGATIVE_INFINITY
  private refreshing = false
  /** The real clock as last read, for {@link clockUses} more operations (see {@link keyDeadline}). */
  private clock = 0
  private clockUses = 0
  /** A reaction that lets go of the reading is queued. */
  private clockHeld = false
  private readonly realClock: boolean
  private readonly clockStale = (): void => {
    this.clockUses = 0
    this.clockHeld = false
  }
  /** Set by the client: runs one config fetch (the NOT_MY_VBUCKET trigger and the poller share it). */
  refresh: (() => Effect.Effect<void>) | undefined = undefined
  /** Set by the client when it records metrics. */
  metrics: ClientMetrics | undefined = undefined
  /** Set by the client: waits for durability after a mutation. */
  durability: ((op: PreparedOp<any, any>, cas: bigint) => Effect.Effect<void, any>) | undefined = undefined

  constructor(
    readonly iops: Iops.Service,
    readonly owner: NodeOwner,
    readonly settings: CoreSettings
  ) {
    this.realClock = onRealClock(iops)
  }

  /** The bucket's replica count (0 for memcached), undefined before the first config. */
  get replicas(): number | undefined {
    if (this.config === undefined) return this.router === EMPTY_ROUTER ? undefined : 0
    return this.config.vbuckets?.numReplicas ?? 0
  }

  /** Every node connection currently in the map. */
  get activeNodes(): ReadonlyArray<NodeConnection> {
    return this.nodes.filter((n): n is NodeConnection => n !== undefined)
  }

  /** The deadline of an operation starting now (a multi-key one, or anything but the hot path). */
  deadline(timeout = this.settings.operationTimeout): number {
    return now(this.iops) + timeout
  }

  /**
   * The deadline of a single-key operation starting now, with the default timeout.
   *
   * The real clock (`performance.now()`: the Node Iops's, or an Iops without a clock
   * of its own) is read once for up to {@link CLOCK_SHARED_BY} operations within one pass of the microtask
   * queue, where the fibers resumed by one batch of responses all run: a read cost
   * 46 ns, and gets on fibers at 256 in flight went 6% faster without one per
   * operation. As with Node's own timers, which count from the event loop's cached
   * time, an operation started after something else kept that pass busy gets a
   * deadline early by that time; the operations' own work between readings is bounded
   * by the count (a loop starting a million gets in one go would otherwise give the
   * last ones a deadline early by the whole loop). An Iops with its own clock (the
   * simulated one, whose time moves only when it says) is read every time.
   */
  keyDeadline(): number {
    const timeout = this.settings.operationTimeout
    if (!this.realClock) return now(this.iops) + timeout
    if (this.clockUses === 0) {
      this.clock = performance.now()
      if (!this.clockHeld) {
        this.clockHeld = true
        // A promise reaction rather than queueMicrotask, which test runners' fake
        // timers may replace: a reading never let go would age into deadlines already past.
        RESOLVED.then(this.clockStale)
      }
      this.clockUses = CLOCK_SHARED_BY
    }
    this.clockUses--
    return this.clock + timeout
  }

  // ---------------------------------------------------------------------------
  // Topology
  // ---------------------------------------------------------------------------

  private nodeFor(host: string, port: number): NodeConnection {
    const address = hostPort(host, port)
    let node = this.byAddress.get(address)
    if (node === undefined || node.closed) {
      node = new NodeConnection(this.owner, host, port)
      this.byAddress.set(address, node)
    }
    return node
  }

  /**
   * Uses plain memcached servers, in order, with libmemcached's ketama (memcached
   * mode: no config ever arrives).
   */
  useServers(
    servers: ReadonlyArray<{ readonly host: string; readonly port: number }>,
    seed?: { readonly index: number; readonly pipeline: Pipeline; readonly info: NodeInfo } | undefined
  ): void {
    const nodes = servers.map((s) => this.nodeFor(s.host, s.port))
    this.router = ketamaRouter(servers, "libmemcached")
    this.nodes = nodes
    if (seed !== undefined) nodes[seed.index]!.adopt(seed.pipeline, seed.info)
    for (const node of nodes) node.connect()
  }

  /**
   * Applies `config` if it is newer than the current one: new router, connections
   * to new nodes (the bootstrap's `seed` connection is handed to its node), removed
   * nodes retired. Returns whether it was applied.
   */
  applyConfig(
    config: ClusterConfig,
    seed?:
      | { readonly host: string; readonly port: number; readonly pipeline: Pipeline; readonly info: NodeInfo }
      | undefined
  ): boolean {
    if (this.closed || !isNewer(config, this.config)) return false
    if (this.settings.bucket !== undefined && config.bucket !== undefined && config.bucket !== this.settings.bucket) {
      return false
    }
    const tls = this.settings.tls
    const nodes: Array<NodeConnection | undefined> = config.servers.map((s) => {
      const port = tls ? s.services.kvSSL : s.services.kv
      return port === undefined ? undefined : this.nodeFor(s.host, port)
    })
    const keep = new Set(nodes)
    const left: Array<string> = []
    for (const [address, node] of this.byAddress) {
      if (keep.has(node)) continue
      this.byAddress.delete(address)
      node.retire(this.settings.operationTimeout)
      left.push(address)
    }
    const previous = this.config
    this.config = config
    this.router = fromConfig(config, tls)
    this.nodes = nodes
    if (seed !== undefined) {
      const byThis = config.thisNode === undefined ? undefined : nodes[config.thisNode]
      const byAddress = this.byAddress.get(hostPort(seed.host, seed.port))
      const target = byThis ?? byAddress
      if (target !== undefined && !target.ready) target.adopt(seed.pipeline, seed.info)
      else seed.pipeline.close()
    }
    for (const node of nodes) node?.connect()
    this.log(
      `cluster map revision ${config.rev} applied: ${nodes.filter((n) => n !== undefined).length} node(s)${
        left.length > 0 ? `; ${left.join(", ")} left the map (failed over or removed)` : ""
      }`,
      { "couchbase.config.revision": config.rev, "couchbase.config.previous_revision": previous?.rev ?? "none" }
    )
    return true
  }

  /** A debug log line through the connection's logger (from plain code: on a fiber of its own). */
  log(message: string, annotations: Record<string, unknown> = {}): void {
    if (this.closed) return
    this.owner.fork(Effect.logDebug(message).pipe(Effect.annotateLogs(annotations)))
  }

  /**
   * Reads the config in a NOT_MY_VBUCKET body (when there is one) and applies it if
   * newer. Triggers a fetch when the body brings nothing new.
   */
  notMyVbucket(frame: Frame, pipeline: Pipeline | undefined): boolean {
    let applied = false
    const body = frame.value
    if (body.length > 0 && ((frame.datatype & Datatype.Json) !== 0 || body[0] === 0x7b) && pipeline !== undefined) {
      const parsed = parseConfig(body, pipeline.socket.remoteHost)
      if (Either.isRight(parsed)) applied = this.applyConfig(parsed.right)
    }
    if (!applied) this.requestRefresh()
    return applied
  }

  /** Fetches a config soon, at most once per refresh interval. */
  requestRefresh(): void {
    const refresh = this.refresh
    if (refresh === undefined || this.refreshing || this.closed) return
    const t = now(this.iops)
    if (t - this.lastRefresh < (this.settings.refreshInterval ?? 100)) return
    this.lastRefresh = t
    this.refreshing = true
    this.owner.fork(refresh().pipe(Effect.ensuring(Effect.sync(() => (this.refreshing = false)))))
  }

  /** Closes every node connection: waiting and in-flight operations fail with a `NetworkError`. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const node of this.byAddress.values()) node.close()
    for (const node of this.nodes) node?.close()
    this.byAddress.clear()
  }

  // ---------------------------------------------------------------------------
  // Single-key operations
  // ---------------------------------------------------------------------------

  /**
   * Runs `op` on copy `copy` (0 = master) until its outcome: the result, its error, or
   * the error left when retries ran out of time. `deadline` undefined: the default
   * timeout from when the Effect runs.
   */
  execute<R, E>(op: PreparedOp<any, any>, copy = 0, deadline?: number, attempt = 0): Effect.Effect<R, E> {
    return Effect.async<R, E>((resume) => {
      const request = new ResumeRequest(this, op, copy, deadline ?? this.keyDeadline(), attempt, resume)
      this.dispatch(request)
      // In a span (only with a real tracer: the hot path has no span and does not come
      // here), the node the request went to, as OpenTelemetry's server attributes.
      const node = request.node
      if (node !== undefined) {
        const fiber = Fiber.getCurrentFiber()
        const span = fiber._tag === "Some" ? fiber.value.currentSpan : undefined
        if (span?._tag === "Span") {
          span.attribute("server.address", node.host)
          span.attribute("server.port", node.port)
        }
      }
      // A canceler costs every operation an allocation and an uninterruptible region.
      // Once its bytes are queued on a connection an interrupted operation needs none:
      // its answer, its connection's failure or its deadline ends the request, and the
      // resume of an interrupted fiber is ignored. Only a request still waiting for a
      // connection is taken out of that queue, so that it is never sent.
      if (request.ended || request.pipeline !== undefined) return
      return Effect.sync(() => request.cancelWaiting())
    })
  }

  /**
   * {@link execute} for a public operation: in a span when the fiber has a real
   * tracer. The tracer is read when the operation starts, inside its one
   * `Effect.async` (a separate `withFiberRuntime` to read it cost every operation a
   * primitive and a closure); with a real tracer the fiber goes on with the operation
   * wrapped in the span `traced` makes for `name`, which starts right then. (`traced`
   * is the client's one span wrapper, not a closure per call: that cost every
   * operation an allocation.)
   */
  executePublic<R, E>(
    op: PreparedOp<any, any>,
    copy: number,
    name: string,
    traced: <A, F>(name: string, effect: Effect.Effect<A, F>) => Effect.Effect<A, F>
  ): Effect.Effect<R, E> {
    return Effect.async<R, E>((resume) => {
      const fiber = Fiber.getCurrentFiber()
      if (fiber._tag === "Some" && fiber.value.currentTracer !== NATIVE_TRACER) {
        resume(traced(name, this.execute<R, E>(op, copy)))
        return
      }
      const request = new ResumeRequest(this, op, copy, this.keyDeadline(), 0, resume)
      this.dispatch(request)
      // See execute.
      if (request.ended || request.pipeline !== undefined) return
      return Effect.sync(() => request.cancelWaiting())
    })
  }

  /**
   * Routes `request` to its node and sends it (or queues it there while the node
   * connects); a request that cannot be routed ends at once, failed or redirected.
   */
  dispatch(request: OpRequest): void {
    if (this.closed) {
      request.fail(new NetworkError({ message: "the connection is closed; open a new one" }))
      return
    }
    const op = request.op
    const router = this.router
    const vbucket = router.vbucket(op.routingKey)
    const server = router.server(op.routingKey, vbucket, request.copy)
    const node = server < 0 ? undefined : this.nodes[server]
    if (node === undefined) {
      if (request.copy > 0) {
        request.fail(
          new NetworkError({
            message: `no node holds replica ${request.copy - 1} of vBucket ${vbucket} right now (the bucket has ${router.numReplicas} replica(s))`
          })
        )
        return
      }
      // No master: a failover or rebalance is in progress. Wait for a new map.
      this.requestRefresh()
      request.redirect(
        this.later(
          op,
          0,
          request.deadline,
          request.attempt + 1,
          new NetworkError({
            message: `no node serves vBucket ${vbucket} right now (the cluster map is changing)`,
            key: op.key
          })
        )
      )
      return
    }
    request.vbucket = vbucket
    request.node = node
    node.send(request)
  }

  /** The Effect that retries a request after `frame`, or undefined when `frame` is its outcome. */
  retryFor(request: Retryable, frame: Frame): Effect.Effect<any, any> | undefined {
    return this.retryOne(request.op, request.copy, request.deadline, request.attempt + 1, frame, request.pipeline)
  }

  /** See {@link retryFor}. */
  retryOne(
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    attempt: number,
    frame: Frame,
    pipeline: Pipeline | undefined
  ): Effect.Effect<any, any> | undefined {
    const status = frame.status
    if (status === Status.NotMyVbucket) {
      const applied = this.notMyVbucket(frame, pipeline)
      // A newer map is tried at once the first time. After that the retries back off
      // like any other: a node that keeps answering NOT_MY_VBUCKET with ever-newer maps
      // (a cluster in flux, or a faulty one) got about 170 requests per operation in
      // 300 ms when every newer map was retried at once.
      if (applied && attempt <= 1) return this.execute(op, copy, deadline, attempt)
      return this.later(
        op,
        copy,
        deadline,
        attempt,
        new NotMyVbucketError({
          key: op.key,
          status,
          message: applied
            ? `${pipeline?.remote ?? "the node"} keeps answering that it does not own the key's vBucket, with a newer cluster map each time`
            : `${pipeline?.remote ?? "the node"} does not own the key's vBucket and no newer cluster map has arrived yet`
        })
      )
    }
    if ((status === Status.TemporaryFailure || status === Status.Busy) && isRetryable(op)) {
      const decoded = op.decode(frame)
      return this.later(op, copy, deadline, attempt, Either.isLeft(decoded) ? decoded.left : undefined)
    }
    const entry = KNOWN_STATUSES.has(status) ? undefined : pipeline?.errorMap?.entries.get(status)
    return entry === undefined ? undefined : this.byErrorMap(op, copy, deadline, attempt, frame, pipeline!, entry)
  }

  /** A status this client does not know, handled as the node's error map says (see `ErrorMap.ts`). */
  private byErrorMap(
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    attempt: number,
    frame: Frame,
    pipeline: Pipeline,
    entry: ErrorMapEntry
  ): Effect.Effect<any, any> {
    if (entry.attrs.has("fetch-config")) this.requestRefresh()
    if (entry.attrs.has("conn-state-invalidated")) {
      // Not inside the frame dispatch that got here: the node's owner reconnects once it is closed.
      this.owner.fork(Effect.sync(() => pipeline.close()))
    }
    const error = new ProtocolError({
      key: op.key,
      status: frame.status,
      message: `${pipeline.remote} answered status 0x${frame.status.toString(16)}, which its error map calls ${ErrorMap.describe(entry)} [${[...entry.attrs].join(", ")}]`
    })
    if (!ErrorMap.isRetryable(entry) || !isRetryable(op)) return Effect.fail(error)
    const spec = entry.retry
    if (spec === undefined) return this.later(op, copy, deadline, attempt, error)
    // The schedule of the map, for at most its max-duration (counted from the first
    // retry: the narrowed deadline is passed on) and never past the operation's deadline.
    const until =
      spec.maxDuration === undefined || spec.maxDuration === 0
        ? deadline
        : Math.min(deadline, now(this.iops) + spec.maxDuration)
    const delay = ErrorMap.retryDelay(spec, attempt)
    if (now(this.iops) + delay >= until) return Effect.fail(error)
    return Effect.zipRight(
      Effect.zipRight(retryLog(op, attempt, delay, error), iopsSleep(this.iops, delay)),
      this.execute(op, copy, until, attempt)
    )
  }

  /** Retries after a backoff, or fails with `lastError` when the deadline does not leave time. */
  later(
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    attempt: number,
    lastError: CouchbaseErrorBase | undefined
  ): Effect.Effect<any, any> {
    return Effect.suspend(() => {
      const delay = backoffDelay(attempt)
      if (now(this.iops) + delay >= deadline) {
        return Effect.fail(
          lastError ?? new NetworkError({ key: op.key, message: "the operation could not be retried in time" })
        )
      }
      // On the Iops's timers, like the deadlines: a loop with its own clock drives both.
      return Effect.zipRight(
        Effect.zipRight(retryLog(op, attempt, delay, lastError), iopsSleep(this.iops, delay)),
        this.execute(op, copy, deadline, attempt)
      )
    })
  }

  /** The outcome of a mutation with durability: the result once durability is observed. */
  withDurability(
    op: PreparedOp<any, any>,
    outcome: Either.Either<any, any> | Effect.Effect<never>
  ): Effect.Effect<any, any> {
    if (!isOutcome(outcome) || Either.isLeft(outcome) || this.durability === undefined) return outcome
    const result = outcome.right as { readonly cas: bigint; readonly success: boolean }
    if (!result.success) return outcome
    return Effect.as(this.durability(op, result.cas), result)
  }

  /**
   * Reads from the replicas in turn (replica 0 first) until one answers with the
   * value; the last error when none does.
   */
  anyReplica<R, E>(op: PreparedOp<any, any>): Effect.Effect<R, E | ArgumentError> {
    return Effect.suspend((): Effect.Effect<R, E | ArgumentError> => {
      const replicas = this.router.numReplicas
      if (replicas === 0) {
        return Effect.fail(
          new ArgumentError({ key: op.key, message: `${op.name}: the bucket has no replicas to read from` })
        )
      }
      const deadline = this.deadline()
      // A failure or a quiet miss moves on to the next replica; the last one's outcome stands.
      const attempt = (copy: number): Effect.Effect<R, E> =>
        copy === replicas
          ? this.execute<R, E>(op, copy, deadline)
          : Effect.matchEffect(this.execute<R, E>(op, copy, deadline), {
              onFailure: () => attempt(copy + 1),
              onSuccess: (result) =>
                (result as { readonly success: boolean }).success ? Effect.succeed(result) : attempt(copy + 1)
            })
      return attempt(1)
    })
  }

  // ---------------------------------------------------------------------------
  // Multi-key operations
  // ---------------------------------------------------------------------------

  /**
   * Runs several keys' operations as one pipelined batch per node. `quiet` gets of
   * two or more keys per node go as quiet gets closed by a NOOP. The outcome is the
   * `MultiResult`, or the first failing key's error carrying every key's result.
   * `ops` belongs to the run from then on: it is emptied once the results are
   * assembled (see `MultiRun.release`).
   */
  executeMulti<E>(
    ops: ReadonlyArray<PreparedOp<any, any>>,
    options: { readonly copy?: number | undefined; readonly quietBatch?: boolean | undefined } = {}
  ): Effect.Effect<MultiResult<any>, E> {
    return Effect.async<MultiResult<any>, E>((resume) => {
      const fiber = Fiber.getCurrentFiber()
      const progress = fiber._tag === "Some" ? fiber.value.getFiberRef(KeyProgress) : undefined
      const run = this.runMulti(ops, options.copy ?? 0, options.quietBatch === true, progress, resume)
      return Effect.sync(() => run.cancel())
    })
  }

  /**
   * Sends the batches of a multi-key operation (see {@link executeMulti}) and returns
   * its run, which resumes `resume` once with the assembled outcome (an `Either`), or
   * with the Effect that finishes keys still waiting (retries, durability); each key's
   * outcome goes to `progress` as it arrives.
   */
  runMulti(
    ops: ReadonlyArray<PreparedOp<any, any>>,
    copy: number,
    quietBatch: boolean,
    progress: KeyObserver | undefined,
    resume: Resume
  ): MultiRun {
    const run = new MultiRun(ops, this.deadline(), resume, (r) => this.finishMulti(r), progress)
    this.dispatchMulti(run, copy, quietBatch)
    return run
  }

  private dispatchMulti(run: MultiRun, copy: number, quietBatch: boolean): void {
    const ops = run.ops
    if (this.closed) {
      const error = new NetworkError({ message: "the connection is closed; open a new one" })
      for (let i = 0; i < ops.length; i++) run.settle(i, Either.left(error))
      return
    }
    const router = this.router
    // Quiet batches: per node, the keys that have a quiet form.
    const batches = quietBatch
      ? new Map<NodeConnection, { indexes: Array<number>; vbuckets: Array<number> }>()
      : undefined
    const sendQuiet = (node: NodeConnection, batch: { indexes: Array<number>; vbuckets: Array<number> }): void => {
      const request = new QuietBatchRequest(this, run, batch.indexes, batch.vbuckets)
      request.node = node
      run.requests.push(request)
      node.send(request)
    }
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      const vbucket = router.vbucket(op.routingKey)
      const server = router.server(op.routingKey, vbucket, copy)
      const node = server < 0 ? undefined : this.nodes[server]
      if (node === undefined) {
        // Same path as a single key: it waits for a map or fails.
        run.defer(i, copy > 0 ? this.execute(op, copy, run.deadline) : this.later(op, copy, run.deadline, 1, undefined))
        continue
      }
      if (batches !== undefined && op.hasQuietForm) {
        let batch = batches.get(node)
        if (batch === undefined) batches.set(node, (batch = { indexes: [], vbuckets: [] }))
        batch.indexes.push(i)
        batch.vbuckets.push(vbucket)
        if (batch.indexes.length === QUIET_CHUNK) {
          // The node starts on these while the rest are routed and encoded.
          batches.delete(node)
          sendQuiet(node, batch)
          node.flushNow()
        }
        continue
      }
      const request = new MultiKeyRequest(this, run, i, op, copy)
      request.vbucket = vbucket
      request.node = node
      run.requests.push(request)
      node.send(request)
    }
    if (batches === undefined) {
      flushAll(run.requests)
      return
    }
    for (const [node, batch] of batches) {
      if (batch.indexes.length === 1) {
        // One key gains nothing from a NOOP.
        const i = batch.indexes[0]!
        const request = new MultiKeyRequest(this, run, i, ops[i]!, copy)
        request.vbucket = batch.vbuckets[0]!
        request.node = node
        run.requests.push(request)
        node.send(request)
        continue
      }
      sendQuiet(node, batch)
    }
    flushAll(run.requests)
  }

  private finishMulti<E>(run: MultiRun): Effect.Effect<MultiResult<any>, E> {
    const ops = run.ops
    const outcomes = run.outcomes
    const needsDurability = this.durability !== undefined && ops.some((op) => op.durability !== undefined)
    if (run.deferred.length === 0 && !needsDurability) {
      const assembled = assembleMulti(ops, outcomes as Array<Either.Either<any, any>>)
      run.release()
      return assembled as Effect.Effect<MultiResult<any>, E>
    }
    return Effect.gen(this, function* () {
      yield* Effect.forEach(
        run.deferred,
        ([index, effect]) =>
          Effect.map(Effect.either(effect), (outcome) => {
            outcomes[index] = outcome
            run.progress?.(ops[index]!.key, outcome)
          }),
        { concurrency: "unbounded", discard: true }
      )
      if (needsDurability) {
        yield* Effect.forEach(
          ops,
          (op, index) => {
            const outcome = outcomes[index]!
            if (op.durability === undefined || Either.isLeft(outcome) || !outcome.right.success) return Effect.void
            return Effect.map(Effect.either(this.durability!(op, outcome.right.cas)), (d) => {
              if (Either.isLeft(d)) outcomes[index] = d
            })
          },
          { concurrency: "unbounded", discard: true }
        )
      }
      const assembled = assembleMulti(ops, outcomes as Array<Either.Either<any, any>>)
      run.release()
      return yield* assembled
    }) as Effect.Effect<MultiResult<any>, E>
  }
}

/** Writes a multi operation's batch on each node it went to, without waiting for the next turn. */
const flushAll = (requests: ReadonlyArray<{ readonly node: NodeConnection | undefined }>): void => {
  let last: NodeConnection | undefined
  for (const request of requests) {
    if (request.node !== last) {
      last = request.node
      last?.flushNow()
    }
  }
}

/** The debug log line of a retry, in the operation's fiber (its logger and annotations). */
const retryLog = (
  op: PreparedOp<any, any>,
  attempt: number,
  delay: number,
  error: CouchbaseErrorBase | undefined
): Effect.Effect<void> =>
  Effect.logDebug(
    `retrying ${op.name} of ${JSON.stringify(op.key)} (attempt ${attempt + 1}) in ${delay} ms${
      error === undefined ? "" : ` after ${error._tag}: ${error.message}`
    }`
  ).pipe(Effect.annotateLogs({ "couchbase.operation": op.name, "couchbase.retry.attempt": attempt + 1 }))

/**
 * Whether ETMPFAIL/EBUSY may be retried for `op`. Not for lock and unlock: there a
 * temporary failure means "locked" or "wrong lock CAS" on servers without XERROR,
 * which waiting does not fix.
 */
const isRetryable = (op: PreparedOp<any, any>): boolean => !(op instanceof LockOp || op instanceof UnlockOp)

/** The statuses this client handles itself; the error map is read only for others (SDK RFC 0013). */
const KNOWN_STATUSES: ReadonlySet<number> = new Set<number>(Object.values(Status))
