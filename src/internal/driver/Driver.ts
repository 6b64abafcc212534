/**
 * One connection's I/O engine, on any Iops: the piece the Connection puts between
 * its operation bookkeeping and the socket.
 *
 * - **Reading.** It owns the socket's one {@link IOEvent}, always watching for read
 *   readiness; when it fires, every available byte goes into a {@link FrameDecoder}
 *   and each complete frame goes to `onFrame`, in order, zero-copy.
 * - **Writing.** `send` only queues. The queue is flushed on a microtask queued by the
 *   first `send` after a flush, so every frame sent in the same tick (the sends of
 *   the microtasks already queued, such as fibers resumed together, included) leaves
 *   in one `write` (up to `maxBatchBytes` per write); waiting for write readiness
 *   instead cost a turn of the loop per round trip (measured: 4% of gets/s at 16 in
 *   flight). A large value is written as its own buffer instead of being copied into
 *   the batch. When `write` returns `false` the driver stops and waits for write
 *   readiness: the socket never buffers more than one batch past its high-water
 *   mark; what waits is the queue, which the caller bounds with `queuedBytes`.
 * - **Early writes.** Given the owner's count of requests in flight (`inFlight`), the
 *   driver does not hold back a peer that is short of work: while fewer than 16
 *   requests are at the peer, a quarter of the pipeline's depth (what was in flight
 *   at the last tick's batch) leaves as soon as it is queued. Otherwise a peer that
 *   has answered everything idles while the client goes through the answers and
 *   queues the next requests, and a pipeline of 16 turns into lock-step rounds.
 *   Measured against memcached: gets/s at 16 in flight 1.4–1.6×, at 4 in flight
 *   1.5×, unchanged at 256 in flight, where the peer always has work.
 * - **Time.** It owns ONE {@link TimerEvent}, armed for the earliest deadline the
 *   caller asks for (`armTimer`); when it fires the caller checks its deadlines and
 *   arms the next. No timer per operation.
 * - **Failure.** End-of-stream, a socket error or undecodable bytes end the driver:
 *   `onClose(error)` is called exactly once, the socket is destroyed, the events are
 *   cleaned up, and nothing is delivered afterwards. `close()` ends it the same way
 *   with `onClose(undefined)`.
 *
 * Everything here is plain synchronous code: no Effect per frame or per byte.
 *
 * @internal
 */
