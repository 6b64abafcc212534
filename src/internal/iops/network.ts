/**
 * The simulated network: listeners for in-process servers, connections made of two
 * one-way pipes, and a fault handle, all driven by the {@link Scheduler} on Effect's
 * `Clock`.
 *
 * Model. A write is copied and cut into pieces (by the split faults), each piece is
 * given a delivery time (now + latency + seeded jitter, never before the previous
 * piece: a pipe is FIFO like TCP) and a per-pipe pump hands pieces to the receiver
 * when they are due. The sender's window is what has been written but not yet taken
 * by the receiver (`read()` on the client, `onData` on the server); `write` returns
 * `false` once it reaches the high-water mark, so a stalled or slow reader throttles
 * its writer exactly as a TCP window would, and nothing buffers without bound.
 *
 * @internal
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import type { ConnectError, NetworkError, UnknownHostError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import { connectFailure, socketFailure, systemError } from "./errors.js"
import { EOF, type IOEvent, LCB_READ_EVENT, LCB_WRITE_EVENT } from "./events.js"
import { Prng } from "./prng.js"
import { Scheduler, type Task } from "./scheduler.js"
import { ListenError, type ServerListener, type ServerSocket } from "./serverSocket.js"

/** Options of the simulated network. */
export interface SimulatedNetworkOptions {
  /** Seed of the fault injector's randomness (random splits, jitter). Default `0x5eed`. */
  readonly seed?: number | undefined
  /** Per-direction window in bytes: `write` returns `false` beyond it. Default 64 KiB. */
  readonly highWaterMark?: number | undefined
  /** Record every delivery in `trace()` (off by default). */
  readonly trace?: boolean | undefined
}

/**
 * What a fault applies to: `"host:port"` (every connection to that listener, current
 * and future, and connection attempts to it), `"host"` (every port of the host), a
 * connection id, or anything with an `id` (a {@link ServerSocket}, a
 * {@link SimulatedNetwork.ConnectionInfo}).
 */
export type FaultTarget = string | number | { readonly id: number }

/** How a split fault cuts the byte stream. */
export type SplitPlan =
  /** Cut at these offsets, counted in bytes from the moment the fault is installed. */
  | { readonly boundaries: ReadonlyArray<number> }
  /** Cut every write into seeded random pieces of `minPiece`..`maxPiece` bytes (default 1..16). */
  | { readonly minPiece?: number | undefined; readonly maxPiece?: number | undefined }

/** Which way a fault acts on a connection. */
export type Direction = "toClient" | "toServer"

/** The fault-injection handle of a {@link SimulatedNetwork}. Every method acts at once. */
export interface FaultHandle {
  /** One-way delay (plus up to `jitter`, seeded) on both directions of the target's connections. */
  latency(
    target: FaultTarget,
    delay: Duration.DurationInput,
    options?: { readonly jitter?: Duration.DurationInput | undefined }
  ): void
  /**
   * The target stops answering: nothing is delivered either way (it is held, and
   * delivered on `heal`), writers fill their window and block, connection attempts
   * hang. Connections stay open.
   */
  stall(target: FaultTarget): void
  /**
   * Drops the link: like `stall` while it lasts, but on `heal` every connection that
   * had bytes in flight is reset, since a byte stream with a hole cannot resume.
   */
  partition(target: FaultTarget): void
  /**
   * Resets the target's connections: at once, or after `afterBytes` more bytes have
   * been delivered in `direction` (default toward the client), which lands the reset
   * in the middle of a frame. The client reads a `NetworkError`; the server gets
   * `onClose(error)`.
   */
  reset(
    target: FaultTarget,
    options?: { readonly afterBytes?: number | undefined; readonly direction?: Direction | undefined }
  ): void
  /** Delivers the target's bytes in pieces (default direction: toward the client). */
  split(target: FaultTarget, plan: SplitPlan, options?: { readonly direction?: Direction | "both" | undefined }): void
  /** Connection attempts to the target fail with `ConnectError` (ECONNREFUSED). */
  refuse(target: FaultTarget): void
  /**
   * Removes the faults installed for `target` (all faults when absent) and lifts
   * them from the connections they cover: held bytes flow again, splits and pending
   * resets are dropped, parked connection attempts proceed.
   */
  heal(target?: FaultTarget): void
}

