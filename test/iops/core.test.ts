/**
 * The core's side of the contract (the glue every part of the client uses): no-op
 * updates are skipped, state and flags change only after the implementation's call,
 * factories are honoured, and the constants keep the seed's values.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Iops from "../../src/Iops.js"

interface Call {
  readonly kind: "event" | "timer"
  readonly action: number
  readonly arg: number
  /** The event's flags and state as the implementation saw them during the call. */
  readonly flagsDuring: number | undefined
  readonly stateDuring: number
}

class MyIOEvent extends Iops.IOEvent {
  readonly mine = true
}

const recorder = () => {
  const calls: Array<Call> = []
  const service: Iops.Iops.Service = {
    name: "recorder",
    updateEvent: (event, action, flags) =>
      calls.push({ kind: "event", action, arg: flags, flagsDuring: event.flags, stateDuring: event.state }),
    updateTimer: (timer, action, usecs) =>
      calls.push({ kind: "timer", action, arg: usecs, flagsDuring: undefined, stateDuring: timer.state }),
    startWatching: () => {},
    stopWatching: () => {},
    ioEventFactory: () => new MyIOEvent(),
    connect: () => Effect.dieMessage("not used")
  }
  return { calls, service }
}

describe("Iops constants", () => {
  it("keep the seed's names and values", () => {
    expect(Iops.LCB_READ_EVENT).toBe(0x02)
    expect(Iops.LCB_WRITE_EVENT).toBe(0x04)
    expect(Iops.LCB_RW_EVENT).toBe(0x06)
    expect(Iops.PYCBC_EVACTION_WATCH).toBe(1)
    expect(Iops.PYCBC_EVACTION_UNWATCH).toBe(2)
    expect(Iops.PYCBC_EVACTION_CLEANUP).toBe(16)
    expect([Iops.READ_EVENT, Iops.WRITE_EVENT, Iops.RW_EVENT]).toEqual([2, 4, 6])
    expect([Iops.WATCH, Iops.UNWATCH, Iops.CLEANUP]).toEqual([1, 2, 16])
  })
})

describe("Iops events", () => {
  it("readyR / readyW / readyRw are ready(READ / WRITE / RW)", () => {
    const got: Array<number> = []
    const event = new Iops.IOEvent()
    event.onReady = (flags) => got.push(flags)
    for (const fire of [() => event.readyR(), () => event.readyW(), () => event.readyRw()]) {
      event.state = Iops.PYCBC_EVSTATE_ACTIVE
      fire()
    }
    expect(got).toEqual([Iops.LCB_READ_EVENT, Iops.LCB_WRITE_EVENT, Iops.LCB_RW_EVENT])
  })

  it("ready() reaches the core only for a watched event, and suspends it", () => {
    const got: Array<number> = []
    const timer = new Iops.TimerEvent()
    timer.onReady = (flags) => got.push(flags)
    timer.ready(0)
    expect(got).toEqual([])
    timer.state = Iops.PYCBC_EVSTATE_ACTIVE
    timer.ready(0)
    expect(got).toEqual([0])
    expect(timer.state).toBe(Iops.PYCBC_EVSTATE_SUSPENDED)
    timer.ready(0)
    expect(got).toEqual([0])
    expect(timer.evtype).toBe(Iops.PYCBC_EVTYPE_TIMER)
    expect(new Iops.IOEvent().evtype).toBe(Iops.PYCBC_EVTYPE_IO)
  })
})

describe("Iops core glue", () => {
  it("uses the implementation's factories, with defaults when absent", () => {
    const { service } = recorder()
    expect(Iops.makeIOEvent(service)).toBeInstanceOf(MyIOEvent)
    expect(Iops.makeTimerEvent(service)).toBeInstanceOf(Iops.TimerEvent)
  })

  it("skips updates that change nothing and updates flags/state after the call", () => {
    const { calls, service } = recorder()
    const event = Iops.makeIOEvent(service)
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    expect(calls).toEqual([
      {
        kind: "event",
        action: Iops.PYCBC_EVACTION_WATCH,
        arg: Iops.LCB_READ_EVENT,
        flagsDuring: 0,
        stateDuring: Iops.PYCBC_EVSTATE_INITIALIZED
      }
    ])
    expect(event.flags).toBe(Iops.LCB_READ_EVENT)
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_ACTIVE)
    Iops.watchEvent(service, event, Iops.LCB_RW_EVENT)
    Iops.watchEvent(service, event, 0)
    // During UNWATCH the event still shows its old watch mask and state.
    expect(calls.slice(1)).toEqual([
      {
        kind: "event",
        action: Iops.PYCBC_EVACTION_WATCH,
        arg: Iops.LCB_RW_EVENT,
        flagsDuring: Iops.LCB_READ_EVENT,
        stateDuring: Iops.PYCBC_EVSTATE_ACTIVE
      },
      {
        kind: "event",
        action: Iops.PYCBC_EVACTION_UNWATCH,
        arg: 0,
        flagsDuring: Iops.LCB_RW_EVENT,
        stateDuring: Iops.PYCBC_EVSTATE_ACTIVE
      }
    ])
    expect(event.flags).toBe(0)
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_SUSPENDED)
  })

  it("re-watches after a delivery (a delivered event is no longer watched)", () => {
    const { calls, service } = recorder()
    const event = Iops.makeIOEvent(service)
    event.onReady = () => {}
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    event.readyR()
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    expect(calls.map((c) => c.action)).toEqual([Iops.PYCBC_EVACTION_WATCH, Iops.PYCBC_EVACTION_WATCH])
    // And no UNWATCH is needed for an event that was delivered.
    event.readyR()
    Iops.watchEvent(service, event, 0)
    expect(calls).toHaveLength(2)
  })

  it("cleans up once: UNWATCH first if watched, then CLEANUP; never again after", () => {
    const { calls, service } = recorder()
    const event = Iops.makeIOEvent(service)
    Iops.watchEvent(service, event, Iops.LCB_WRITE_EVENT)
    Iops.destroyEvent(service, event)
    Iops.destroyEvent(service, event)
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    expect(calls.map((c) => c.action)).toEqual([
      Iops.PYCBC_EVACTION_WATCH,
      Iops.PYCBC_EVACTION_UNWATCH,
      Iops.PYCBC_EVACTION_CLEANUP
    ])
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_FREED)
  })

  it("passes timer delays through in whole microseconds and re-arms every time", () => {
    const { calls, service } = recorder()
    const timer = Iops.makeTimerEvent(service)
    Iops.scheduleTimer(service, timer, 1500.2)
    Iops.scheduleTimer(service, timer, 1500.2)
    Iops.scheduleTimer(service, timer, -5)
    Iops.cancelTimer(service, timer)
    Iops.cancelTimer(service, timer)
    Iops.destroyTimer(service, timer)
    expect(calls.map((c) => [c.action, c.arg])).toEqual([
      [Iops.PYCBC_EVACTION_WATCH, 1501],
      [Iops.PYCBC_EVACTION_WATCH, 1501],
      [Iops.PYCBC_EVACTION_WATCH, 0],
      [Iops.PYCBC_EVACTION_UNWATCH, 0],
      [Iops.PYCBC_EVACTION_CLEANUP, 0]
    ])
  })

  it("reads the implementation's clock, or performance.now() without one", () => {
    const { service } = recorder()
    const before = performance.now()
    expect(Iops.now(service)).toBeGreaterThanOrEqual(before)
    expect(Iops.now({ ...service, now: () => 42 })).toBe(42)
  })
})

