/**
 * Operations started without a fiber, for callers outside Effect (the callback and
 * Promise adapters): the request is sent at once and its response callback settles
 * the caller's completion directly.
 *
 * A fiber per operation (`Effect.runFork`/`runPromise`) costs more than the rest of a
 * get put together. The common single-key operation needs none: it is prepared,
 * routed and sent synchronously, and its outcome is an `Either` when the response
 * arrives. Only what needs to wait on the clock or on other requests is handed to a
 * fiber, through the caller's runner: a retry (NOT_MY_VBUCKET, ETMPFAIL), durability
 * polling, replica fallback, observe, endure and stats. A multi-key operation's
 * batches are sent at once too, and its run calls back when every key is accounted
 * for; a fiber finishes it only when keys wait for a retry or for durability. The
 * errors are the same typed errors either way.
 *
 * Spans: an operation started here has none, so the adapters start operations here
 * only when their runtime's tracer is Effect's built-in one (which records nothing);
 * with a real tracer installed every operation runs in a fiber, with its span.
 *
 * @internal
 */
import { Effect } from "effect"
import type { ArgumentError } from "../../Errors.js"
import type { PreparedOp } from "../ops/PreparedOp.js"
import type { Core } from "./Core.js"
import type { KeyObserver } from "./KeyProgress.js"
import { type Delivery, isOutcome, type MultiRun, OpRequest, type Resume } from "./Requests.js"

/**
 * The tracer of Effect's default services: it records nothing anyone can read, so
 * an operation under it needs no span.
 */
export const NATIVE_TRACER = Effect.runSync(Effect.tracer)

/** Where a connection service keeps its {@link DirectStarter}. */
export const DirectStart: unique symbol = Symbol.for("effect-couchbase/DirectStart")

/** Receives an operation's result. */
export type OnSuccess = (value: any) => void

/** Receives an operation's error (a typed error, or what the runner made of a defect). */
export type OnFailure = (error: any) => void

/** What a started operation can be stopped with. */
export interface Cancelable {
  /** Stops the operation; neither callback is called afterwards. */
  cancel(): void
}

/** Runs `effect` in a fiber and calls back with its outcome (exactly one of the two callbacks). */
export type EffectRunner = (effect: Effect.Effect<any, any>, onSuccess: OnSuccess, onFailure: OnFailure) => Cancelable

/**
 * Starts operation `name` with `args`; exactly one of the callbacks is called once,
 * possibly before this returns. Returns how to cancel it, or the `ArgumentError` of
 * its arguments (nothing was started and neither callback is called). A multi-key
 * operation tells `progress` each key's outcome as it arrives (`run` is expected to
 * do the same for the Effects it runs).
 */
export type DirectStarter = (
  name: string,
  args: ReadonlyArray<unknown>,
  onSuccess: OnSuccess,
  onFailure: OnFailure,
  run: EffectRunner,
  progress?: KeyObserver | undefined
) => Cancelable | ArgumentError

/** The {@link DirectStarter} of a connection service, when it has one. */
export const directStarterOf = (service: object): DirectStarter | undefined =>
  (service as { readonly [DirectStart]?: DirectStarter })[DirectStart]

/**
 * Settles an operation with its delivery: an `Either` is the outcome itself, called
 * back at once; anything else is an Effect that finishes the operation, run with
 * `runner` (its fiber is returned), calling back only while `owner` is not cancelled:
 * the interruption that cancelling causes ends the fiber with a failure, which is not
 * the caller's to see.
 */
const settle = (
  owner: { readonly isCancelled: boolean },
  runner: EffectRunner,
  delivery: Delivery,
  succeed: OnSuccess,
  failWith: OnFailure
): Cancelable | undefined => {
  if (isOutcome(delivery)) {
    if (delivery._tag === "Right") succeed(delivery.right)
    else failWith(delivery.left)
    return undefined
  }
  return runner(
    delivery,
    (value) => {
      if (!owner.isCancelled) succeed(value)
    },
    (error) => {
      if (!owner.isCancelled) failWith(error)
    }
  )
}