/** One line of the network's trace. */
export interface TraceEntry {
  /** Milliseconds since the network started, on its clock. */
  readonly at: number
  readonly connection: number
  readonly kind: "connect" | "refused" | "data" | "fin" | "reset"
  readonly direction?: Direction | undefined
  readonly bytes?: number | undefined
}

/**
 * The simulated network as a service: in-process servers `listen` on it, the
 * simulated Iops `connect`s through it, tests inject faults with `faults`.
 */
export class SimulatedNetwork extends Context.Tag("effect-couchbase/Iops/SimulatedNetwork")<
  SimulatedNetwork,
  SimulatedNetwork.Service
>() {}

/** Types of {@link SimulatedNetwork}. */
export declare namespace SimulatedNetwork {
  /** The network. */
  export interface Service {
    /**
     * Binds `host:port` (port 0 = the next free port from 30000 up) and calls
     * `onConnection` with the server side of each accepted connection. `secure`
     * listeners accept only TLS clients (and plain ones only plain clients). The
     * listener closes with the scope; its open connections are then reset. Fails
     * with `ListenError` when the address is taken.
     */
    readonly listen: (
      host: string,
      port: number,
      onConnection: (socket: ServerSocket) => void,
      options?: { readonly secure?: boolean | undefined }
    ) => Effect.Effect<ServerListener, ListenError, Scope.Scope>
    /** Opens a client connection (what the simulated Iops' `connect` does). */
    readonly connect: (options: Iops.ConnectOptions) => Effect.Effect<Iops.Socket, ConnectError | UnknownHostError>
    /** The fault-injection handle. */
    readonly faults: FaultHandle
    /** The open connections, optionally only those a target covers. */
    readonly connections: (target?: FaultTarget) => ReadonlyArray<ConnectionInfo>
    /** The recorded deliveries (empty unless the `trace` option is set). */
    readonly trace: () => ReadonlyArray<TraceEntry>
    /** The network's clock, in milliseconds. */
    readonly now: () => number
    /** Runs `callback` after `delayMillis` on the network's clock, in order with deliveries; returns a cancel function. */
    readonly schedule: (delayMillis: number, callback: () => void) => () => void
  }

  /** A snapshot of one connection. */
  export interface ConnectionInfo {
    readonly id: number
    /** `host:port` of the client end. */
    readonly client: string
    /** `host:port` of the listener. */
    readonly server: string
    readonly secure: boolean
    /** Bytes delivered to the server so far. */
    readonly bytesToServer: number
    /** Bytes delivered to the client so far. */
    readonly bytesToClient: number
  }
}

const DEFAULT_HIGH_WATER_MARK = 64 * 1024
const DEFAULT_SEED = 0x5eed

const normalizeHost = (host: string): string => (host === "localhost" ? "127.0.0.1" : host)
const isWildcard = (host: string): boolean => host === "0.0.0.0" || host === "::"
const micros = (d: Duration.DurationInput): number => Math.round(Duration.toMillis(d) * 1000)

const targetId = (target: FaultTarget): number | undefined =>
  typeof target === "number" ? target : typeof target === "object" ? target.id : undefined

/** Whether a string target covers `host:port`. */
const coversAddress = (target: string, host: string, port: number): boolean => {
  const colon = target.lastIndexOf(":")
  if (colon > 0 && /^\d+$/.test(target.slice(colon + 1))) {
    return normalizeHost(target.slice(0, colon)) === host && Number(target.slice(colon + 1)) === port
  }
  return normalizeHost(target) === host
}

const sameTarget = (a: FaultTarget, b: FaultTarget): boolean => {
  const ia = targetId(a)
  const ib = targetId(b)
  if (ia !== undefined || ib !== undefined) return ia === ib
  return normalizeHost(a as string) === normalizeHost(b as string)
}

type Rule =
  | { readonly kind: "latency"; readonly target: FaultTarget; readonly latency: number; readonly jitter: number }
  | { readonly kind: "stall" | "partition" | "refuse"; readonly target: FaultTarget }
  | {
      readonly kind: "split"
      readonly target: FaultTarget
      readonly plan: SplitPlan
      readonly direction: Direction | "both"
    }

interface Piece {
  readonly bytes: Buffer | null
  readonly at: number
}

