/**
 * Faults on the simulated network under TestClock: the embedded cluster listens on
 * the simulated network only, the client uses the simulated Iops, and time passes
 * only when the test says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Either, Exit, Fiber, Option, TestClock } from "effect"
import type { Connection } from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import type { CouchbaseError } from "../../src/Errors.js"
import { makeNetwork, make as makeSimulatedIops } from "../../src/Iops/Simulated.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import type { Options } from "../../src/internal/connection/options.js"
import { FMT_UTF8 } from "../../src/Transcoder.js"

/** A cluster and a client on one simulated network. */
const setup = (nodes: number, options: Options = {}) =>
  Effect.gen(function* () {
    const network = yield* makeNetwork({ seed: 42 })
    const cluster = yield* EmbeddedCluster.make({ nodes, replicas: 1, tcp: false, network })
    const cb: Connection.Service = yield* makeClient({
      connectionString: cluster.connectionString,
      username: cluster.username,
      password: cluster.password,
      ...options
    }).pipe(Effect.provideService(Iops, makeSimulatedIops(network)))
    return { network, cluster, cb }
  })

/** `count` keys whose master is node `node`. */
const keysOn = (cluster: EmbeddedCluster.EmbeddedCluster.Service, node: number, count: number, prefix: string) =>
  Effect.gen(function* () {
    const keys: Array<string> = []
    for (let i = 0; keys.length < count; i++) {
      const key = `${prefix}${String(i).padStart(4, "0")}`
      const copies = yield* cluster.control.keyInfo(key)
      if (copies.find((c) => c.role === "master")?.node === node) keys.push(key)
    }
    return keys
  })

/**
 * Drops the client's connection to node `node` and refuses new ones, then lets the
 * client notice: its operations for that node now wait for a connection. Returns the
 * node's KV address (for `heal`, `latency`, …).
 */
const cutOff = (
  network: Effect.Effect.Success<ReturnType<typeof setup>>["network"],
  cluster: EmbeddedCluster.EmbeddedCluster.Service,
  node: number
) =>
  Effect.gen(function* () {
    const address = `127.0.0.1:${cluster.nodes[node]!.kv}`
    network.faults.refuse(address)
    network.faults.reset(address)
    yield* TestClock.adjust("1 millis")
    return address
  })

/** Runs `effect` while moving the TestClock 1 ms at a time (at most `limit` ms) until it completes. */
const drive = <A, E>(effect: Effect.Effect<A, E>, limit = 5000) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    for (let step = 0; step < limit && fiber.unsafePoll() === null; step++) yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