describe("Iops core glue with an implementation that breaks the contract", () => {
  /** An implementation that delivers (or throws) from inside its own update calls. */
  const eager = () => {
    const behaviour = { readyNow: true, throwNow: false }
    const service: Iops.Iops.Service = {
      name: "eager",
      updateEvent: (event, action, flags) => {
        if (behaviour.throwNow) throw new Error("no more events")
        if (action === Iops.PYCBC_EVACTION_WATCH && behaviour.readyNow) event.ready(flags)
      },
      updateTimer: (timer, action) => {
        if (behaviour.throwNow) throw new RangeError("no more timers")
        if (action === Iops.PYCBC_EVACTION_WATCH && behaviour.readyNow) timer.ready(0)
      },
      startWatching: () => {},
      stopWatching: () => {},
      connect: () => Effect.dieMessage("not used")
    }
    return { behaviour, service }
  }
  const microtask = () => new Promise<void>((resolve) => queueMicrotask(resolve))

  it("a ready() from inside updateEvent is delivered once, after the call, even after a delivery", async () => {
    const { behaviour, service } = eager()
    const event = Iops.makeIOEvent(service)
    const got: Array<number> = []
    event.onReady = (flags) => got.push(flags)
    Iops.watchEvent(service, event, Iops.LCB_RW_EVENT)
    // Not inside the core's call: after it, asynchronously.
    expect(got).toEqual([])
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_ACTIVE)
    await microtask()
    expect(got).toEqual([Iops.LCB_RW_EVENT])
    // The event was delivered (suspended); watching again delivers again.
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_SUSPENDED)
    Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)
    await microtask()
    expect(got).toEqual([Iops.LCB_RW_EVENT, Iops.LCB_READ_EVENT])
    // Unwatched before the microtask: nothing is delivered.
    Iops.watchEvent(service, event, Iops.LCB_WRITE_EVENT)
    behaviour.readyNow = false
    Iops.watchEvent(service, event, 0)
    await microtask()
    expect(got).toHaveLength(2)
  })

  it("a timer's ready(0) from inside updateTimer fires once, after the call", async () => {
    const { service } = eager()
    const timer = Iops.makeTimerEvent(service)
    let fired = 0
    timer.onReady = () => fired++
    Iops.scheduleTimer(service, timer, 0)
    expect(fired).toBe(0)
    await microtask()
    expect(fired).toBe(1)
  })

  it("what updateEvent or updateTimer throws comes out as a NetworkError naming the function; cleanup never throws", () => {
    const { behaviour, service } = eager()
    behaviour.readyNow = false
    const event = Iops.makeIOEvent(service)
    const timer = Iops.makeTimerEvent(service)
    behaviour.throwNow = true
    expect(() => Iops.watchEvent(service, event, Iops.LCB_READ_EVENT)).toThrow(
      expect.objectContaining({
        _tag: "NetworkError",
        message: "the I/O layer failed: its updateEvent threw Error: no more events"
      })
    )
    expect(() => Iops.scheduleTimer(service, timer, 10)).toThrow(
      expect.objectContaining({ message: "the I/O layer failed: its updateTimer threw RangeError: no more timers" })
    )
    // The bookkeeping did not move, and cleanup still completes.
    expect(event.state).toBe(Iops.PYCBC_EVSTATE_INITIALIZED)
    Iops.destroyEvent(service, event)
    Iops.destroyTimer(service, timer)
    expect([event.state, timer.state]).toEqual([Iops.PYCBC_EVSTATE_FREED, Iops.PYCBC_EVSTATE_FREED])
  })
})
