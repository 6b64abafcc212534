/**
 * The protocol driver against a framed echo server, on the Node Iops (real sockets,
 * live clock) and on the simulated network (TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, type Scope, TestClock } from "effect"
import { NetworkError, ProtocolError } from "../../src/Errors.js"
import { listen as listenNode, type ServerSocket } from "../../src/Iops/Node.js"
import { makeNetwork, make as makeSimulated, type SimulatedNetwork } from "../../src/Iops/Simulated.js"
import type { Iops } from "../../src/Iops.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { Magic, Opcode } from "../../src/internal/protocol/constants.js"
import { framedEcho, pattern, recordingDriver, spyWrites } from "./echo.js"

interface Env {
  readonly iops: Iops.Service
  /** Binds a server and connects a client socket to it. */
  readonly connect: (onConnection: (socket: ServerSocket) => void) => Effect.Effect<Iops.Socket, never, Scope.Scope>
  readonly network?: SimulatedNetwork.Service
}

const nodeEnv: Effect.Effect<Env, never, Scope.Scope> = Effect.sync(() => {
  const iops = makeNodeIops()
  return {
    iops,
    connect: (onConnection) =>
      Effect.gen(function* () {
        const listener = yield* listenNode("127.0.0.1", 0, onConnection).pipe(Effect.orDie)
        const socket = yield* iops.connect({ host: "127.0.0.1", port: listener.port }).pipe(Effect.orDie)
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
        return socket
      })
  }
})

const simulatedEnv = (seed = 1): Effect.Effect<Env, never, Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* makeNetwork({ seed, trace: true })
    const iops = makeSimulated(network)
    return {
      iops,
      network,
      connect: (onConnection) =>
        Effect.gen(function* () {
          const listener = yield* network.listen("127.0.0.1", 11210, onConnection).pipe(Effect.orDie)
          const socket = yield* iops.connect({ host: "127.0.0.1", port: listener.port }).pipe(Effect.orDie)
          yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
          return socket
        })
    }
  })

/** A driver to an echoing peer, with its socket's writes spied on. */
const spiedEchoDriver = (env: Env, inFlight?: () => number) =>
  Effect.gen(function* () {
    const socket = yield* env.connect(framedEcho)
    const spy = spyWrites(socket)
    return { spy, ...(yield* recordingDriver(env.iops, socket, { inFlight })) }
  })

/** A driver on the simulated network whose peer has stopped reading, with its writes spied on. */
const stalledPeer = (inFlight?: () => number) =>
  Effect.gen(function* () {
    const env = yield* simulatedEnv()
    const socket = yield* env.connect(framedEcho)
    const spy = spyWrites(socket)
    const maxBatch = 64 * 1024
    const { driver, frames } = yield* recordingDriver(env.iops, socket, { maxBatchBytes: maxBatch, inFlight })
    env.network!.faults.stall("127.0.0.1:11210")
    // The socket holds at most its window plus the write that crossed it.
    const limit = 64 * 1024 + maxBatch + 64 * 1024 + 64
    /** Sends `count` frames of 64 KiB, calling `after` after each. */
    const sendLarge = (count: number, after: () => void = () => {}) => {
      for (let i = 0; i < count; i++) {
        driver.send({ opcode: Opcode.Set, opaque: i, key: Buffer.from("k"), value: pattern(64 * 1024, i) })
        after()
      }
    }
    /** The writes stopped at the limit; once the peer reads again, every frame arrives in order. */
    const expectHeldThenDelivered = (count: number) =>
      Effect.gen(function* () {
        expect(Math.max(...spy.bufferedAfter)).toBeLessThanOrEqual(limit)
        expect(driver.queuedBytes).toBeGreaterThan(count * 64 * 1024 - limit)
        expect(frames).toEqual([])
        env.network!.faults.heal()
        while (frames.length < count) yield* TestClock.adjust("1 millis")
        expect(frames.map((f) => f.opaque)).toEqual(Array.from({ length: count }, (_, i) => i))
        expect(frames[count - 1]!.value.equals(pattern(64 * 1024, count - 1))).toBe(true)
        expect(Math.max(...spy.bufferedAfter)).toBeLessThanOrEqual(limit)
        expect(driver.queuedBytes).toBe(0)
      })
    return { spy, driver, sendLarge, expectHeldThenDelivered }
  })

/** `count` GETs: a header and a key each. */
const keyOnlyGets = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ opcode: Opcode.Get, opaque: i, key: Buffer.from(`k${i}`) }))