describe("faults on the simulated network (TestClock)", () => {
  it.scoped(
    "a reset mid-pipeline fails exactly the operations in flight, once each; new ones succeed after reconnect",
    () =>
      Effect.gen(function* () {
        const { network, cluster, cb } = yield* setup(2)
        const keys = yield* keysOn(cluster, 0, 50, "r")
        const values = Object.fromEntries(keys.map((k) => [k, `value-${k}`]))
        expect((yield* cb.upsertMulti(values, { format: FMT_UTF8 })).allOk).toBe(true)
        const node0 = `127.0.0.1:${cluster.nodes[0]!.kv}`

        // Each GET answer is 24 + 4 (flags) + 11 (value) bytes. Cut the stream toward
        // the client 20 answers and a half in: 20 complete, the 21st is torn.
        const answer = 24 + 4 + "value-r0000".length
        network.faults.latency(node0, "5 millis")
        const gets = yield* Effect.fork(
          Effect.forEach(keys, (k) => Effect.exit(cb.get(k)), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("1 millis")
        network.faults.reset(node0, { afterBytes: answer * 20 + 7, direction: "toClient" })
        yield* TestClock.adjust("20 millis")
        const exits = yield* Fiber.join(gets)

        expect(exits.length).toBe(50)
        const ok = exits.filter(Exit.isSuccess)
        const failed = exits.filter(Exit.isFailure)
        expect(ok.length).toBe(20)
        expect(failed.length).toBe(30)
        for (const exit of ok) expect(exit.value.value).toBe(`value-${exit.value.key}`)
        for (const exit of failed) {
          expect(exit.cause._tag).toBe("Fail")
          const error = (exit.cause as { error: { _tag: string; message: string; key: string } }).error
          expect(error._tag).toBe("NetworkError")
          expect(error.message).toContain(node0)
          expect(keys).toContain(error.key)
        }
        // The keys that failed are exactly those not answered.
        const failedKeys = new Set(failed.map((e) => (e.cause as { error: { key: string } }).error.key))
        for (const exit of ok) expect(failedKeys.has(exit.value.key)).toBe(false)

        // The client reconnects in the background; new operations wait for it and succeed.
        network.faults.heal()
        const after = yield* Effect.fork(cb.getMulti(keys))
        yield* TestClock.adjust("100 millis")
        const result = yield* Fiber.join(after)
        expect(result.allOk).toBe(true)
        expect(result.get(keys[33]!)!.value).toBe(`value-${keys[33]}`)
      })
  )

  it.scoped("a stalled node: its operations time out on time, the other node's are unaffected", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(2, { operationTimeout: "1 second", configPollInterval: 0 })
      const [slowKey] = yield* keysOn(cluster, 1, 1, "s")
      const [fastKey] = yield* keysOn(cluster, 0, 1, "f")
      yield* cb.upsert(slowKey!, "slow", { format: FMT_UTF8 })
      yield* cb.upsert(fastKey!, "fast", { format: FMT_UTF8 })

      network.faults.stall(`127.0.0.1:${cluster.nodes[1]!.kv}`)
      const slow = yield* Effect.fork(cb.get(slowKey!))
      const fast = yield* Effect.fork(cb.get(fastKey!))
      yield* TestClock.adjust("1 millis")
      const fastExit = yield* Fiber.join(fast)
      expect(fastExit.value).toBe("fast")

      yield* TestClock.adjust("997 millis")
      expect(Option.isNone(yield* Fiber.poll(slow))).toBe(true)
      // Other operations keep working while the slow one waits.
      expect((yield* cb.get(fastKey!)).value).toBe("fast")
      yield* TestClock.adjust("3 millis")
      const slowExit = yield* Fiber.await(slow)
      expect(Exit.isFailure(slowExit)).toBe(true)
      if (Exit.isFailure(slowExit) && slowExit.cause._tag === "Fail") {
        const error = slowExit.cause.error as { _tag: string; message: string; key?: string }
        expect(error._tag).toBe("TimeoutError")
        expect(error.key).toBe(slowKey)
        expect(error.message).toContain(`127.0.0.1:${cluster.nodes[1]!.kv}`)
      } else expect.unreachable("the slow get must fail with a TimeoutError")

      // Once the node answers again, so do its operations.
      network.faults.heal()
      const healed = yield* Effect.fork(cb.get(slowKey!))
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(healed)).value).toBe("slow")
    })
  )

  it.scoped("the queue of a node that is connecting is bounded: operations past the limit fail at once", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(2, {
        operationTimeout: "5 seconds",
        configPollInterval: 0,
        maxWaitingOperations: 10
      })
      const keys = yield* keysOn(cluster, 1, 15, "b")
      // The client connects to the other nodes in the background after bootstrap: let it.
      yield* TestClock.adjust("10 millis")
      const stored = yield* Effect.fork(
        cb.upsertMulti(Object.fromEntries(keys.map((k) => [k, k])), { format: FMT_UTF8 })
      )
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(stored)).allOk).toBe(true)
      const node1 = yield* cutOff(network, cluster, 1)

      const gets: Array<Fiber.RuntimeFiber<unknown, { readonly _tag: string; readonly message: string }>> = []
      for (const key of keys) gets.push(yield* Effect.fork(Effect.map(cb.get(key), (r) => r.value)))
      yield* TestClock.adjust("1 millis")
      const early = yield* Effect.forEach(gets, Fiber.poll)
      const rejected = early.filter(Option.isSome).map((o) => o.value)
      expect(rejected.length).toBe(5)
      for (const exit of rejected) {
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail").toBe(true)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
          expect(exit.cause.error._tag).toBe("ClientTemporaryFailError")
          expect(exit.cause.error.message).toContain(`10 operations are already waiting for the connection to ${node1}`)
        }
      }
      // The ten in the queue are served once the node is reachable again.
      network.faults.heal()
      yield* TestClock.adjust("3 seconds")
      const served = (yield* Effect.forEach(gets, Fiber.await)).filter(Exit.isSuccess).map((e) => e.value)
      expect(served.length).toBe(10)
      for (const value of served) expect(keys).toContain(value)
      expect(new Set(served).size).toBe(10)
    })
  )

  it.scoped(
    "a node that stops reading: the write queue stays bounded, and no write that timed out unsent is applied later",
    () =>
      Effect.gen(function* () {
        const QUEUE = 256 * 1024
        const { cluster, cb } = yield* setup(1, {
          operationTimeout: "1 second",
          configPollInterval: 0,
          maxQueuedBytes: QUEUE
        })
        yield* cluster.control.stall(0)
        // 500 writes of 8 KiB in ten waves 10 ms apart: 4 MiB offered to a node that
        // reads nothing. The first wave fills the network and the socket; later ones
        // wait in the write queue, up to its bound.
        const value = "x".repeat(8 * 1024)
        const keys = Array.from({ length: 500 }, (_, i) => `w${String(i).padStart(3, "0")}`)
        const writes: Array<Fiber.RuntimeFiber<Either.Either<unknown, CouchbaseError>>> = []
        for (let wave = 0; wave < 10; wave++) {
          for (const key of keys.slice(wave * 50, wave * 50 + 50)) {
            writes.push(yield* Effect.fork(Effect.either(cb.upsert(key, value, { format: FMT_UTF8 }))))
          }
          yield* TestClock.adjust("10 millis")
        }
        yield* TestClock.adjust("2 seconds")
        const outcomes = yield* Effect.forEach(writes, Fiber.join)
        const tags = outcomes.map((o) =>
          o._tag === "Right"
            ? "stored"
            : o.left._tag === "TimeoutError"
              ? o.left.ambiguous
                ? "sent, timed out"
                : "unsent, timed out"
              : o.left._tag
        )
        const count = (tag: string) => tags.filter((t) => t === tag).length
        // Past the bound, writes fail at once instead of queuing.
        expect(count("ClientTemporaryFailError")).toBeGreaterThan(400)
        expect(count("stored")).toBe(0)
        // What was accepted is what the queue holds plus the one batch that went to the
        // socket before it said to wait (the first wave: the queue's worth at most).
        const accepted = count("sent, timed out") + count("unsent, timed out")
        expect(accepted).toBe(500 - count("ClientTemporaryFailError"))
        expect(count("unsent, timed out") * value.length).toBeLessThanOrEqual(QUEUE)
        expect(count("sent, timed out") * value.length).toBeLessThanOrEqual(QUEUE)
        expect(count("unsent, timed out")).toBeGreaterThan(0)
        for (const o of outcomes) {
          if (o._tag === "Left" && o.left._tag === "TimeoutError" && !o.left.ambiguous) {
            expect(o.left.message).toContain("it was not sent")
          }
        }

        // The node reads again: what it had received runs now, nothing that timed out unsent.
        yield* cluster.control.unstall(0)
        yield* TestClock.adjust("100 millis")
        const present = yield* Effect.forEach(keys, (key) =>
          Effect.map(Effect.either(cb.get(key)), (r) => r._tag === "Right")
        )
        keys.forEach((_, i) => {
          if (tags[i] !== "sent, timed out") expect(present[i]).toBe(false)
        })
        // Those that had reached the network were applied after all: an ambiguous timeout.
        expect(present.filter(Boolean).length).toBe(count("sent, timed out"))
        expect((yield* cb.upsert("after", "ok", { format: FMT_UTF8 })).success).toBe(true)
      })
  )

  it.scoped("a rebalance under load: a node joins, another leaves; no operation is lost, every one succeeds", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(3, { operationTimeout: "10 seconds" })
      // Latency on every node keeps a few hundred operations in flight when the map changes.
      const slow = (port: number) => network.faults.latency(`127.0.0.1:${port}`, "3 millis")
      for (const node of cluster.nodes) slow(node.kv)

      // Each worker writes its keys one after another and reads each back at once.
      const keys = Array.from({ length: 600 }, (_, i) => `load${String(i).padStart(4, "0")}`)
      const writeThenRead = (key: string) =>
        Effect.gen(function* () {
          const stored = yield* cb.upsert(key, { key, at: "load" })
          const read = yield* cb.get(key)
          return { key, stored, read }
        })
      const load = yield* Effect.fork(
        Effect.forEach(keys, (key) => Effect.exit(writeThenRead(key)), { concurrency: 64 })
      )
      const mastersBefore = new Map<string, number>()
      for (const key of keys) mastersBefore.set(key, (yield* cluster.control.keyInfo(key))[0]!.node)

      // A fourth node joins while the load runs: its vBuckets arrive in 16 batches, 2 ms
      // apart, each a new map revision, as a real rebalance moves them.
      yield* TestClock.adjust("10 millis")
      const joined = yield* cluster.control.addNode()
      slow(joined.kv)
      yield* drive(cluster.control.rebalance({ steps: 16, interval: "2 millis" }))
      // Then node 0 leaves, still under load, in 8 batches.
      yield* cluster.control.removeNode(0)
      yield* drive(cluster.control.rebalance({ steps: 8, interval: "3 millis" }))
      // Both rebalances ran while the load was still going.
      expect(load.unsafePoll()).toBeNull()
      const exits = yield* drive(Fiber.join(load))

      // Every operation completed, once, with the value it wrote.
      expect(exits.length).toBe(keys.length)
      const failures = exits.filter(Exit.isFailure)
      expect(failures.map((e) => String(e.cause))).toEqual([])
      for (const [i, exit] of exits.entries()) {
        if (!Exit.isSuccess(exit)) continue
        expect(exit.value.key).toBe(keys[i])
        expect(exit.value.read.value).toEqual({ key: keys[i], at: "load" })
        expect(exit.value.read.cas).toBe(exit.value.stored.cas)
      }
      // The load did cross the map changes: keys moved, and nodes refused operations for
      // vBuckets they no longer owned (the client followed NOT_MY_VBUCKET).
      const moved = [] as Array<string>
      for (const key of keys) {
        const copies = yield* cluster.control.keyInfo(key)
        const master = copies.find((c) => c.role === "master")!
        expect(master.node).not.toBe(0)
        if (master.node !== mastersBefore.get(key)) moved.push(key)
        // Every key is on its new master and replica, with the CAS the client saw.
        expect(copies.filter((c) => c.exists).length).toBe(2)
      }
      expect(moved.length).toBeGreaterThan(keys.length / 4)
      const stats = yield* drive(cb.stats())
      const refused = Object.values(stats.ep_num_not_my_vbuckets ?? {}).reduce<number>((a, n) => a + Number(n), 0)
      expect(refused).toBeGreaterThan(0)

      // The client runs on the final map: node 0 is gone from it, and reads work on every key.
      expect(Object.keys(stats.curr_items ?? {})).not.toContain(`127.0.0.1:${cluster.nodes[0]!.kv}`)
      const all = yield* drive(cb.getMulti(keys))
      expect(all.allOk).toBe(true)
      expect(all.get(keys[599]!)!.value).toEqual({ key: keys[599], at: "load" })
    })
  )

  it.scoped("operations wait for a node that is still connecting, and time out if it never comes", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(2, { operationTimeout: "500 millis", configPollInterval: 0 })
      const [key] = yield* keysOn(cluster, 1, 1, "w")
      yield* cb.upsert(key!, "here", { format: FMT_UTF8 })
      // Node 1 unreachable: operations queue and time out.
      yield* cutOff(network, cluster, 1)
      const waiting = yield* Effect.fork(cb.get(key!))
      yield* TestClock.adjust("600 millis")
      const exit = yield* Fiber.await(waiting)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && (exit.cause.error as { _tag: string })._tag).toBe(
        "TimeoutError"
      )
      // Refusal lifted: the background reconnect (with backoff) gets through.
      network.faults.heal()
      const later = yield* Effect.fork(cb.get(key!))
      yield* TestClock.adjust("3 seconds")
      expect((yield* Fiber.join(later)).value).toBe("here")
    })
  )
})