import { NetworkError, ProtocolError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import {
  cancelTimer,
  destroyEvent,
  destroyTimer,
  iopsCallError,
  makeIOEvent,
  makeTimerEvent,
  now,
  scheduleTimer,
  watchEvent
} from "../iops/core.js"
import { EOF, type IOEvent, LCB_READ_EVENT, LCB_WRITE_EVENT, type TimerEvent } from "../iops/events.js"
import { encodedLength, type Frame, type FrameInit, type SelfEncoding, writeFrame } from "../protocol/Frame.js"
import { FrameDecoder } from "../protocol/FrameDecoder.js"

/** Why a driver stopped on its own. */
export type DriverError = NetworkError | ProtocolError

/** The caller's side of a {@link Driver}. Handlers must not throw. */
export interface DriverHandlers {
  /** Each decoded frame, in order. Its buffers are views into the bytes read: copy what outlives the call. */
  readonly onFrame: (frame: Frame) => void
  /** The timer armed with `armTimer` fired: check deadlines and arm the next one. */
  readonly onTimer: () => void
  /** The driver stopped (called once): the error, or `undefined` after `close()`. */
  readonly onClose: (error: DriverError | undefined) => void
}

/** Tuning of a {@link Driver}. */
export interface DriverOptions {
  /** Largest frame body accepted from the peer (default: the decoder's, 20 MiB + 64 KiB). */
  readonly maxBodyLength?: number | undefined
  /** Upper bound of one coalesced write, in bytes (default 256 KiB; a single larger frame still goes whole). */
  readonly maxBatchBytes?: number | undefined
  /** Values at least this long are written as their own buffer, not copied (default 16 KiB). */
  readonly copyThreshold?: number | undefined
  /** Told the bytes of each chunk read and each batch written (for metrics); absent, nothing is counted. */
  readonly onTraffic?: ((read: number, written: number) => void) | undefined
  /**
   * Requests sent and not yet answered, queued ones included: with it the driver
   * writes early while the peer has little to do (see the module documentation);
   * absent, it writes once per tick.
   */
  readonly inFlight?: (() => number) | undefined
}

const DEFAULT_MAX_BATCH = 256 * 1024
const DEFAULT_COPY_THRESHOLD = 16 * 1024
/** Below this many requests at the peer, a quarter of the pipeline's depth is written as soon as it is queued. */
const EARLY_WRITE_LOAD = 16

/** What is queued: a frame's description, bytes already encoded, or a frame that encodes itself. */
type Outgoing = FrameInit | Uint8Array | SelfEncoding

const isBytes = (item: Outgoing): item is Uint8Array => item instanceof Uint8Array

/** What a queued item is replaced with when it is taken out ({@link Driver.unqueue}): writes nothing. */
const NOTHING: Uint8Array = new Uint8Array(0)

const isSelfEncoding = (item: Outgoing): item is SelfEncoding =>
  typeof (item as Partial<SelfEncoding>).encodeInto === "function"

/** See the module documentation. */
export class Driver {
  private readonly event: IOEvent
  private readonly timer: TimerEvent
  private readonly decoder: FrameDecoder
  private readonly maxBatch: number
  private readonly copyThreshold: number
  private readonly onTraffic: ((read: number, written: number) => void) | undefined
  private readonly inFlight: (() => number) | undefined
  /** Requests in flight when the last tick's batch was written: the pipeline's depth. */
  private depth = 0
  /** Requests whose last frame is queued and not yet written (for the early-write rule only). */
  private unsentRequests = 0
  /** A flush is queued as a microtask (see the module documentation). */
  private flushScheduled = false
  private queue: Array<Outgoing> = []
  private lengths: Array<number> = []
  private head = 0
  private queued = 0
  /** The sequence number of `queue[0]` (items are numbered from 0 as they are queued). */
  private seqBase = 0
  private inHandler = false
  /** The last write filled the socket's buffer: nothing more until write readiness. */
  private blocked = false
  /** An Iops call threw: the driver stops on the next microtask (see `iopsFailed`). */
  private failing = false
  /** When bytes were last read (on the Iops clock), for diagnostics; once per delivery, not per frame. */
  lastRead: number | undefined = undefined
  private timerAt: number | undefined = undefined
  private done = false

  constructor(
    private readonly iops: Iops.Service,
    readonly socket: Iops.Socket,
    private readonly handlers: DriverHandlers,
    options: DriverOptions = {}
  ) {
    this.decoder = new FrameDecoder({ maxBodyLength: options.maxBodyLength })
    this.maxBatch = options.maxBatchBytes ?? DEFAULT_MAX_BATCH
    this.copyThreshold = options.copyThreshold ?? DEFAULT_COPY_THRESHOLD
    this.onTraffic = options.onTraffic
    this.inFlight = options.inFlight
    this.event = makeIOEvent(iops)
    this.event.socket = socket
    this.event.onReady = this.onReady
    this.timer = makeTimerEvent(iops)
    this.timer.onReady = this.onTimerReady
    this.rearm()
    try {
      iops.startWatching()
    } catch (thrown) {
      this.iopsFailed(thrown, "startWatching")
    }
  }

  /** Whether the driver has stopped. */
  get closed(): boolean {
    return this.done
  }

  /** Bytes queued by `send` and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.queued
  }

  /** Items queued by `send` and not yet handed to the socket (removed ones included until written past). */
  get queuedItems(): number {
    return this.queue.length - this.head
  }

  /**
   * Takes `count` items from sequence number `seq` (what the `send` calls returned)
   * out of the queue, if none of them has been handed to the socket yet: they are
   * then never written. Returns false, removing nothing, when some already were.
   */
  unqueue(seq: number, count: number): boolean {
    const first = seq - this.seqBase
    if (this.done || first < this.head || first + count > this.queue.length) return false
    for (let i = first; i < first + count; i++) {
      this.queued -= this.lengths[i]!
      this.lengths[i] = 0
      this.queue[i] = NOTHING
    }
    return true
  }

  /** `host:port` of the peer, for messages. */
  get remote(): string {
    return `${this.socket.remoteHost}:${this.socket.remotePort}`
  }

  /** The clock the driver's timer runs on (milliseconds): deadlines are on this clock. */
  now(): number {
    return now(this.iops)
  }

  /**
   * Queues a frame for the next flush. Returns its sequence number (for
   * {@link unqueue}), or -1 (and nothing queued) once closed. `last` false: more
   * frames of the same request follow (the early-write rule counts requests).
   */
  send(init: FrameInit, last = true): number {
    if (this.done) return -1
    return this.enqueue(init, encodedLength(init), last)
  }

  /**
   * Queues a frame of `length` bytes that `item` writes itself when the batch is
   * flushed (its fields must not change until then); `false` once closed.
   */
  sendSelfEncoding(item: SelfEncoding, length: number): number {
    if (this.done) return -1
    return this.enqueue(item, length, true)
  }

  /** Queues already-encoded bytes (the caller must not modify them); as {@link send}. */
  sendBytes(bytes: Uint8Array, last = true): number {
    if (this.done) return -1
    return this.enqueue(bytes, bytes.length, last)
  }

  /**
   * Makes the timer fire no later than `deadline` (on {@link now}'s clock). A later
   * deadline than the one armed changes nothing: the caller re-arms when it fires.
   */
  armTimer(deadline: number): void {
    if (this.done) return
    if (this.timerAt !== undefined && this.timerAt <= deadline) return
    this.timerAt = deadline
    try {
      scheduleTimer(this.iops, this.timer, (deadline - now(this.iops)) * 1000)
    } catch (thrown) {
      this.iopsFailed(thrown)
    }
  }

  /** Disarms the timer (nothing left to time). */
  disarmTimer(): void {
    if (this.timerAt === undefined) return
    this.timerAt = undefined
    try {
      cancelTimer(this.iops, this.timer)
    } catch (thrown) {
      this.iopsFailed(thrown)
    }
  }

  /**
   * A call into the Iops threw: the driver stops with that as a `NetworkError`, so the
   * operations on it fail typed instead of the exception escaping into the caller or
   * the loop. The stop waits for a microtask: the call may come from inside `send` (or
   * the constructor), whose caller has yet to record what it sent, and everything it
   * recorded must be failed with the rest. (Each call site has its own try/catch: a
   * helper taking a closure cost an allocation per operation.)
   */
  private iopsFailed(thrown: unknown, what = "event loop"): void {
    if (this.failing) return
    this.failing = true
    const error = thrown instanceof NetworkError ? thrown : iopsCallError(what, thrown)
    queueMicrotask(() => this.stop(error))
  }

  /** Stops the driver: queued frames are dropped, the socket is closed, `onClose(undefined)`. */
  close(): void {
    this.stop(undefined)
  }

  private enqueue(item: Outgoing, length: number, last: boolean): number {
    const seq = this.seqBase + this.queue.length
    this.queue.push(item)
    this.lengths.push(length)
    this.queued += length
    if (last) this.unsentRequests++
    if (!this.flushScheduled) {
      this.flushScheduled = true
      queueMicrotask(this.microFlush)
    }
    // Inside a delivery the event is re-armed once at the end (and nothing is written).
    if (!this.inHandler) {
      // An early write re-arms; a full socket waits for write readiness, which needs the re-arm.
      if (last && this.inFlight !== undefined && !this.blocked && this.writesEarly()) this.flushNow()
      else this.rearm()
    }
    return seq
  }

  /**
   * Whether what is queued should leave now rather than with the tick's batch: the
   * peer has fewer than {@link EARLY_WRITE_LOAD} requests to work on and a quarter of
   * the pipeline's depth is ready (see the module documentation). Counted in requests:
   * the frames of a multi-frame request are queued with `last` false but the last.
   */
  private writesEarly(): boolean {
    const unsent = this.unsentRequests
    return unsent >= Math.max(1, this.depth >> 2) && this.inFlight!() - unsent < EARLY_WRITE_LOAD
  }

  private readonly microFlush = (): void => {
    this.flushScheduled = false
    if (this.inFlight !== undefined) this.depth = this.inFlight()
    this.flushNow()
  }

  private rearm(): void {
    if (this.done) return
    try {
      watchEvent(
        this.iops,
        this.event,
        this.head < this.queue.length ? LCB_READ_EVENT | LCB_WRITE_EVENT : LCB_READ_EVENT
      )
    } catch (thrown) {
      this.iopsFailed(thrown)
    }
  }

  private readonly onReady = (flags: number): void => {
    this.inHandler = true
    try {
      if ((flags & LCB_READ_EVENT) !== 0) this.readAvailable()
      if (!this.done && (flags & LCB_WRITE_EVENT) !== 0) {
        this.blocked = false
        this.flush()
      }
    } finally {
      this.inHandler = false
    }
    this.rearm()
  }

  private readonly onTimerReady = (): void => {
    this.timerAt = undefined
    if (!this.done) this.handlers.onTimer()
  }

  private readonly deliverFrame = (frame: Frame): void => {
    if (!this.done) this.handlers.onFrame(frame)
  }

  private readAvailable(): void {
    this.lastRead = now(this.iops)
    for (;;) {
      const result = this.socket.read()
      if (result === null) return
      if (result === EOF) {
        this.stop(
          new NetworkError({
            message: `the connection to ${this.remote} was closed by the peer; operations in flight on it may or may not have been applied`
          })
        )
        return
      }
      if (!Buffer.isBuffer(result)) {
        this.stop(result)
        return
      }
      this.onTraffic?.(result.length, 0)
      const error = this.decoder.feed(result, this.deliverFrame)
      if (error !== undefined) {
        this.stop(
          new ProtocolError({
            message: `${this.remote} sent bytes that are not a valid frame: ${error.message}`,
            cause: error
          })
        )
        return
      }
      if (this.done) return
    }
  }

  /**
   * Writes what is queued now instead of on the queued microtask: for a batch that is
   * complete as it is queued (part of a multi operation), so that the node starts on
   * it while the client encodes the next (measured: a quarter of the time of a
   * 1000-key `getMulti` went before its first byte left). Nothing happens inside a
   * delivery (the microtask flushes after it), while the socket's buffer is full, or
   * once stopped.
   */
  flushNow(): void {
    // Not after an Iops call threw either: what is queued then must fail unsent.
    if (this.done || this.failing || this.inHandler || this.blocked || this.head === this.queue.length) return
    try {
      this.flush()
    } catch (thrown) {
      // From a microtask or an operation's start, a throwing write must not escape:
      // the driver stops and what it carried fails typed.
      this.iopsFailed(thrown, "write")
      return
    }
    this.rearm()
  }

  /** Writes batches until the queue is empty or the socket asks to wait. */
  private flush(): void {
    const queue = this.queue
    const lengths = this.lengths
    let writable = true
    while (writable && this.head < queue.length) {
      const start = this.head
      let end = start
      let size = 0
      while (end < queue.length && (end === start || size + lengths[end]! <= this.maxBatch)) {
        size += lengths[end]!
        end++
      }
      writable = this.writeBatch(start, end, size)
      for (let i = start; i < end; i++) queue[i] = undefined as unknown as Outgoing
      this.head = end
      this.queued -= size
    }
    this.blocked = !writable
    if (this.head === queue.length) {
      this.unsentRequests = 0
      this.seqBase += queue.length
      this.queue = []
      this.lengths = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      this.seqBase += this.head
      this.queue = queue.slice(this.head)
      this.lengths = lengths.slice(this.head)
      this.head = 0
    }
  }

  /**
   * Writes items [start, end) as one buffer, except that a large value goes out as
   * its own buffer (after the header part) rather than being copied. Returns the
   * socket's verdict on the last write.
   */
  private writeBatch(start: number, end: number, size: number): boolean {
    const queue = this.queue
    let copied = size
    for (let i = start; i < end; i++) {
      const item = queue[i]!
      if (
        !isBytes(item) &&
        !isSelfEncoding(item) &&
        item.value !== undefined &&
        item.value.length >= this.copyThreshold
      ) {
        copied -= item.value.length
      }
    }
    const buffer = Buffer.allocUnsafe(copied)
    let offset = 0
    let from = 0
    let ok = true
    for (let i = start; i < end; i++) {
      const item = queue[i]!
      if (isBytes(item)) {
        buffer.set(item, offset)
        offset += item.length
        continue
      }
      if (isSelfEncoding(item)) {
        offset = item.encodeInto(buffer, offset)
        continue
      }
      const value = item.value
      if (value === undefined || value.length < this.copyThreshold) {
        offset = writeFrame(buffer, offset, item)
        continue
      }
      // Header, extras and key go into the batch with the body length of the whole
      // frame; then the batch so far is written, then the value itself.
      const headerAt = offset
      offset = writeFrame(buffer, offset, { ...item, value: undefined })
      buffer.writeUInt32BE(buffer.readUInt32BE(headerAt + 8) + value.length, headerAt + 8)
      this.socket.write(buffer.subarray(from, offset))
      ok = this.socket.write(value)
      from = offset
    }
    if (offset > from) ok = this.socket.write(buffer.subarray(from, offset))
    this.onTraffic?.(0, size)
    return ok
  }

  private stop(error: DriverError | undefined): void {
    if (this.done) return
    this.done = true
    this.seqBase += this.queue.length
    this.queue = []
    this.lengths = []
    this.head = 0
    this.queued = 0
    this.timerAt = undefined
    destroyEvent(this.iops, this.event)
    destroyTimer(this.iops, this.timer)
    if (error === undefined) this.socket.close()
    else this.socket.destroy()
    this.handlers.onClose(error)
  }
}