/** The bytes of key-only frames on the wire. */
const bytesOf = (frames: ReadonlyArray<{ readonly key: Buffer }>): number =>
  frames.reduce((n, f) => n + 24 + f.key.length, 0)

/** Frames with keys and values of varied sizes, some above the driver's copy threshold. */
const requests = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    opcode: Opcode.Set,
    opaque: i + 1,
    key: Buffer.from(`key-${i}`),
    value: pattern(i % 50 === 7 ? 100_000 + i : (i * 37) % 2000, i)
  }))

/** Sends `count` frames and waits for every echo. */
const echoRoundTrip = (env: Env, count: number) =>
  Effect.gen(function* () {
    const socket = yield* env.connect(framedEcho)
    const sent = requests(count)
    const { driver, frames, closes, framesReceived } = yield* recordingDriver(env.iops, socket)
    for (const [i, r] of sent.entries()) expect(driver.send(r)).toBe(i)
    return { driver, frames, closes, sent, all: framesReceived(count) }
  })

const layers = [
  { name: "node", env: nodeEnv, test: it.scopedLive },
  { name: "simulated", env: simulatedEnv(), test: it.scoped }
] as const

for (const layer of layers) {
  describe(`Driver on ${layer.name}`, () => {
    layer.test("every frame sent comes back, in order, byte for byte", () =>
      Effect.gen(function* () {
        const env = yield* layer.env
        const { frames, closes, sent, all } = yield* echoRoundTrip(env, 400)
        yield* all
        expect(frames.map((f) => f.opaque)).toEqual(sent.map((r) => r.opaque))
        for (let i = 0; i < sent.length; i++) {
          expect(frames[i]!.magic).toBe(Magic.ClientResponse)
          expect(frames[i]!.key.equals(sent[i]!.key)).toBe(true)
          expect(frames[i]!.value.equals(sent[i]!.value)).toBe(true)
        }
        expect(closes).toEqual([])
      })
    )

    layer.test("frames sent in one tick leave in one write; large values are not copied into it", () =>
      Effect.gen(function* () {
        const { spy, driver, frames, framesReceived } = yield* spiedEchoDriver(yield* layer.env)
        const small = keyOnlyGets(100)
        for (const f of small) driver.send(f)
        expect(spy.sizes).toEqual([]) // nothing is written synchronously
        // Wait for the echoes of the first flush, then send a frame with a large value.
        yield* framesReceived(100)
        expect(spy.sizes).toEqual([bytesOf(small)])
        const big = pattern(64 * 1024, 9)
        driver.send({ opcode: Opcode.Set, opaque: 1000, key: Buffer.from("big"), value: big })
        yield* framesReceived(101)
        // Header + key in one write, the value itself in the next.
        expect(spy.sizes.slice(1)).toEqual([24 + 3, big.length])
        expect(frames[100]!.value.equals(big)).toBe(true)
      })
    )

    layer.test("with few requests at the peer, a quarter of the pipeline's depth leaves as soon as it is queued", () =>
      Effect.gen(function* () {
        // What the owner reports in flight, set by the test step by step.
        let load = 0
        const { spy, driver, frames, framesReceived } = yield* spiedEchoDriver(yield* layer.env, () => load)
        const gets = keyOnlyGets(20)
        const size = bytesOf(gets.slice(0, 1))
        // An idle peer and no depth yet: the first request leaves at once.
        load = 1
        driver.send(gets[0]!)
        expect(spy.sizes).toEqual([size])
        // 16 already at the peer: the next one waits for the tick's batch, which
        // records the depth (20 in flight).
        load = 17
        driver.send(gets[1]!)
        expect(spy.sizes).toEqual([size])
        load = 20
        yield* framesReceived(2)
        expect(spy.sizes).toEqual([size, size])
        // Depth 20: every 5 queued requests leave together while the peer has few.
        load = 4
        for (let i = 2; i < 6; i++) driver.send(gets[i]!)
        expect(spy.sizes).toHaveLength(2)
        driver.send(gets[6]!)
        expect(spy.sizes).toEqual([size, size, 5 * size])
        // A busy peer: nothing leaves before the tick's batch.
        load = 40
        for (let i = 7; i < 20; i++) driver.send(gets[i]!)
        expect(spy.sizes).toHaveLength(3)
        yield* framesReceived(20)
        expect(spy.sizes).toEqual([size, size, 5 * size, bytesOf(gets.slice(7))])
        expect(frames.map((f) => f.opaque)).toEqual(gets.map((f) => f.opaque))
      })
    )

    layer.test("the early-write rule counts requests: the frames of one leave together, at its last", () =>
      Effect.gen(function* () {
        const { spy, driver, framesReceived } = yield* spiedEchoDriver(yield* layer.env, () => 1)
        const gets = keyOnlyGets(10)
        for (let i = 0; i < 9; i++) driver.send(gets[i]!, false)
        expect(spy.sizes).toEqual([])
        driver.send(gets[9]!)
        expect(spy.sizes).toEqual([bytesOf(gets)])
        yield* framesReceived(10)
      })
    )

    layer.test("flushNow writes what is queued at once, in one write; with nothing queued it writes nothing", () =>
      Effect.gen(function* () {
        const { spy, driver, frames, framesReceived } = yield* spiedEchoDriver(yield* layer.env)
        const batch = keyOnlyGets(50)
        for (const f of batch) driver.send(f)
        driver.flushNow()
        // Synchronously, not at the next write readiness.
        expect(spy.sizes).toEqual([bytesOf(batch)])
        driver.flushNow()
        expect(spy.sizes).toHaveLength(1)
        yield* framesReceived(50)
        expect(frames.map((f) => f.opaque)).toEqual(batch.map((f) => f.opaque))
        expect(spy.sizes).toHaveLength(1)
      })
    )

    layer.test("garbage from the peer ends the driver once with a ProtocolError", () =>
      Effect.gen(function* () {
        const env = yield* layer.env
        const socket = yield* env.connect((server) => {
          server.write(Buffer.from([Magic.ClientResponse, ...Buffer.alloc(23)]))
          server.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n"))
        })
        const { driver, frames, closes, closed } = yield* recordingDriver(env.iops, socket)
        const error = yield* Deferred.await(closed)
        expect(error).toBeInstanceOf(ProtocolError)
        expect(error?.message).toContain(`127.0.0.1:${socket.remotePort}`)
        expect(frames).toHaveLength(1) // the valid frame before the garbage
        expect(driver.closed).toBe(true)
        expect(driver.send({ opcode: Opcode.Noop })).toBe(-1)
        expect(closes).toHaveLength(1)
      })
    )

    layer.test("the peer closing ends the driver once with a NetworkError naming host:port", () =>
      Effect.gen(function* () {
        const env = yield* layer.env
        const socket = yield* env.connect((server) => server.end())
        const { closes, closed } = yield* recordingDriver(env.iops, socket)
        const error = yield* Deferred.await(closed)
        expect(error).toBeInstanceOf(NetworkError)
        expect(error?.message).toContain(`127.0.0.1:${socket.remotePort}`)
        expect(closes).toHaveLength(1)
      })
    )

    layer.test("close() stops everything: onClose(undefined) once, no frames afterwards", () =>
      Effect.gen(function* () {
        const env = yield* layer.env
        const socket = yield* env.connect(framedEcho)
        const { driver, frames, closes } = yield* recordingDriver(env.iops, socket)
        driver.send({ opcode: Opcode.Noop, opaque: 1 })
        driver.close()
        driver.close()
        expect(closes).toEqual([undefined])
        expect(driver.queuedBytes).toBe(0)
        expect(frames).toEqual([])
      })
    )
  })
}