/** One direction of a connection. */
class Pipe {
  private queue: Array<Piece> = []
  private head = 0
  private pumpTask: Task | undefined = undefined
  /** Written but not yet taken by the receiver: the sender's window. */
  inFlight = 0
  private lastAt = Number.NEGATIVE_INFINITY
  /** Stream offset of the next byte written. */
  sent = 0
  delivered = 0
  /** One-way delay and jitter bound, in microseconds. */
  latency = 0
  jitter = 0
  stalled = false
  partitioned = false
  cuts: Array<number> = []
  randomSplit: { readonly min: number; readonly max: number } | undefined = undefined
  resetAfter: number | undefined = undefined
  finQueued = false

  constructor(
    private readonly net: NetworkImpl,
    private readonly link: Link,
    readonly direction: Direction
  ) {}

  get pending(): number {
    return this.queue.length - this.head
  }

  private get receiver(): Endpoint {
    return this.direction === "toServer" ? this.link.server : this.link.client
  }

  private get sender(): Endpoint {
    return this.direction === "toServer" ? this.link.client : this.link.server
  }

  send(bytes: Uint8Array): void {
    const n = bytes.length
    if (n === 0 || this.finQueued) return
    // A copy, as a real network would take: the sender may reuse its buffer.
    const copy = Buffer.from(bytes)
    this.inFlight += n
    let offset = 0
    while (offset < n) {
      let size = n - offset
      while (this.cuts.length > 0 && this.cuts[0]! <= this.sent) this.cuts.shift()
      const cut = this.cuts[0]
      if (cut !== undefined && cut < this.sent + size) size = cut - this.sent
      if (this.randomSplit !== undefined)
        size = Math.min(size, this.net.random.int(this.randomSplit.min, this.randomSplit.max))
      this.enqueue(offset === 0 && size === n ? copy : copy.subarray(offset, offset + size))
      offset += size
      this.sent += size
    }
  }

  sendFin(): void {
    if (this.finQueued) return
    this.finQueued = true
    this.enqueue(null)
  }

  private enqueue(bytes: Buffer | null): void {
    const jitter = this.jitter > 0 ? Math.round(this.net.random.next() * this.jitter) : 0
    const at = Math.max(this.net.scheduler.nowMicros() + this.latency + jitter, this.lastAt)
    this.lastAt = at
    this.queue.push({ bytes, at })
    this.arm()
  }

  /** Schedules the pump for the head piece unless it is already scheduled or held. */
  arm(): void {
    // A reset link delivers nothing more (a FIN queued by a late close() must not spin the pump).
    if (
      this.pumpTask !== undefined ||
      this.stalled ||
      this.partitioned ||
      this.link.reset ||
      this.head >= this.queue.length
    )
      return
    this.pumpTask = this.net.scheduler.at(this.queue[this.head]!.at, this.pump)
  }

  /** Stops the pump and forgets everything queued (the connection is gone). */
  clear(): void {
    this.net.scheduler.cancel(this.pumpTask)
    this.pumpTask = undefined
    this.queue = []
    this.head = 0
    this.inFlight = 0
  }

  /** Lifts a stall; held pieces flow from now on. */
  release(): void {
    this.stalled = false
    this.partitioned = false
    this.arm()
  }

  /** The receiver took `n` bytes: the sender's window reopens. */
  consumed(n: number): void {
    this.inFlight -= n
    if (this.inFlight < this.net.highWaterMark) this.sender.windowOpened()
  }

  private readonly pump = (): void => {
    this.pumpTask = undefined
    const limit = this.net.scheduler.nowMicros()
    while (this.head < this.queue.length && !this.stalled && !this.partitioned && !this.link.reset) {
      const piece = this.queue[this.head]!
      if (piece.at > limit) break
      this.queue[this.head++] = undefined as unknown as Piece
      if (piece.bytes === null) {
        this.net.record(this.link.id, "fin", this.direction)
        this.receiver.receiveFin()
        continue
      }
      let bytes = piece.bytes
      let resetNow = false
      if (this.resetAfter !== undefined) {
        if (bytes.length >= this.resetAfter) {
          bytes = bytes.subarray(0, this.resetAfter)
          resetNow = true
        } else {
          this.resetAfter -= bytes.length
        }
      }
      if (bytes.length > 0) {
        this.delivered += bytes.length
        this.net.record(this.link.id, "data", this.direction, bytes.length)
        this.receiver.receive(bytes)
      }
      if (resetNow) {
        this.link.abort("fault")
        return
      }
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    this.arm()
  }
}

/** What a pipe needs from the two ends. */
interface Endpoint {
  receive(bytes: Buffer): void
  receiveFin(): void
  windowOpened(): void
}

/** The client end: an Iops.Socket whose readiness the simulated Iops reports. */
export class ClientEnd implements Iops.Socket, Endpoint {
  private recv: Array<Buffer | undefined> = []
  private recvHead = 0
  private eof = false
  private failure: NetworkError | undefined = undefined
  private closed = false
  private needDrain = false
  private watcher: IOEvent | undefined = undefined
  private mask = 0
  private deliveryTask: Task | undefined = undefined

