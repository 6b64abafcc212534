/**
 * The callback adapter for code outside Effect, after the Python SDK's
 * `couchbase.async` module: an {@link AsyncConnection} whose methods return an
 * {@link AsyncResult} at once; the caller sets `callback` and `errback` (or calls
 * `setCallbacks(ok, err)`) before returning to the event loop.
 *
 * - The AsyncResult is itself a `MultiResult`, empty on return and filled with each
 *   key's result as it arrives (`size`, `remaining`), as the Python SDK's was.
 * - Success calls `callback(result, asyncResult)`: the single result, or the
 *   `MultiResult` of a multi operation, and the (now complete) AsyncResult.
 * - Failure calls `errback(asyncResult, error)`; a multi operation's error carries
 *   `allResults`. A defect of the library (a bug) arrives as a {@link DefectError}; an
 *   operation interrupted from the outside (its connection or runtime shut down) as
 *   a `NetworkError`, the error of an operation started on a closed connection.
 * - Argument errors are thrown by the call itself, synchronously, before anything
 *   is sent.
 * - Callbacks always run after the call has returned (never inside it), so setting
 *   them right after the call is always in time.
 * - A result that arrives with no callback for it set, and a callback that throws,
 *   are programming errors: they are reported as an {@link AsyncResultError} to the
 *   connection's `onUnhandled` hook, which by default logs it with its message and
 *   goes on, as the Python SDK reported an exception in a callback and kept its loop
 *   running ({@link rethrowUnhandled} makes it an uncaught exception instead).
 *
 * {@link PromiseConnection} is the worked example of an integration built on top:
 * every method returns a `Promise` (argument errors become rejections there, as is
 * the custom for promise-returning functions).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AsyncResult } from "effect-couchbase"
 *
 * // Hand the connection in context to code written for callbacks.
 * const startLegacyReport = Effect.gen(function* () {
 *   const cb = yield* AsyncResult.fromContext()
 *   cb.get("user::1").setCallbacks(
 *     (result) => console.log("user::1 is", result.value),
 *     (asyncResult, error) => console.error(asyncResult.operation, "failed:", error.message)
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Data, Effect, Either, Exit, FiberId, type HKT, Redacted, Runtime, Scope } from "effect"
import { type AsyncViewBase, asyncQuery } from "./AsyncViewBase.js"
import * as ConnectionModule from "./Connection.js"
import { Connection, type OperationName, type Operations, operationNames } from "./Connection.js"
import { type ArgumentError, NetworkError } from "./Errors.js"
import { Iops } from "./Iops.js"
import {
  argumentCheckOf,
  type Cancelable,
  directStarterOf,
  type EffectRunner,
  NATIVE_TRACER,
  type OnFailure,
  type OnSuccess
} from "./internal/connection/Direct.js"
import { type KeyObserver, KeyProgress } from "./internal/connection/KeyProgress.js"
import { makeNodeIops } from "./internal/iops/node.js"
import { failedResult } from "./internal/ops/multi.js"
import { argumentErrorOf } from "./internal/ops/validate.js"
import { MultiResult, type OperationResult } from "./Result.js"
import { makeFromConnection, type View, type ViewQuery } from "./View.js"

/**
 * A programming error around callbacks: none set for a result, or one that threw.
 *
 * @since 0.1.0
 * @category errors
 */
export class AsyncResultError extends Data.TaggedError("AsyncResultError")<{
  readonly reason: "MissingCallback" | "CallbackThrew"
  /** The operation, e.g. `get("user::1")`. */
  readonly operation: string
  readonly message: string
  /** The result or error that found no callback, or what the callback threw. */
  readonly cause?: unknown
}> {}

/**
 * A defect (a bug in this library) that ended an operation; delivered to `errback`.
 *
 * @since 0.1.0
 * @category errors
 */
