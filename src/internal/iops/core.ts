/**
 * The core's side of the Iops contract: how the client drives any implementation.
 *
 * This is the TypeScript twin of the Python SDK's C glue (`iops.c`): it creates
 * events through the optional factories, skips `updateEvent` calls that change
 * nothing, and writes `state` / `flags` only after the implementation's call has
 * returned. Every part of the client goes through these functions, never through
 * `updateEvent` directly, so the bookkeeping rules hold everywhere.
 *
 * @internal
 */

import { NetworkError } from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import {
  type Event,
  IOEvent,
  PYCBC_EVACTION_CLEANUP,
  PYCBC_EVACTION_UNWATCH,
  PYCBC_EVACTION_WATCH,
  PYCBC_EVSTATE_ACTIVE,
  PYCBC_EVSTATE_FREED,
  PYCBC_EVSTATE_SUSPENDED,
  READY_MARK,
  TimerEvent
} from "./events.js"

/** A fresh socket watcher from the implementation's factory, or the default class. */
export const makeIOEvent = (iops: Iops.Service): IOEvent => iops.ioEventFactory?.() ?? new IOEvent()

/** A fresh timer from the implementation's factory, or the default class. */
export const makeTimerEvent = (iops: Iops.Service): TimerEvent => iops.timerEventFactory?.() ?? new TimerEvent()

/** The clock the implementation's timers run on, in milliseconds. */
export const now = (iops: Iops.Service): number => (iops.now === undefined ? performance.now() : iops.now())

/**
 * The real clock, as an Iops gives it for its `now`: the client may share one reading
 * among many operations (see the operation deadlines), which it does not with a clock
 * it does not know.
 */
export const performanceNow = (): number => performance.now()

/** Whether `iops` runs on the real clock ({@link performanceNow}, or no clock of its own). */
export const onRealClock = (iops: Iops.Service): boolean => iops.now === undefined || iops.now === performanceNow

/**
 * What the Iops's own function threw, as the error that ends the affected connection:
 * a `NetworkError` naming the function, so that its operations fail typed (and a
 * reconnect may try again) instead of the exception escaping into the loop.
 */
export const iopsCallError = (what: string, thrown: unknown): NetworkError =>
  new NetworkError({
    message: `the I/O layer failed: its ${what} threw ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown)}`,
    cause: thrown
  })

/**
 * The implementation's calls about an event are made with `event.updating` set: a
 * `ready()` it makes during the call is kept and delivered on a microtask once the call
 * has returned and the core's bookkeeping is done (it would otherwise be lost: the
 * event is not yet active), and what it throws comes out as an {@link iopsCallError}.
 * Written out at each call rather than through a helper taking a closure: these run for
 * every operation, and a closure per call was measurable garbage.
 */
/** Delivers a `ready()` made during the core's call, if the event is still active. */
const deliverEarlyReady = (event: Event, mask: number): void => {
  const early = event.readyDuringUpdate
  if (early === 0) return
  event.readyDuringUpdate = 0
  if (event.state !== PYCBC_EVSTATE_ACTIVE) return
  const flags = early & ~READY_MARK & mask
  queueMicrotask(() => event.ready(flags))
}

/**
 * Watches `event` for `flags` (0 = stop watching). A call that would leave the event
 * exactly as it is (same mask, same state) does not reach the implementation. A
 * cleaned-up event is left alone. Throws an {@link iopsCallError} when the
 * implementation's `updateEvent` throws.
 */
export const watchEvent = (iops: Iops.Service, event: IOEvent, flags: number): void => {
  if (event.state === PYCBC_EVSTATE_FREED) return
  const state = flags === 0 ? PYCBC_EVSTATE_SUSPENDED : PYCBC_EVSTATE_ACTIVE
  if (event.flags === flags && event.state === state) return
  // An event that was never watched needs no UNWATCH either.
  if (flags === 0 && event.state !== PYCBC_EVSTATE_ACTIVE) {
    event.flags = 0
    return
  }
  event.updating = true
  try {
    iops.updateEvent(event, flags === 0 ? PYCBC_EVACTION_UNWATCH : PYCBC_EVACTION_WATCH, flags)
  } catch (thrown) {
    throw iopsCallError("updateEvent", thrown)
  } finally {
    event.updating = false
  }
  event.flags = flags
  event.state = state
  deliverEarlyReady(event, flags)
}

