/**
 * The pipeline requests of the key/value client: how one key's operation, a multi
 * operation's keys, a pipelined quiet multi-get, an OBSERVE and a STAT travel over a
 * {@link Pipeline} and come back as the outcome the operation resumes with.
 *
 * These are plain classes with callbacks: one object per key (or per batch) and no
 * Effect until the operation's `Effect.async` is resumed. A response that asks for a
 * retry (NOT_MY_VBUCKET, ETMPFAIL, EBUSY) is turned by the {@link Core} into the
 * Effect that retries, so the common path never allocates one.
 *
 * @internal
 */
import { Effect, Either, Exit } from "effect"
import type { CouchbaseErrorBase } from "../../Errors.js"
import type { ObserveInfo } from "../../Result.js"
import { now } from "../iops/core.js"
import { withKeyContext } from "../ops/multi.js"
import { decodeObserveResponse, type ObserveEntry, observeInfo } from "../ops/observe.js"
import type { PreparedOp } from "../ops/PreparedOp.js"
import * as Request from "../ops/requests.js"
import { decodeStat, type StatsCollector } from "../ops/stats.js"
import { HEADER_LENGTH, Opcode, Status } from "../protocol/constants.js"
import { type Frame, type FrameInit, writeKeyRequest } from "../protocol/Frame.js"
import type { Core } from "./Core.js"
import type { KeyObserver } from "./KeyProgress.js"
import type { NodeConnection } from "./NodeConnection.js"
import { PipelineRequest, type RequestFailure } from "./Pipeline.js"

/** The resume function of an `Effect.async`. */
export type Resume = (effect: Effect.Effect<any, any>) => void

/** An operation's outcome for one key. */
export type Outcome = Either.Either<any, any>

/**
 * Whether a delivery is an outcome (an `Either`) rather than an Effect that finishes
 * the operation. A tag check: `Either.isEither` allocates on every call (it is a
 * dual function reading `arguments`), and this runs once per key.
 */
export const isOutcome = (delivery: Delivery): delivery is Outcome => {
  const tag = (delivery as { readonly _tag?: unknown })._tag
  return tag === "Right" || tag === "Left"
}

/** Decodes without letting a decoder bug escape into the I/O loop. */
const decodeSafely = (op: PreparedOp<any, any>, frame: Frame): Outcome | Effect.Effect<never> => {
  try {
    return op.decode(frame)
  } catch (defect) {
    return Effect.die(defect)
  }
}

const EMPTY_KEY = new Uint8Array(0)

/** How an attempt taken out of its queue by an interruption is counted. */
const INTERRUPTED = { _tag: "Interrupted" } as const

/** A request bound to one key's copy: the node and vBucket it was routed to. */
abstract class KeyRequest extends PipelineRequest {
  vbucket = 0
  node: NodeConnection | undefined = undefined

  constructor(
    readonly op: PreparedOp<any, any>,
    /** 0 = master, i + 1 = replica i. */
    readonly copy: number,
    deadline: number,
    /** How many times this operation was sent before. */
    readonly attempt: number
  ) {
    super()
    this.deadline = deadline
  }

  build(opaque: number): FrameInit {
    return this.op.request(this.vbucket, opaque, this.pipeline!.features)
  }

  override selfEncodedLength(): number {
    return this.op.keyOpcode === undefined ? 0 : HEADER_LENGTH + this.op.keyLength
  }

  override encodeInto(target: Buffer, offset: number): number {
    const op = this.op
    return writeKeyRequest(target, offset, op.keyOpcode!, this.vbucket, this.opaque, op.routingKey, op.keyLength)
  }
}

/**
 * What one key's operation ends with: its outcome (`Either`), or an Effect that
 * finishes it (a retry, durability polling, a defect). An `Either` is itself an
 * Effect, so a fiber can resume with either kind as it is.
 */
export type Delivery = Outcome | Effect.Effect<any, any>

/**
 * One key's operation. Ends by delivering its result, its error, or the Effect that
 * retries it, exactly once; subclasses say where that goes.
 */
export abstract class OpRequest extends KeyRequest {
  /** When it started, on the Iops clock, when metrics are recorded (0 otherwise). */
  private readonly startedAt: number

  constructor(
    private readonly core: Core,
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    attempt: number
  ) {
    super(op, copy, deadline, attempt)
    const metrics = core.metrics
    if (metrics === undefined) this.startedAt = 0
    else {
      metrics.started()
      this.startedAt = now(core.iops)
    }
  }

