/**
 * One pipelined connection to one node: requests go out as soon as they are sent
 * (coalesced per tick by the {@link Driver}, which also writes early while the node is
 * short of work: it is told the requests in flight), responses come back in any number and
 * are matched to their request by `opaque`.
 *
 * Guarantees, which the rest of the client builds on:
 * - **Exactly once.** A request ends by exactly one of: its last response
 *   (`onResponse` returned true), its deadline (`onFailure(TimeoutError)`), the end of
 *   the connection (`onFailure` with the connection's `NetworkError` or
 *   `ProtocolError`, which names `host:port`), or {@link Pipeline.cancel}. Nothing is
 *   delivered to it afterwards; a late response to a timed-out request is dropped.
 * - **One timer.** Deadlines are checked by the driver's single timer, armed for the
 *   earliest deadline; there is no timer per request.
 * - **No Effect per frame.** Everything here is plain callbacks; the Effect boundary
 *   is the operation's `Effect.async` (see `Client.ts`).
 *
 * A request may span several consecutive opaques (`frames`): a pipelined multi-get
 * sends N quiet gets and one NOOP, and is complete when the NOOP's answer arrives.
 *
 * @internal
 */
import { Effect } from "effect"
import { ClientTemporaryFailError, NetworkError, type ProtocolError, TimeoutError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import { Driver, type DriverError } from "../driver/Driver.js"
import { isResponseMagic } from "../protocol/constants.js"
import { encodedLength, type Frame, type FrameInit } from "../protocol/Frame.js"
import type { ErrorMap } from "./ErrorMap.js"
import { OpaqueTable } from "./OpaqueTable.js"

/** Why a request ended without its response. */
export type PipelineFailure = NetworkError | ProtocolError | TimeoutError

/** What a request can end with without a response: a pipeline failure, or a node refusing to queue it. */
export type RequestFailure = PipelineFailure | ClientTemporaryFailError

/**
 * A request in a pipeline. Subclasses say what to send and what to do with the
 * answers; the pipeline owns the bookkeeping fields.
 */
export abstract class PipelineRequest {
  /** First opaque, assigned when sent. */
  opaque = 0
  /** Consecutive opaques (frames) this request sends. */
  frames = 1
  /** Absolute deadline on the Iops clock, in milliseconds. */
  deadline = Number.POSITIVE_INFINITY
  /** Set once the request has ended, whichever way. */
  ended = false
  /** The pipeline it was sent on, while it is in flight. */
  pipeline: Pipeline | undefined = undefined
  /** Where its frames wait in the driver's write queue: the first one's sequence number and how many. */
  queuedSeq = -1
  queuedCount = 0

  /** The frame with index `index` (0 … frames-1), correlated by `opaque`. */
  abstract build(opaque: number, index: number): FrameInit
  /**
   * The length of the single frame when this request writes it itself with
   * {@link encodeInto} (no {@link build} then), or 0 when it does not.
   */
  selfEncodedLength(): number {
    return 0
  }
  /** Writes the single frame (with {@link opaque}) at `offset` of `target`; see {@link selfEncodedLength}. */
  encodeInto(_target: Buffer, _offset: number): number {
    throw new Error("this request does not encode itself")
  }
  /**
   * Every frame of a multi-frame request already encoded, the first with `opaque`
   * (used instead of {@link build} when it returns bytes: one buffer for a thousand
   * keys instead of a thousand frame descriptions).
   */
  encodeFrames?(opaque: number): Uint8Array | undefined
  /** A response to one of this request's opaques; true when the request is complete. */
  abstract onResponse(frame: Frame): boolean
  /** The request ended without (all of) its response. */
  abstract onFailure(error: RequestFailure): void
}

/** The owner's side of a {@link Pipeline}. */
export interface PipelineHandlers {
  /** The connection ended (after every in-flight request was failed); `undefined` after `close()`. */
  readonly onClose?: ((error: DriverError | undefined) => void) | undefined
  /** A frame that is not a response to a request in flight (e.g. a server push); default: dropped. */
  readonly onUnmatched?: ((frame: Frame) => void) | undefined
}

/** Tuning of a {@link Pipeline}. */
export interface PipelineOptions {
  /** Largest response body accepted. */
  readonly maxBodyLength?: number | undefined
  /**
   * Bounds of the write queue (requests not yet handed to the socket, as when the node
   * stops reading): past either, a request fails at once with
   * `ClientTemporaryFailError`. A request larger than the byte bound alone is still
   * taken when the queue is empty. Defaults: 64 MiB and 65536 requests, as the
   * connection options'.
   */
  readonly maxQueuedBytes?: number | undefined
  readonly maxQueuedRequests?: number | undefined
  /** Told the bytes read and written (for metrics). */
  readonly onTraffic?: ((read: number, written: number) => void) | undefined
}

const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024
const DEFAULT_MAX_QUEUED_REQUESTS = 65_536

/** See the module documentation. */
export class Pipeline {
  private readonly driver: Driver
  private readonly maxQueuedBytes: number
  private readonly maxQueuedRequests: number
  /** Single-frame requests in flight, by opaque. */
  private readonly inFlight = new OpaqueTable<PipelineRequest>()
  /**
   * Multi-frame requests in flight (a pipelined multi-get of a thousand keys would be
   * a thousand map entries): few at a time, found by their opaque range.
   */
  private ranges: Array<PipelineRequest> = []
  private nextOpaque = 1
  private count = 0
  /** What the node acknowledged in HELLO; set by the bootstrap. */
  features: { readonly json: boolean; readonly xerror: boolean; readonly selectBucket: boolean } = {
    json: false,
    xerror: false,
    selectBucket: false
  }
  /** The node's error map, when it sent one; set by the bootstrap. */
  errorMap: ErrorMap | undefined = undefined

  constructor(
    readonly iops: Iops.Service,
    readonly socket: Iops.Socket,
    /** Replaceable: the bootstrap hands a connection over to its node's owner. */
    public handlers: PipelineHandlers = {},
    options: PipelineOptions = {}
  ) {
    this.driver = new Driver(
      iops,
      socket,
      { onFrame: this.onFrame, onTimer: this.onTimer, onClose: this.onDriverClose },
      { maxBodyLength: options.maxBodyLength, onTraffic: options.onTraffic, inFlight: () => this.count }
    )
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.maxQueuedRequests = options.maxQueuedRequests ?? DEFAULT_MAX_QUEUED_REQUESTS
  }

  /** `host:port` of the node, for messages. */
  get remote(): string {
    return this.driver.remote
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.driver.closed
  }

  /** Requests in flight. */
  get pending(): number {
    return this.count
  }

  /** When bytes last arrived on this connection (on the Iops clock), if ever. */
  get lastActivity(): number | undefined {
    return this.driver.lastRead
  }

  /** Bytes queued and not yet written (for back-pressure decisions of the owner). */
  get queuedBytes(): number {
    return this.driver.queuedBytes
  }

  /** The clock deadlines are measured on, in milliseconds. */
  now(): number {
    return this.driver.now()
  }

  /** Writes the queued requests now (see `Driver.flushNow`). */
  flushNow(): void {
    this.driver.flushNow()
  }

  /**
   * Sends `request`. Returns false, and leaves it untouched, when the connection has
   * already ended (the owner then queues it elsewhere or fails it).
   */
  send(request: PipelineRequest): boolean {
    const driver = this.driver
    if (driver.closed) return false
    const frames = request.frames
    if (driver.queuedItems + frames > this.maxQueuedRequests) return this.refuse(request, "requests")
    const opaque = this.allocate(frames)
    request.opaque = opaque
    // Building a frame may read the pipeline's features.
    request.pipeline = this
    if (frames === 1) {
      const length = request.selfEncodedLength()
      const init = length > 0 ? undefined : request.build(opaque, 0)
      if (this.overBytes(length > 0 ? length : encodedLength(init!))) return this.refuse(request, "bytes")
      // Counted before it is queued: the driver may write it at once (see `Driver`).
      this.count++
      request.queuedSeq = init === undefined ? driver.sendSelfEncoding(request, length) : driver.send(init)
      request.queuedCount = 1
      this.inFlight.add(request)
    } else {
      const bytes = request.encodeFrames?.(opaque)
      const inits = bytes === undefined ? Array.from({ length: frames }, (_, i) => request.build(opaque + i, i)) : []
      const size = bytes?.length ?? inits.reduce((sum, init) => sum + encodedLength(init), 0)
      if (this.overBytes(size)) return this.refuse(request, "bytes")
      this.count++
      if (bytes !== undefined) {
        request.queuedSeq = driver.sendBytes(bytes)
        request.queuedCount = 1
      } else {
        // One request: the driver decides on an early write at its last frame.
        request.queuedSeq = driver.send(inits[0]!, false)
        for (let i = 1; i < frames; i++) driver.send(inits[i]!, i === frames - 1)
        request.queuedCount = frames
      }
      this.ranges.push(request)
    }
    request.ended = false
    if (request.deadline !== Number.POSITIVE_INFINITY) this.driver.armTimer(request.deadline)
    return true
  }

  /** Whether `bytes` more would take the write queue past its bound (an empty queue takes anything). */
  private overBytes(bytes: number): boolean {
    const queued = this.driver.queuedBytes
    return queued > 0 && queued + bytes > this.maxQueuedBytes
  }

  /** Fails `request` at once because the write queue is full; it is handled (true). */
  private refuse(request: PipelineRequest, bound: "bytes" | "requests"): true {
    request.ended = true
    request.pipeline = undefined
    const limit = bound === "bytes" ? `${this.maxQueuedBytes} bytes` : `${this.maxQueuedRequests} requests`
    request.onFailure(
      new ClientTemporaryFailError({
        message: `the write queue to ${this.remote} is full (${limit} not yet sent: the node is not reading them fast enough); the operation was not sent, retry later`
      })
    )
    return true
  }

  /** Forgets `request` without calling it back (interruption). Its response, if any, is dropped. */
  cancel(request: PipelineRequest): void {
    if (request.pipeline !== this || request.ended) return
    this.finish(request)
  }

  /** Closes the connection: every request in flight fails with a `NetworkError` saying so. */
  close(): void {
    this.driver.close()
  }

  private allocate(frames: number): number {
    let opaque = this.nextOpaque
    // The common case: no wrap, and the next opaques free (they are unless the counter
    // has wrapped onto a request still in flight).
    if (opaque + frames <= 0xffffffff && this.isFree(opaque, frames)) {
      this.nextOpaque = opaque + frames
      return opaque
    }
    // Opaques wrap at 2^32; a wrapped counter skips ones still in flight (a request
    // that has been waiting for four billion others is long past its deadline anyway).
    for (;;) {
      if (opaque + frames > 0xffffffff) opaque = 1
      else if (this.isFree(opaque, frames)) break
      else opaque += frames
    }
    this.nextOpaque = opaque + frames
    return opaque
  }

  /** Whether no request in flight uses an opaque in [opaque, opaque + frames). */
  private isFree(opaque: number, frames: number): boolean {
    for (const r of this.ranges) if (opaque < r.opaque + r.frames && r.opaque < opaque + frames) return false
    if (frames === 1) return this.inFlight.get(opaque) === undefined
    for (let i = 0; i < frames; i++) if (this.inFlight.get(opaque + i) !== undefined) return false
    return true
  }

  /** The request in flight that sent `opaque`. */
  private requestFor(opaque: number): PipelineRequest | undefined {
    const single = this.inFlight.get(opaque)
    if (single !== undefined) return single
    for (const r of this.ranges) if (opaque >= r.opaque && opaque < r.opaque + r.frames) return r
    return undefined
  }

  private finish(request: PipelineRequest): void {
    request.ended = true
    request.pipeline = undefined
    if (request.frames === 1) this.inFlight.delete(request.opaque)
    else this.ranges = this.ranges.filter((r) => r !== request)
    this.count--
  }

  /** Every request in flight. */
  private allInFlight(): Array<PipelineRequest> {
    return [...this.inFlight.values(), ...this.ranges]
  }

  private readonly onFrame = (frame: Frame): void => {
    const request = isResponseMagic(frame.magic) ? this.requestFor(frame.opaque) : undefined
    if (request === undefined) {
      this.handlers.onUnmatched?.(frame)
      return
    }
    // Requests never throw: the client's requests turn a decoder bug into a defect of their own operation.
    if (request.onResponse(frame) && !request.ended) this.finish(request)
  }

  private readonly onTimer = (): void => {
    const now = this.driver.now()
    let next = Number.POSITIVE_INFINITY
    let expired: Array<PipelineRequest> | undefined
    for (const request of this.allInFlight()) {
      if (request.ended) continue
      if (request.deadline <= now) {
        this.finish(request)
        ;(expired ??= []).push(request)
      } else if (request.deadline < next) next = request.deadline
    }
    if (next !== Number.POSITIVE_INFINITY) this.driver.armTimer(next)
    if (expired === undefined) return
    let ambiguous: TimeoutError | undefined
    let unsent: TimeoutError | undefined
    // A request still in the write queue is taken out: it is never sent, so never
    // applied. All of them first: a callback may send, and a write it causes would take
    // the frames of a later expired request with it.
    const wasUnqueued = expired.map(
      (request) => request.queuedSeq >= 0 && this.driver.unqueue(request.queuedSeq, request.queuedCount)
    )
    for (const [i, request] of expired.entries()) {
      if (wasUnqueued[i]) {
        request.onFailure(
          (unsent ??= new TimeoutError({
            ambiguous: false,
            message: `the operation's deadline passed while its request was still queued for ${this.remote} (the node is not reading); it was not sent, so it was not applied`
          }))
        )
      } else {
        request.onFailure(
          (ambiguous ??= new TimeoutError({
            message: `no response from ${this.remote} before the operation's deadline; the operation may or may not have been applied`
          }))
        )
      }
    }
  }

  private readonly onDriverClose = (error: DriverError | undefined): void => {
    const failure =
      error ??
      new NetworkError({
        message: `the connection to ${this.remote} was closed by the client; the operation may or may not have been applied`
      })
    const requests: Array<PipelineRequest> = []
    for (const request of this.allInFlight()) {
      if (request.ended) continue
      request.ended = true
      requests.push(request)
    }
    this.inFlight.clear()
    this.ranges = []
    this.count = 0
    for (const request of requests) {
      request.pipeline = undefined
      request.onFailure(failure)
    }
    this.handlers.onClose?.(error)
  }

  /**
   * One request/response exchange as an Effect, for the handshake and other
   * infrequent commands (not the hot path). Interrupting it cancels the request.
   */
  exchange(init: Omit<FrameInit, "opaque">, deadline: number): Effect.Effect<Frame, PipelineFailure> {
    return Effect.async<Frame, PipelineFailure>((resume) => {
      const request = new SingleExchange(init, deadline, resume)
      if (!this.send(request)) {
        resume(
          Effect.fail(
            new NetworkError({ message: `the connection to ${this.remote} is closed; cannot send the request` })
          )
        )
        return
      }
      return Effect.sync(() => this.cancel(request))
    })
  }
}

/** A request answered by one frame, resumed into an Effect. */
class SingleExchange extends PipelineRequest {
  constructor(
    private readonly init: Omit<FrameInit, "opaque">,
    deadline: number,
    private readonly resume: (effect: Effect.Effect<Frame, PipelineFailure>) => void
  ) {
    super()
    this.deadline = deadline
  }

  build(opaque: number): FrameInit {
    return { ...this.init, opaque }
  }

  onResponse(frame: Frame): boolean {
    this.resume(Effect.succeed(frame))
    return true
  }

  onFailure(error: RequestFailure): void {
    // Exchanges go straight to their pipeline, never through a node's waiting queue, so
    // a refusal to queue cannot reach them; mapped only to keep the handshake's errors.
    this.resume(
      Effect.fail(
        error._tag === "ClientTemporaryFailError" ? new NetworkError({ message: error.message, cause: error }) : error
      )
    )
  }
}