  constructor(
    private readonly net: NetworkImpl,
    private readonly link: Link,
    readonly remoteHost: string,
    readonly remotePort: number,
    readonly localPort: number,
    readonly secure: boolean
  ) {}

  get writableLength(): number {
    return this.link.toServer.inFlight
  }

  /** Whether the client is done with the connection (closed, failed or at end-of-stream). */
  get finished(): boolean {
    return this.closed || this.eof || this.failure !== undefined
  }

  read(): Iops.ReadResult {
    if (this.recvHead < this.recv.length) {
      const chunk = this.recv[this.recvHead]!
      this.recv[this.recvHead++] = undefined
      if (this.recvHead === this.recv.length) {
        this.recv = []
        this.recvHead = 0
      }
      this.link.toClient.consumed(chunk.length)
      return chunk
    }
    if (this.failure !== undefined) return this.failure
    if (this.eof || this.closed) return EOF
    return null
  }

  write(bytes: Uint8Array): boolean {
    if (this.failure !== undefined || this.closed || this.link.reset) return false
    this.link.toServer.send(bytes)
    if (this.link.toServer.inFlight >= this.net.highWaterMark) {
      this.needDrain = true
      return false
    }
    return true
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.dropReceived()
    this.link.toServer.sendFin()
    this.link.settle()
  }

  /**
   * Every byte written is already on the wire here, so an abort has nothing to drop:
   * like Node's `destroy()`, the server sees an orderly end.
   */
  destroy(): void {
    this.close()
  }

  conditions(): number {
    const dead = this.failure !== undefined || this.closed
    let flags = 0
    if (dead || this.eof || this.recvHead < this.recv.length) flags |= LCB_READ_EVENT
    if (dead || !this.needDrain) flags |= LCB_WRITE_EVENT
    return flags
  }

  watch(event: IOEvent, mask: number): void {
    this.watcher = event
    this.mask = mask
    this.poke()
  }

  unwatch(event: IOEvent): void {
    if (this.watcher !== event) return
    this.watcher = undefined
    this.mask = 0
  }

  receive(bytes: Buffer): void {
    if (this.closed) {
      this.link.toClient.consumed(bytes.length)
      return
    }
    this.recv.push(bytes)
    this.poke()
  }

  receiveFin(): void {
    this.eof = true
    this.poke()
    this.link.settle()
  }

  windowOpened(): void {
    if (!this.needDrain) return
    this.needDrain = false
    this.poke()
  }

  /** The connection failed under the client. */
  fail(error: NetworkError): void {
    this.failure ??= error
    this.poke()
  }

  private dropReceived(): void {
    let n = 0
    for (let i = this.recvHead; i < this.recv.length; i++) n += this.recv[i]!.length
    this.recv = []
    this.recvHead = 0
    if (n > 0) this.link.toClient.consumed(n)
  }

  /** Queues a delivery if a watched condition holds (always on the loop, never inline). */
  private poke(): void {
    if (this.watcher === undefined || this.deliveryTask !== undefined) return
    if ((this.mask & this.conditions()) === 0) return
    this.deliveryTask = this.net.scheduler.after(0, this.deliver)
  }

  private readonly deliver = (): void => {
    this.deliveryTask = undefined
    const event = this.watcher
    if (event === undefined) return
    const flags = this.mask & this.conditions()
    if (flags === 0) return
    this.watcher = undefined
    this.mask = 0
    event.ready(flags)
  }
}

/** The server end, with the callback API of {@link ServerSocket}. */
class ServerEnd implements ServerSocket, Endpoint {
  private dataCallback: ((chunk: Buffer) => void) | undefined = undefined
  private drainCallback: (() => void) | undefined = undefined
  private endCallback: (() => void) | undefined = undefined
  private closeCallback: ((error: Error | undefined) => void) | undefined = undefined
  private inbox: Array<Buffer> = []
  private paused = false
  private finPending = false
  private flushTask: Task | undefined = undefined
  private needDrain = false
  /** The client's end-of-stream has been delivered to the server. */
  endReceived = false
  /** The server has ended (or destroyed) its side. */
  ended = false
  /** `onClose` has been decided (it fires once). */
  closed = false