/**
 * Unwatches `event` if needed, then tells the implementation to drop it for good.
 * Never throws: it runs while a connection shuts down, and a failing implementation
 * must not stop the rest of that.
 */
export const destroyEvent = (iops: Iops.Service, event: IOEvent): void => {
  if (event.state === PYCBC_EVSTATE_FREED) return
  try {
    watchEvent(iops, event, 0)
    event.updating = true
    iops.updateEvent(event, PYCBC_EVACTION_CLEANUP, 0)
  } catch {
    // Shutting down anyway; the connection's error (if any) has been reported.
  }
  event.updating = false
  event.state = PYCBC_EVSTATE_FREED
  event.readyDuringUpdate = 0
  event.onReady = undefined
  event.socket = undefined
}

/**
 * Arms `timer` to fire once after `usecs` microseconds, replacing any earlier arming
 * (timers are always passed through: re-arming with a new delay is a change). Throws
 * an {@link iopsCallError} when the implementation's `updateTimer` throws.
 */
export const scheduleTimer = (iops: Iops.Service, timer: TimerEvent, usecs: number): void => {
  if (timer.state === PYCBC_EVSTATE_FREED) return
  timer.updating = true
  try {
    iops.updateTimer(timer, PYCBC_EVACTION_WATCH, Math.max(0, Math.ceil(usecs)))
  } catch (thrown) {
    throw iopsCallError("updateTimer", thrown)
  } finally {
    timer.updating = false
  }
  timer.state = PYCBC_EVSTATE_ACTIVE
  deliverEarlyReady(timer, 0)
}

/** Disarms `timer` if it is armed. Throws an {@link iopsCallError} when `updateTimer` throws. */
export const cancelTimer = (iops: Iops.Service, timer: TimerEvent): void => {
  if (timer.state !== PYCBC_EVSTATE_ACTIVE) return
  timer.updating = true
  try {
    iops.updateTimer(timer, PYCBC_EVACTION_UNWATCH, 0)
  } catch (thrown) {
    throw iopsCallError("updateTimer", thrown)
  } finally {
    timer.updating = false
  }
  timer.state = PYCBC_EVSTATE_SUSPENDED
  timer.readyDuringUpdate = 0
}

/** Disarms `timer`, then tells the implementation to drop it for good. Never throws (see {@link destroyEvent}). */
export const destroyTimer = (iops: Iops.Service, timer: TimerEvent): void => {
  if (timer.state === PYCBC_EVSTATE_FREED) return
  try {
    cancelTimer(iops, timer)
    timer.updating = true
    iops.updateTimer(timer, PYCBC_EVACTION_CLEANUP, 0)
  } catch {
    // See destroyEvent.
  }
  timer.updating = false
  timer.state = PYCBC_EVSTATE_FREED
  timer.readyDuringUpdate = 0
  timer.onReady = undefined
}

/** How many open connections use each Iops (see {@link retainLoop}). */
const loopUsers = new WeakMap<Iops.Service, number>()

/** One more connection uses `iops`: its loop must run until that connection has closed. */
export const retainLoop = (iops: Iops.Service): void => {
  loopUsers.set(iops, (loopUsers.get(iops) ?? 0) + 1)
}

/**
 * One connection fewer uses `iops`. When it was the last, the loop is told it is no
 * longer needed (`stopWatching`), so that a hand-rolled loop that runs until then lets
 * the process exit. Returns whether it was the last.
 */
export const releaseLoop = (iops: Iops.Service): boolean => {
  const users = (loopUsers.get(iops) ?? 1) - 1
  if (users > 0) {
    loopUsers.set(iops, users)
    return false
  }
  loopUsers.delete(iops)
  iops.stopWatching()
  return true
}