/** Where a connection service keeps its {@link ArgumentCheck}. */
export const CheckArguments: unique symbol = Symbol.for("effect-couchbase/CheckArguments")

/**
 * The `ArgumentError` of calling operation `name` with `args` (the checks the
 * operation itself makes, with what the connection knows of its bucket), or
 * undefined: what the adapters throw before they start an operation as a fiber.
 */
export type ArgumentCheck = (name: string, args: ReadonlyArray<unknown>) => ArgumentError | undefined

/** The {@link ArgumentCheck} of a connection service, when it has one. */
export const argumentCheckOf = (service: object): ArgumentCheck | undefined =>
  (service as { readonly [CheckArguments]?: ArgumentCheck })[CheckArguments]

/** A {@link Cancelable} that has nothing to stop. */
export const settled: Cancelable = { cancel: () => {} }

const ignore = (): void => {}

/** One key's operation, settled by its response callback; a delivered Effect goes to a fiber. */
export class CallbackRequest extends OpRequest implements Cancelable {
  private fiber: Cancelable | undefined = undefined
  private cancelled = false

  constructor(
    core: Core,
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    private succeed: OnSuccess,
    private failWith: OnFailure,
    private readonly run: EffectRunner
  ) {
    super(core, op, copy, deadline, 0)
  }

  protected deliver(delivery: Delivery): void {
    if (this.cancelled) return
    const succeed = this.succeed
    const failWith = this.failWith
    // Let go of the caller's completion (see MultiCallback.deliver).
    this.succeed = ignore
    this.failWith = ignore
    this.fiber = settle(this, this.run, delivery, succeed, failWith)
  }

  /** Whether {@link cancel} was called. */
  get isCancelled(): boolean {
    return this.cancelled
  }

  /**
   * Stops the operation: a request still waiting for a connection is never sent, one
   * in flight is forgotten (its answer is dropped), a retry's fiber is interrupted.
   * Nothing is delivered afterwards.
   */
  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    if (this.fiber !== undefined) this.fiber.cancel()
    else this.cancelWaiting()
  }
}

/**
 * A multi-key operation's end, settled by its run (see `Core.runMulti`): the run
 * delivers the assembled outcome, or an Effect that finishes the keys still waiting
 * (retries, durability), which goes to a fiber.
 */
export class MultiCallback implements Cancelable {
  /** The run, once started. */
  run: MultiRun | undefined = undefined
  private fiber: Cancelable | undefined = undefined
  private done = false
  private cancelled = false

  constructor(
    private succeed: OnSuccess,
    private failWith: OnFailure,
    private readonly runner: EffectRunner
  ) {}

  /** What the run resumes with, exactly once (it may be before `run` is set: a closed connection fails every key at once). */
  readonly deliver: Resume = (delivery) => {
    if (this.done) return
    this.done = true
    const succeed = this.succeed
    const failWith = this.failWith
    // Let go of the caller's completion: a Promise's resolve function holds the
    // Promise, which holds the result. The run and its requests live across a round
    // trip, so V8 often moves them to the old generation, where a dead one is only
    // collected by a full GC; still pointing at the result, it kept every key's
    // result of the batch alive through the minor GCs, and V8 then allocated the
    // results straight in the old generation. Promise wrapper, getMulti(1000): 9
    // full GCs and 0.78-0.85 M keys/s holding on, 2 and 1.0-1.06 M letting go.
    this.succeed = ignore
    this.failWith = ignore
    this.fiber = settle(this, this.runner, delivery, succeed, failWith)
  }

  /**
   * Stops the operation: requests still waiting for a connection are never sent,
   * those in flight are forgotten, a finishing fiber is interrupted. Nothing is
   * delivered afterwards.
   */
  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    if (this.fiber !== undefined) this.fiber.cancel()
    else if (!this.done) {
      this.done = true
      this.run?.cancel()
    }
  }

  /** Whether {@link cancel} was called. */
  get isCancelled(): boolean {
    return this.cancelled
  }
}
