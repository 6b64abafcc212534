/**
 * The client's connection to one node, across reconnects.
 *
 * While the node has an open, handshaken {@link Pipeline}, requests go straight to it.
 * Otherwise (still connecting, or reconnecting after a loss) they wait here, in
 * order, until the connection is ready or their deadline passes: operations are
 * queued, not failed, while a node connects. The queue's deadlines are watched by
 * one timer of the node, not one per request.
 *
 * When the connection is lost, the pipeline fails exactly the requests that were in
 * flight on it (each once, with its `NetworkError`), and this object reconnects in
 * the background with exponential backoff until it succeeds or is closed. A node that
 * left the cluster map is retired: it takes no new requests and closes once the
 * requests in flight on it have had time to finish.
 *
 * @internal
 */
import { Effect, Exit } from "effect"
import { ClientTemporaryFailError, TimeoutError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import { cancelTimer, destroyTimer, makeTimerEvent, now, scheduleTimer } from "../iops/core.js"
import type { TimerEvent } from "../iops/events.js"
import {
  type BootstrapError,
  closedByClient,
  type HandshakeSettings,
  type NodeInfo,
  openNode,
  type Progress
} from "./Bootstrap.js"
import { hostPort } from "./ClusterConfig.js"
import type { ClientMetrics } from "./Metrics.js"
import type { Pipeline, PipelineRequest } from "./Pipeline.js"

/** What a node needs from its client. */
export interface NodeOwner {
  readonly iops: Iops.Service
  readonly settings: HandshakeSettings
  /** How many requests may wait for a connection; more fail at once (see `Options.maxWaitingOperations`). */
  readonly maxWaiting: number
  /** Bound of one connection attempt (connect + handshake), in milliseconds. */
  readonly connectTimeout: number
  /** First and largest delay between reconnection attempts, in milliseconds. */
  readonly backoff: { readonly initial: number; readonly max: number }
  /** Runs a background Effect in the client's scope (interrupted when the client closes). */
  readonly fork: (effect: Effect.Effect<void>) => void
  /** A connection became ready (the first, or after a reconnect). */
  readonly onReady?: ((node: NodeConnection) => void) | undefined
  /** The connection's metrics, when it records them. */
  readonly metrics?: ClientMetrics | undefined
}

/** See the module documentation. */
export class NodeConnection {
  /** The open connection, when ready. */
  pipeline: Pipeline | undefined = undefined
  /** What the last handshake learned. */
  info: NodeInfo | undefined = undefined
  /** Why the last connection attempt or connection failed. */
  lastError: BootstrapError | undefined = undefined
  /** Connections made so far (1 after the first, 2 after one reconnect …). */
  generation = 0
  private waiting: Array<PipelineRequest> = []
  private readonly timer: TimerEvent
  private timerAt: number | undefined = undefined
  private connecting = false
  private retired = false
  private done = false

  constructor(
    private readonly owner: NodeOwner,
    readonly host: string,
    readonly port: number
  ) {
    this.timer = makeTimerEvent(owner.iops)
    this.timer.onReady = this.onTimer
  }

  /** `host:port`. */
  get address(): string {
    return hostPort(this.host, this.port)
  }

  /** True while a handshaken connection is open. */
  get ready(): boolean {
    return this.pipeline !== undefined && !this.pipeline.closed
  }

  /** True once closed for good. */
  get closed(): boolean {
    return this.done
  }

  /** For diagnostics: a handshaken connection, one being (re)opened, or neither. */
  get state(): "connected" | "connecting" | "disconnected" {
    return this.ready ? "connected" : this.connecting && !this.done ? "connecting" : "disconnected"
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.waiting.length
  }

  /** Writes the requests queued on the connection now rather than a turn later (a complete multi-key batch). */
  flushNow(): void {
    this.pipeline?.flushNow()
  }

  /** Sends `request` now, or queues it until the connection is ready. */
  send(request: PipelineRequest): void {
    const pipeline = this.pipeline
    if (pipeline?.send(request)) return
    if (this.done) {
      request.ended = true
      request.onFailure(closedByClient(this.address))
      return
    }
    if (this.waiting.length >= this.owner.maxWaiting) {
      request.ended = true
      request.onFailure(
        new ClientTemporaryFailError({
          message: `${this.owner.maxWaiting} operations are already waiting for the connection to ${this.address}; retry later (or raise maxWaitingOperations)`
        })
      )
      return
    }
    request.ended = false
    request.pipeline = undefined
    this.waiting.push(request)
    this.armFor(request.deadline)
    this.connect()
  }

  /** Forgets `request` (interruption), wherever it is. */
  cancel(request: PipelineRequest): void {
    if (request.ended) return
    if (request.pipeline !== undefined) {
      request.pipeline.cancel(request)
      return
    }
    const at = this.waiting.indexOf(request)
    if (at >= 0) {
      this.waiting.splice(at, 1)
      request.ended = true
    }
  }

  /** Takes over an open, handshaken connection (the bootstrap's, or a reconnect's). */
  adopt(pipeline: Pipeline, info: NodeInfo): void {
    if (this.done || this.retired) {
      pipeline.close()
      return
    }
    this.pipeline = pipeline
    this.info = info
    this.generation++
    pipeline.handlers = { onClose: (error) => this.onPipelineClose(pipeline, error) }
    const waiting = this.waiting
    this.waiting = []
    this.disarm()
    for (const request of waiting) {
      // A request may have been cancelled or timed out while it waited.
      if (!request.ended && !pipeline.send(request)) this.waiting.push(request)
    }
    this.owner.onReady?.(this)
  }

  /** Starts connecting in the background unless connected, connecting or closed. */
  connect(): void {
    if (this.connecting || this.done || this.retired || this.ready) return
    this.connecting = true
    this.owner.fork(this.reconnectLoop())
  }

  /**
   * Takes no new requests (they fail as if the node were closed) and closes after
   * `graceMillis`, so that requests in flight can still be answered.
   */
  retire(graceMillis: number): void {
    if (this.retired || this.done) return
    this.retired = true
    if (this.pipeline === undefined || this.pipeline.pending === 0) {
      this.close()
      return
    }
    this.owner.fork(Effect.sleep(graceMillis).pipe(Effect.zipRight(Effect.sync(() => this.close()))))
  }

  /** Closes for good: waiting requests and those in flight fail with a `NetworkError`. */
  close(): void {
    if (this.done) return
    this.done = true
    const error = closedByClient(this.address)
    const waiting = this.waiting
    this.waiting = []
    destroyTimer(this.owner.iops, this.timer)
    for (const request of waiting) {
      if (request.ended) continue
      request.ended = true
      request.onFailure(error)
    }
    const pipeline = this.pipeline
    this.pipeline = undefined
    pipeline?.close()
  }

  private onPipelineClose(pipeline: Pipeline, error: BootstrapError | undefined): void {
    if (this.pipeline !== pipeline) return
    this.pipeline = undefined
    if (error !== undefined) this.lastError = error
    if (!this.done && !this.retired) {
      this.owner.fork(
        Effect.logDebug(
          `the connection to ${this.address} was lost${error === undefined ? "" : `: ${error.message}`}; reconnecting`
        )
      )
      this.connect()
    }
  }

  private reconnectLoop(): Effect.Effect<void> {
    const owner = this.owner
    const progress: Progress = { address: this.address, step: "connect" }
    return Effect.gen(this, function* () {
      let delay = 0
      while (!this.done && !this.retired) {
        if (delay > 0) yield* Effect.sleep(delay)
        if (delay > 0 || this.generation > 0) owner.metrics?.reconnect(this.address)
        const deadline = now(owner.iops) + owner.connectTimeout
        const exit = yield* openNode(
          owner.iops,
          { host: this.host, port: this.port },
          owner.settings,
          progress,
          deadline
        ).pipe(
          Effect.timeoutFail({
            duration: owner.connectTimeout,
            onTimeout: () =>
              new TimeoutError({
                message: `${this.address}: ${progress.step} did not complete within ${owner.connectTimeout} ms`
              })
          }),
          Effect.exit
        )
        if (Exit.isSuccess(exit)) {
          this.connecting = false
          this.adopt(exit.value.pipeline, exit.value.info)
          yield* Effect.logDebug(`connected to ${this.address}`)
          return
        }
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") this.lastError = exit.cause.error
        delay = Math.min(Math.max(delay * 2, owner.backoff.initial), owner.backoff.max)
        yield* Effect.logDebug(
          `connecting to ${this.address} failed${this.lastError === undefined ? "" : `: ${this.lastError.message}`}; next attempt in ${delay} ms`
        )
      }
    }).pipe(Effect.ensuring(Effect.sync(() => (this.connecting = false))))
  }

  private armFor(deadline: number): void {
    if (deadline === Number.POSITIVE_INFINITY) return
    if (this.timerAt !== undefined && this.timerAt <= deadline) return
    this.timerAt = deadline
    scheduleTimer(this.owner.iops, this.timer, (deadline - now(this.owner.iops)) * 1000)
  }

  private disarm(): void {
    if (this.timerAt === undefined) return
    this.timerAt = undefined
    cancelTimer(this.owner.iops, this.timer)
  }

  private readonly onTimer = (): void => {
    this.timerAt = undefined
    const t = now(this.owner.iops)
    const expired: Array<PipelineRequest> = []
    const kept: Array<PipelineRequest> = []
    let next = Number.POSITIVE_INFINITY
    for (const request of this.waiting) {
      if (request.ended) continue
      if (request.deadline <= t) expired.push(request)
      else {
        kept.push(request)
        if (request.deadline < next) next = request.deadline
      }
    }
    this.waiting = kept
    if (next !== Number.POSITIVE_INFINITY) this.armFor(next)
    if (expired.length === 0) return
    const why = this.lastError === undefined ? "it is still connecting" : `last error: ${this.lastError.message}`
    const error = new TimeoutError({
      ambiguous: false,
      message: `could not reach ${this.address} before the operation's deadline (${why}); the operation was not sent`
    })
    for (const request of expired) {
      request.ended = true
      request.onFailure(error)
    }
  }
}