describe("Driver timer", () => {
  it.scoped("one timer, armed for the earliest deadline, fires once (TestClock)", () =>
    Effect.gen(function* () {
      const env = yield* simulatedEnv()
      const socket = yield* env.connect(framedEcho)
      const fired: Array<number> = []
      const { driver } = yield* recordingDriver(env.iops, socket, { onTimer: () => fired.push(driver.now()) })
      const t0 = driver.now()
      driver.armTimer(t0 + 2500)
      driver.armTimer(t0 + 500) // earlier: re-armed
      driver.armTimer(t0 + 1500) // later: ignored, the caller re-arms on firing
      yield* TestClock.adjust("499 millis")
      expect(fired).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(fired.map((t) => t - t0)).toEqual([500])
      yield* TestClock.adjust("5 seconds")
      expect(fired).toHaveLength(1)
      // Re-armed from the handler's point of view; disarmed before it is due.
      driver.armTimer(driver.now() + 100)
      driver.disarmTimer()
      yield* TestClock.adjust("1 second")
      expect(fired).toHaveLength(1)
    })
  )

  it.scopedLive("fires on the Node loop no earlier than the deadline", () =>
    Effect.gen(function* () {
      const env = yield* nodeEnv
      const socket = yield* env.connect(framedEcho)
      const done = yield* Deferred.make<number>()
      const { driver } = yield* recordingDriver(env.iops, socket, {
        onTimer: () => Deferred.unsafeDone(done, Effect.succeed(driver.now()))
      })
      const deadline = driver.now() + 20
      driver.armTimer(deadline)
      expect(yield* Deferred.await(done)).toBeGreaterThanOrEqual(deadline)
    })
  )
})