  /** Receives the operation's end. */
  protected abstract deliver(delivery: Delivery): void

  onResponse(frame: Frame): boolean {
    if (frame.status !== Status.Success) {
      const retry = this.core.retryFor(this, frame)
      if (retry !== undefined) {
        this.end(retry, true)
        return true
      }
    }
    let outcome = decodeSafely(this.op, frame)
    if ((outcome as { readonly _tag?: unknown })._tag === "Left") {
      outcome = Either.left(withKeyContext((outcome as Either.Left<CouchbaseErrorBase, any>).left, this.op.key))
    }
    this.end(this.op.durability === undefined ? outcome : this.core.withDurability(this.op, outcome), false)
    return true
  }

  onFailure(error: RequestFailure): void {
    this.end(Either.left(withKeyContext(error, this.op.key)), false)
  }

  /** Fails without having been sent (no node for the key, client closed). */
  fail(error: CouchbaseErrorBase): void {
    this.ended = true
    this.end(Either.left(withKeyContext(error, this.op.key)), false)
  }

  /** Ends with `effect` without having been sent (e.g. a retry after a config change). */
  redirect(effect: Effect.Effect<any, any>): void {
    this.ended = true
    this.end(effect, true)
  }

  /**
   * Takes the request out of its node's queue when it still waits for a connection
   * (an interrupted operation is then never sent), and counts it as ended.
   */
  cancelWaiting(): void {
    const node = this.node
    if (node === undefined || this.ended) return
    node.cancel(this)
    const metrics = this.core.metrics
    if (metrics !== undefined && this.ended) {
      metrics.finished(this.op.name, node.address, now(this.core.iops) - this.startedAt, INTERRUPTED)
    }
  }

  /** Records the end in the metrics (when they are on), then delivers it. */
  private end(delivery: Delivery, retry: boolean): void {
    const metrics = this.core.metrics
    if (metrics !== undefined) {
      const error = retry
        ? "retry"
        : (delivery as { readonly _tag?: unknown })._tag === "Left"
          ? (delivery as Either.Left<any, any>).left
          : undefined
      metrics.finished(this.op.name, this.node?.address ?? "none", now(this.core.iops) - this.startedAt, error)
    }
    this.deliver(delivery)
  }
}

/** An {@link OpRequest} inside an `Effect.async`: the fiber resumes with the delivery. */
export class ResumeRequest extends OpRequest {
  constructor(
    core: Core,
    op: PreparedOp<any, any>,
    copy: number,
    deadline: number,
    attempt: number,
    private readonly resume: Resume
  ) {
    super(core, op, copy, deadline, attempt)
  }

  protected deliver(delivery: Delivery): void {
    // A success resumes the fiber with its exit: an Either would cost the fiber one
    // more step (it turns a Right into that exit itself). A failure goes as it is, so
    // that the fiber records where it failed.
    this.resume(
      (delivery as { readonly _tag?: unknown })._tag === "Right"
        ? Exit.succeed((delivery as Either.Right<any, any>).right)
        : delivery
    )
  }
}

const nothing = (): undefined => undefined

/**
 * The keys of one multi operation: each key settles with its outcome, or defers to
 * an Effect (a retry); once every key is accounted for, the run resumes with the
 * Effect that finishes the operation (retries, durability, assembly).
 */
export class MultiRun {
  readonly outcomes: Array<Outcome | undefined>
  readonly deferred: Array<readonly [index: number, effect: Effect.Effect<any, any>]> = []
  readonly requests: Array<PipelineRequest & { node: NodeConnection | undefined }> = []
  private remaining: number
  private finished = false

  constructor(
    readonly ops: ReadonlyArray<PreparedOp<any, any>>,
    readonly deadline: number,
    private readonly resume: Resume,
    private readonly finish: (run: MultiRun) => Effect.Effect<any, any>,
    /** Told each key's outcome as it arrives (see `KeyProgress`). */
    readonly progress?: KeyObserver | undefined
  ) {
    // Not `new Array(n)`: that call site is one V8 tracks, and it soon allocates the
    // array straight in the old generation (it lives across a round trip); every
    // outcome stored into it while the batch arrives then survived the minor GCs until
    // a full one. Measured over 2000 getMulti(1000) batches: GC 0.23 ms per batch and
    // 5 full GCs with `new Array`, 0.04 ms and 1 with `Array.from`; 1.26 -> 1.02 ms
    // per batch. `map` builds it in a builtin too (no tracked site), in 1.3 µs for a
    // thousand keys where `Array.from({ length })` took 37 µs.
    this.outcomes = ops.map(nothing)
    this.remaining = ops.length
  }

