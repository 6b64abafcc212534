/**
 * An Effect `Clock` whose sleeps are timers of an {@link Iops}: a connection runs its
 * own fibers (config polling, reconnect backoff, bootstrap and connect timeouts) and
 * the waits inside its operations (retry backoff, durability polling, view timeouts)
 * on it, so that every wait of the client follows the Iops's timers and its clock
 * (`now()`), on Node's loop, the simulated network or an integrator's loop alike.
 *
 * Reading the time is the base clock's (wall-clock milliseconds, which expiry times
 * need); only waiting changes. Each sleep owns one Iops timer, cleaned up when it
 * fires or is interrupted. A sleep cannot fail, so one whose `updateTimer` throws dies
 * with the Iops's `NetworkError` (the connection's sockets, which arm timers too, fail
 * typed at the same time).
 *
 * @internal
 */
import { type Clock, Duration, Effect } from "effect"
import type { Iops } from "../../Iops.js"
import { destroyTimer, makeTimerEvent, scheduleTimer } from "./core.js"

/** A sleep of `millis` on an Iops timer. */
export const iopsSleep = (iops: Iops.Service, millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = makeTimerEvent(iops)
    timer.onReady = () => {
      destroyTimer(iops, timer)
      resume(Effect.void)
    }
    try {
      scheduleTimer(iops, timer, millis * 1000)
    } catch (error) {
      destroyTimer(iops, timer)
      resume(Effect.die(error))
      return
    }
    return Effect.sync(() => destroyTimer(iops, timer))
  })

/** `base`, with its sleeps on `iops`'s timers. */
export const makeIopsClock = (iops: Iops.Service, base: Clock.Clock): Clock.Clock =>
  Object.create(base, {
    sleep: { value: (duration: Duration.Duration) => iopsSleep(iops, Duration.toMillis(duration)) }
  })
