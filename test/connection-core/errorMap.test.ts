/**
 * The node's error map decides what the client does with statuses it does not know:
 * retry schedules (constant, linear, exponential, max-duration), plain retry-later,
 * no retry, fetch-config and conn-state-invalidated. The embedded cluster answers the
 * reserved test codes 0xfff0–0xfff6 when told to (`control.injectStatus`); time is
 * the TestClock, so the schedules are checked to the millisecond.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import type { Connection } from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { makeNetwork, make as makeSimulatedIops } from "../../src/Iops/Simulated.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import * as ErrorMap from "../../src/internal/connection/ErrorMap.js"
import { FMT_UTF8 } from "../../src/Transcoder.js"

const CONSTANT = 0xfff0 // after 10, then every 25 ms, for at most 1500 ms
const LINEAR = 0xfff1 // after 10, then 10 × n ms, ceil 200
const EXPONENTIAL = 0xfff2 // after 10, then 2 ^ n ms, ceil 500
const RETRY_LATER = 0xfff3
const NO_RETRY = 0xfff4
const FETCH_CONFIG = 0xfff5
const CONN_INVALIDATED = 0xfff6

/** A one-node cluster and a client on one simulated network, with a document `k`. */
const setup = Effect.gen(function* () {
  const network = yield* makeNetwork({ seed: 3 })
  const cluster = yield* EmbeddedCluster.make({ nodes: 1, replicas: 0, tcp: false, network })
  const cb: Connection.Service = yield* makeClient({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password,
    operationTimeout: "2500 millis",
    configPollInterval: 0
  }).pipe(Effect.provideService(Iops, makeSimulatedIops(network)))
  yield* cb.upsert("k", "v", { format: FMT_UTF8 })
  return { cluster, cb }
})

/** Forks `effect` and returns after moving the clock `millis` ms (every timer due on the way runs, in order). */
const forkAndAdvance = <A, E>(effect: Effect.Effect<A, E>, millis: number) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust(0)
    yield* TestClock.adjust(millis)
    return fiber
  })

/** The exit of a fiber that must have finished by now (a test failure, not a hang, if not). */
const exitOf = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.map(Fiber.poll(fiber), (exit) => {
    if (Option.isNone(exit)) throw new Error("the operation is still running")
    return exit.value
  })

/** The value of a fiber that must have succeeded by now. */
const successOf = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.map(exitOf(fiber), (exit) => {
    if (Exit.isFailure(exit)) throw new Error(`expected a success, got ${String(exit.cause)}`)
    return exit.value
  })

/** The typed failure of a fiber that must have failed by now. */
const failureOf = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.map(exitOf(fiber), (exit) => {
    if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a failure, got ${String(exit)}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string; readonly status?: number }
  })

describe("ErrorMap (parsing and schedules)", () => {
  it("parses entries, skips malformed ones, and reads retry specifications only with auto-retry", () => {
    const map = ErrorMap.parse({
      version: 2,
      revision: 4,
      errors: {
        a0: {
          name: "A",
          desc: "a",
          attrs: ["temp", "auto-retry"],
          retry: { strategy: "linear", interval: 5, after: 1 }
        },
        a1: { name: "B", attrs: ["retry-later"], retry: { strategy: "constant", interval: 5, after: 1 } },
        a2: { name: 7, attrs: [] },
        zz: { name: "C", attrs: [] },
        a3: { name: "D", attrs: ["auto-retry"], retry: { strategy: "random", interval: 5, after: 1 } }
      }
    })!
    expect(map.version).toBe(2)
    expect(map.revision).toBe(4)
    expect([...map.entries.keys()]).toEqual([0xa0, 0xa1, 0xa3])
    expect(map.entries.get(0xa0)!.retry).toEqual({
      strategy: "linear",
      interval: 5,
      after: 1,
      ceil: undefined,
      maxDuration: undefined
    })
    expect(map.entries.get(0xa1)!.retry).toBeUndefined()
    expect(ErrorMap.isRetryable(map.entries.get(0xa1)!)).toBe(true)
    expect(map.entries.get(0xa3)!.retry).toBeUndefined()
    expect(ErrorMap.isRetryable(map.entries.get(0xa3)!)).toBe(false)
    expect(ErrorMap.describe(map.entries.get(0xa0)!)).toBe("A (a)")
    expect(ErrorMap.parse("not a map")).toBeUndefined()
    expect(ErrorMap.parse({ errors: 3 })).toBeUndefined()
  })

  it("computes the delays of each strategy, bounded by ceil", () => {
    const delays = (spec: ErrorMap.RetrySpec) => [1, 2, 3, 4, 5, 6].map((n) => ErrorMap.retryDelay(spec, n))
    const base = { interval: 3, after: 10, maxDuration: undefined }
    expect(delays({ ...base, strategy: "constant", ceil: undefined })).toEqual([10, 3, 3, 3, 3, 3])
    expect(delays({ ...base, strategy: "linear", ceil: 10 })).toEqual([10, 3, 6, 9, 10, 10])
    expect(delays({ ...base, strategy: "exponential", ceil: 30 })).toEqual([10, 3, 9, 27, 30, 30])
    expect(delays({ ...base, strategy: "exponential", ceil: 0 })).toEqual([10, 3, 9, 27, 81, 243])
  })
})

