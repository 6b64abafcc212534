/**
 * The event objects of the Iops contract and its constants, named and numbered as in
 * the Python SDK 2.x (`IOEvent`, `TimerEvent`, `LCB_*_EVENT`, `PYCBC_EVACTION_*`).
 *
 * They live here, apart from `Iops.ts`, so that every implementation (Node, simulated,
 * an integrator's own loop) can import them without a module cycle; `Iops.ts`
 * re-exports all of it.
 *
 * @internal
 */
import type { Iops } from "../../Iops.js"

/** Watch for read readiness: `read()` has bytes, end-of-stream or an error to report. */
export const LCB_READ_EVENT = 0x02
/** Watch for write readiness: `write()` may be called without exceeding the socket's buffer. */
export const LCB_WRITE_EVENT = 0x04
/** Both {@link LCB_READ_EVENT} and {@link LCB_WRITE_EVENT}. */
export const LCB_RW_EVENT = 0x06

/** `updateEvent` / `updateTimer` action: start watching (replaces any earlier watch). */
export const PYCBC_EVACTION_WATCH = 1
/** `updateEvent` / `updateTimer` action: stop watching; nothing may be delivered afterwards. */
export const PYCBC_EVACTION_UNWATCH = 2
/** `updateEvent` / `updateTimer` action: the core is done with the event; drop every reference. */
export const PYCBC_EVACTION_CLEANUP = 16

/** Readable alias of {@link LCB_READ_EVENT}. */
export const READ_EVENT = LCB_READ_EVENT
/** Readable alias of {@link LCB_WRITE_EVENT}. */
export const WRITE_EVENT = LCB_WRITE_EVENT
/** Readable alias of {@link LCB_RW_EVENT}. */
export const RW_EVENT = LCB_RW_EVENT
/** Readable alias of {@link PYCBC_EVACTION_WATCH}. */
export const WATCH = PYCBC_EVACTION_WATCH
/** Readable alias of {@link PYCBC_EVACTION_UNWATCH}. */
export const UNWATCH = PYCBC_EVACTION_UNWATCH
/** Readable alias of {@link PYCBC_EVACTION_CLEANUP}. */
export const CLEANUP = PYCBC_EVACTION_CLEANUP

/** Event state: created, never watched. */
export const PYCBC_EVSTATE_INITIALIZED = 0
/** Event state: watched; the implementation may deliver it once. */
export const PYCBC_EVSTATE_ACTIVE = 1
/** Event state: not watched (after UNWATCH, or after a delivery). */
export const PYCBC_EVSTATE_SUSPENDED = 2
/** Event state: cleaned up; it is never delivered again. */
export const PYCBC_EVSTATE_FREED = 3

/** Event type of an {@link IOEvent}. */
export const PYCBC_EVTYPE_IO = 0
/** Event type of a {@link TimerEvent}. */
export const PYCBC_EVTYPE_TIMER = 1

/** One of the `PYCBC_EVACTION_*` values. */
export type EventAction = typeof PYCBC_EVACTION_WATCH | typeof PYCBC_EVACTION_UNWATCH | typeof PYCBC_EVACTION_CLEANUP

/** One of the `PYCBC_EVSTATE_*` values. */
export type EventState =
  | typeof PYCBC_EVSTATE_INITIALIZED
  | typeof PYCBC_EVSTATE_ACTIVE
  | typeof PYCBC_EVSTATE_SUSPENDED
  | typeof PYCBC_EVSTATE_FREED

/**
 * Marks {@link Event.readyDuringUpdate} as set even for a timer's `ready(0)`.
 *
 * @internal
 */
export const READY_MARK = 0x10000