  constructor(
    private readonly net: NetworkImpl,
    private readonly link: Link,
    readonly id: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress: string,
    readonly localPort: number,
    readonly secure: boolean
  ) {}

  get writableLength(): number {
    return this.link.toClient.inFlight
  }

  write(bytes: Uint8Array): boolean {
    if (this.ended || this.closed || this.link.reset) return false
    this.link.toClient.send(bytes)
    if (this.link.toClient.inFlight >= this.net.highWaterMark) {
      this.needDrain = true
      return false
    }
    return true
  }

  onData(callback: (chunk: Buffer) => void): void {
    this.dataCallback = callback
    this.scheduleFlush()
  }

  onDrain(callback: () => void): void {
    this.drainCallback = callback
  }

  onEnd(callback: () => void): void {
    this.endCallback = callback
  }

  onClose(callback: (error: Error | undefined) => void): void {
    this.closeCallback = callback
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.scheduleFlush()
  }

  end(): void {
    if (this.ended || this.closed) return
    this.ended = true
    this.link.toClient.sendFin()
    this.link.settle()
  }

  destroy(): void {
    if (this.closed) return
    this.ended = true
    this.link.abort("server")
  }

  receive(bytes: Buffer): void {
    if (this.closed) {
      this.link.toServer.consumed(bytes.length)
      return
    }
    this.inbox.push(bytes)
    this.flush()
  }

  receiveFin(): void {
    this.finPending = true
    this.flush()
  }

  windowOpened(): void {
    if (!this.needDrain) return
    this.needDrain = false
    // Not inline: the window opens inside the client's read().
    this.net.scheduler.after(0, () => {
      if (!this.closed) this.drainCallback?.()
    })
  }

  /** Ends the server's view of the connection with `onClose(error)`, once. */
  close(error: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    this.ended = true
    this.inbox = []
    this.net.scheduler.cancel(this.flushTask)
    this.net.scheduler.after(0, () => this.closeCallback?.(error))
  }

  private scheduleFlush(): void {
    if (this.flushTask !== undefined) return
    this.flushTask = this.net.scheduler.after(0, () => {
      this.flushTask = undefined
      this.flush()
    })
  }

  private flush(): void {
    while (!this.paused && !this.closed && this.dataCallback !== undefined && this.inbox.length > 0) {
      const chunk = this.inbox.shift()!
      this.link.toServer.consumed(chunk.length)
      this.dataCallback(chunk)
    }
    if (this.finPending && this.inbox.length === 0 && !this.paused && !this.closed) {
      this.finPending = false
      this.endReceived = true
      this.endCallback?.()
      // Node's default (allowHalfOpen: false): the server side ends when the client's does.
      this.end()
      this.link.settle()
    }
  }
}

/** One connection: a client end, a server end and a pipe each way. */
class Link {
  readonly toServer: Pipe
  readonly toClient: Pipe
  readonly client: ClientEnd
  readonly server: ServerEnd
  reset = false

  constructor(
    private readonly net: NetworkImpl,
    readonly id: number,
    readonly listener: ListenerImpl,
    readonly clientHost: string,
    readonly clientPort: number,
    readonly remoteHost: string,
    readonly secure: boolean
  ) {
    this.toServer = new Pipe(net, this, "toServer")
    this.toClient = new Pipe(net, this, "toClient")
    this.client = new ClientEnd(net, this, remoteHost, listener.port, clientPort, secure)
    this.server = new ServerEnd(net, this, id, clientHost, clientPort, listener.host, listener.port, secure)
  }

  get serverHost(): string {
    return this.listener.host
  }

  covers(target: FaultTarget): boolean {
    const id = targetId(target)
    if (id !== undefined) return id === this.id
    const t = target as string
    return (
      coversAddress(t, this.listener.host, this.listener.port) || coversAddress(t, this.remoteHost, this.listener.port)
    )
  }

  info(): SimulatedNetwork.ConnectionInfo {
    return {
      id: this.id,
      client: `${this.clientHost}:${this.clientPort}`,
      server: this.listener.address,
      secure: this.secure,
      bytesToServer: this.toServer.delivered,
      bytesToClient: this.toClient.delivered
    }
  }

