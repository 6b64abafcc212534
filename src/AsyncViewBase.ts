/**
 * `AsyncViewBase`: the Python SDK's callback interface to view results, for code
 * outside Effect. Subclass it, implement `onRows`, `onError` and `onDone`, then
 * `start()` it (see the example below).
 *
 * It is a thin adapter over {@link View.Service.query}'s `Stream` (not a second
 * implementation): rows are handed over as the stream yields them, so a slow `onRows`
 * slows the HTTP transfer the same way. An `onRows` that returns a `Promise` is
 * waited for: the next rows come once it settles (back-pressure for asynchronous
 * consumers), and a rejection ends the query like a throw.
 *
 * The calls, in order: `onRows` zero or more times (never with no rows, never two at
 * once); then, if the query failed (or `onRows` threw or rejected), `onError` once;
 * then `onDone` once, always last, also after `cancel()`. Exceptions thrown by
 * `onError` or `onDone` are logged with their message, never thrown into the event
 * loop.
 *
 * @example
 * ```ts
 * import { AsyncViewBase } from "effect-couchbase/AsyncViewBase"
 * import type { View, ViewRow } from "effect-couchbase/View"
 *
 * class BreweryPrinter extends AsyncViewBase<ReadonlyArray<string>, unknown> {
 *   onRows(rows: ReadonlyArray<ViewRow<ReadonlyArray<string>, unknown>>) {
 *     for (const row of rows) console.log(row.key.join(" / "))
 *   }
 *   onError(error: unknown) {
 *     console.error("the query failed:", error)
 *   }
 *   onDone() {
 *     console.log(`${this.rowsReturned} of ${this.totalRows} rows`)
 *   }
 * }
 *
 * // `view` comes from View.make or View.makeFromConnection.
 * const printBreweries = (view: View.Service) =>
 *   new BreweryPrinter(view, "beer", "brewery_beers", { limit: 100 }).start()
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Chunk, Effect, Exit, Fiber, Option, Stream } from "effect"
import { AlreadyQueriedError, ArgumentError } from "./Errors.js"
import type { View, ViewError, ViewMeta, ViewQuery, ViewRow } from "./View.js"

/**
 * Options of an {@link AsyncViewBase}.
 *
 * @since 0.1.0
 * @category models
 */
export interface AsyncViewOptions {
  /** See {@link AsyncViewBase.rowsPerCall}. */
  readonly rowsPerCall?: number | undefined
}

/**
 * The base class of callback-driven view queries.
 *
 * @since 0.1.0
 * @category models
 */
export abstract class AsyncViewBase<K = unknown, V = unknown> {
  /**
   * Rows per `onRows` call: N > 0 gives batches of exactly N rows (the last may be
   * smaller); 0 (the default) hands over rows as they arrive, batch by batch;
   * −1 makes one call with every row at the end.
   *
   * @since 0.1.0
   */
  rowsPerCall: number

  private fiber: Fiber.RuntimeFiber<void, never> | undefined
  private meta: ViewMeta | undefined
  private delivered = 0

  constructor(
    /** The View service the query runs on. */
    readonly view: View.Service,
    /** The design document. */
    readonly design: string,
    /** The view's name. */
    readonly viewName: string,
    /** The query. */
    readonly params?: ViewQuery | undefined,
    options: AsyncViewOptions = {}
  ) {
    this.rowsPerCall = options.rowsPerCall ?? 0
  }

  /**
   * Called with each batch of rows (see {@link rowsPerCall}).
   *
   * @since 0.1.0
   */
  abstract onRows(rows: ReadonlyArray<ViewRow<K, V>>): void | PromiseLike<void>
  /**
   * Called once when the query fails or a callback throws; `onDone` follows.
   *
   * @since 0.1.0
   */
  abstract onError(error: ViewError | unknown): void
  /**
   * Called once, last.
   *
   * @since 0.1.0
   */
  abstract onDone(): void

  /** `total_rows`, once the query has completed. */
  get totalRows(): number | undefined {
    return this.meta?.totalRows
  }

