/**
 * Every socket and every timer of the client goes through its Iops, on three of them:
 * Node's, the hand-rolled select loop (tests' SelectLoop.ts) and the simulated network
 * under TestClock. One scenario covers KV operations, retries with backoff, durability
 * polling, config polling, reconnecting, a bootstrap timeout and view queries
 * (streamed, include_docs, an error); it runs with a default Clock whose sleeps are
 * forbidden (a wait on Effect's clock instead of the Iops's dies), while Node's
 * setTimeout/setInterval are watched for timers made outside the Iops, and client
 * sockets Node creates are counted against the Iops's connects.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Clock, Context, Duration, Effect, Exit, Fiber, Layer, Stream, TestClock } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as NodeIops from "../../src/Iops/Node.js"
import * as Iops from "../../src/Iops.js"
import * as View from "../../src/View.js"
import { countingConnects, nodeClientSockets } from "./decorate.js"
import { SelectLoop } from "./SelectLoop.js"

const originalSetTimeout = globalThis.setTimeout
const originalClearTimeout = globalThis.clearTimeout

/** `base` whose sleeps die: any wait of the client on Effect's clock shows up as a defect. */
const forbiddenClock = (base: Clock.Clock): Clock.Clock =>
  Object.create(base, {
    sleep: {
      value: (d: Duration.Duration) => Effect.dieMessage(`a wait outside the Iops: ${Duration.format(d)}`)
    }
  })

/** `base` whose sleeps use Node's timers directly, for the server (which is not under test). */
const serverClock = (base: Clock.Clock): Clock.Clock =>
  Object.create(base, {
    sleep: {
      value: (d: Duration.Duration) =>
        Effect.async<void>((resume) => {
          const handle = originalSetTimeout(() => resume(Effect.void), Duration.toMillis(d))
          return Effect.sync(() => originalClearTimeout(handle))
        })
    }
  })

/** Timers with a delay made in this process outside the Iops implementations and the server. */
const watchTimers = () => {
  const outside: Array<string> = []
  const allowed = /src\/internal\/iops\/(node|network|scheduler)\.ts|test\/iops\/SelectLoop\.ts|src\/server\//
  const saved = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval }
  const wrap =
    (name: "setTimeout" | "setInterval") =>
    (fn: (...args: Array<any>) => void, delay?: number, ...args: Array<any>) => {
      if ((delay ?? 0) > 0) {
        const stack = new Error().stack ?? ""
        if (!allowed.test(stack)) outside.push(`${name}(${delay}): ${stack.split("\n").slice(2, 7).join(" ← ")}`)
      }
      return (saved[name] as any)(fn, delay, ...args)
    }
  globalThis.setTimeout = wrap("setTimeout") as any
  globalThis.setInterval = wrap("setInterval") as any
  return {
    outside,
    restore: () => {
      globalThis.setTimeout = saved.setTimeout
      globalThis.setInterval = saved.setInterval
    }
  }
}

/** What the scenario needs from the transport it runs on. */
interface Harness {
  readonly cluster: EmbeddedCluster.EmbeddedCluster.Service
  readonly iops: Iops.Iops.Service
  /** Runs a client effect to its exit, with the forbidden clock, moving time if the transport needs it. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Exit.Exit<A, E>, never, R>
  /** Lets `millis` pass for the cluster and the client (real or simulated time). */
  readonly pass: (millis: number) => Effect.Effect<void>
}

const connectOptions = (cluster: EmbeddedCluster.EmbeddedCluster.Service, bucket: string) => ({
  connectionString: `${cluster.connectionString}/${bucket}`,
  username: cluster.username,
  password: cluster.password,
  operationTimeout: Duration.seconds(5),
  configPollInterval: Duration.millis(100),
  durabilityInterval: Duration.millis(20)
})