  /** Records key `index`'s outcome. */
  settle(index: number, outcome: Outcome): void {
    this.outcomes[index] = outcome
    this.progress?.(this.ops[index]!.key, outcome)
    this.countdown()
  }

  /** Key `index` is finished by `effect` (a retry) after the batch. */
  defer(index: number, effect: Effect.Effect<any, any>): void {
    this.deferred.push([index, effect])
    this.countdown()
  }

  /** Cancels every request still out (interruption). */
  cancel(): void {
    this.finished = true
    for (const r of this.requests) r.node?.cancel(r)
  }

  private countdown(): void {
    if (--this.remaining === 0 && !this.finished) {
      this.finished = true
      this.resume(this.finish(this))
    }
  }

  /**
   * Lets go of every key's operation, request and outcome once the results are
   * assembled. A batch's arrays live across a round trip, so V8 soon allocates them
   * straight in the old generation; a dead old array still holding a thousand young
   * objects keeps them alive through every minor GC until the next full one. Emptied,
   * they hold nothing: getMulti(1000) went from 17 full GCs to 3 over 2000 batches
   * and from 0.45 M to 0.9 M keys/s. The run owns `ops` (prepared for this run only).
   */
  release(): void {
    ;(this.ops as Array<PreparedOp<any, any>>).length = 0
    this.outcomes.length = 0
    this.requests.length = 0
    this.deferred.length = 0
  }
}

/** One key of a multi operation, sent on its own. */
export class MultiKeyRequest extends KeyRequest {
  constructor(
    private readonly core: Core,
    private readonly run: MultiRun,
    private readonly index: number,
    op: PreparedOp<any, any>,
    copy: number
  ) {
    super(op, copy, run.deadline, 0)
  }

  onResponse(frame: Frame): boolean {
    if (frame.status !== Status.Success) {
      const retry = this.core.retryFor(this, frame)
      if (retry !== undefined) {
        this.run.defer(this.index, retry)
        return true
      }
    }
    const outcome = decodeSafely(this.op, frame)
    if (isOutcome(outcome)) this.run.settle(this.index, outcome)
    else this.run.defer(this.index, outcome)
    return true
  }

  onFailure(error: RequestFailure): void {
    this.run.settle(this.index, Either.left(error))
  }
}

/**
 * A pipelined multi-get to one node: a quiet get per key, then one NOOP. Hits (and
 * errors) answer their own opaque; when the NOOP answers, the server has processed
 * every earlier request, so the keys left unanswered are misses. Saves a response
 * per miss and lets the node stream hits back to back.
 */
export class QuietBatchRequest extends PipelineRequest {
  node: NodeConnection | undefined = undefined
  private readonly answered: Uint8Array

  constructor(
    private readonly core: Core,
    private readonly run: MultiRun,
    /** Indexes into the run's keys. */
    private readonly indexes: ReadonlyArray<number>,
    private readonly vbuckets: ReadonlyArray<number>
  ) {
    super()
    this.frames = indexes.length + 1
    this.deadline = run.deadline
    this.answered = new Uint8Array(indexes.length)
  }

  override encodeFrames(opaque: number): Uint8Array | undefined {
    const ops = this.run.ops
    const indexes = this.indexes
    let length = HEADER_LENGTH
    for (let i = 0; i < indexes.length; i++) {
      const op = ops[indexes[i]!]!
      if (op.quietKeyOpcode === undefined) return undefined
      length += HEADER_LENGTH + op.keyLength
    }
    const out = Buffer.allocUnsafe(length)
    let at = 0
    for (let i = 0; i < indexes.length; i++) {
      const op = ops[indexes[i]!]!
      at = writeKeyRequest(out, at, op.quietKeyOpcode!, this.vbuckets[i]!, opaque + i, op.routingKey, op.keyLength)
    }
    writeKeyRequest(out, at, Opcode.Noop, 0, opaque + indexes.length, EMPTY_KEY)
    return out
  }