describe("the client follows the node's error map (simulated network, TestClock)", () => {
  it.scoped("auto-retry, constant: after 10 ms, then every 25 ms, until the status goes away", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      yield* cluster.control.injectStatus("k", CONSTANT, { times: 3 })
      // Retries at 10, 35 and 60 ms; the third one is answered.
      const get = yield* forkAndAdvance(cb.get("k"), 59)
      expect(Option.isNone(yield* Fiber.poll(get))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* successOf(get)).value).toBe("v")
    })
  )

  it.scoped("auto-retry, linear and exponential schedules", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      // Linear: 10, 10, 20, 30 → answered at 70 ms.
      yield* cluster.control.injectStatus("k", LINEAR, { times: 4 })
      const linear = yield* forkAndAdvance(cb.get("k"), 69)
      expect(Option.isNone(yield* Fiber.poll(linear))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* successOf(linear)).value).toBe("v")
      // Exponential with interval 2: 10, 2, 4, 8 → answered at 24 ms.
      yield* cluster.control.injectStatus("k", EXPONENTIAL, { times: 4 })
      const exponential = yield* forkAndAdvance(cb.get("k"), 23)
      expect(Option.isNone(yield* Fiber.poll(exponential))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* successOf(exponential)).value).toBe("v")
    })
  )

  it.scoped("max-duration ends the retries before the operation timeout, with the map's name for the status", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      yield* cluster.control.injectStatus("k", CONSTANT, { times: 1000 })
      // Retries at 10, 35, …, 1485 ms; the next would be at 1510, past max-duration (1500 ms from the first error).
      const get = yield* forkAndAdvance(cb.get("k"), 1484)
      expect(Option.isNone(yield* Fiber.poll(get))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* failureOf(get)
      expect(error._tag).toBe("ProtocolError")
      expect(error.status).toBe(CONSTANT)
      expect(error.message).toContain("DUMMY_ERROR_RETRY_CONSTANT")
      expect(error.message).toContain("auto-retry")
      // 1 + 60 requests were answered with the status: 940 injections remain.
      yield* cluster.control.injectStatus("k", 0x00ff, { times: 0 })
      expect((yield* cb.get("k")).value).toBe("v")
    })
  )

  it.scoped("retry-later without a specification uses the client's backoff, within the operation timeout", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      yield* cluster.control.injectStatus("k", RETRY_LATER, { times: 5 })
      // Backoff 1, 2, 4, 8, 16 ms → answered at 31 ms.
      const get = yield* forkAndAdvance(cb.get("k"), 30)
      expect(Option.isNone(yield* Fiber.poll(get))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* successOf(get)).value).toBe("v")

      yield* cluster.control.injectStatus("k", RETRY_LATER, { times: 100_000 })
      const never = yield* forkAndAdvance(cb.get("k"), 2500)
      const error = yield* failureOf(never)
      expect(error._tag).toBe("ProtocolError")
      expect(error.message).toContain("DUMMY_ERROR_RETRY_LATER")
    })
  )

  it.scoped("a status the map does not let retry fails at once, named; a lock is never retried", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      yield* cluster.control.injectStatus("k", NO_RETRY)
      const get = yield* forkAndAdvance(cb.get("k"), 0)
      const error = yield* failureOf(get)
      expect(error._tag).toBe("ProtocolError")
      expect(error.message).toContain("0xfff4")
      expect(error.message).toContain("DUMMY_ERROR_NO_RETRY (Dummy error that retrying cannot fix)")
      // Locks are not retried by the client (a retried lock could take a lock twice).
      yield* cluster.control.injectStatus("k", CONSTANT)
      const lock = yield* forkAndAdvance(cb.lock("k", { ttl: 5 }), 0)
      expect((yield* failureOf(lock)).message).toContain("DUMMY_ERROR_RETRY_CONSTANT")
      // In a multi operation the status is that key's failure only.
      yield* cb.upsert("k2", "v2", { format: FMT_UTF8 })
      yield* cluster.control.injectStatus("k2", NO_RETRY)
      const multi = yield* forkAndAdvance(cb.getMulti(["k", "k2"], { quiet: true }), 0)
      const result = yield* failureOf(multi)
      expect(result._tag).toBe("ProtocolError")
      const all = (result as unknown as { allResults: ReadonlyMap<string, { success: boolean; value: unknown }> })
        .allResults
      expect(all.get("k")).toMatchObject({ success: true, value: "v" })
      expect(all.get("k2")!.success).toBe(false)
    })
  )

  it.scoped("fetch-config asks for a newer map and retries; conn-state-invalidated reconnects", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      yield* cluster.control.injectStatus("k", FETCH_CONFIG, { times: 2 })
      const get = yield* forkAndAdvance(cb.get("k"), 10)
      expect((yield* successOf(get)).value).toBe("v")

      const before = cluster.nodes[0]!.connections.total
      yield* cluster.control.injectStatus("k", CONN_INVALIDATED)
      const dropped = yield* forkAndAdvance(cb.get("k"), 0)
      expect((yield* failureOf(dropped)).message).toContain("DUMMY_ERROR_CONN_INVALIDATED")
      // The client closed that connection and opened a new one; operations go on.
      const after = yield* forkAndAdvance(cb.get("k"), 50)
      expect((yield* successOf(after)).value).toBe("v")
      expect(cluster.nodes[0]!.connections.total).toBe(before + 1)
    })
  )

  it.scoped("fetch-config makes the client fetch the map it would otherwise not see", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      // A node joins; the client polls no configs and meets no NOT_MY_VBUCKET for a key
      // that stays on node 0, so it keeps the one-node map.
      yield* cluster.control.addNode()
      yield* cluster.control.rebalance()
      let key = ""
      for (let i = 0; key === ""; i++) {
        if ((yield* cluster.control.keyInfo(`stays-${i}`))[0]!.node === 0) key = `stays-${i}`
      }
      const stored = yield* forkAndAdvance(cb.upsert(key, "v", { format: FMT_UTF8 }), 1)
      expect((yield* successOf(stored)).success).toBe(true)
      expect((yield* cb.cluster.capiBaseUrls).length).toBe(1)
      // The status says "fetch a newer config": afterwards the client knows both nodes.
      yield* cluster.control.injectStatus(key, FETCH_CONFIG)
      const get = yield* forkAndAdvance(cb.get(key), 10)
      expect((yield* successOf(get)).value).toBe("v")
      expect((yield* cb.cluster.capiBaseUrls).length).toBe(2)
    })
  )

  it.scoped("the cluster control refuses a status outside 1…0xffff", () =>
    Effect.gen(function* () {
      const { cluster } = yield* setup
      const error = yield* Effect.flip(cluster.control.injectStatus("k", 0x10000))
      expect(error._tag).toBe("ClusterControlError")
      expect(error.message).toContain("1…0xffff")
    })
  )
})

