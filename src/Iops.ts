/**
 * Iops: the swappable I/O layer, after the IOPS event interface of libcouchbase as the
 * Python SDK 2.x exposes it (`IOEvent`, `TimerEvent`, `PYCBC_EVACTION_*`).
 *
 * The client core never touches `net`, `tls` or `setTimeout`: every socket and every
 * timer goes through the {@link Iops} service (operation deadlines, retry backoff,
 * durability and config polling, reconnect delays, bootstrap and connect timeouts,
 * and the views' HTTP sockets and timeouts alike), so a program can run the same client
 * over Node's sockets ({@link layerNode}, the default), over an in-memory network on
 * Effect's `Clock` ({@link layerSimulated}: deterministic under `TestClock`, with
 * injected faults), or over an event loop of its own.
 *
 * ## Implementing the contract
 *
 * An implementation is a plain object of synchronous functions ({@link Iops.Service}).
 * The core creates events (through the optional factories), watches them, and the
 * implementation calls `event.ready(flags)` when the watched condition holds.
 *
 * 1. **Sockets.** `connect(options)` returns an Effect of an {@link Iops.Socket}. A
 *    socket never calls back by itself: the core learns of its readiness through an
 *    {@link IOEvent} whose `socket` field points at it. One IOEvent per socket.
 * 2. **`updateEvent(event, action, flags)`**
 *    - `PYCBC_EVACTION_WATCH` with a mask of `LCB_READ_EVENT` / `LCB_WRITE_EVENT`:
 *      from now on, as soon as one of the masked conditions holds for
 *      `event.socket`, call `event.ready(f)` **once**, where `f` is every masked
 *      condition that holds at that moment (so RW when both do). A condition that
 *      already holds when WATCH is called counts (readiness is level-triggered), but
 *      the delivery must be asynchronous: never call `ready` from inside
 *      `updateEvent`, `read` or `write`. A WATCH replaces the previous mask.
 *    - Conditions: **read** = `read()` would return something other than `null`
 *      (bytes, `EOF` or an error). **write** = the socket's buffer is below its
 *      high-water mark (a `write()` now would not overfill it), or the socket can no
 *      longer send at all (failed or closed: the next `read()` says why).
 *    - Watchers are **non-repeatable**: after delivering, forget the watch; the core
 *      calls `updateEvent` again when it wants more.
 *    - `PYCBC_EVACTION_UNWATCH`: forget the watch; nothing may be delivered for it
 *      afterwards, even a delivery already queued.
 *    - `PYCBC_EVACTION_CLEANUP`: the core is done with the event; drop every reference
 *      to it (it has already been unwatched). A cleaned-up event never fires again.
 *    - During the call `event.flags` and `event.state` still show the previous watch;
 *      the core updates them after the call returns. The core skips calls that would
 *      change nothing.
 * 3. **`updateTimer(timer, action, usecs)`**: WATCH arms `timer` to call
 *    `timer.ready(0)` once, no earlier than `usecs` **microseconds** from now on the
 *    implementation's clock (`now()`); re-arming replaces the previous arming.
 *    UNWATCH disarms; CLEANUP drops it. Timers are non-repeatable too.
 * 4. **`startWatching()` / `stopWatching()`**: the core calls `startWatching()` after it
 *    has submitted events and wants them delivered (it may call it again; a second
 *    call while running does nothing), and `stopWatching()` when it no longer needs
 *    deliveries: when the last open connection using this Iops has closed (after its
 *    sockets and timers are cleaned up). A later connection starts it again. A hand-rolled loop runs between the two; an
 *    implementation on Node's own loop does nothing in either. JavaScript cannot
 *    block, so `startWatching()` always returns; a hand-rolled loop keeps running on
 *    `setImmediate`/`setTimeout` turns until `stopWatching()`.
 * 5. **Optional**: `ioEventFactory()` / `timerEventFactory()` return the event objects
 *    the core will use (a subclass with the implementation's own fields); `now()`
 *    gives the timers' clock in milliseconds (default `performance.now()`).
 *
 * The {@link Event} classes enforce the core's side: `ready()` on an event that is not
 * watched is ignored and an event moves to `SUSPENDED` when delivered.
 *
 * **When an implementation gets it wrong.** A `ready()` made from inside
 * `updateEvent` / `updateTimer` is not lost: the core delivers it on a microtask once
 * its call has returned (if the event is still watched). A function of the
 * implementation that throws (`updateEvent`, `updateTimer`, `startWatching`) ends the
 * connection it was called for: its operations fail with a `NetworkError` naming the
 * function and what it threw, and the connection is opened again in the background;
 * nothing escapes into the loop and no operation is left waiting.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Connection, Iops } from "effect-couchbase"
 *
 * // Every socket the client opens goes through the Iops: decorate Node's to log them.
 * const LoggingIops = Layer.effect(
 *   Iops.Iops,
 *   Effect.map(Iops.Iops, (node): Iops.Iops.Service => ({
 *     ...node,
 *     connect: (options) =>
 *       Effect.zipRight(Effect.log(`connecting to ${options.host}:${options.port}`), node.connect(options))
 *   }))
 * ).pipe(Layer.provide(Iops.layerNode()))
 *
 * const CouchbaseLive = Connection.layerConfig().pipe(Layer.provide(LoggingIops))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { ConnectError, NetworkError, UnknownHostError } from "./Errors.js"
import type { EOF as EOFSymbol, IOEvent, TimerEvent } from "./internal/iops/events.js"
import { layerNetwork, SimulatedNetwork, type SimulatedNetworkOptions } from "./internal/iops/network.js"
import { makeNodeIops, type NodeIopsOptions } from "./internal/iops/node.js"
import { makeSimulatedIops } from "./internal/iops/simulated.js"

export {
  /**
   * Disarms a timer if it is armed (the core's side of `updateTimer` UNWATCH).
   *
   * @since 0.1.0
   * @category utils
   */
  cancelTimer,
  /**
   * Unwatches a socket watcher if needed, then has the implementation drop it for good.
   *
   * @since 0.1.0
   * @category utils
   */
  destroyEvent,
  /**
   * Disarms a timer, then has the implementation drop it for good.
   *
   * @since 0.1.0
   * @category utils
   */
  destroyTimer,
  /**
   * A fresh socket watcher from the implementation's factory, or a plain {@link IOEvent}.
   *
   * @since 0.1.0
   * @category utils
   */
  makeIOEvent,
  /**
   * A fresh timer from the implementation's factory, or a plain {@link TimerEvent}.
   *
   * @since 0.1.0
   * @category utils
   */
  makeTimerEvent,
  /**
   * The clock of the implementation's timers, in milliseconds (`performance.now()` by default).
   *
   * @since 0.1.0
   * @category utils
   */
  now,
  /**
   * Arms a timer to fire once after a delay in microseconds, replacing any earlier arming.
   *
   * @since 0.1.0
   * @category utils
   */
  scheduleTimer,
  /**
   * Watches a socket watcher for a mask of events (0 = stop), skipping calls that change
   * nothing, as the core does.
   *
   * @since 0.1.0
   * @category utils
   */
  watchEvent
} from "./internal/iops/core.js"
export {
  /**
   * Readable alias of {@link PYCBC_EVACTION_CLEANUP}.
   *
   * @since 0.1.0
   * @category constants
   */
  CLEANUP,
  /**
   * What `Iops.Socket.read()` returns, from then on, once the peer has finished sending.
   *
   * @since 0.1.0
   * @category constants
   */
  EOF,
  /**
   * The base of both event kinds: something the core asked to be told about once, with
   * `ready(flags)` to deliver it.
   *
   * @since 0.1.0
   * @category models
   */
  Event,
  /**
   * One of the `PYCBC_EVACTION_*` values.
   *
   * @since 0.1.0
   * @category models
   */
  type EventAction,
  /**
   * One of the `PYCBC_EVSTATE_*` values.
   *
   * @since 0.1.0
   * @category models
   */
  type EventState,
  /**
   * A socket watcher (the Python SDK's `IOEvent`), with `readyR()`, `readyW()` and
   * `readyRw()`.
   *
   * @since 0.1.0
   * @category models
   */
  IOEvent,
  /**
   * Watch for read readiness: `read()` has bytes, end-of-stream or an error to report.
   *
   * @since 0.1.0
   * @category constants
   */
  LCB_READ_EVENT,
  /**
   * Both {@link LCB_READ_EVENT} and {@link LCB_WRITE_EVENT}.
   *
   * @since 0.1.0
   * @category constants
   */
  LCB_RW_EVENT,
  /**
   * Watch for write readiness: `write()` may be called without overfilling the buffer.
   *
   * @since 0.1.0
   * @category constants
   */
  LCB_WRITE_EVENT,
  /**
   * `updateEvent` / `updateTimer` action: drop every reference to the event.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVACTION_CLEANUP,
  /**
   * `updateEvent` / `updateTimer` action: stop watching; deliver nothing afterwards.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVACTION_UNWATCH,
  /**
   * `updateEvent` / `updateTimer` action: start watching (replaces any earlier watch).
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVACTION_WATCH,
  /**
   * Event state: watched; the implementation may deliver it once.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVSTATE_ACTIVE,
  /**
   * Event state: cleaned up; it is never delivered again.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVSTATE_FREED,
  /**
   * Event state: created, never watched.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVSTATE_INITIALIZED,
  /**
   * Event state: not watched (after UNWATCH, or after a delivery).
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVSTATE_SUSPENDED,
  /**
   * Event type of an {@link IOEvent}.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVTYPE_IO,
  /**
   * Event type of a {@link TimerEvent}.
   *
   * @since 0.1.0
   * @category constants
   */
  PYCBC_EVTYPE_TIMER,
  /**
   * Readable alias of {@link LCB_READ_EVENT}.
   *
   * @since 0.1.0
   * @category constants
   */
  READ_EVENT,
  /**
   * Readable alias of {@link LCB_RW_EVENT}.
   *
   * @since 0.1.0
   * @category constants
   */
  RW_EVENT,
  /**
   * A one-shot timer (the Python SDK's `TimerEvent`), fired with `ready(0)`.
   *
   * @since 0.1.0
   * @category models
   */
  TimerEvent,
  /**
   * Readable alias of {@link PYCBC_EVACTION_UNWATCH}.
   *
   * @since 0.1.0
   * @category constants
   */
  UNWATCH,
  /**
   * Readable alias of {@link PYCBC_EVACTION_WATCH}.
   *
   * @since 0.1.0
   * @category constants
   */
  WATCH,
  /**
   * Readable alias of {@link LCB_WRITE_EVENT}.
   *
   * @since 0.1.0
   * @category constants
   */
  WRITE_EVENT
} from "./internal/iops/events.js"

