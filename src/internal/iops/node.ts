/**
 * The Node implementation of the Iops contract: `net` / `tls` sockets in paused mode,
 * timers on Node's loop.
 *
 * Readiness comes from the stream's own signals: read readiness from `'readable'`
 * (plus `'end'`, `'error'`, `'close'`), write readiness from "not needing drain" and
 * `'drain'`. Node emits those from its loop, never from inside our `read` or `write`,
 * so they are delivered on the spot; a condition that already holds when a watch is
 * requested is delivered on the next `setImmediate` turn instead, to keep
 * `updateEvent` free of re-entrant callbacks.
 *
 * @internal
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect } from "effect"
import type { ConnectError, NetworkError, UnknownHostError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import { performanceNow } from "./core.js"
import { connectFailure, socketFailure } from "./errors.js"
import { EOF, type IOEvent, LCB_READ_EVENT, LCB_WRITE_EVENT, PYCBC_EVACTION_WATCH, type TimerEvent } from "./events.js"

/** Options of the Node Iops. */
export interface NodeIopsOptions {
  /** Disable Nagle's algorithm (default `true`: requests are already coalesced per tick). */
  readonly noDelay?: boolean | undefined
  /** TCP keep-alive (default `true`). */
  readonly keepAlive?: boolean | undefined
  /** The sockets' buffer high-water mark in bytes (default Node's, 16 KiB). */
  readonly highWaterMark?: number | undefined
}

/** A connected Node socket behind the Iops.Socket interface. */
export class NodeSocket implements Iops.Socket {
  private watcher: IOEvent | undefined = undefined
  private mask = 0
  private checkQueued = false
  private ended = false
  private closed = false
  private writeClosed = false
  private failure: NetworkError | undefined = undefined

  constructor(
    readonly stream: net.Socket,
    readonly remoteHost: string,
    readonly remotePort: number,
    readonly secure: boolean
  ) {
    stream.on("readable", this.onReadable)
    stream.on("drain", this.onActivity)
    stream.on("end", () => {
      this.ended = true
      this.onActivity()
    })
    // The listener also keeps an 'error' from being thrown as uncaught.
    stream.on("error", (error) => {
      this.failure ??= socketFailure(remoteHost, remotePort, error)
      this.onActivity()
    })
    stream.on("close", () => {
      this.closed = true
      this.onActivity()
    })
  }

  get localPort(): number {
    return this.stream.localPort ?? 0
  }

  get writableLength(): number {
    return this.stream.writableLength
  }

  /** The conditions that hold now, as an LCB event mask. */
  conditions(): number {
    const dead = this.failure !== undefined || this.closed
    let flags = 0
    if (dead || this.ended || this.stream.readableLength > 0) flags |= LCB_READ_EVENT
    if (dead || this.writeClosed || !this.stream.writableNeedDrain) flags |= LCB_WRITE_EVENT
    return flags
  }

  read(): Iops.ReadResult {
    const chunk = this.stream.read() as Buffer | null
    if (chunk !== null) return chunk
    if (this.failure !== undefined) return this.failure
    if (this.ended || this.closed) return EOF
    return null
  }

  write(bytes: Uint8Array): boolean {
    if (this.failure !== undefined || this.closed || this.writeClosed) return false
    return this.stream.write(bytes)
  }

  close(): void {
    if (this.writeClosed || this.closed) return
    this.writeClosed = true
    const stream = this.stream
    // Destroy once the end-of-stream is flushed rather than wait for the peer's.
    stream.end(() => stream.destroy())
  }

  destroy(): void {
    this.writeClosed = true
    this.stream.destroy()
  }

  /** WATCH: remember the event; deliver on the next turn if a condition already holds. */
  watch(event: IOEvent, mask: number): void {
    this.watcher = event
    this.mask = mask
    if ((mask & this.conditions()) !== 0 && !this.checkQueued) {
      this.checkQueued = true
      setImmediate(this.check)
    }
  }

  /** UNWATCH / CLEANUP: forget the event. */
  unwatch(event: IOEvent): void {
    if (this.watcher !== event) return
    this.watcher = undefined
    this.mask = 0
  }

  private readonly check = (): void => {
    this.checkQueued = false
    this.onActivity()
  }

  private readonly onReadable = (): void => {
    // At end-of-stream Node emits 'readable' with nothing buffered and only emits
    // 'end' once someone calls read(); do that here so EOF becomes visible.
    if (this.stream.readableLength === 0 && !this.ended) {
      const chunk: Buffer | null = this.stream.read()
      // Nothing was buffered, but never lose bytes a transform might push synchronously.
      if (chunk !== null) this.stream.unshift(chunk)
    }
    this.onActivity()
  }

