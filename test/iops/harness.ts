/**
 * Shared helpers of the Iops tests: the implementations under contract test, and
 * small Effect wrappers around the callback-based event interface.
 */
import { Effect, type Scope } from "effect"
import { listen as listenNode, type ServerSocket } from "../../src/Iops/Node.js"
import { makeNetwork, make as makeSimulated } from "../../src/Iops/Simulated.js"
import {
  type IOEvent,
  type Iops,
  makeIOEvent,
  makeTimerEvent,
  scheduleTimer,
  type TimerEvent,
  watchEvent
} from "../../src/Iops.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { SelectLoop } from "./SelectLoop.js"

/** A bound test server. */
export interface Bound {
  readonly host: string
  readonly port: number
}

/** One implementation under test, built in the current scope. */
export interface Subject {
  readonly iops: Iops.Service
  /** Binds a server reachable by `iops.connect`. */
  readonly listen: (onConnection: (socket: ServerSocket) => void) => Effect.Effect<Bound, never, Scope.Scope>
  /** A port nothing listens on. */
  readonly closedPort: Effect.Effect<number>
}

/** A named way to build a {@link Subject}. */
export interface Implementation {
  readonly name: string
  readonly make: Effect.Effect<Subject, never, Scope.Scope>
}

const nodeListen = (onConnection: (socket: ServerSocket) => void) =>
  listenNode("127.0.0.1", 0, onConnection).pipe(Effect.orDie)

/** A port that was free a moment ago and is closed now. */
const nodeClosedPort: Effect.Effect<number> = Effect.scoped(nodeListen(() => {}).pipe(Effect.map((l) => l.port)))

/** Node, the simulated network (on the live clock here) and the hand-written loop. */
export const implementations: ReadonlyArray<Implementation> = [
  {
    name: "node",
    make: Effect.succeed({ iops: makeNodeIops(), listen: nodeListen, closedPort: nodeClosedPort })
  },
  {
    name: "simulated",
    make: Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 7 })
      return {
        iops: makeSimulated(network),
        listen: (onConnection) => network.listen("127.0.0.1", 0, onConnection).pipe(Effect.orDie),
        closedPort: Effect.succeed(39999)
      } satisfies Subject
    })
  },
  {
    name: "select loop",
    make: Effect.gen(function* () {
      const loop = new SelectLoop()
      yield* Effect.addFinalizer(() => Effect.sync(() => loop.stopWatching()))
      return { iops: loop, listen: nodeListen, closedPort: nodeClosedPort } satisfies Subject
    })
  }
]

/** An IOEvent on `socket` whose raw `ready` calls (even ignored ones) are recorded. */
export const recordingEvent = (iops: Iops.Service, socket: Iops.Socket): { event: IOEvent; raw: Array<number> } => {
  const event = makeIOEvent(iops)
  event.socket = socket
  const raw: Array<number> = []
  const ready = event.ready.bind(event)
  event.ready = (flags: number) => {
    raw.push(flags)
    ready(flags)
  }
  return { event, raw }
}

/** A TimerEvent whose raw `ready` calls are recorded. */
export const recordingTimer = (iops: Iops.Service): { timer: TimerEvent; raw: Array<number> } => {
  const timer = makeTimerEvent(iops)
  const raw: Array<number> = []
  const ready = timer.ready.bind(timer)
  timer.ready = (flags: number) => {
    raw.push(flags)
    ready(flags)
  }
  return { timer, raw }
}

/** Watches `event` for `flags` and waits for the delivery; yields the delivered flags. */
export const nextReady = (iops: Iops.Service, event: IOEvent, flags: number): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    event.onReady = (delivered) => resume(Effect.succeed(delivered))
    watchEvent(iops, event, flags)
    iops.startWatching()
    return Effect.sync(() => watchEvent(iops, event, 0))
  })

/** Sleeps `millis` on the implementation's own timers (everything queued before is delivered first). */
export const settle = (iops: Iops.Service, millis = 40): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = makeTimerEvent(iops)
    timer.onReady = () => resume(Effect.void)
    scheduleTimer(iops, timer, millis * 1000)
    iops.startWatching()
  })

/** Resolves once `predicate` holds, checking on the implementation's timers every few ms. */
export const eventually = (iops: Iops.Service, predicate: () => boolean, attempts = 500): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < attempts; i++) {
      if (predicate()) return
      yield* settle(iops, 2)
    }
    return yield* Effect.dieMessage("condition not reached")
  })

/** Reads from `socket` (waiting for readiness) until `count` bytes have arrived. */
export const readBytes = (iops: Iops.Service, event: IOEvent, count: number): Effect.Effect<Buffer, unknown> =>
  Effect.gen(function* () {
    const socket = event.socket!
    const chunks: Array<Buffer> = []
    let have = 0
    while (have < count) {
      const r = socket.read()
      if (r === null) {
        yield* nextReady(iops, event, 0x02)
        continue
      }
      if (!Buffer.isBuffer(r)) return yield* Effect.fail(r)
      chunks.push(r)
      have += r.length
    }
    return Buffer.concat(chunks)
  })

/** Reads until something other than bytes or `null` comes back, and returns it. */
export const readUntilEnd = (iops: Iops.Service, event: IOEvent, maxTurns = 1000): Effect.Effect<unknown> =>
  Effect.gen(function* () {
    const socket = event.socket!
    for (let i = 0; i < maxTurns; i++) {
      const r = socket.read()
      if (r === null) {
        yield* nextReady(iops, event, 0x02)
        continue
      }
      if (!Buffer.isBuffer(r)) return r
    }
    return yield* Effect.dieMessage("no end of stream")
  })