  build(opaque: number, i: number): FrameInit {
    if (i === this.indexes.length) return Request.noop(opaque)
    return this.run.ops[this.indexes[i]!]!.quietRequest(this.vbuckets[i]!, opaque, this.pipeline!.features)
  }

  onResponse(frame: Frame): boolean {
    const i = (frame.opaque - this.opaque) >>> 0
    const count = this.indexes.length
    if (i < count) {
      if (this.answered[i] === 1) return false
      this.answered[i] = 1
      const index = this.indexes[i]!
      const op = this.run.ops[index]!
      if (frame.status !== Status.Success) {
        const retry = this.core.retryOne(op, 0, this.run.deadline, 1, frame, this.pipeline)
        if (retry !== undefined) {
          this.run.defer(index, retry)
          return false
        }
      }
      const outcome = decodeSafely(op, frame)
      if (isOutcome(outcome)) this.run.settle(index, outcome)
      else this.run.defer(index, outcome)
      return false
    }
    for (let j = 0; j < count; j++) {
      if (this.answered[j] === 1) continue
      this.answered[j] = 1
      const index = this.indexes[j]!
      this.run.settle(index, this.run.ops[index]!.notFound())
    }
    return true
  }

  onFailure(error: RequestFailure): void {
    for (let j = 0; j < this.indexes.length; j++) {
      if (this.answered[j] === 1) continue
      this.answered[j] = 1
      this.run.settle(this.indexes[j]!, Either.left(error))
    }
  }
}

/** One key's place in an OBSERVE request. */
export interface ObserveTarget {
  /** Index of the key in the caller's list. */
  readonly index: number
  readonly keyBytes: Uint8Array
  readonly vbucket: number
  readonly fromMaster: boolean
}

/** OBSERVE for every key a node holds a copy of; resumes with each key's answer. */
export class ObserveRequest extends PipelineRequest {
  node: NodeConnection | undefined = undefined

  constructor(
    private readonly targets: ReadonlyArray<ObserveTarget>,
    deadline: number,
    private readonly about: string,
    private readonly resume: (
      effect: Effect.Effect<ReadonlyArray<readonly [index: number, info: ObserveInfo]>, any>
    ) => void
  ) {
    super()
    this.deadline = deadline
  }

  build(opaque: number): FrameInit {
    return Request.observe(
      opaque,
      this.targets.map((t) => ({ vbucket: t.vbucket, key: t.keyBytes }))
    )
  }

  onResponse(frame: Frame): boolean {
    const decoded = decodeObserveResponse(frame, this.about)
    if (Either.isLeft(decoded)) {
      this.resume(Effect.fail(decoded.left))
      return true
    }
    const out: Array<readonly [number, ObserveInfo]> = []
    for (const entry of decoded.right) {
      const target = this.targets.find((t) => t.vbucket === entry.vbucket && sameKey(t.keyBytes, entry))
      if (target !== undefined) out.push([target.index, observeInfo(entry, target.fromMaster)])
    }
    this.resume(Effect.succeed(out))
    return true
  }

  onFailure(error: RequestFailure): void {
    this.resume(Effect.fail(error))
  }
}

const sameKey = (key: Uint8Array, entry: ObserveEntry): boolean => Buffer.from(key).equals(entry.key)

/** STAT for one group on one node: statistics stream in until an empty-key packet ends them. */
export class StatsRequest extends PipelineRequest {
  node: NodeConnection | undefined = undefined
  private failure: any = undefined

  constructor(
    private readonly group: string,
    private readonly label: string,
    private readonly collector: StatsCollector,
    deadline: number,
    private readonly resume: (effect: Effect.Effect<void, any>) => void
  ) {
    super()
    this.deadline = deadline
  }

  build(opaque: number): FrameInit {
    return Request.stat(opaque, this.group)
  }

  onResponse(frame: Frame): boolean {
    const packet = decodeStat(frame, this.group)
    if (Either.isLeft(packet)) {
      // An error ends the group on the server too (the error response is the last).
      this.failure ??= packet.left
      this.resume(Effect.fail(this.failure))
      return true
    }
    if (packet.right._tag === "End") {
      this.resume(Effect.void)
      return true
    }
    this.collector.add(this.label, packet.right.name, packet.right.value)
    return false
  }

  onFailure(error: RequestFailure): void {
    this.resume(Effect.fail(error))
  }
}
