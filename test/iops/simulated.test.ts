/**
 * The simulated network under TestClock: virtual time, faults, determinism, and the
 * server-side socket API the embedded cluster builds on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Scope, TestClock } from "effect"
import { ConnectError, NetworkError } from "../../src/Errors.js"
import * as Simulated from "../../src/Iops/Simulated.js"
import { ListenError, makeNetwork, type ServerSocket, SimulatedNetwork } from "../../src/Iops/Simulated.js"
import {
  EOF,
  Iops,
  LCB_READ_EVENT,
  LCB_WRITE_EVENT,
  layerSimulated,
  makeTimerEvent,
  now,
  scheduleTimer
} from "../../src/Iops.js"
import { pattern } from "./echo.js"
import { nextReady, readBytes, recordingEvent } from "./harness.js"

const ADDRESS = "127.0.0.1:11210"

/**
 * Lets the network's loop run everything due now: `TestClock.adjust` first waits
 * for every fiber of the test to be suspended.
 */
const flush = TestClock.adjust(0)

/** The network and its Iops from the public layer (built into the test's scope), plus a server that records and can answer. */
const setup = (options: Simulated.SimulatedNetworkOptions = {}) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(layerSimulated(options), scope)
    const iops = Context.get(context, Iops)
    const network = Context.get(context, SimulatedNetwork)
    const servers: Array<ServerSocket> = []
    const received: Array<string> = []
    yield* network.listen("127.0.0.1", 11210, (socket) => {
      servers.push(socket)
      socket.onData((chunk) => received.push(chunk.toString()))
    })
    return { iops, network, servers, received }
  })

describe("Simulated network: time", () => {
  it.scoped("a 30-second timer fires after TestClock.adjust('30 seconds'), with ready(0), and not before", () =>
    Effect.gen(function* () {
      const { iops } = yield* setup()
      const timer = makeTimerEvent(iops)
      const fired: Array<{ flags: number; at: number }> = []
      const armedAt = now(iops)
      const realStart = performance.now()
      timer.onReady = (flags) => fired.push({ flags, at: now(iops) - armedAt })
      scheduleTimer(iops, timer, 30_000_000)
      yield* TestClock.adjust("29999 millis")
      expect(fired).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(fired).toEqual([{ flags: 0, at: 30_000 }])
      yield* TestClock.adjust("1 minute")
      expect(fired).toHaveLength(1)
      // Virtual time: the 30 simulated seconds were not waited for (this bounds the
      // semantics, not the speed: a real wait would take the full 30 s).
      expect(performance.now() - realStart).toBeLessThan(30_000)
    })
  )

  it.scoped("delivery is asynchronous even without latency, and latency is honoured one way", () =>
    Effect.gen(function* () {
      const { iops, network, received, servers } = yield* setup()
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      client.write(Buffer.from("now"))
      expect(received).toEqual([]) // never inside write()
      yield* flush
      expect(received).toEqual(["now"])
      network.faults.latency(ADDRESS, "10 millis")
      client.write(Buffer.from("later"))
      yield* TestClock.adjust("9 millis")
      expect(received).toEqual(["now"])
      yield* TestClock.adjust("1 millis")
      expect(received).toEqual(["now", "later"])
      const { event } = recordingEvent(iops, client)
      servers[0]!.write(Buffer.from("back"))
      const reply = yield* readBytes(iops, event, 4).pipe(Effect.fork)
      yield* TestClock.adjust("10 millis")
      expect((yield* Fiber.join(reply)).toString()).toBe("back")
    })
  )

  it.scoped("jitter never reorders a connection's bytes", () =>
    Effect.gen(function* () {
      const { iops, network, received } = yield* setup({ seed: 3 })
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      network.faults.latency(ADDRESS, "5 millis", { jitter: "20 millis" })
      for (let i = 0; i < 50; i++) client.write(Buffer.from(`${i},`))
      yield* TestClock.adjust("1 second")
      expect(received.join("")).toBe(Array.from({ length: 50 }, (_, i) => `${i},`).join(""))
    })
  )
})