/**
 * The Iops service: the event interface plus the socket primitives. See the module
 * documentation for the full contract.
 *
 * @since 0.1.0
 * @category tags
 */
export class Iops extends Context.Tag("effect-couchbase/Iops")<Iops, Iops.Service>() {}

/**
 * Types of the {@link Iops} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace Iops {
  /**
   * What an implementation provides. All functions are synchronous except `connect`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** A short name for diagnostics ("node", "simulated", …). */
    readonly name: string
    /** Watches, unwatches or cleans up a socket watcher (see the module documentation). */
    readonly updateEvent: (event: IOEvent, action: number, flags: number) => void
    /** Arms (delay in microseconds), disarms or cleans up a one-shot timer. */
    readonly updateTimer: (timer: TimerEvent, action: number, usecs: number) => void
    /** Starts delivering watched events (idempotent); a hand-rolled loop starts here. */
    readonly startWatching: () => void
    /** Stops the loop started by `startWatching` (a no-op on Node's own loop). */
    readonly stopWatching: () => void
    /** Optional factory of socket watchers; `new IOEvent()` when absent. */
    readonly ioEventFactory?: (() => IOEvent) | undefined
    /** Optional factory of timers; `new TimerEvent()` when absent. */
    readonly timerEventFactory?: (() => TimerEvent) | undefined
    /** Optional clock of the timers, in milliseconds; `performance.now()` when absent. */
    readonly now?: (() => number) | undefined
    /**
     * Opens a connection (TLS when `options.tls` is set). Fails with `ConnectError`
     * (refused, reset, TLS failure: the message names `host:port`) or
     * `UnknownHostError`. Interrupting the Effect abandons the attempt and releases
     * the half-open socket. The caller owns the returned socket and must `close()` or
     * `destroy()` it.
     */
    readonly connect: (options: ConnectOptions) => Effect.Effect<Socket, ConnectError | UnknownHostError>
  }

  /**
   * A connected, non-blocking socket. It never calls back: readiness is reported
   * through an {@link IOEvent} watching it.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Socket {
    /** The host it is connected to, as given to `connect`. */
    readonly remoteHost: string
    /** The port it is connected to. */
    readonly remotePort: number
    /** The local port (useful in logs and fault injection). */
    readonly localPort: number
    /** Whether the connection is TLS. */
    readonly secure: boolean
    /**
     * Takes what has arrived: a non-empty `Buffer` (the caller owns it), `null` when
     * nothing is there yet (wait for read readiness), {@link EOF} once the peer has
     * finished and everything before was read, or the `NetworkError` that ended the
     * connection (with `host:port` in its message). `EOF` and the error are sticky.
     * Bytes that arrived before an error may or may not still be readable.
     */
    readonly read: () => ReadResult
    /**
     * Queues `bytes` for sending (always accepted while the socket is open; the
     * caller must not modify them afterwards). Returns `true` if more may be written
     * now, `false` when the buffer has reached its high-water mark: stop writing and
     * watch for write readiness. On a failed or closed socket the bytes are dropped
     * and `false` is returned; `read()` reports why.
     */
    readonly write: (bytes: Uint8Array) => boolean
    /** Bytes accepted by `write` that the socket has not yet handed to the network. */
    readonly writableLength: number
    /** Graceful close: flushes what was written, sends end-of-stream, releases the socket. */
    readonly close: () => void
    /** Abortive close: drops unsent bytes and releases the socket at once. */
    readonly destroy: () => void
  }

  /**
   * What `read()` can return.
   *
   * @since 0.1.0
   * @category models
   */
  export type ReadResult = Buffer | null | EOFSymbol | NetworkError

  /**
   * Where and how to connect.
   *
   * @since 0.1.0
   * @category models
   */
  export interface ConnectOptions {
    readonly host: string
    readonly port: number
    /** Connect over TLS with these settings (`true` = system defaults). */
    readonly tls?: TlsOptions | boolean | undefined
  }

  /**
   * TLS settings of a connection.
   *
   * @since 0.1.0
   * @category models
   */
  export interface TlsOptions {
    /** Trusted CA certificates (PEM); the system store when absent. */
    readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined
    /** Verify the server certificate (default `true`). */
    readonly rejectUnauthorized?: boolean | undefined
    /** SNI / certificate host name; defaults to the host when it is a name. */
    readonly servername?: string | undefined
  }
}