  /** The errors the server reported in the body (with `on_error: "continue"`), once complete. */
  get errors(): ReadonlyArray<unknown> | undefined {
    return this.meta?.errors
  }

  /** `debug_info`, once complete. */
  get debug(): unknown {
    return this.meta?.debug
  }

  /** How many rows `onRows` has been given so far. */
  get rowsReturned(): number {
    return this.delivered
  }

  /** True once `start()` was called. */
  get started(): boolean {
    return this.fiber !== undefined
  }

  /** @internal */
  private deliver(rows: ReadonlyArray<ViewRow<K, V>>): Effect.Effect<void, unknown> {
    if (rows.length === 0) return Effect.void
    return Effect.suspend(() => {
      this.delivered += rows.length
      let returned: void | PromiseLike<void>
      try {
        returned = this.onRows(rows)
      } catch (thrown) {
        return Effect.fail(thrown)
      }
      if (returned === undefined || typeof (returned as PromiseLike<void>).then !== "function") return Effect.void
      // The stream waits (and so does the socket) until the consumer is done with these rows.
      return Effect.tryPromise({ try: () => Promise.resolve(returned), catch: (rejected) => rejected })
    })
  }

  /** @internal */
  private callback(name: "onError" | "onDone", f: () => void): Effect.Effect<void> {
    return Effect.try({ try: f, catch: (thrown) => thrown }).pipe(
      Effect.catchAll((thrown) => Effect.logError(`${this.constructor.name}.${name} threw: ${describeThrown(thrown)}`)),
      Effect.asVoid
    )
  }

  /**
   * Starts the query and returns at once; the callbacks follow on the event loop.
   * Throws `AlreadyQueriedError` when called twice: create a new object to query again.
   *
   * @since 0.1.0
   */
  start(): this {
    if (this.fiber !== undefined) {
      throw new AlreadyQueriedError({
        message: `this ${this.constructor.name} has already been started; create a new one to query again`
      })
    }
    const stream = this.view.query<K, V>(this.design, this.viewName, this.params)
    const n = this.rowsPerCall
    const consume: Effect.Effect<void, unknown> =
      n > 0
        ? Stream.runForEach(Stream.grouped(stream, n), (chunk) => this.deliver(Chunk.toReadonlyArray(chunk)))
        : n === 0
          ? Stream.runForEachChunk(stream, (chunk) => this.deliver(Chunk.toReadonlyArray(chunk)))
          : Effect.flatMap(Stream.runCollect(stream), (all) => this.deliver(Chunk.toReadonlyArray(all)))
    const program = consume.pipe(
      Effect.onExit((exit) =>
        Effect.gen(this, function* () {
          this.meta = Option.getOrUndefined(yield* stream.meta)
          if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
            const error = Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause))
            yield* this.callback("onError", () => this.onError(error))
          }
          yield* this.callback("onDone", () => this.onDone())
        })
      ),
      Effect.ignore
    )
    this.fiber = Effect.runFork(program)
    return this
  }

  /**
   * Stops the query (the HTTP request is aborted); `onDone` is still called.
   *
   * @since 0.1.0
   */
  cancel(): void {
    if (this.fiber !== undefined) Effect.runFork(Fiber.interrupt(this.fiber))
  }
}

/**
 * Python's `query(…, itercls=…)`: creates an object of the given {@link AsyncViewBase}
 * subclass for a query, not yet started.
 *
 * @since 0.1.0
 * @category constructors
 */
export const asyncQuery = <T extends AsyncViewBase<any, any>>(
  itercls: new (view: View.Service, design: string, viewName: string, params?: ViewQuery) => T,
  view: View.Service,
  design: string,
  viewName: string,
  params?: ViewQuery
): T => {
  // Checked at run time too, for callers without types (Python raises as well).
  if (typeof itercls !== "function" || !(itercls.prototype instanceof AsyncViewBase)) {
    throw new ArgumentError({
      message: `itercls must be a subclass of AsyncViewBase, got ${typeof itercls === "function" ? `class ${itercls.name}` : String(itercls)}`
    })
  }
  return new itercls(view, design, viewName, params)
}

const describeThrown = (thrown: unknown): string =>
  thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)
