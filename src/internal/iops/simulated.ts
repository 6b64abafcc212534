/**
 * The simulated Iops: the event interface over a {@link SimulatedNetwork}. Socket
 * readiness is computed by the network's client ends and delivered on its loop;
 * timers are tasks on the same loop, so under `TestClock` a 30-second timer fires
 * when the test adjusts the clock by 30 seconds, in order with every delivery.
 *
 * @internal
 */
import type { Iops } from "../../Iops.js"
import { type IOEvent, PYCBC_EVACTION_WATCH, type TimerEvent } from "./events.js"
import { ClientEnd, type SimulatedNetwork } from "./network.js"

const asClientEnd = (event: IOEvent): ClientEnd => {
  const socket = event.socket
  if (!(socket instanceof ClientEnd)) {
    throw new TypeError("Iops (simulated): the IOEvent's socket was not opened by this Iops")
  }
  return socket
}

/** Builds the simulated Iops on `network`. */
export const makeSimulatedIops = (network: SimulatedNetwork.Service): Iops.Service => ({
  name: "simulated",
  updateEvent: (event: IOEvent, action: number, flags: number): void => {
    if (action === PYCBC_EVACTION_WATCH) asClientEnd(event).watch(event, flags)
    else if (event.socket instanceof ClientEnd) event.socket.unwatch(event)
  },
  updateTimer: (timer: TimerEvent, action: number, usecs: number): void => {
    const cancel = timer.data as (() => void) | undefined
    cancel?.()
    timer.data = undefined
    if (action !== PYCBC_EVACTION_WATCH) return
    const disarm = network.schedule(usecs / 1000, () => {
      if (timer.data !== disarm) return
      timer.data = undefined
      timer.ready(0)
    })
    timer.data = disarm
  },
  startWatching: () => {},
  stopWatching: () => {},
  now: network.now,
  connect: network.connect
})