  /** Abortive end of the connection, from one side or from a fault. */
  abort(origin: "client" | "server" | "fault" | "shutdown"): void {
    if (this.reset) return
    this.reset = true
    this.toServer.clear()
    this.toClient.clear()
    this.net.record(this.id, "reset")
    const rst = systemError("ECONNRESET", `read ECONNRESET (simulated ${origin === "fault" ? "fault" : origin})`)
    if (origin !== "client") this.client.fail(socketFailure(this.remoteHost, this.listener.port, rst))
    this.server.close(origin === "server" ? undefined : rst)
    this.net.forget(this)
  }

  /** Called on every orderly step: the connection is done once both sides have ended. */
  settle(): void {
    if (this.reset) return
    if (this.server.endReceived && this.server.ended) this.server.close(undefined)
    if (this.server.closed && this.client.finished) this.net.forget(this)
  }
}

class ListenerImpl implements ServerListener {
  closed = false
  readonly address: string

  constructor(
    private readonly net: NetworkImpl,
    readonly host: string,
    readonly port: number,
    readonly secure: boolean,
    readonly onConnection: (socket: ServerSocket) => void
  ) {
    this.address = `${host}:${port}`
  }

  accepts(host: string, port: number): boolean {
    return !this.closed && this.port === port && (isWildcard(this.host) || this.host === host)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.net.unlisten(this)
  }
}

interface PendingConnect {
  readonly host: string
  readonly port: number
  readonly secure: boolean
  task: Task | undefined
  readonly settle: (result: Effect.Effect<Iops.Socket, ConnectError | UnknownHostError>) => void
}

/** The network's state and behaviour; the service object is a view on it. */
export class NetworkImpl {
  readonly scheduler: Scheduler
  readonly random: Prng
  readonly highWaterMark: number
  private readonly tracing: boolean
  private readonly traceLog: Array<TraceEntry> = []
  private readonly startedAt: number
  private readonly listeners = new Map<string, ListenerImpl>()
  private readonly links = new Map<number, Link>()
  private rules: Array<Rule> = []
  private parked: Array<PendingConnect> = []
  private nextId = 1
  private nextListenPort = 30000
  private nextClientPort = 49152

  constructor(scheduler: Scheduler, options: SimulatedNetworkOptions) {
    this.scheduler = scheduler
    this.random = new Prng(options.seed ?? DEFAULT_SEED)
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK
    this.tracing = options.trace ?? false
    this.startedAt = scheduler.nowMicros()
  }

  record(connection: number, kind: TraceEntry["kind"], direction?: Direction, bytes?: number): void {
    if (!this.tracing) return
    this.traceLog.push({ at: (this.scheduler.nowMicros() - this.startedAt) / 1000, connection, kind, direction, bytes })
  }

  forget(link: Link): void {
    this.links.delete(link.id)
  }

  unlisten(listener: ListenerImpl): void {
    if (this.listeners.get(listener.address) === listener) this.listeners.delete(listener.address)
  }

  // --- listeners -------------------------------------------------------------------

  listen(
    host: string,
    port: number,
    onConnection: (socket: ServerSocket) => void,
    secure: boolean
  ): ServerListener | ListenError {
    const h = normalizeHost(host)
    let p = port
    if (p === 0) {
      while (this.portTaken(h, this.nextListenPort)) this.nextListenPort++
      p = this.nextListenPort++
    } else if (!Number.isInteger(p) || p < 0 || p > 65535) {
      return new ListenError({ host, port, message: `could not listen on ${host}:${port}: the port is out of range` })
    } else if (this.portTaken(h, p)) {
      return new ListenError({
        host,
        port,
        message: `could not listen on ${host}:${port} (EADDRINUSE): the address is taken on the simulated network`
      })
    }
    const listener = new ListenerImpl(this, h, p, secure, onConnection)
    this.listeners.set(listener.address, listener)
    return listener
  }

  private portTaken(host: string, port: number): boolean {
    for (const l of this.listeners.values()) {
      if (l.port === port && (l.host === host || isWildcard(l.host) || isWildcard(host))) return true
    }
    return false
  }

  /** Resets the connections a listener accepted (when its scope closes). */
  dropConnectionsOf(listener: ServerListener): void {
    for (const link of [...this.links.values()]) if (link.listener === listener) link.abort("shutdown")
  }