describe("Simulated network: faults", () => {
  it.scoped("stall: nothing flows, the writer blocks; heal delivers everything held", () =>
    Effect.gen(function* () {
      const { iops, network, received } = yield* setup({ highWaterMark: 1024 })
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      network.faults.stall(ADDRESS)
      expect(client.write(Buffer.alloc(600, 97))).toBe(true)
      expect(client.write(Buffer.alloc(600, 98))).toBe(false)
      const { event, raw } = recordingEvent(iops, client)
      const writable = yield* Effect.fork(nextReady(iops, event, LCB_WRITE_EVENT))
      yield* TestClock.adjust("1 hour")
      expect(received).toEqual([])
      expect(raw).toEqual([])
      network.faults.heal(ADDRESS)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(writable)).toBe(LCB_WRITE_EVENT)
      expect(received.join("")).toBe("a".repeat(600) + "b".repeat(600))
    })
  )

  it.scoped("a stalled node does not answer connects; they proceed on heal", () =>
    Effect.gen(function* () {
      const { iops, network, servers } = yield* setup()
      network.faults.stall("127.0.0.1")
      const attempt = yield* Effect.fork(
        iops.connect({ host: "127.0.0.1", port: 11210 }).pipe(Effect.timeout("2 seconds"))
      )
      yield* TestClock.adjust("2 seconds")
      const timedOut = yield* Fiber.await(attempt)
      expect(Exit.isFailure(timedOut)).toBe(true)
      const second = yield* Effect.fork(iops.connect({ host: "127.0.0.1", port: 11210 }))
      yield* TestClock.adjust("1 minute")
      expect(servers).toHaveLength(0)
      network.faults.heal()
      yield* TestClock.adjust("1 millis")
      const socket = yield* Fiber.join(second)
      expect(socket.remotePort).toBe(11210)
      expect(servers).toHaveLength(1) // the abandoned attempt never connected
    })
  )

  it.scoped("partition: on heal, connections that had bytes in flight are reset", () =>
    Effect.gen(function* () {
      const { iops, network, servers, received } = yield* setup()
      const busy = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      const idle = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      yield* flush
      const closes: Array<Error | undefined> = []
      servers[0]!.onClose((error) => closes.push(error))
      network.faults.partition(ADDRESS)
      busy.write(Buffer.from("lost"))
      yield* TestClock.adjust("10 seconds")
      network.faults.heal(ADDRESS)
      yield* TestClock.adjust("1 millis")
      expect(received).toEqual([])
      const { event } = recordingEvent(iops, busy)
      yield* nextReady(iops, event, LCB_READ_EVENT)
      expect(busy.read()).toBeInstanceOf(NetworkError)
      expect(closes).toHaveLength(1)
      expect(closes[0]).toBeInstanceOf(Error)
      // The idle connection survives.
      expect(idle.write(Buffer.from("still here"))).toBe(true)
      yield* flush
      expect(received).toEqual(["still here"])
      expect(network.connections(ADDRESS)).toHaveLength(1)
    })
  )

  it.scoped("refuse: ConnectError naming host:port until healed", () =>
    Effect.gen(function* () {
      const { iops, network } = yield* setup()
      network.faults.refuse(ADDRESS)
      const error = yield* Effect.flip(iops.connect({ host: "localhost", port: 11210 }))
      expect(error).toBeInstanceOf(ConnectError)
      expect(error.message).toContain("localhost:11210")
      expect(error.message).toContain("ECONNREFUSED")
      network.faults.heal()
      const socket = yield* iops.connect({ host: "localhost", port: 11210 })
      expect(socket.remoteHost).toBe("localhost")
    })
  )

  it.scoped("reset at once: the client reads a NetworkError, the server gets onClose(error)", () =>
    Effect.gen(function* () {
      const { iops, network, servers } = yield* setup()
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      yield* flush
      const closed = yield* Deferred.make<Error | undefined>()
      servers[0]!.onClose((error) => Deferred.unsafeDone(closed, Effect.succeed(error)))
      network.faults.reset(servers[0]!)
      const { event } = recordingEvent(iops, client)
      expect(yield* nextReady(iops, event, LCB_READ_EVENT)).toBe(LCB_READ_EVENT)
      const r = client.read()
      expect(r).toBeInstanceOf(NetworkError)
      expect((r as NetworkError).message).toContain("127.0.0.1:11210")
      expect((yield* Deferred.await(closed))?.message).toContain("ECONNRESET")
      expect(client.write(Buffer.from("x"))).toBe(false)
    })
  )

  it.scoped("TLS on one side only fails the connect", () =>
    Effect.gen(function* () {
      const { iops, network } = yield* setup()
      yield* network.listen("127.0.0.1", 11207, () => {}, { secure: true })
      expect(yield* Effect.flip(iops.connect({ host: "127.0.0.1", port: 11210, tls: true }))).toBeInstanceOf(
        ConnectError
      )
      expect(yield* Effect.flip(iops.connect({ host: "127.0.0.1", port: 11207 }))).toBeInstanceOf(ConnectError)
      const secure = yield* iops.connect({ host: "127.0.0.1", port: 11207, tls: { rejectUnauthorized: false } })
      expect(secure.secure).toBe(true)
    })
  )
})

/** A script with latency, jitter and random splits; returns the network's trace. */
const script = (seed: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed, trace: true })
      const iops = Simulated.make(network)
      yield* network.listen("127.0.0.1", 11210, (socket) => socket.onData((chunk) => socket.write(chunk)))
      network.faults.latency(ADDRESS, "2 millis", { jitter: "3 millis" })
      network.faults.split(ADDRESS, { maxPiece: 9 }, { direction: "both" })
      // The handshake takes a round trip of the latency.
      const connecting = yield* Effect.fork(iops.connect({ host: "127.0.0.1", port: 11210 }))
      yield* TestClock.adjust("10 millis")
      const client = yield* Fiber.join(connecting)
      const { event } = recordingEvent(iops, client)
      const echoed = yield* Effect.fork(readBytes(iops, event, 5 * 100))
      for (let i = 0; i < 5; i++) {
        client.write(pattern(100, i))
        yield* TestClock.adjust("1 millis")
      }
      yield* TestClock.adjust("1 second")
      const bytes = yield* Fiber.join(echoed)
      expect(bytes.equals(Buffer.concat(Array.from({ length: 5 }, (_, i) => pattern(100, i))))).toBe(true)
      return network.trace()
    })
  )

