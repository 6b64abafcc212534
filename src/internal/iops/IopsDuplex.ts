/**
 * An {@link Iops.Socket} as a Node `Duplex`, so that a maintained HTTP client
 * (`node:http` through an agent's `createConnection`) frames requests and responses
 * over sockets and timers of the Iops, whatever loop runs them.
 *
 * - **Reading.** While the stream wants data (`_read`) its one {@link IOEvent} watches
 *   for read readiness; on delivery every available chunk is pushed, until `push`
 *   says stop (back-pressure: the watch is dropped until the next `_read`).
 *   End-of-stream ends the readable side; a socket error destroys the stream with it.
 * - **Writing.** Each chunk goes to `socket.write`; when that reports a full buffer
 *   the write's callback waits for write readiness.
 * - **Idle timeout.** `setTimeout(ms)` arms a {@link TimerEvent} of the Iops and emits
 *   `'timeout'` after `ms` without reads or writes, as a `net.Socket` does (an HTTP
 *   agent uses it to close idle kept-alive sockets).
 * - The other `net.Socket` knobs an HTTP client calls (`setNoDelay`, `setKeepAlive`,
 *   `ref`, `unref`) do nothing: the Iops decides what keeps its loop alive.
 *
 * @internal
 */
import { Duplex } from "node:stream"
import { NetworkError } from "../../Errors.js"
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
} from "./core.js"
import { EOF, type IOEvent, LCB_READ_EVENT, LCB_WRITE_EVENT, type TimerEvent } from "./events.js"

/** See the module documentation. */
export class IopsDuplex extends Duplex {
  /** The peer's host, as given to `connect`. */
  readonly remoteAddress: string
  /** The peer's port. */
  readonly remotePort: number
  /** The local port. */
  readonly localPort: number
  /** Whether the socket is TLS (what `node:http` reads from a TLS socket). */
  readonly encrypted: boolean
  /** Never connecting: the socket is handed over connected. */
  readonly connecting = false
  /** The idle timeout in milliseconds (0: none), as `net.Socket.timeout`. */
  timeout = 0

  private readonly event: IOEvent
  private timer: TimerEvent | undefined
  private wantsData = false
  private pendingWrite: ((error?: Error | null) => void) | undefined
  private lastActivity = 0

  constructor(
    private readonly iops: Iops.Service,
    readonly socket: Iops.Socket
  ) {
    // A net.Socket ends its writable side when the peer ends (allowHalfOpen false).
    super({ allowHalfOpen: false })
    this.remoteAddress = socket.remoteHost
    this.remotePort = socket.remotePort
    this.localPort = socket.localPort
    this.encrypted = socket.secure
    this.event = makeIOEvent(iops)
    this.event.socket = socket
    this.event.onReady = this.onReady
    try {
      iops.startWatching()
    } catch (thrown) {
      const error = iopsCallError("startWatching", thrown)
      queueMicrotask(() => this.destroy(error))
    }
  }

  override _read(): void {
    this.wantsData = true
    this.watch()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch()
    if (this.socket.write(chunk)) callback()
    else {
      this.pendingWrite = callback
      this.watch()
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.close()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    destroyEvent(this.iops, this.event)
    if (this.timer !== undefined) destroyTimer(this.iops, this.timer)
    this.socket.destroy()
    const write = this.pendingWrite
    this.pendingWrite = undefined
    write?.(error ?? new NetworkError({ message: "the socket was closed" }))
    callback(error)
  }

  /**
   * Emits `'timeout'` after `ms` milliseconds without reads or writes, like
   * `net.Socket`: `callback` listens for it; `0` disarms, and removes `callback`.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms
    if (ms <= 0) {
      if (callback !== undefined) this.off("timeout", callback)
      if (this.timer !== undefined) this.guard(() => cancelTimer(this.iops, this.timer!))
      return this
    }
    if (callback !== undefined) this.once("timeout", callback)
    if (this.timer === undefined) {
      this.timer = makeTimerEvent(this.iops)
      this.timer.onReady = this.onTimer
    }
    this.lastActivity = now(this.iops)
    this.guard(() => scheduleTimer(this.iops, this.timer!, ms * 1000))
    return this
  }

  /** Nothing to do: the Iops sets its sockets up. */
  setNoDelay(): this {
    return this
  }

  /** Nothing to do: the Iops sets its sockets up. */
  setKeepAlive(): this {
    return this
  }

  /** Nothing to do: the Iops decides what keeps its loop alive. */
  ref(): this {
    return this
  }

  /** Nothing to do: the Iops decides what keeps its loop alive. */
  unref(): this {
    return this
  }

  private readonly onReady = (flags: number): void => {
    if ((flags & LCB_WRITE_EVENT) !== 0 && this.pendingWrite !== undefined) {
      const write = this.pendingWrite
      this.pendingWrite = undefined
      write()
    }
    if ((flags & LCB_READ_EVENT) !== 0 && this.wantsData) this.pull()
    this.watch()
  }

  private pull(): void {
    while (this.wantsData && !this.destroyed) {
      const got = this.socket.read()
      if (got === null) return
      if (got === EOF) {
        this.wantsData = false
        this.push(null)
        return
      }
      if (got instanceof NetworkError) {
        this.destroy(got)
        return
      }
      this.touch()
      if (!this.push(got)) this.wantsData = false
    }
  }

  private watch(): void {
    if (this.destroyed) return
    const flags = (this.wantsData ? LCB_READ_EVENT : 0) | (this.pendingWrite !== undefined ? LCB_WRITE_EVENT : 0)
    this.guard(() => watchEvent(this.iops, this.event, flags))
  }

  /** A call into the Iops: when the implementation throws, the stream ends with that as its error. */
  private guard(call: () => void): void {
    try {
      call()
    } catch (thrown) {
      this.destroy(thrown instanceof NetworkError ? thrown : iopsCallError("event loop", thrown))
    }
  }

  private touch(): void {
    if (this.timeout > 0) this.lastActivity = now(this.iops)
  }

  private readonly onTimer = (): void => {
    if (this.destroyed || this.timeout <= 0 || this.timer === undefined) return
    const idle = now(this.iops) - this.lastActivity
    if (idle >= this.timeout) {
      this.emit("timeout")
      return
    }
    this.guard(() => scheduleTimer(this.iops, this.timer!, (this.timeout - idle) * 1000))
  }
}