  // --- connections -----------------------------------------------------------------

  connect(options: Iops.ConnectOptions): Effect.Effect<Iops.Socket, ConnectError | UnknownHostError> {
    return Effect.async<Iops.Socket, ConnectError | UnknownHostError>((resume) => {
      const attempt: PendingConnect = {
        host: normalizeHost(options.host),
        port: options.port,
        secure: options.tls !== undefined && options.tls !== false,
        task: undefined,
        settle: resume
      }
      // The handshake takes a round trip.
      const rtt = 2 * this.latencyFor(attempt.host, attempt.port)
      attempt.task = this.scheduler.after(rtt, () => this.arrive(attempt, options.host))
      return Effect.sync(() => {
        this.scheduler.cancel(attempt.task)
        this.parked = this.parked.filter((p) => p !== attempt)
      })
    })
  }

  private arrive(attempt: PendingConnect, requestedHost: string): void {
    attempt.task = undefined
    const { host, port } = attempt
    if (this.addressHas("refuse", host, port)) {
      this.refuse(attempt, requestedHost, "ECONNREFUSED")
      return
    }
    if (this.addressHas("stall", host, port) || this.addressHas("partition", host, port)) {
      this.parked.push(attempt)
      return
    }
    let listener: ListenerImpl | undefined
    for (const l of this.listeners.values()) {
      if (l.accepts(host, port)) {
        listener = l
        break
      }
    }
    if (listener === undefined) {
      this.refuse(attempt, requestedHost, "ECONNREFUSED")
      return
    }
    if (listener.secure !== attempt.secure) {
      this.refuse(attempt, requestedHost, attempt.secure ? "EPROTO" : "ECONNRESET")
      return
    }
    const link = new Link(
      this,
      this.nextId++,
      listener,
      "127.0.0.1",
      this.nextClientPort++,
      requestedHost,
      attempt.secure
    )
    if (this.nextClientPort > 65535) this.nextClientPort = 49152
    this.links.set(link.id, link)
    for (const rule of this.rules) if (link.covers(rule.target)) this.apply(rule, link, true)
    this.record(link.id, "connect")
    listener.onConnection(link.server)
    attempt.settle(Effect.succeed(link.client))
  }

  private refuse(attempt: PendingConnect, requestedHost: string, code: string): void {
    this.record(0, "refused")
    const error = systemError(code, `connect ${code} ${attempt.host}:${attempt.port} (simulated)`)
    attempt.settle(Effect.fail(connectFailure(requestedHost, attempt.port, error)))
  }

  private addressHas(kind: Rule["kind"], host: string, port: number): boolean {
    return this.rules.some(
      (r) => r.kind === kind && typeof r.target === "string" && coversAddress(r.target, host, port)
    )
  }

  private latencyFor(host: string, port: number): number {
    let latency = 0
    for (const r of this.rules) {
      if (r.kind === "latency" && typeof r.target === "string" && coversAddress(r.target, host, port))
        latency = r.latency
    }
    return latency
  }

  linksCovered(target: FaultTarget | undefined): Array<Link> {
    const out: Array<Link> = []
    for (const link of this.links.values()) if (target === undefined || link.covers(target)) out.push(link)
    return out
  }

  // --- faults ----------------------------------------------------------------------

  /** Applies a rule to one connection (`fresh`: the connection was just made). */
  private apply(rule: Rule, link: Link, fresh: boolean): void {
    const pipes = [link.toServer, link.toClient]
    switch (rule.kind) {
      case "latency":
        for (const p of pipes) {
          p.latency = rule.latency
          p.jitter = rule.jitter
        }
        return
      case "stall":
        for (const p of pipes) p.stalled = true
        return
      case "partition":
        for (const p of pipes) p.partitioned = true
        return
      case "split": {
        const chosen =
          rule.direction === "both" ? pipes : [rule.direction === "toServer" ? link.toServer : link.toClient]
        for (const p of chosen) {
          if ("boundaries" in rule.plan) {
            const base = fresh ? 0 : p.sent
            p.cuts = [...new Set(rule.plan.boundaries.filter((b) => b > 0).map((b) => base + b))].sort((a, b) => a - b)
          } else {
            const min = Math.max(1, Math.floor(rule.plan.minPiece ?? 1))
            const max = Math.max(min, Math.floor(rule.plan.maxPiece ?? 16))
            p.randomSplit = { min, max }
          }
        }
        return
      }
      case "refuse":
        return
    }
  }