const succeeded = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a success, got ${String(exit.cause)}`)
  return exit.value
}

const failedWith = <A, E>(exit: Exit.Exit<A, E>): E & { readonly _tag: string; readonly message: string } => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail")
    throw new Error(`expected a typed failure, got ${String(exit)}`)
  return exit.cause.error as any
}

/** The scenario, the same on every Iops. */
const scenario = (h: Harness) =>
  Effect.gen(function* () {
    const { cluster, iops, run, pass } = h
    const cb = succeeded(
      yield* run(Connection.make(connectOptions(cluster, "default")).pipe(Effect.provideService(Iops.Iops, iops)))
    )

    // KV.
    succeeded(yield* run(cb.upsert("a", { n: 1 })))
    expect(succeeded(yield* run(cb.get("a"))).value).toEqual({ n: 1 })
    expect(succeeded(yield* run(cb.counter("c", { initial: 5 }))).value).toBe(5n)
    expect(succeeded(yield* run(cb.getMulti(["a", "c"]))).size).toBe(2)
    expect(failedWith(yield* run(cb.get("absent")))._tag).toBe("NotFoundError")

    // Retries with backoff: three temporary failures, then the write goes through.
    yield* cluster.control.injectStatus("retried", 0x86, { times: 3 })
    succeeded(yield* run(cb.upsert("retried", "after three ETMPFAIL")))
    expect(succeeded(yield* run(cb.get("retried"))).value).toBe("after three ETMPFAIL")

    // Durability polling until its timeout: the copy is kept unpersisted.
    succeeded(yield* run(cb.upsert("durable", 1)))
    yield* cluster.control.unpersist("durable")
    const endured = failedWith(
      yield* run(cb.endure("durable", { persistTo: 1, replicateTo: 0, timeout: "300 millis" }))
    )
    expect(endured._tag).toBe("TimeoutError")

    // Config polling: a failover is seen without any operation.
    expect(succeeded(yield* run(cb.cluster.capiBaseUrls))).toHaveLength(2)
    yield* cluster.control.failover(1)
    yield* pass(600)
    expect(succeeded(yield* run(cb.cluster.capiBaseUrls))).toHaveLength(1)
    succeeded(yield* run(cb.upsert("after-failover", 1)))

    // Reconnecting: the node restarts; the client connects again after its backoff.
    yield* cluster.control.restart(0)
    yield* pass(300)
    expect(succeeded(yield* run(cb.get("after-failover"))).value).toBe(1)

    // A bootstrap that times out on a node that stopped answering.
    yield* cluster.control.stall(0)
    const boot = failedWith(
      yield* run(
        Effect.scoped(
          Connection.make({ ...connectOptions(cluster, "default"), bootstrapTimeout: Duration.millis(400) }).pipe(
            Effect.provideService(Iops.Iops, iops)
          )
        )
      )
    )
    expect(boot.message).toMatch(/timed out|did not answer|within|no response/)
    yield* cluster.control.unstall(0)
    yield* pass(200)

    // Views: streamed, with documents, and an error.
    const beers = succeeded(
      yield* run(Connection.make(connectOptions(cluster, "beer-sample")).pipe(Effect.provideService(Iops.Iops, iops)))
    )
    const view = yield* View.makeFromConnection(beers)
    expect(succeeded(yield* run(Stream.runCount(view.query("beer", "brewery_beers"))))).toBe(7303)
    const docs = succeeded(yield* run(view.queryCollect("beer", "brewery_beers", { include_docs: true, limit: 3 })))
    expect(docs.rows.map((r) => (r.doc as any).value.name)).toEqual([
      expect.any(String),
      expect.any(String),
      expect.any(String)
    ])
    expect(failedWith(yield* run(view.queryCollect("beer", "no_such_view")))._tag).toBe("HTTPError")
  })

const clusterSpec = {
  nodes: 2,
  replicas: 1,
  buckets: [{ name: "default" }, { name: "beer-sample", sample: "beer-sample" as const }]
}

/** Real time, without Effect's clock (the test fiber's clock is forbidden to the client only). */
const realWait = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => originalSetTimeout(resolve, millis)))

const overTcp = (name: string, make: () => Iops.Iops.Service) =>
  it.live(
    `${name}: no timer and no socket outside the Iops`,
    () =>
      Effect.gen(function* () {
        const cluster = yield* Effect.clockWith((base) =>
          EmbeddedCluster.make(clusterSpec).pipe(Effect.withClock(serverClock(base)))
        )
        const { ports, service } = countingConnects(make())
        const nodeSockets = yield* nodeClientSockets
        const timers = watchTimers()
        yield* Effect.addFinalizer(() => Effect.sync(() => timers.restore()))
        yield* Effect.clockWith((base) =>
          scenario({
            cluster,
            iops: service,
            run: (effect) => Effect.exit(effect).pipe(Effect.withClock(forbiddenClock(base))),
            pass: realWait
          })
        )
        expect(timers.outside).toEqual([])
        expect(ports.length).toBeGreaterThan(4)
        expect(nodeSockets.count).toBe(ports.length)
      }).pipe(Effect.scoped),
    60_000
  )

describe("every socket and timer through the Iops", () => {
  overTcp("Node's Iops", () => NodeIops.make())
  overTcp("a hand-rolled select loop", () => new SelectLoop())

  it.scoped("the simulated network under TestClock: every wait is simulated time", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(Iops.layerSimulated({ seed: 5 }))
      const network = Context.get(context, Iops.SimulatedNetwork)
      const cluster = yield* EmbeddedCluster.make({ ...clusterSpec, tcp: false, network })
      const nodeSockets = yield* nodeClientSockets
      const { ports, service } = countingConnects(Context.get(context, Iops.Iops))
      const base = yield* Effect.clock
      const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(Effect.exit(effect).pipe(Effect.withClock(forbiddenClock(base))))
          // Simulated time moves only when the test moves it; index builds take real time.
          for (let i = 0; i < 3000 && fiber.unsafePoll() === null; i++) {
            yield* realWait(1)
            yield* TestClock.adjust("20 millis")
          }
          return yield* Fiber.join(fiber)
        })
      yield* scenario({ cluster, iops: service, run, pass: (millis) => TestClock.adjust(millis) })
      expect(ports.length).toBeGreaterThan(4)
      expect(nodeSockets.count).toBe(0)
    })
  )
})