/**
 * The base of both event kinds: something the core asked to be told about once.
 *
 * Ownership of the fields:
 * - `state` (and `IOEvent.flags`) belong to the **core**. It updates them right
 *   *after* `updateEvent` / `updateTimer` returns, so during the call they still show
 *   the previous watch (an implementation may read them to know what to undo).
 *   `ready()` itself moves an active event to `SUSPENDED` before calling back, which
 *   is what makes watchers non-repeatable on the core's side.
 * - `data` belongs to the **implementation** (the Python SDK's `pydata`): a free slot
 *   for its own bookkeeping, e.g. an expiry time or a native timer handle.
 * - `onReady` is set by the core before it watches the event.
 */
export abstract class Event {
  /** `PYCBC_EVTYPE_IO` or `PYCBC_EVTYPE_TIMER`. */
  abstract readonly evtype: typeof PYCBC_EVTYPE_IO | typeof PYCBC_EVTYPE_TIMER
  /** Where the event stands; see the class documentation for who writes it. */
  state: EventState = PYCBC_EVSTATE_INITIALIZED
  /** Free slot for the Iops implementation; the core never touches it. */
  data: unknown = undefined
  /** The core's handler, called by {@link ready} with the delivered flags. */
  onReady: ((flags: number) => void) | undefined = undefined
  /**
   * Set by the core while its `updateEvent` / `updateTimer` call for this event runs.
   *
   * @internal
   */
  updating = false
  /**
   * What a `ready()` made during that call asked to deliver (with {@link READY_MARK}),
   * delivered once the call has returned.
   *
   * @internal
   */
  readyDuringUpdate = 0

  /**
   * Delivers the event: called by the implementation when a watched condition holds
   * (an IOEvent) or the delay has elapsed (a TimerEvent, with `0`).
   *
   * The call is ignored unless the event is `ACTIVE`, so a delivery that raced with
   * an UNWATCH or a CLEANUP never reaches the core. Otherwise the event becomes
   * `SUSPENDED` and the handler runs; to hear about the event again the core watches
   * it again. Handlers must not throw.
   */
  ready(flags: number): void {
    // Too early (the contract asks for asynchronous delivery): kept, and delivered by
    // the core once its call returns, instead of being lost.
    if (this.updating) {
      this.readyDuringUpdate |= flags | READY_MARK
      return
    }
    if (this.state !== PYCBC_EVSTATE_ACTIVE) return
    this.state = PYCBC_EVSTATE_SUSPENDED
    this.onReady?.(flags)
  }
}

/**
 * A socket watcher (the Python SDK's `IOEvent`). The core sets {@link socket} (its "file
 * descriptor") before watching; an implementation reports readiness with
 * `ready(flags)` where `flags` is the subset of the watched mask that holds at
 * delivery time, or with the shortcuts below.
 */
export class IOEvent extends Event {
  /** Always `PYCBC_EVTYPE_IO`. */
  readonly evtype = PYCBC_EVTYPE_IO
  /** The watch mask the core last requested (core-owned, updated after `updateEvent`). */
  flags = 0
  /** The socket this event watches, as returned by `Iops.Service.connect`. */
  socket: Iops.Socket | undefined = undefined

  /** `ready(LCB_READ_EVENT)`. */
  readyR(): void {
    this.ready(LCB_READ_EVENT)
  }
  /** `ready(LCB_WRITE_EVENT)`. */
  readyW(): void {
    this.ready(LCB_WRITE_EVENT)
  }
  /** `ready(LCB_RW_EVENT)`. */
  readyRw(): void {
    this.ready(LCB_RW_EVENT)
  }
}

/** A one-shot timer (the Python SDK's `TimerEvent`); the implementation fires it with `ready(0)`. */
export class TimerEvent extends Event {
  /** Always `PYCBC_EVTYPE_TIMER`. */
  readonly evtype = PYCBC_EVTYPE_TIMER
}

/**
 * What `Iops.Socket.read()` returns once the peer has finished sending and every byte
 * before the end has been read. It is returned again on every later call.
 */
export const EOF: unique symbol = Symbol.for("effect-couchbase/Iops/EOF")

/** The type of {@link EOF}. */
export type EOF = typeof EOF