/**
 * The default Iops: Node's `net` / `tls` sockets in paused mode and timers on Node's loop.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options: NodeIopsOptions = {}): Layer.Layer<Iops> =>
  Layer.sync(Iops, () => makeNodeIops(options))

/**
 * An in-memory network on Effect's `Clock` with its Iops: under `TestClock` every
 * delay, timeout and latency runs instantly and in a deterministic order. The
 * {@link SimulatedNetwork} (listeners for in-process servers, fault injection) is
 * provided alongside. See `effect-couchbase/Iops/Simulated`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSimulated = (options: SimulatedNetworkOptions = {}): Layer.Layer<Iops | SimulatedNetwork> =>
  layerOnSimulatedNetwork.pipe(Layer.provideMerge(layerNetwork(options)))

/**
 * The simulated Iops over a {@link SimulatedNetwork} provided by the caller (shared with servers).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOnSimulatedNetwork: Layer.Layer<Iops, never, SimulatedNetwork> = Layer.effect(
  Iops,
  Effect.map(SimulatedNetwork, makeSimulatedIops)
)

export {
  /**
   * The simulated network as a service: in-process servers `listen` on it, the simulated
   * Iops connects through it, tests inject faults with `faults`.
   *
   * @since 0.1.0
   * @category tags
   */
  SimulatedNetwork,
  /**
   * Options of the simulated network: the seed of its randomness, the per-direction
   * window, tracing.
   *
   * @since 0.1.0
   * @category models
   */
  type SimulatedNetworkOptions
} from "./internal/iops/network.js"
export type {
  /**
   * Options of the Node Iops: Nagle's algorithm, keep-alive, socket buffer size.
   *
   * @since 0.1.0
   * @category models
   */
  NodeIopsOptions
} from "./internal/iops/node.js"