describe("interruption (TestClock)", () => {
  it.scoped("an operation still waiting for a connection is taken out of the queue: it is never sent", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(2, { operationTimeout: "5 seconds", configPollInterval: 0 })
      const [key] = yield* keysOn(cluster, 1, 1, "q")
      yield* cb.upsert(key!, "before", { format: FMT_UTF8 })
      yield* cutOff(network, cluster, 1)

      const waiting = yield* Effect.fork(cb.upsert(key!, "interrupted", { format: FMT_UTF8 }))
      yield* TestClock.adjust("1 millis")
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      const exit = yield* Fiber.interrupt(waiting)
      expect(Exit.isInterrupted(exit)).toBe(true)

      // The node comes back and the client reconnects: the interrupted write must not be replayed.
      network.faults.heal()
      const read = yield* Effect.fork(cb.get(key!))
      yield* TestClock.adjust("3 seconds")
      expect((yield* Fiber.join(read)).value).toBe("before")
    })
  )

  it.scoped("an operation in flight ends at once; its late answer is dropped and the connection stays in step", () =>
    Effect.gen(function* () {
      const { network, cluster, cb } = yield* setup(2, { operationTimeout: "5 seconds", configPollInterval: 0 })
      const keys = yield* keysOn(cluster, 0, 20, "i")
      const stored = yield* Effect.fork(
        cb.upsertMulti(Object.fromEntries(keys.map((k) => [k, `v-${k}`])), { format: FMT_UTF8 })
      )
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(stored)).allOk).toBe(true)
      network.faults.latency(`127.0.0.1:${cluster.nodes[0]!.kv}`, "50 millis")

      // Sent, not answered yet: interrupting does not wait for the answer (no clock moves).
      const inFlight = yield* Effect.fork(cb.get(keys[0]!))
      const write = yield* Effect.fork(cb.upsert(keys[1]!, "sent, then interrupted", { format: FMT_UTF8 }))
      yield* TestClock.adjust("1 millis")
      const before = yield* TestClock.currentTimeMillis
      expect(Exit.isInterrupted(yield* Fiber.interrupt(inFlight))).toBe(true)
      expect(Exit.isInterrupted(yield* Fiber.interrupt(write))).toBe(true)
      expect(yield* TestClock.currentTimeMillis).toBe(before)

      // Operations sent after them get their own answers, not the dropped ones.
      const others = yield* Effect.fork(Effect.forEach(keys, (k) => cb.get(k), { concurrency: "unbounded" }))
      yield* TestClock.adjust("200 millis")
      const values = (yield* Fiber.join(others)).map((r) => r.value)
      // A write whose bytes were on the wire may still have been applied: interruption
      // only stops the caller from waiting, as with any client once a request is sent.
      expect(values).toEqual(keys.map((k, i) => (i === 1 ? "sent, then interrupted" : `v-${k}`)))
    })
  )
})
