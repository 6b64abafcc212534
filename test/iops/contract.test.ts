/**
 * The Iops contract, run against every implementation: Node, the simulated network
 * (on the live clock) and the hand-written select loop of these tests.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { ConnectError, NetworkError } from "../../src/Errors.js"
import type { ServerSocket } from "../../src/Iops/Node.js"
import {
  cancelTimer,
  destroyEvent,
  destroyTimer,
  EOF,
  LCB_READ_EVENT,
  LCB_RW_EVENT,
  LCB_WRITE_EVENT,
  now,
  PYCBC_EVSTATE_FREED,
  scheduleTimer,
  watchEvent
} from "../../src/Iops.js"
import {
  eventually,
  implementations,
  nextReady,
  readBytes,
  readUntilEnd,
  recordingEvent,
  recordingTimer,
  type Subject,
  settle
} from "./harness.js"

/** A server that records what it receives and exposes its sockets. */
const recordingServer = (subject: Subject) =>
  Effect.gen(function* () {
    const sockets: Array<ServerSocket> = []
    const received: Array<Buffer> = []
    let count = 0
    const connected = yield* Deferred.make<ServerSocket>()
    const bound = yield* subject.listen((socket) => {
      sockets.push(socket)
      socket.onData((chunk) => {
        count += chunk.length
        if (received.length < 64) received.push(chunk)
      })
      Deferred.unsafeDone(connected, Effect.succeed(socket))
    })
    const client = yield* subject.iops.connect({ host: bound.host, port: bound.port })
    yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
    const server = yield* Deferred.await(connected)
    return {
      bound,
      client,
      server,
      sockets,
      /** The first chunks received (the start of the stream). */
      receivedBytes: () => Buffer.concat(received),
      receivedCount: () => count
    }
  })