  private install(rule: Rule): void {
    this.rules.push(rule)
    for (const link of this.linksCovered(rule.target)) this.apply(rule, link, false)
  }

  readonly faults: FaultHandle = {
    latency: (target, delay, options) =>
      this.install({
        kind: "latency",
        target,
        latency: Math.max(0, micros(delay)),
        jitter: options?.jitter === undefined ? 0 : Math.max(0, micros(options.jitter))
      }),
    stall: (target) => this.install({ kind: "stall", target }),
    partition: (target) => this.install({ kind: "partition", target }),
    refuse: (target) => this.install({ kind: "refuse", target }),
    split: (target, plan, options) =>
      this.install({ kind: "split", target, plan, direction: options?.direction ?? "toClient" }),
    reset: (target, options) => {
      for (const link of this.linksCovered(target)) {
        if (options?.afterBytes === undefined) {
          link.abort("fault")
        } else {
          const pipe = options.direction === "toServer" ? link.toServer : link.toClient
          pipe.resetAfter = Math.max(0, Math.floor(options.afterBytes))
          // A reset due now (afterBytes 0) must not wait for more traffic.
          if (pipe.resetAfter === 0) link.abort("fault")
        }
      }
    },
    heal: (target) => this.heal(target)
  }

  private heal(target: FaultTarget | undefined): void {
    this.rules = target === undefined ? [] : this.rules.filter((r) => !sameTarget(r.target, target))
    for (const link of this.linksCovered(target)) {
      const lost =
        (link.toServer.partitioned || link.toClient.partitioned) &&
        (link.toServer.pending > 0 || link.toClient.pending > 0)
      for (const p of [link.toServer, link.toClient]) {
        p.latency = 0
        p.jitter = 0
        p.cuts = []
        p.randomSplit = undefined
        p.resetAfter = undefined
        p.stalled = false
        p.partitioned = false
      }
      // Faults installed for other targets that still cover this connection stay.
      for (const rule of this.rules)
        if (link.covers(rule.target) && rule.kind !== "split") this.apply(rule, link, false)
      if (lost && !link.toServer.partitioned) {
        link.abort("fault")
        continue
      }
      if (!link.toServer.stalled && !link.toServer.partitioned) {
        link.toServer.release()
        link.toClient.release()
      }
    }
    const parked = this.parked
    this.parked = []
    for (const attempt of parked) {
      attempt.task = this.scheduler.after(0, () => this.arrive(attempt, attempt.host))
    }
  }

  /** Resets every connection and closes every listener (the network's scope ended). */
  shutdown(): void {
    for (const link of [...this.links.values()]) link.abort("shutdown")
    for (const listener of [...this.listeners.values()]) listener.close()
  }

  // --- the service -----------------------------------------------------------------

  readonly service: SimulatedNetwork.Service = {
    listen: (host, port, onConnection, options) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const result = this.listen(host, port, onConnection, options?.secure ?? false)
          return result instanceof ListenError ? Effect.fail(result) : Effect.succeed(result)
        }),
        (listener) =>
          Effect.sync(() => {
            listener.close()
            this.dropConnectionsOf(listener)
          })
      ),
    connect: (options) => this.connect(options),
    faults: this.faults,
    connections: (target) => this.linksCovered(target).map((l) => l.info()),
    trace: () => this.traceLog.slice(),
    now: () => this.scheduler.now(),
    schedule: (delayMillis, callback) => {
      const task = this.scheduler.after(delayMillis * 1000, callback)
      return () => this.scheduler.cancel(task)
    }
  }
}

/**
 * A fresh simulated network on the current `Clock` (TestClock in tests). Its loop
 * fiber and its connections live as long as the layer's scope.
 */
export const layerNetwork = (options: SimulatedNetworkOptions = {}): Layer.Layer<SimulatedNetwork> =>
  Layer.scoped(SimulatedNetwork, makeNetwork(options))

/** Builds a simulated network in the current scope. */
export const makeNetwork = (
  options: SimulatedNetworkOptions = {}
): Effect.Effect<SimulatedNetwork.Service, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const impl = new NetworkImpl(new Scheduler(clock), options)
    yield* Effect.addFinalizer(() => Effect.sync(() => impl.shutdown()))
    yield* Effect.forkScoped(impl.scheduler.loop)
    return impl.service
  })