export class DefectError extends Data.TaggedError("DefectError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * Called on success with the operation's result.
 *
 * @since 0.1.0
 * @category models
 */
export type Callback<A> = (result: A, asyncResult: AsyncResult<A, any>) => void

/**
 * Called on failure with the AsyncResult and the error: the operation's error, a
 * {@link DefectError} for a bug, or a `NetworkError` when the operation was
 * interrupted from outside (every operation's error union already contains the latter).
 *
 * @since 0.1.0
 * @category models
 */
export type Errback<A, E> = (asyncResult: AsyncResult<A, E>, error: E | DefectError | NetworkError) => void

/**
 * Where programming errors around callbacks go; see the module documentation.
 *
 * @since 0.1.0
 * @category models
 */
export type UnhandledHandler = (error: AsyncResultError) => void

/**
 * The default {@link UnhandledHandler}: writes the error, with its message and the
 * stack of what the callback threw, to standard error, and goes on.
 *
 * @since 0.1.0
 * @category utils
 */
export const logUnhandled: UnhandledHandler = (error) => {
  const cause = error.cause instanceof Error && error.cause.stack !== undefined ? `\n${error.cause.stack}` : ""
  console.error(`effect-couchbase: ${error.message}${cause}`)
}

/**
 * An {@link UnhandledHandler} that rethrows outside any stack, as an uncaught
 * exception (which ends a Node process unless it has an `uncaughtException` handler).
 *
 * @since 0.1.0
 * @category utils
 */
export const rethrowUnhandled: UnhandledHandler = (error) => rethrowLater(error)

/** Throws `thrown` on a microtask: an uncaught exception, outside any caller's stack. */
const rethrowLater = (thrown: unknown): void => {
  queueMicrotask(() => {
    throw thrown
  })
}

/**
 * Starts the work behind an {@link AsyncResult}: calls `complete` exactly once with
 * the outcome (possibly synchronously), `progress` with each key's result as it is
 * known (optional), and returns how to cancel it.
 *
 * @since 0.1.0
 * @category models
 */
export type Starter<A, E> = (
  complete: (exit: Exit.Exit<A, E>) => void,
  progress: (key: string, result: OperationResult) => void
) => () => void

/**
 * The pending outcome of one operation, with settable callbacks. As in the Python
 * SDK, it is a {@link MultiResult}: empty when the call returns, it fills in with each
 * key's result as it completes (`size` results so far, `remaining` still expected;
 * a multi-key operation's keys arrive one by one), and it is complete when `callback`
 * or `errback` runs. Built by an {@link AsyncConnection}; integrators may build their
 * own from any {@link Starter}.
 *
 * @since 0.1.0
 * @category models
 */
export class AsyncResult<A, E = never> extends MultiResult<OperationResult> {
  /**
   * Called with the result on success.
   *
   * @since 0.1.0
   */
  callback: Callback<A> | undefined = undefined
  /**
   * Called with this object and the error on failure.
   *
   * @since 0.1.0
   */
  errback: Errback<A, E> | undefined = undefined
  private settled = false
  private cancelled = false
  private readonly cancelWork: () => void

  /**
   * How many keys the operation is about (0 for `stats`).
   *
   * @since 0.1.0
   */
  readonly expected: number

  constructor(
    /** What this is the outcome of, e.g. `get("user::1")`, for messages. */
    readonly operation: string,
    start: Starter<A, E>,
    private readonly onUnhandled: UnhandledHandler = logUnhandled,
    /** The keys the operation is about, for `remaining`. */
    keys: ReadonlyArray<string> = []
  ) {
    super()
    this.expected = keys.length
    let starting = true
    this.cancelWork = start(
      (exit) => {
        if (this.settled) return
        this.settled = true
        if (this.cancelled) return
        // An outcome known before the call returns waits until the caller has had its
        // chance to set the callbacks.
        if (starting) queueMicrotask(() => this.deliver(exit))
        else this.deliver(exit)
      },
      (key, result) => {
        if (!this.settled && !this.cancelled) this.set(key, result)
      }
    )
    starting = false
  }

  /**
   * Keys whose result has not arrived yet.
   *
   * @since 0.1.0
   */
  get remaining(): number {
    return Math.max(0, this.expected - this.size)
  }

  /**
   * Sets both callbacks; returns this object for chaining.
   *
   * @since 0.1.0
   */
  setCallbacks(callback: Callback<A>, errback: Errback<A, E>): this {
    this.callback = callback
    this.errback = errback
    return this
  }

  /** True once the outcome has arrived (or the result was cancelled). */
  get done(): boolean {
    return this.settled || this.cancelled
  }

  /**
   * Stops the operation if it is still running; no callback is called afterwards.
   *
   * @since 0.1.0
   */
  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    if (!this.settled) this.cancelWork()
  }

  /** @internal */
  private deliver(exit: Exit.Exit<A, E>): void {
    if (this.cancelled) return
    if (Exit.isSuccess(exit)) {
      this.fill(exit.value)
      const callback = this.callback
      if (callback === undefined) this.unhandled("MissingCallback", "the operation succeeded", exit.value)
      else this.invoke(() => callback(exit.value, this))
      return
    }
    const error = errorOf(exit.cause)
    const allResults = (error as { readonly allResults?: unknown }).allResults
    if (allResults instanceof Map) for (const [key, result] of allResults) this.set(key, result)
    const errback = this.errback
    if (errback === undefined) this.unhandled("MissingCallback", "the operation failed", error)
    else this.invoke(() => errback(this, error))
  }

  /** @internal */
  private fill(value: unknown): void {
    // Every key's result, from a successful outcome: a MultiResult's entries, or one key's result.
    if (value instanceof Map) {
      for (const [key, result] of value) if (isResult(result)) this.set(key, result)
    } else if (isResult(value)) {
      this.set(value.key, value)
    }
  }

  /** @internal */
  private invoke(f: () => void): void {
    try {
      f()
    } catch (thrown) {
      this.onUnhandled(
        new AsyncResultError({
          reason: "CallbackThrew",
          operation: this.operation,
          message: `a callback of ${this.operation} threw: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
          cause: thrown
        })
      )
    }
  }

  /** @internal */
  private unhandled(reason: "MissingCallback", what: string, cause: unknown): void {
    const which = what.endsWith("succeeded") ? "callback" : "errback"
    this.onUnhandled(
      new AsyncResultError({
        reason,
        operation: this.operation,
        message: `${what} but no ${which} was set for ${this.operation}: set callback and errback (or call setCallbacks) right after the call, before returning to the event loop`,
        cause
      })
    )
  }
}

const isResult = (value: unknown): value is OperationResult =>
  typeof value === "object" && value !== null && typeof (value as OperationResult).key === "string" && "rc" in value

const errorOf = <E>(cause: Cause.Cause<E>): E | DefectError | NetworkError => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return failure.value
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") {
    return new DefectError({
      message: `a defect (a bug in effect-couchbase): ${Cause.pretty(cause)}`,
      cause: defect.value
    })
  }
  // The answer of an operation on a closed connection: the handle is gone either way.
  return new NetworkError({
    message: "the operation was interrupted: its connection or runtime was shut down; open a new one",
    cause
  })
}

// ---------------------------------------------------------------------------
// AsyncConnection
// ---------------------------------------------------------------------------

/**
 * The `HKT` of {@link AsyncResult}, to write {@link Operations} over it.
 *
 * @since 0.1.0
 * @category type lambdas
 */
export interface AsyncResultTypeLambda extends HKT.TypeLambda {
  readonly type: AsyncResult<this["Target"], this["Out1"]>
}

/**
 * Every operation of the connection, returning an {@link AsyncResult}.
 *
 * @since 0.1.0
 * @category models
 */
export interface AsyncConnection<Quiet extends boolean = false, Doc = unknown>
  extends Operations<AsyncResultTypeLambda, Quiet, Doc> {
  /** The quiet default of the wrapped connection. */
  readonly quiet: Quiet
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface AsyncConnectionOptions {
  /** Where results without callbacks and throwing callbacks are reported. Default {@link logUnhandled}. */
  readonly onUnhandled?: UnhandledHandler | undefined
}

/** Calls about the cluster, not about keys. */
const KEYLESS: ReadonlySet<string> = new Set(["stats", "ping", "diagnostics", "waitUntilReady"])

/** The keys a call is about, from its first argument (none for the calls about the cluster). */
const keysOf = (name: string, args: ReadonlyArray<unknown>): ReadonlyArray<string> => {
  if (KEYLESS.has(name)) return []
  const first = args[0]
  if (typeof first === "string") return [first]
  if (Array.isArray(first)) return first.filter((k): k is string => typeof k === "string")
  if (first instanceof Map) return [...first.keys()].filter((k): k is string => typeof k === "string")
  if (first !== null && typeof first === "object") return Object.keys(first)
  return []
}

const describe = (name: OperationName, args: ReadonlyArray<unknown>): string => {
  if (KEYLESS.has(name)) return `${name}()`
  const first = args[0]
  if (typeof first === "string") return `${name}(${JSON.stringify(first)})`
  if (Array.isArray(first)) return `${name}(${first.length} keys)`
  if (first instanceof Map) return `${name}(${first.size} keys)`
  if (first !== null && typeof first === "object") return `${name}(${Object.keys(first).length} keys)`
  return `${name}()`
}

/**
 * Wraps a connection: each method checks its arguments (throwing an `ArgumentError`
 * synchronously), then starts the operation on `runtime` and returns its
 * {@link AsyncResult}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Quiet extends boolean, Doc>(
  service: Connection.Service<Quiet, Doc>,
  runtime: Runtime.Runtime<never> = Runtime.defaultRuntime,
  options: AsyncConnectionOptions = {}
): AsyncConnection<Quiet, Doc> => {
  const onUnhandled = options.onUnhandled ?? logUnhandled
  const start = starterFor(service, runtime)
  const methods: Record<string | symbol, unknown> = { quiet: service.quiet, [Start]: start }
  for (const name of operationNames) {
    methods[name] = (...args: ReadonlyArray<unknown>) => {
      let invalid: ArgumentError | undefined
      const result = new AsyncResult<unknown, unknown>(
        describe(name, args),
        (complete, progress) => {
          const started = start(
            name,
            args,
            (value) => complete(Exit.succeed(value)),
            (error) => complete(Exit.fail(error)),
            progress
          )
          if ("cancel" in started) return () => started.cancel()
          invalid = started
          return noop
        },
        onUnhandled,
        keysOf(name, args)
      )
      if (invalid !== undefined) throw invalid
      return result
    }
  }
  // One object serves every signature of Operations; the loop above is its only
  // implementation, checked by the tests of each operation.
  return methods as unknown as AsyncConnection<Quiet, Doc>
}

const noop = (): void => {}

/** Calls `callback(value)`; what it throws is rethrown on a microtask (an uncaught exception), not into the caller. */
const outsideTheFiber = <A>(callback: (value: A) => void, value: A): void => {
  try {
    callback(value)
  } catch (thrown) {
    rethrowLater(thrown)
  }
}

/** Starts operation `name`: how to cancel it, or the `ArgumentError` of its arguments. */
type OperationStarter = (
  name: string,
  args: ReadonlyArray<unknown>,
  onSuccess: OnSuccess,
  onFailure: OnFailure,
  progress?: (key: string, result: OperationResult) => void
) => Cancelable | ArgumentError

/** Where an adapter built here keeps how it starts operations (the Promise wrapper reuses it). */
const Start: unique symbol = Symbol.for("effect-couchbase/AsyncResult/Start")

/**
 * How the adapters start an operation: without a fiber when the connection can (its
 * common single-key operations and multi-key batches complete from the response
 * callbacks) and the runtime has no tracer that would record a span; otherwise as a
 * fiber on `runtime`.
 */
const starterFor = (service: Connection.Service<any, any>, runtime: Runtime.Runtime<never>): OperationStarter => {
  const runFork = Runtime.runFork(runtime)
  // The outcome is handed over from inside the fiber, which then ends with nothing: a
  // fiber that ended holding a large result (a getMulti's) kept it alive through minor
  // GCs into the old generation (measured on 1000-key batches: GC 0.17 -> 0.04 ms and
  // 1.25 -> 1.03 ms per batch). The observer reports only an end without an outcome
  // (interruption), and nothing twice. A callback that throws inside the fiber would be
  // a defect nobody sees: the exception is rethrown outside it, as an uncaught one.
  const run: EffectRunner = (effect, onSuccess, onFailure) => {
    let settled = false
    const fiber = runFork(
      Effect.matchCause(effect, {
        onSuccess: (value) => {
          settled = true
          outsideTheFiber(onSuccess, value)
        },
        onFailure: (cause) => {
          const error = errorOf(cause)
          settled = true
          outsideTheFiber(onFailure, error)
        }
      })
    )
    fiber.addObserver((exit) => {
      if (!settled && Exit.isFailure(exit)) onFailure(errorOf(exit.cause))
    })
    return { cancel: () => fiber.unsafeInterruptAsFork(FiberId.none) }
  }
  // With a progress callback, a multi-key operation reports each key as it arrives.
  // Only called with one: a function that builds a closure over its argument costs an
  // allocation on every call, even when it returns early (40 bytes per get).
  const observerOf =
    (progress: (key: string, result: OperationResult) => void): KeyObserver =>
    (key, outcome) =>
      progress(key, Either.isRight(outcome) ? outcome.right : failedResult(key, outcome.left))
  const runWith =
    (observer: KeyObserver): EffectRunner =>
    (effect, onSuccess, onFailure) =>
      run(Effect.locally(effect, KeyProgress, observer), onSuccess, onFailure)
  const direct = directStarterOf(service)
  if (direct !== undefined && Runtime.runSync(runtime)(Effect.tracer) === NATIVE_TRACER) {
    return (name, args, onSuccess, onFailure, progress) => {
      if (progress === undefined) return direct(name, args, onSuccess, onFailure, run)
      const observer = observerOf(progress)
      return direct(name, args, onSuccess, onFailure, runWith(observer), observer)
    }
  }
  // A connection of this package checks arguments as its operations do (its bucket's
  // replicas included), so that an argument error is thrown here with a tracer too.
  const check =
    argumentCheckOf(service) ??
    ((name: string, args: ReadonlyArray<unknown>) => argumentErrorOf(name as OperationName, args, Date.now()))
  return (name, args, onSuccess, onFailure, progress) => {
    const invalid = check(name, args)
    if (invalid !== undefined) return invalid
    const operation = service[name as OperationName] as (...args: Array<unknown>) => Effect.Effect<unknown, unknown>
    const effect = operation.apply(service, args as Array<unknown>)
    return progress === undefined
      ? run(effect, onSuccess, onFailure)
      : runWith(observerOf(progress))(effect, onSuccess, onFailure)
  }
}

/**
 * An {@link AsyncConnection} over the {@link Connection} in context, running on the
 * current runtime (so its operations see the same services, tracer and logger).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromContext = (
  options?: AsyncConnectionOptions
): Effect.Effect<AsyncConnection<false, unknown>, never, Connection> =>
  Effect.gen(function* () {
    const service = yield* Connection
    const runtime = yield* Effect.runtime<never>()
    return make(service, runtime, options)
  })

// ---------------------------------------------------------------------------
// The Promise wrapper: the worked example of an integration
// ---------------------------------------------------------------------------

/**
 * The `HKT` of `Promise`, to write {@link Operations} over it.
 *
 * @since 0.1.0
 * @category type lambdas
 */
export interface PromiseTypeLambda extends HKT.TypeLambda {
  readonly type: Promise<this["Target"]>
}

/**
 * Every operation returning a `Promise` of its result. A rejection's reason is the
 * operation's error (its type is the same union as the Effect's error channel, plus
 * {@link DefectError}); argument errors reject too.
 *
 * @since 0.1.0
 * @category models
 */
export interface PromiseConnection<Quiet extends boolean = false, Doc = unknown>
  extends Operations<PromiseTypeLambda, Quiet, Doc> {
  readonly quiet: Quiet
}

/**
 * The `Promise` of an {@link AsyncResult}: it sets both callbacks.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toPromise = <A, E>(result: AsyncResult<A, E>): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    result.setCallbacks(resolve, (_, error) => reject(error))
  })

/**
 * Wraps an {@link AsyncConnection} so that every operation returns a `Promise`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AsyncResult } from "effect-couchbase"
 *
 * // A Promise API over the connection in context, for a framework that wants promises.
 * const promises = Effect.map(AsyncResult.fromContext(), AsyncResult.toPromiseConnection)
 *
 * const userName = async (db: AsyncResult.PromiseConnection) => {
 *   const user = await db.get("user::1", { quiet: true })
 *   return user.success ? user.value : undefined
 * }
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toPromiseConnection = <Quiet extends boolean, Doc>(
  connection: AsyncConnection<Quiet, Doc>
): PromiseConnection<Quiet, Doc> => {
  const methods: Record<string, unknown> = { quiet: connection.quiet }
  const start = (connection as unknown as { readonly [Start]?: OperationStarter })[Start]
  for (const name of operationNames) {
    if (start !== undefined) {
      // Built by `make`: settle the Promise from the operation's completion, with no
      // AsyncResult in between.
      methods[name] = (...args: ReadonlyArray<unknown>) =>
        new Promise((resolve, reject) => {
          const started = start(name, args, resolve, reject)
          if (!("cancel" in started)) reject(started)
        })
      continue
    }
    const operation = connection[name] as (...args: Array<unknown>) => AsyncResult<unknown, unknown>
    methods[name] = (...args: ReadonlyArray<unknown>) => {
      try {
        return toPromise(operation.apply(connection, args as Array<unknown>))
      } catch (error) {
        return Promise.reject(error)
      }
    }
  }
  return methods as unknown as PromiseConnection<Quiet, Doc>
}

// ---------------------------------------------------------------------------
// Opening and closing without Effect
// ---------------------------------------------------------------------------

/**
 * Options of {@link AsyncConnection.connect}: the connection's options, with the
 * password as a plain string if need be (it is wrapped in `Redacted` at once), the
 * Iops as an object, and where callback errors go.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions extends Omit<ConnectionModule.Options, "password"> {
  /** The password: a string is accepted here and wrapped in `Redacted` before anything else sees it. */
  readonly password?: string | Redacted.Redacted<string> | undefined
  /** The I/O layer, an {@link Iops.Service} object (default: Node's sockets and timers). */
  readonly iops?: Iops.Service | undefined
  /** See {@link AsyncConnectionOptions.onUnhandled}. */
  readonly onUnhandled?: UnhandledHandler | undefined
}

/**
 * An {@link AsyncConnection} opened by {@link AsyncConnection.connect}: the operations,
 * view queries in the Python SDK's callback style, and `close()`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenAsyncConnection<Quiet extends boolean = false> extends AsyncConnection<Quiet> {
  /** The View service of the connection (rows as a `Stream`, for Effect code). */
  readonly view: View.Service
  /**
   * Python's `query(design, view, …, itercls)`: an object of `itercls` (a subclass of
   * `AsyncViewBase`) for the query, not yet started; call its `start()`. An `itercls`
   * that is not such a class throws an `ArgumentError`.
   */
  query<T extends AsyncViewBase<any, any>>(
    design: string,
    view: string,
    params: ViewQuery | undefined,
    itercls: new (view: View.Service, design: string, viewName: string, params?: ViewQuery) => T
  ): T
  /**
   * Closes the connection: operations still running fail with a `NetworkError`, later
   * calls too. Resolves (and calls `callback`) once every socket is closed; a second
   * call waits for the same close.
   */
  close(callback?: (error: Error | null) => void): Promise<void>
}

const connect = <const O extends ConnectOptions = {}>(
  options?: O,
  callback?: (error: Error | null, connection?: OpenAsyncConnection<ConnectionModule.QuietDefault<O>>) => void
): Promise<OpenAsyncConnection<ConnectionModule.QuietDefault<O>>> => {
  const opened = (async () => {
    const { iops, onUnhandled, password, ...rest } = (options ?? {}) as ConnectOptions
    const secret = typeof password === "string" ? Redacted.make(password) : password
    const scope = Effect.runSync(Scope.make())
    const exit = await Effect.runPromiseExit(
      ConnectionModule.make({ ...rest, password: secret }).pipe(
        Effect.provideService(Iops, iops ?? makeNodeIops()),
        Scope.extend(scope)
      )
    )
    if (Exit.isFailure(exit)) {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      throw Cause.squash(exit.cause)
    }
    const service = exit.value
    const view = Effect.runSync(makeFromConnection(service))
    let closing: Promise<void> | undefined
    const close = (done?: (error: Error | null) => void): Promise<void> => {
      closing ??= Effect.runPromise(Scope.close(scope, Exit.void))
      if (done !== undefined)
        closing.then(
          () => done(null),
          (error) => done(error)
        )
      return closing
    }
    return Object.assign(make(service, Runtime.defaultRuntime, { onUnhandled }), {
      view,
      query: (design: string, viewName: string, params: ViewQuery | undefined, itercls: any) =>
        asyncQuery(itercls, view, design, viewName, params),
      close
    }) as unknown as OpenAsyncConnection<ConnectionModule.QuietDefault<O>>
  })()
  if (callback !== undefined)
    opened.then(
      (c) => callback(null, c),
      (error) => callback(error)
    )
  return opened
}

/**
 * Opening a connection from code that knows nothing of Effect:
 * `AsyncConnection.connect(options)` returns a `Promise` of an
 * {@link OpenAsyncConnection}, or calls `callback(error, connection)`.
 *
 * @example
 * ```ts
 * import { AsyncConnection, toPromiseConnection } from "effect-couchbase/AsyncResult"
 *
 * const main = async () => {
 *   const cb = await AsyncConnection.connect({
 *     connectionString: "couchbase://127.0.0.1/default",
 *     username: "Administrator",
 *     password: "password"
 *   })
 *   cb.upsert("greeting", "hello").callback = (result) => console.log(result.cas)
 *   const got = await toPromiseConnection(cb).get("greeting")
 *   console.log(got.value)
 *   await cb.close()
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const AsyncConnection = { connect } as const
