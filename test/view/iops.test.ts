/**
 * Views over the connection's Iops: the HTTP requests of `View.makeFromConnection`
 * open their sockets through `Iops.connect` and time out on the Iops's timers, so
 * views run on Node's sockets and on the simulated network alike (under TestClock,
 * with resets and stalls).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Exit, Fiber, Layer, Stream, TestClock } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as NodeIops from "../../src/Iops/Node.js"
import * as Iops from "../../src/Iops.js"
import { isMissing } from "../../src/Result.js"
import * as View from "../../src/View.js"
import { countingConnects, nodeClientSockets } from "../iops/decorate.js"

const BREWERY_BEERS = 7303

const connectTo = (cluster: EmbeddedCluster.EmbeddedCluster.Service, options: Partial<Connection.Options> = {}) =>
  Connection.make({
    connectionString: `${cluster.connectionString}/beer-sample`,
    username: cluster.username,
    password: cluster.password,
    ...options
  })

const beerSample = [{ name: "beer-sample", sample: "beer-sample" as const }]

describe("views over Node's Iops", () => {
  it.live(
    "every view socket is one the Iops opened, kept alive across queries",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* EmbeddedCluster.make({ nodes: 1, buckets: beerSample })
          const { ports, service } = countingConnects(NodeIops.make())
          // Every client socket Node creates in this process while the test runs.
          const nodeSockets = yield* nodeClientSockets
          const cb = yield* connectTo(cluster).pipe(Effect.provideService(Iops.Iops, service))
          const view = yield* View.makeFromConnection(cb)
          const kvSockets = ports.length
          expect(kvSockets).toBeGreaterThan(0)

          const rows = yield* view.query("beer", "brewery_beers").pipe(Stream.runCount)
          expect(rows).toBe(BREWERY_BEERS)
          const withDocs = yield* view.queryCollect("beer", "brewery_beers", { include_docs: true, limit: 5 })
          expect(withDocs.rows).toHaveLength(5)
          for (const row of withDocs.rows) expect(isMissing(row.doc!)).toBe(false)
          const reduced = yield* view.queryCollect("beer", "by_location", { limit: 3, group_level: 1 })
          expect(reduced.rows).toHaveLength(3)

          const capi = cluster.nodes[0]!.capi
          expect(ports.slice(kvSockets)).toEqual([capi])
          expect(nodeSockets.count).toBe(ports.length)
        })
      ),
    60_000
  )

  it.live(
    "a view error still arrives typed, and the View works as long as its connection",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* EmbeddedCluster.make({ nodes: 1, buckets: beerSample })
          const view = yield* Effect.scoped(
            Effect.gen(function* () {
              const cb = yield* connectTo(cluster).pipe(Effect.provide(Iops.layerNode()))
              const view = yield* View.makeFromConnection(cb)
              const missing = yield* Effect.flip(view.queryCollect("beer", "no_such_view"))
              expect(missing._tag).toBe("HTTPError")
              expect(yield* view.queryCollect("beer", "brewery_beers", { limit: 2 })).toMatchObject({
                totalRows: BREWERY_BEERS
              })
              return view
            })
          )
          // The connection is closed: its HTTP sockets with it.
          const after = yield* Effect.flip(view.queryCollect("beer", "brewery_beers", { limit: 2 }))
          expect(after._tag).toBe("NetworkError")
        })
      ),
    60_000
  )
})

describe("views on the simulated network under TestClock", () => {
  /** A cluster with beer-sample on a simulated network, and a connection to it. */
  const simulated = (options: Partial<Connection.Options> = {}) =>
    Effect.gen(function* () {
      const context = yield* Layer.build(Iops.layerSimulated({ seed: 11 }))
      const network = Context.get(context, Iops.SimulatedNetwork)
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tcp: false, network, buckets: beerSample })
      const cb: Connection.Connection.Service = yield* connectTo(cluster, options).pipe(Effect.provide(context))
      const view = yield* View.makeFromConnection(cb)
      return { network, cluster, cb, view }
    })

  /**
   * Runs `effect` to its exit: the index is built by worker threads in real time, so
   * real time passes between steps while the simulated clock stands still, unless
   * `step` moves it.
   */
  const drive = <A, E>(effect: Effect.Effect<A, E>, step: Effect.Effect<void> = Effect.void) =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(effect)
      for (let i = 0; i < 2000 && fiber.unsafePoll() === null; i++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
        yield* step
      }
      return yield* Fiber.await(fiber)
    })

  it.scoped("streams every row, with documents, from both nodes", () =>
    Effect.gen(function* () {
      const { view } = yield* simulated()
      // Two queries: the nodes are used in turn.
      for (let i = 0; i < 2; i++) {
        const exit = yield* drive(view.query("beer", "brewery_beers").pipe(Stream.runCount))
        expect(exit).toEqual(Exit.succeed(BREWERY_BEERS))
      }
      const docs = yield* drive(view.queryCollect("beer", "brewery_beers", { include_docs: true, skip: 10, limit: 4 }))
      expect(Exit.isSuccess(docs)).toBe(true)
      if (Exit.isSuccess(docs)) {
        expect(docs.value.rows).toHaveLength(4)
        for (const row of docs.value.rows) expect((row.doc as any).value.name).toEqual(expect.any(String))
      }
    })
  )

  it.scoped("keeps a view socket alive between queries and closes it when idle, on the Iops's timer", () =>
    Effect.gen(function* () {
      const { network, cluster, view } = yield* simulated()
      const capiConnections = () =>
        cluster.nodes.reduce((n, node) => n + network.connections(`127.0.0.1:${node.capi}`).length, 0)
      expect(capiConnections()).toBe(0)
      for (let i = 0; i < 4; i++) yield* drive(view.queryCollect("beer", "brewery_beers", { limit: 1 }))
      // One kept-alive socket per node, reused by the second query to each.
      expect(capiConnections()).toBe(2)
      // The server's keep-alive hint is 5 s: the client closes a socket idle for 4 s.
      yield* TestClock.adjust("3900 millis")
      expect(capiConnections()).toBe(2)
      yield* TestClock.adjust("200 millis")
      yield* drive(Effect.void)
      expect(capiConnections()).toBe(0)
      expect(yield* drive(view.queryCollect("beer", "brewery_beers", { limit: 1 }))).toMatchObject({ _tag: "Success" })
    })
  )

  it.scoped("a reset in the middle of the body ends the stream with a NetworkError after the rows before it", () =>
    Effect.gen(function* () {
      const { network, cluster, view } = yield* simulated()
      // Warm both nodes' indexes first, so that the reset lands in a body.
      for (let i = 0; i < 2; i++) yield* drive(view.queryCollect("beer", "brewery_beers", { limit: 1 }))
      for (const node of cluster.nodes) network.faults.reset(`127.0.0.1:${node.capi}`, { afterBytes: 100_000 })
      let rows = 0
      const exit = yield* drive(
        view.query("beer", "brewery_beers").pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.sync(() => {
              rows += Chunk.size(chunk)
            })
          )
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(exit.cause).toMatchObject({ _tag: "Fail", error: { _tag: "NetworkError" } })
      expect(rows).toBeGreaterThan(0)
      expect(rows).toBeLessThan(BREWERY_BEERS)
      // Healed, the next query reads everything on a new socket.
      network.faults.heal()
      expect(yield* drive(view.query("beer", "brewery_beers").pipe(Stream.runCount))).toEqual(
        Exit.succeed(BREWERY_BEERS)
      )
    })
  )

  it.scoped("a stalled node fails the query with a TimeoutError once the views timeout passes on the TestClock", () =>
    Effect.gen(function* () {
      const { network, cluster, view } = yield* simulated({ viewsTimeout: "5 seconds" })
      for (let i = 0; i < 2; i++) yield* drive(view.queryCollect("beer", "brewery_beers", { limit: 1 }))
      for (const node of cluster.nodes) network.faults.stall(`127.0.0.1:${node.capi}`)
      const started = yield* TestClock.currentTimeMillis
      const exit = yield* drive(view.queryCollect("beer", "brewery_beers"), TestClock.adjust("100 millis"))
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(exit.cause).toMatchObject({ _tag: "Fail", error: { _tag: "TimeoutError" } })
      const waited = (yield* TestClock.currentTimeMillis) - started
      expect(waited).toBeGreaterThanOrEqual(5000)
      expect(waited).toBeLessThan(6000)
    })
  )
})
