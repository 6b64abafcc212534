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
import type { Iops } from "../../Iops.js"
import {
  IOEvent,
  PYCBC_EVACTION_CLEANUP,
  PYCBC_EVACTION_UNWATCH,
  PYCBC_EVACTION_WATCH,
  PYCBC_EVSTATE_ACTIVE,
  PYCBC_EVSTATE_FREED,
  PYCBC_EVSTATE_SUSPENDED,
  TimerEvent
} from "./events.js"

/** A fresh socket watcher from the implementation's factory, or the default class. */
export const makeIOEvent = (iops: Iops.Service): IOEvent => iops.ioEventFactory?.() ?? new IOEvent()

/** A fresh timer from the implementation's factory, or the default class. */
export const makeTimerEvent = (iops: Iops.Service): TimerEvent => iops.timerEventFactory?.() ?? new TimerEvent()

/** The clock the implementation's timers run on, in milliseconds. */
export const now = (iops: Iops.Service): number => (iops.now === undefined ? performance.now() : iops.now())

/**
 * Watches `event` for `flags` (0 = stop watching). A call that would leave the event
 * exactly as it is (same mask, same state) does not reach the implementation. A
 * cleaned-up event is left alone.
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
  iops.updateEvent(event, flags === 0 ? PYCBC_EVACTION_UNWATCH : PYCBC_EVACTION_WATCH, flags)
  event.flags = flags
  event.state = state
}

/** Unwatches `event` if needed, then tells the implementation to drop it for good. */
export const destroyEvent = (iops: Iops.Service, event: IOEvent): void => {
  if (event.state === PYCBC_EVSTATE_FREED) return
  watchEvent(iops, event, 0)
  iops.updateEvent(event, PYCBC_EVACTION_CLEANUP, 0)
  event.state = PYCBC_EVSTATE_FREED
  event.onReady = undefined
  event.socket = undefined
}

/**
 * Arms `timer` to fire once after `usecs` microseconds, replacing any earlier arming
 * (timers are always passed through: re-arming with a new delay is a change).
 */
export const scheduleTimer = (iops: Iops.Service, timer: TimerEvent, usecs: number): void => {
  if (timer.state === PYCBC_EVSTATE_FREED) return
  iops.updateTimer(timer, PYCBC_EVACTION_WATCH, Math.max(0, Math.ceil(usecs)))
  timer.state = PYCBC_EVSTATE_ACTIVE
}

/** Disarms `timer` if it is armed. */
export const cancelTimer = (iops: Iops.Service, timer: TimerEvent): void => {
  if (timer.state !== PYCBC_EVSTATE_ACTIVE) return
  iops.updateTimer(timer, PYCBC_EVACTION_UNWATCH, 0)
  timer.state = PYCBC_EVSTATE_SUSPENDED
}

/** Disarms `timer`, then tells the implementation to drop it for good. */
export const destroyTimer = (iops: Iops.Service, timer: TimerEvent): void => {
  if (timer.state === PYCBC_EVSTATE_FREED) return
  cancelTimer(iops, timer)
  iops.updateTimer(timer, PYCBC_EVACTION_CLEANUP, 0)
  timer.state = PYCBC_EVSTATE_FREED
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