for (const impl of implementations) {
  describe(`Iops contract: ${impl.name}`, () => {
    it.scopedLive("connects, writes and reads bytes both ways", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server, receivedBytes } = yield* recordingServer(subject)
        expect(client.remotePort).toBeGreaterThan(0)
        expect(client.write(Buffer.from("ping"))).toBe(true)
        yield* eventually(iops, () => receivedBytes().toString() === "ping")
        server.write(Buffer.from("pong"))
        const { event } = recordingEvent(iops, client)
        const got = yield* readBytes(iops, event, 4)
        expect(got.toString()).toBe("pong")
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("watchers are non-repeatable: one delivery per WATCH, level-triggered on re-watch", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server } = yield* recordingServer(subject)
        server.write(Buffer.from("abc"))
        const { event, raw } = recordingEvent(iops, client)
        const flags = yield* nextReady(iops, event, LCB_READ_EVENT)
        expect(flags).toBe(LCB_READ_EVENT)
        // Nothing read, still readable, and more arrives: yet no second delivery
        // without a new WATCH.
        server.write(Buffer.from("def"))
        yield* settle(iops)
        expect(raw).toEqual([LCB_READ_EVENT])
        const again = yield* nextReady(iops, event, LCB_READ_EVENT)
        expect(again).toBe(LCB_READ_EVENT)
        expect(raw).toEqual([LCB_READ_EVENT, LCB_READ_EVENT])
        const bytes = yield* readBytes(iops, event, 6)
        expect(bytes.toString()).toBe("abcdef")
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("UNWATCH stops delivery, even of a condition that already held", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server } = yield* recordingServer(subject)
        const { event, raw } = recordingEvent(iops, client)
        event.onReady = () => {}
        // Watched and unwatched before anything arrives.
        watchEvent(iops, event, LCB_READ_EVENT)
        iops.startWatching()
        watchEvent(iops, event, 0)
        server.write(Buffer.from("late"))
        yield* settle(iops)
        expect(raw).toEqual([])
        // Data is there now: a WATCH would deliver; an UNWATCH in the same tick cancels it.
        watchEvent(iops, event, LCB_READ_EVENT)
        watchEvent(iops, event, 0)
        yield* settle(iops)
        expect(raw).toEqual([])
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("CLEANUP'd events and timers never fire", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server } = yield* recordingServer(subject)
        const { event, raw } = recordingEvent(iops, client)
        let called = 0
        event.onReady = () => called++
        watchEvent(iops, event, LCB_RW_EVENT)
        iops.startWatching()
        destroyEvent(iops, event)
        expect(event.state).toBe(PYCBC_EVSTATE_FREED)
        const { timer, raw: timerRaw } = recordingTimer(iops)
        timer.onReady = () => called++
        scheduleTimer(iops, timer, 5_000)
        destroyTimer(iops, timer)
        server.write(Buffer.from("data"))
        yield* settle(iops, 60)
        expect(raw).toEqual([])
        expect(timerRaw).toEqual([])
        // Even a stray ready() on a freed event does not reach the core.
        event.ready(LCB_READ_EVENT)
        timer.ready(0)
        expect(called).toBe(0)
      })
    )

    it.scopedLive("timers fire once, with ready(0), no earlier than the requested microseconds", () =>
      Effect.gen(function* () {
        const { iops } = yield* impl.make
        const { timer, raw } = recordingTimer(iops)
        const fired = yield* Deferred.make<number>()
        timer.onReady = () => Deferred.unsafeDone(fired, Effect.succeed(now(iops)))
        const armedAt = now(iops)
        scheduleTimer(iops, timer, 25_000)
        iops.startWatching()
        const at = yield* Deferred.await(fired)
        expect(at - armedAt).toBeGreaterThanOrEqual(25 - 0.001)
        yield* settle(iops, 40)
        expect(raw).toEqual([0])
      })
    )

    it.scopedLive("re-arming a timer replaces the earlier arming; UNWATCH disarms", () =>
      Effect.gen(function* () {
        const { iops } = yield* impl.make
        const { timer, raw } = recordingTimer(iops)
        const fired = yield* Deferred.make<number>()
        timer.onReady = () => Deferred.unsafeDone(fired, Effect.succeed(now(iops)))
        const armedAt = now(iops)
        scheduleTimer(iops, timer, 5_000)
        scheduleTimer(iops, timer, 30_000)
        iops.startWatching()
        const at = yield* Deferred.await(fired)
        expect(at - armedAt).toBeGreaterThanOrEqual(30 - 0.001)
        expect(raw).toEqual([0])
        const { timer: other, raw: otherRaw } = recordingTimer(iops)
        other.onReady = () => {}
        scheduleTimer(iops, other, 5_000)
        cancelTimer(iops, other)
        yield* settle(iops, 30)
        expect(otherRaw).toEqual([])
      })
    )

    it.scopedLive("ready(flags) carries every watched condition that holds (RW)", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server } = yield* recordingServer(subject)
        const { event } = recordingEvent(iops, client)
        // Nothing to read yet: RW watch reports write readiness only.
        expect(yield* nextReady(iops, event, LCB_RW_EVENT)).toBe(LCB_WRITE_EVENT)
        server.write(Buffer.from("x"))
        // Wait for the byte with a READ watch, then RW sees both.
        expect(yield* nextReady(iops, event, LCB_READ_EVENT)).toBe(LCB_READ_EVENT)
        expect(yield* nextReady(iops, event, LCB_RW_EVENT)).toBe(LCB_RW_EVENT)
        // A WRITE-only watch does not report the pending read.
        expect(yield* nextReady(iops, event, LCB_WRITE_EVENT)).toBe(LCB_WRITE_EVENT)
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("end-of-stream is reported as EOF after the last bytes, and stays", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server } = yield* recordingServer(subject)
        server.write(Buffer.from("last words"))
        server.end()
        const { event } = recordingEvent(iops, client)
        const bytes = yield* readBytes(iops, event, 10)
        expect(bytes.toString()).toBe("last words")
        const end = yield* readUntilEnd(iops, event)
        expect(end).toBe(EOF)
        expect(client.read()).toBe(EOF)
        // Read readiness holds at EOF, so a waiting reader is never stranded.
        expect(yield* nextReady(iops, event, LCB_READ_EVENT)).toBe(LCB_READ_EVENT)
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("a reset connection is reported as a NetworkError naming host:port, to readers and writers", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { bound, client, server } = yield* recordingServer(subject)
        server.destroy()
        const { event } = recordingEvent(iops, client)
        const end = yield* readUntilEnd(iops, event)
        expect(end).toBeInstanceOf(NetworkError)
        expect((end as NetworkError).message).toContain(`${bound.host}:${bound.port}`)
        // A failed socket is "ready" both ways and drops writes.
        expect(yield* nextReady(iops, event, LCB_RW_EVENT)).toBe(LCB_RW_EVENT)
        expect(client.write(Buffer.from("into the void"))).toBe(false)
        destroyEvent(iops, event)
      })
    )

    it.scopedLive("a refused connection fails with ConnectError naming host:port", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const port = yield* subject.closedPort
        const error = yield* Effect.flip(subject.iops.connect({ host: "127.0.0.1", port }))
        expect(error).toBeInstanceOf(ConnectError)
        expect(error.message).toContain(`127.0.0.1:${port}`)
      })
    )

    it.scopedLive("write returns false when the peer stops reading, and write readiness returns when it resumes", () =>
      Effect.gen(function* () {
        const subject = yield* impl.make
        const { iops } = subject
        const { client, server, receivedCount } = yield* recordingServer(subject)
        server.pause()
        const { event, raw } = recordingEvent(iops, client)
        const chunk = Buffer.alloc(64 * 1024, 7)
        let written = 0
        let blocked = false
        // Fill every buffer on the way (the kernel's too, on real sockets) until the
        // socket stays unwritable; bounded so a broken implementation cannot run away.
        while (!blocked && written < 256 * 1024 * 1024) {
          if (client.write(chunk)) {
            written += chunk.length
            continue
          }
          written += chunk.length
          const race = yield* Effect.raceFirst(
            nextReady(iops, event, LCB_WRITE_EVENT).pipe(Effect.as("writable" as const)),
            settle(iops, 100).pipe(Effect.as("blocked" as const))
          )
          blocked = race === "blocked"
        }
        expect(blocked).toBe(true)
        const deliveriesWhileBlocked = raw.length
        server.resume()
        expect(yield* nextReady(iops, event, LCB_WRITE_EVENT)).toBe(LCB_WRITE_EVENT)
        expect(raw.length).toBe(deliveriesWhileBlocked + 1)
        yield* eventually(iops, () => receivedCount() === written, 5000)
        expect(receivedCount()).toBe(written)
        destroyEvent(iops, event)
      })
    )
  })
}