describe("NOT_MY_VBUCKET with a newer map each time (simulated network, TestClock)", () => {
  const notMyVbuckets = (cb: Connection.Service) =>
    Effect.map(cb.stats(), (stats) => Number(Object.values(stats["ep_num_not_my_vbuckets"]!)[0]))

  it.scoped("is retried at once the first time, then with backoff, not in a tight loop", () =>
    Effect.gen(function* () {
      const { cluster, cb } = yield* setup
      const before = yield* notMyVbuckets(cb)
      // A node in flux for longer than the operation's 2.5 s timeout.
      yield* cluster.control.injectStatus("k", 0x07, { times: 100_000 })
      const fiber = yield* forkAndAdvance(cb.get("k"), 3000)
      const error = yield* failureOf(fiber)
      expect(error._tag).toBe("NotMyVbucketError")
      expect(error.message).toContain("with a newer cluster map each time")
      const requests = (yield* notMyVbuckets(cb)) - before
      // Backoff 1, 2, 4 … 256 ms: 17 requests in 2.5 s, where retrying every newer map
      // at once never lets the clock move (this test then hangs).
      expect(requests).toBeGreaterThanOrEqual(8)
      expect(requests).toBeLessThanOrEqual(20)

      // A short flux is ridden out: the third answer is the document.
      yield* cluster.control.injectStatus("k", 0x07, { times: 2 })
      const value = yield* successOf(
        yield* forkAndAdvance(
          Effect.map(cb.get("k"), (r) => r.value),
          50
        )
      )
      expect(value).toBe("v")
    })
  )
})