describe("Simulated network: determinism", () => {
  it.effect("the same seed and script give the same run, delivery for delivery", () =>
    Effect.gen(function* () {
      const first = yield* script(1234)
      const second = yield* script(1234)
      expect(first.length).toBeGreaterThan(20)
      expect(second).toEqual(first)
    })
  )

  it.effect("a different seed gives a different run", () =>
    Effect.gen(function* () {
      const a = yield* script(1)
      const b = yield* script(2)
      expect(b).not.toEqual(a)
    })
  )
})

describe("Simulated network: the server side", () => {
  it.scoped("listen: port 0 picks a free port, a taken address fails with ListenError, closing refuses", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork()
      const iops = Simulated.make(network)
      const a = yield* network.listen("127.0.0.1", 0, () => {})
      const b = yield* network.listen("127.0.0.1", 0, () => {})
      expect(a.port).not.toBe(b.port)
      expect(a.address).toBe(`127.0.0.1:${a.port}`)
      const taken = yield* Effect.flip(network.listen("0.0.0.0", a.port, () => {}))
      expect(taken).toBeInstanceOf(ListenError)
      expect(taken.message).toContain("EADDRINUSE")
      a.close()
      expect(yield* Effect.flip(iops.connect({ host: "127.0.0.1", port: a.port }))).toBeInstanceOf(ConnectError)
    })
  )

  it.scoped("server writes apply back-pressure: false when the client does not read, onDrain after it does", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ highWaterMark: 4096 })
      const iops = Simulated.make(network)
      const accepted = yield* Deferred.make<ServerSocket>()
      yield* network.listen("127.0.0.1", 11210, (s) => Deferred.unsafeDone(accepted, Effect.succeed(s)))
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      const server = yield* Deferred.await(accepted)
      let drains = 0
      server.onDrain(() => drains++)
      expect(server.write(Buffer.alloc(3000))).toBe(true)
      expect(server.write(Buffer.alloc(3000))).toBe(false)
      expect(server.writableLength).toBe(6000)
      yield* TestClock.adjust("1 second")
      expect(drains).toBe(0)
      const { event } = recordingEvent(iops, client)
      const got = yield* readBytes(iops, event, 6000)
      expect(got.length).toBe(6000)
      yield* flush
      expect(drains).toBe(1)
      expect(server.writableLength).toBe(0)
    })
  )

  it.scoped("an orderly close: onEnd, the server side ends by itself, then onClose(undefined)", () =>
    Effect.gen(function* () {
      const { iops, network, servers, received } = yield* setup()
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      yield* flush
      const steps: Array<string> = []
      const closed = yield* Deferred.make<void>()
      servers[0]!.onEnd(() => steps.push("end"))
      servers[0]!.onClose((error) => {
        steps.push(`close:${error === undefined ? "clean" : error.message}`)
        Deferred.unsafeDone(closed, Effect.void)
      })
      client.write(Buffer.from("bye"))
      client.close()
      yield* Deferred.await(closed)
      expect(received).toEqual(["bye"])
      expect(steps).toEqual(["end", "close:clean"])
      expect(client.read()).toBe(EOF)
      expect(network.connections()).toEqual([])
    })
  )

  it.scoped("bytes that arrive while paused (or before onData) are kept and delivered in order", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork()
      const iops = Simulated.make(network)
      const accepted = yield* Deferred.make<ServerSocket>()
      yield* network.listen("127.0.0.1", 11210, (s) => Deferred.unsafeDone(accepted, Effect.succeed(s)))
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      const server = yield* Deferred.await(accepted)
      client.write(Buffer.from("a"))
      yield* flush
      const got: Array<string> = []
      server.onData((chunk) => got.push(chunk.toString()))
      server.pause()
      client.write(Buffer.from("b"))
      yield* TestClock.adjust("1 second")
      expect(got).toEqual([])
      server.resume()
      client.write(Buffer.from("c"))
      yield* flush
      expect(got).toEqual(["a", "b", "c"])
    })
  )

  it.scoped("closing the network's scope resets its connections", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const network = yield* makeNetwork().pipe(Scope.extend(scope))
      const iops = Simulated.make(network)
      const closes: Array<Error | undefined> = []
      yield* network.listen("127.0.0.1", 11210, (s) => s.onClose((e) => closes.push(e))).pipe(Scope.extend(scope))
      const client = yield* iops.connect({ host: "127.0.0.1", port: 11210 })
      yield* Scope.close(scope, Exit.void)
      expect(client.read()).toBeInstanceOf(NetworkError)
      expect(network.connections()).toEqual([])
    })
  )
})