describe("Driver under faults (simulated network, TestClock)", () => {
  it.scoped("random split delivery: every frame still decodes", () =>
    Effect.gen(function* () {
      const env = yield* simulatedEnv(99)
      env.network!.faults.split("127.0.0.1:11210", { minPiece: 1, maxPiece: 7 }, { direction: "both" })
      const { frames, sent, all, closes } = yield* echoRoundTrip(env, 20)
      yield* all
      expect(frames.map((f) => f.value.toString("hex"))).toEqual(sent.map((r) => r.value.toString("hex")))
      expect(closes).toEqual([])
      // The pieces really were small.
      const pieces = env.network!.trace().filter((e) => e.kind === "data")
      expect(pieces.length).toBeGreaterThan(1000)
      expect(pieces.reduce((max, e) => Math.max(max, e.bytes ?? 0), 0)).toBeLessThanOrEqual(7)
    })
  )

  it.scoped("split at chosen boundaries, inside the header and the value", () =>
    Effect.gen(function* () {
      const env = yield* simulatedEnv()
      const socket = yield* env.connect(framedEcho)
      env.network!.faults.split(env.network!.connections()[0]!, { boundaries: [1, 23, 24, 30, 31] })
      const { driver, frames, framesReceived } = yield* recordingDriver(env.iops, socket)
      driver.send({ opcode: Opcode.Set, opaque: 7, key: Buffer.from("k"), value: Buffer.from("0123456789") })
      driver.send({ opcode: Opcode.Get, opaque: 8, key: Buffer.from("k") })
      yield* framesReceived(2)
      expect(frames.map((f) => [f.opaque, f.value.toString()])).toEqual([
        [7, "0123456789"],
        [8, ""]
      ])
      const toClient = env.network!.trace().filter((e) => e.kind === "data" && e.direction === "toClient")
      expect(toClient.map((e) => e.bytes)).toEqual([1, 22, 1, 6, 1, 4, 25])
    })
  )

  it.scoped("a reset in the middle of a frame: whole frames before it, then one NetworkError", () =>
    Effect.gen(function* () {
      const env = yield* simulatedEnv()
      const socket = yield* env.connect(framedEcho)
      const { driver, frames, closes, closed } = yield* recordingDriver(env.iops, socket)
      // Three 24+1+10 byte responses; the reset lands 5 bytes into the third.
      env.network!.faults.reset("127.0.0.1:11210", { afterBytes: 35 * 2 + 5 })
      for (let i = 1; i <= 3; i++) {
        driver.send({ opcode: Opcode.Set, opaque: i, key: Buffer.from("k"), value: Buffer.from("0123456789") })
      }
      const error = yield* Deferred.await(closed)
      expect(error).toBeInstanceOf(NetworkError)
      expect(frames.map((f) => f.opaque)).toEqual([1, 2])
      expect(closes).toHaveLength(1)
      expect(env.network!.connections()).toEqual([])
    })
  )

  it.scoped("a stalled peer fills the socket once; the rest waits in the driver's queue", () =>
    Effect.gen(function* () {
      const { sendLarge, expectHeldThenDelivered } = yield* stalledPeer()
      sendLarge(64)
      yield* TestClock.adjust("1 second")
      yield* expectHeldThenDelivered(64)
    })
  )

  it.scoped("early writes stop at a full socket too: the rest waits for write readiness", () =>
    Effect.gen(function* () {
      // An owner that always reports an idle peer: every request would leave at once.
      const { spy, sendLarge, expectHeldThenDelivered } = yield* stalledPeer(() => 1)
      sendLarge(64)
      expect(spy.sizes.length).toBeGreaterThan(0)
      yield* expectHeldThenDelivered(64)
    })
  )

  it.scoped("flushNow does not write past a full socket: the rest waits for write readiness", () =>
    Effect.gen(function* () {
      const { driver, sendLarge, expectHeldThenDelivered } = yield* stalledPeer()
      // Writes stop once the socket says its buffer is full, however often flushNow is called.
      sendLarge(64, () => driver.flushNow())
      yield* expectHeldThenDelivered(64)
    })
  )
})