  private readonly onActivity = (): void => {
    const event = this.watcher
    if (event === undefined) return
    const flags = this.mask & this.conditions()
    if (flags === 0) return
    // Non-repeatable: forget the watch before handing the event over.
    this.watcher = undefined
    this.mask = 0
    event.ready(flags)
  }
}

interface NodeTimerSlot {
  handle: ReturnType<typeof setTimeout> | undefined
  readonly due: number
}

const asNodeSocket = (event: IOEvent): NodeSocket => {
  const socket = event.socket
  if (!(socket instanceof NodeSocket)) {
    throw new TypeError("Iops (node): the IOEvent's socket was not opened by this Iops")
  }
  return socket
}

const updateEvent = (event: IOEvent, action: number, flags: number): void => {
  const socket = event.socket
  if (action === PYCBC_EVACTION_WATCH) {
    asNodeSocket(event).watch(event, flags)
    return
  }
  if (socket instanceof NodeSocket) socket.unwatch(event)
  event.data = undefined
}

const updateTimer = (timer: TimerEvent, action: number, usecs: number): void => {
  const previous = timer.data as NodeTimerSlot | undefined
  if (previous?.handle !== undefined) clearTimeout(previous.handle)
  timer.data = undefined
  if (action !== PYCBC_EVACTION_WATCH) return
  const slot: NodeTimerSlot = { handle: undefined, due: performance.now() + usecs / 1000 }
  const fire = (): void => {
    // Node's timers run on the loop's cached time and may fire a little early by
    // performance.now(); the contract says "no earlier than", so wait out the rest.
    const left = slot.due - performance.now()
    if (left > 0) {
      slot.handle = setTimeout(fire, Math.ceil(left))
      return
    }
    slot.handle = undefined
    if (timer.data !== slot) return
    timer.data = undefined
    timer.ready(0)
  }
  slot.handle = setTimeout(fire, Math.ceil(usecs / 1000))
  timer.data = slot
}

const tlsConnectOptions = (
  options: Iops.ConnectOptions,
  settings: Iops.TlsOptions,
  base: net.TcpNetConnectOpts
): tls.ConnectionOptions => {
  const out: tls.ConnectionOptions = { ...base }
  const servername = settings.servername ?? (net.isIP(options.host) === 0 ? options.host : undefined)
  if (servername !== undefined) out.servername = servername
  if (settings.ca !== undefined)
    out.ca = Array.isArray(settings.ca) ? [...settings.ca] : (settings.ca as string | Buffer)
  if (settings.rejectUnauthorized !== undefined) out.rejectUnauthorized = settings.rejectUnauthorized
  return out
}

/** Builds the Node Iops service. */
export const makeNodeIops = (options: NodeIopsOptions = {}): Iops.Service => {
  const connect = (target: Iops.ConnectOptions): Effect.Effect<Iops.Socket, ConnectError | UnknownHostError> =>
    Effect.async<Iops.Socket, ConnectError | UnknownHostError>((resume) => {
      const { host, port } = target
      const secure = target.tls !== undefined && target.tls !== false
      // `highWaterMark` is passed on to the stream constructor (not in the typings).
      const base: net.TcpNetConnectOpts & { highWaterMark?: number } = {
        host,
        port,
        noDelay: options.noDelay ?? true,
        keepAlive: options.keepAlive ?? true
      }
      if (options.highWaterMark !== undefined) base.highWaterMark = options.highWaterMark
      let stream: net.Socket
      try {
        stream = secure
          ? tls.connect(tlsConnectOptions(target, typeof target.tls === "object" ? target.tls : {}, base))
          : net.connect(base)
      } catch (error) {
        // Invalid arguments (e.g. a port out of range) throw synchronously.
        resume(Effect.fail(connectFailure(host, port, error, secure)))
        return
      }
      const readyEvent = secure ? "secureConnect" : "connect"
      const cleanup = (): void => {
        stream.off(readyEvent, onReady)
        stream.off("error", onError)
      }
      const onReady = (): void => {
        cleanup()
        resume(Effect.succeed(new NodeSocket(stream, host, port, secure)))
      }
      const onError = (error: unknown): void => {
        cleanup()
        stream.destroy()
        resume(Effect.fail(connectFailure(host, port, error, secure)))
      }
      stream.once(readyEvent, onReady)
      stream.once("error", onError)
      return Effect.sync(() => {
        cleanup()
        // Keep a listener so a late 'error' of the abandoned socket is not uncaught.
        stream.on("error", () => {})
        stream.destroy()
      })
    })

  return {
    name: "node",
    updateEvent,
    updateTimer,
    startWatching: () => {},
    stopWatching: () => {},
    now: performanceNow,
    connect
  }
}
