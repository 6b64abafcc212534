import type { ServerResponse } from "node:http"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as HttpClient from "@effect/platform/HttpClient"
import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Option, Redacted, Stream } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import { missing, type ValueResult } from "../../src/Result.js"
import { drainedOrClosed, handleViewRequest } from "../../src/server/views/http.js"
import { viewEngineFor } from "../../src/server/views/ViewEngine.js"
import * as View from "../../src/View.js"
import { beerBucket, type CapiServer, MemoryBucket, startCapi, startServer } from "./helpers.js"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void
const retained = (): number => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

let bucket: MemoryBucket
let server: CapiServer
let fetches: Array<ReadonlyArray<string>>

// The include_docs fetcher the Connection will provide (a quiet getMulti), here over the bucket itself.
const fetchDocs = (keys: ReadonlyArray<string>) =>
  Effect.sync(() => {
    fetches.push(keys)
    const out = new Map<string, ValueResult | ReturnType<typeof missing>>()
    for (const key of keys) {
      const item = bucket.items.get(key)
      out.set(
        key,
        item === undefined
          ? missing(key)
          : { key, cas: item.cas, rc: 0, success: true, flags: item.flags, value: JSON.parse(item.value.toString()) }
      )
    }
    return out
  })

const makeView = (overrides: Partial<View.ViewOptions> = {}) =>
  View.make({
    capiBaseUrls: Effect.succeed([server.url]),
    bucket: "beer-sample",
    username: "Administrator",
    password: Redacted.make("s3cret-password"),
    includeDocs: fetchDocs,
    includeDocsBatchSize: 500,
    ...overrides
  })

const liveWith =
  (client: Layer.Layer<HttpClient.HttpClient>) =>
  (name: string, body: () => Effect.Effect<void, unknown, any>, timeout?: number) =>
    it.live(name, () => body().pipe(Effect.provide(client)) as Effect.Effect<void, unknown>, timeout)

const live = liveWith(NodeHttpClient.layer)

/**
 * The HTTP client of a connection (to an embedded cluster): its own sockets and
 * timers, which the View uses directly rather than through the HttpClient interface.
 */
const ConnectionHttpClient: Layer.Layer<HttpClient.HttpClient> = Layer.scoped(
  HttpClient.HttpClient,
  Effect.gen(function* () {
    const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
    const connection = yield* Connection.make({
      connectionString: cluster.connectionString,
      username: cluster.username,
      password: cluster.password
    })
    return connection.cluster.httpClient
  }).pipe(Effect.orDie)
).pipe(Layer.provide(Iops.layerNode()))

const failure = <E>(e: Effect.Effect<unknown, E, any>) => Effect.flip(e)

beforeAll(async () => {
  bucket = await beerBucket()
  server = await startCapi("beer-sample", bucket)
})
afterAll(() => server.close())

const viewQuerySuite = (label: string, client: Layer.Layer<HttpClient.HttpClient>) =>
  describe(`View.query over ${label}`, () => {
    const live = liveWith(client)

    live("streams every row of brewery_beers; total_rows comes after the stream", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const stream = view.query("beer", "brewery_beers")
        expect(yield* stream.meta).toEqual(Option.none())
        const rows = Chunk.toReadonlyArray(yield* Stream.runCollect(stream))
        const expected = JSON.parse(
          yield* Effect.promise(() =>
            fetch(`${server.url}/beer-sample/_design/beer/_view/brewery_beers`).then((r) => r.text())
          )
        )
        expect(rows.length).toBe(7303)
        expect(rows).toEqual(expected.rows.map((r: any) => ({ key: r.key, value: r.value, docid: r.id })))
        expect(Option.getOrThrow(yield* stream.meta)).toEqual({ totalRows: 7303, errors: [], debug: undefined })
      })
    )

    live("a slow consumer gets the same rows, in order", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const fast = yield* view.queryCollect("beer", "brewery_beers", { limit: 3000 })
        let n = 0
        const slow = yield* view.query("beer", "brewery_beers", { limit: 3000 }).pipe(
          Stream.tap(() => (++n % 250 === 0 ? Effect.sleep("5 millis") : Effect.void)),
          Stream.runCollect
        )
        expect(Chunk.toReadonlyArray(slow)).toEqual(fast.rows)
        expect(fast.totalRows).toBe(7303)
      })
    )

    live("rows leave as soon as their bytes arrive, before the body is complete", () =>
      Effect.gen(function* () {
        let release: () => void = () => undefined
        const released = new Promise<void>((r) => {
          release = r
        })
        const slowServer = yield* Effect.promise(() =>
          startServer(async (_req, res) => {
            res.writeHead(200, { "Content-Type": "application/json" })
            res.write('{"total_rows":2,"rows":[\r\n{"id":"a","key":1,"value":null}')
            // The rest only once the client has seen the first row: a client that waits
            // for the whole body never gets it.
            await released
            res.end(',\r\n{"id":"b","key":2,"value":null}\r\n]\r\n}')
          })
        )
        const view = yield* makeView({ capiBaseUrls: Effect.succeed([slowServer.url]) })
        const rows = yield* view.query("d", "v").pipe(
          Stream.tap((row) => Effect.sync(() => row.docid === "a" && release())),
          Stream.runCollect,
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the first row was held back") }),
          Effect.ensuring(Effect.promise(() => slowServer.close()))
        )
        expect(Chunk.toReadonlyArray(rows).map((r) => r.docid)).toEqual(["a", "b"])
      })
    )

    live("a slow consumer slows the server (back-pressure); stopping early aborts the request", () =>
      Effect.gen(function* () {
        let written = 0
        let closed = false
        const endless = yield* Effect.promise(() =>
          startServer(async (_req, res: ServerResponse) => {
            res.on("close", () => {
              closed = true
            })
            res.writeHead(200, { "Content-Type": "application/json" })
            res.write('{"total_rows":0,"rows":[\r\n')
            for (let i = 0; !closed; i += 200) {
              let chunk = ""
              for (let j = i; j < i + 200; j++)
                chunk += `{"id":"doc-${j}","key":[${j},"${"x".repeat(40)}"],"value":${j}},\r\n`
              written += chunk.length
              if (!res.write(chunk)) await drainedOrClosed(res)
            }
          })
        )
        const view = yield* makeView({ capiBaseUrls: Effect.succeed([endless.url]) })
        let n = 0
        const rows = yield* view.query("d", "v").pipe(
          Stream.tap(() => (++n % 100 === 0 ? Effect.sleep("10 millis") : Effect.void)),
          Stream.take(3000),
          Stream.runCollect
        )
        expect(rows.length).toBe(3000)
        expect(Chunk.unsafeGet(rows, 2999).value).toBe(2999)
        // ~300 ms of slow reading: the server could only write what the socket buffers hold.
        expect(written).toBeLessThan(16 * 1024 * 1024)
        for (let i = 0; i < 100 && !closed; i++) yield* Effect.sleep("20 millis")
        expect(closed).toBe(true)
        yield* Effect.promise(() => endless.close())
      })
    )

    live(
      "memory stays flat: a 300k-row body streams in bounded memory, and repeated full runs do not grow",
      () =>
        Effect.gen(function* () {
          const ROWS = 300_000
          const big = yield* Effect.promise(() =>
            startServer(async (_req, res: ServerResponse) => {
              res.writeHead(200, { "Content-Type": "application/json" })
              res.write(`{"total_rows":${ROWS},"rows":[`)
              for (let i = 0; i < ROWS; i += 1000) {
                let chunk = ""
                for (let j = i; j < i + 1000; j++)
                  chunk += `${j === 0 ? "" : ","}{"id":"d${j}","key":["k",${j}],"value":"${"v".repeat(30)}"}`
                if (!res.write(chunk)) await new Promise((r) => res.once("drain", r))
              }
              res.end("]}")
            })
          )
          const view = yield* makeView({ capiBaseUrls: Effect.succeed([big.url]) })
          yield* Stream.runDrain(view.query("d", "v", { limit: 10 }))
          const baseline = retained()
          let peak = 0
          let count = 0
          yield* view.query("d", "v").pipe(
            Stream.runForEach(() =>
              Effect.sync(() => {
                if (++count % 50_000 === 0) peak = Math.max(peak, retained() - baseline)
              })
            )
          )
          expect(count).toBe(ROWS)
          // The body is ~22 MB; holding it (or its rows) would show here.
          expect(peak).toBeLessThan(8 * 1024 * 1024)
          yield* Effect.promise(() => big.close())

          const beer = yield* makeView()
          const runs: Array<number> = []
          for (let i = 0; i < 6; i++) {
            yield* Stream.runDrain(beer.query("beer", "brewery_beers"))
            runs.push(retained())
          }
          expect(runs[5]! - runs[1]!).toBeLessThan(4 * 1024 * 1024)
        }),
      60_000
    )

    live("include_docs fetches documents in batches; doc CAS equals the stored item's", () =>
      Effect.gen(function* () {
        fetches = []
        const view = yield* makeView()
        const result = yield* view.queryCollect("beer", "brewery_beers", {
          include_docs: true,
          limit: 1200,
          stale: false
        })
        expect(result.rows).toHaveLength(1200)
        for (const row of result.rows) {
          const item = bucket.items.get(row.docid!)!
          expect(row.doc?.success).toBe(true)
          expect(row.doc?.cas).toBe(item.cas)
          expect(row.doc?.value).toEqual(JSON.parse(item.value.toString()))
        }
        expect(fetches.flat().length).toBe(1200)
        expect(fetches.every((keys) => keys.length <= 500 && new Set(keys).size === keys.length)).toBe(true)
      })
    )

    live("include_docs gives a miss for a document deleted since it was indexed", () =>
      Effect.gen(function* () {
        fetches = []
        const view = yield* makeView()
        const first = (yield* view.queryCollect("beer", "brewery_beers", { limit: 1, include_docs: true })).rows[0]!
        const saved = bucket.items.get(first.docid!)!
        bucket.items.delete(first.docid!)
        try {
          const again = (yield* view.queryCollect("beer", "brewery_beers", {
            limit: 1,
            include_docs: true,
            stale: "ok"
          })).rows[0]!
          expect(again.docid).toBe(first.docid)
          expect(again.doc).toEqual(missing(first.docid!))
        } finally {
          bucket.items.set(saved.id, saved)
        }
      })
    )

    live("refuses include_docs with reduce, before any request", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const before = server.requests.length
        for (const params of [
          { include_docs: true, reduce: true },
          { include_docs: true, group: true },
          { include_docs: true, group_level: 1 }
        ] as const) {
          const error = yield* failure(view.queryCollect("beer", "by_location", params))
          expect(error._tag).toBe("ArgumentError")
          expect(error.message).toContain("include_docs")
        }
        const noFetcher = yield* makeView({ includeDocs: undefined })
        expect((yield* failure(noFetcher.queryCollect("beer", "brewery_beers", { include_docs: true })))._tag).toBe(
          "ArgumentError"
        )
        expect(server.requests.length).toBe(before)
      })
    )

    live("invalid parameters fail with ArgumentError before any request", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const before = server.requests.length
        for (const params of [
          { limit: true },
          { stale: "sometimes" },
          { frobble: 1 },
          { keys: "a" },
          { timeout: -1 }
        ]) {
          const error = yield* failure(view.queryCollect("beer", "brewery_beers", params as never))
          expect(error._tag).toBe("ArgumentError")
        }
        expect((yield* failure(view.queryCollect("", "brewery_beers")))._tag).toBe("ArgumentError")
        expect(server.requests.length).toBe(before)
      })
    )

    live("a missing view or a parameter the server refuses is an HTTPError with status and body", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const missingView = yield* failure(view.queryCollect("beer", "nope"))
        expect(missingView._tag).toBe("HTTPError")
        if (missingView._tag !== "HTTPError") return
        expect(missingView.httpStatus).toBe(404)
        expect(JSON.parse(missingView.body)).toEqual({ error: "not_found", reason: "missing_named_view" })
        const refused = yield* failure(view.queryCollect("beer", "brewery_beers", { passthrough: true, limit: "abc" }))
        expect(refused._tag === "HTTPError" && refused.httpStatus).toBe(400)
        expect(refused._tag === "HTTPError" && JSON.parse(refused.body).error).toBe("query_parse_error")
      })
    )

    live("in-body errors: ViewEngineError unless on_error is continue, then surfaced", () =>
      Effect.gen(function* () {
        const engine = viewEngineFor(bucket)
        yield* Effect.promise(() =>
          engine.putDesignDocument("_design/broken", {
            views: {
              sums: {
                map: "function (doc) { if (doc.type === 'brewery') emit(doc.country, doc.name) }",
                reduce: "_sum"
              }
            }
          })
        )
        const view = yield* makeView()
        const stopped = yield* failure(view.queryCollect("broken", "sums", { group: true }))
        expect(stopped._tag).toBe("ViewEngineError")
        expect(Array.isArray(stopped.cause) && stopped.cause.length).toBeGreaterThan(0)
        const kept = yield* view.queryCollect("broken", "sums", { group: true, on_error: "continue" })
        expect(kept.rows).toEqual([])
        expect(kept.errors.length).toBeGreaterThan(10)
        expect(kept.errors[0]).toEqual({ from: "local", reason: expect.stringContaining("_sum") })
        engine.deleteDesignDocument("_design/broken")
      })
    )

    live("a one-shot stream run twice fails with AlreadyQueriedError", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const stream = view.query("beer", "brewery_beers", { limit: 3 })
        expect((yield* Stream.runCollect(stream)).length).toBe(3)
        const again = yield* failure(Stream.runCollect(stream))
        expect(again._tag).toBe("AlreadyQueriedError")
        expect((yield* Stream.runCollect(view.query("beer", "brewery_beers", { limit: 3 }))).length).toBe(3)
      })
    )

    live("long key lists go as POST; reduce queries and debug info come through", () =>
      Effect.gen(function* () {
        const view = yield* makeView()
        const all = yield* view.queryCollect<[string], null>("beer", "brewery_beers", { limit: 400 })
        const keys = all.rows.filter((r) => r.key.length === 1).map((r) => r.key)
        const before = server.requests.length
        const posted = yield* view.queryCollect("beer", "brewery_beers", { keys, stale: false })
        const sent = server.requests.slice(before)
        expect(sent.map((r) => r.method)).toEqual(["POST"])
        expect(sent[0]!.url).toBe("/beer-sample/_design/beer/_view/brewery_beers?stale=false")
        expect(posted.rows.map((r) => r.key)).toEqual(keys)
        const reduced = yield* view.queryCollect("beer", "by_location", { group_level: 1, limit: 3, debug: true })
        expect(reduced.rows.every((r) => r.docid === undefined && typeof r.value === "number")).toBe(true)
        expect(reduced.totalRows).toBe(undefined)
        expect(reduced.debug).toMatchObject({ local: { view: "by_location" } })
        const raw = yield* view.queryCollect("beer", "brewery_beers", "limit=2&skip=1")
        expect(raw.rows).toEqual(all.rows.slice(1, 3))
      })
    )

    live("useDevmode queries the dev_ design document", () =>
      Effect.gen(function* () {
        yield* Effect.promise(() =>
          viewEngineFor(bucket).putDesignDocument("_design/dev_beer", {
            views: { ids: { map: "function (doc, meta) { if (doc.type === 'brewery') emit(meta.id, 1) }" } }
          })
        )
        const view = yield* makeView()
        const before = server.requests.length
        const dev = yield* view.queryCollect("beer", "ids", { useDevmode: true, limit: 2 })
        expect(server.requests[before]!.url).toMatch(/^\/beer-sample\/_design\/dev_beer\/_view\/ids\?limit=2$/)
        expect(dev.totalRows).toBe(1412)
        const already = yield* view.queryCollect("dev_beer", "ids", { useDevmode: true, limit: 2 })
        expect(already.rows).toEqual(dev.rows)
      })
    )

    live("spreads queries over the nodes' capi URLs in turn", () =>
      Effect.gen(function* () {
        const second = yield* Effect.promise(() => startCapi("beer-sample", bucket))
        const view = yield* makeView({ capiBaseUrls: Effect.succeed([server.url, `${second.url}/`]) })
        const before = server.requests.length
        for (let i = 0; i < 4; i++) yield* view.queryCollect("beer", "brewery_beers", { limit: 1 })
        expect(server.requests.length - before).toBe(2)
        expect(second.requests.length).toBe(2)
        yield* Effect.promise(() => second.close())
        const none = yield* makeView({ capiBaseUrls: Effect.succeed([]) })
        expect((yield* failure(none.queryCollect("beer", "brewery_beers")))._tag).toBe("NetworkError")
      })
    )

    live("sends Basic auth; the password never shows in errors", () =>
      Effect.gen(function* () {
        const expected = `Basic ${Buffer.from("Administrator:s3cret-password").toString("base64")}`
        const guarded = yield* Effect.promise(() =>
          startServer(async (req, res) => {
            if (req.headers.authorization !== expected) {
              res.writeHead(401, { "Content-Type": "application/json" })
              res.end(JSON.stringify({ error: "unauthorized", reason: "password required" }))
              return
            }
            await handleViewRequest(req, res, "beer-sample", bucket)
          })
        )
        const good = yield* makeView({ capiBaseUrls: Effect.succeed([guarded.url]) })
        expect((yield* good.queryCollect("beer", "brewery_beers", { limit: 2 })).rows).toHaveLength(2)
        const bad = yield* makeView({
          capiBaseUrls: Effect.succeed([guarded.url]),
          password: Redacted.make("wrong-password")
        })
        const error = yield* failure(bad.queryCollect("beer", "brewery_beers"))
        expect(error._tag === "HTTPError" && error.httpStatus).toBe(401)
        expect(`${error.message} ${JSON.stringify(error)}`).not.toContain("wrong-password")
        yield* Effect.promise(() => guarded.close())
      })
    )

    live("a server that does not answer, or stalls mid-body, ends in TimeoutError", () =>
      Effect.gen(function* () {
        const silent = yield* Effect.promise(() =>
          startServer((_req, res) => {
            res.on("error", () => undefined)
          })
        )
        const stalls = yield* Effect.promise(() =>
          startServer((_req, res) => {
            res.writeHead(200, { "Content-Type": "application/json" })
            res.write('{"total_rows":9,"rows":[{"id":"a","key":1,"value":null},')
          })
        )
        const quiet = yield* makeView({ capiBaseUrls: Effect.succeed([silent.url]), timeout: "300 millis" })
        expect((yield* failure(quiet.queryCollect("d", "v")))._tag).toBe("TimeoutError")
        const stalled = yield* makeView({ capiBaseUrls: Effect.succeed([stalls.url]) })
        let seen = 0
        const error = yield* failure(
          stalled.query("d", "v", { timeout: "300 millis" }).pipe(Stream.runForEach(() => Effect.sync(() => seen++)))
        )
        expect(error._tag).toBe("TimeoutError")
        expect(seen).toBe(1)
        yield* Effect.promise(() => Promise.all([silent.close(), stalls.close()]))
      })
    )

    live("a malformed body is a ProtocolError; an unreachable node a NetworkError", () =>
      Effect.gen(function* () {
        const broken = yield* Effect.promise(() =>
          startServer((_req, res) => {
            res.writeHead(200, { "Content-Type": "application/json" })
            res.end('{"total_rows":1,"rows":[{"id":"a","key":1,"value":null},]}')
          })
        )
        const view = yield* makeView({ capiBaseUrls: Effect.succeed([broken.url]) })
        const rows: Array<unknown> = []
        const error = yield* failure(
          view.query("d", "v").pipe(Stream.runForEach((r) => Effect.sync(() => rows.push(r))))
        )
        expect(error._tag).toBe("ProtocolError")
        expect(rows).toHaveLength(1)
        const port = broken.port
        yield* Effect.promise(() => broken.close())
        const gone = yield* makeView({ capiBaseUrls: Effect.succeed([`http://127.0.0.1:${port}`]) })
        expect((yield* failure(gone.queryCollect("d", "v")))._tag).toBe("NetworkError")
      })
    )

    live("a first row larger than the socket's buffer arrives whole, and the rows after it", () =>
      Effect.gen(function* () {
        const big = new MemoryBucket()
        big.upsert("a-big", { text: "x".repeat(40_000) })
        for (let i = 0; i < 50; i++) big.upsert(`b-${i}`, { text: "small" })
        yield* Effect.promise(() =>
          viewEngineFor(big).putDesignDocument("_design/t", {
            views: { all: { map: "function (doc, meta) { emit(meta.id, doc.text.length) }" } }
          })
        )
        const bigServer = yield* Effect.promise(() => startCapi("big", big))
        const view = yield* makeView({
          capiBaseUrls: Effect.succeed([bigServer.url]),
          bucket: "big",
          timeout: "5 seconds"
        })
        const rows = yield* view.queryCollect("t", "all", { include_docs: false })
        expect(rows.rows.map((r) => r.value)).toEqual([40_000, ...Array.from({ length: 50 }, () => 5)])
        yield* Effect.promise(() => bigServer.close())
      })
    )

    live("an error body that stops arriving is a TimeoutError, not a hang", () =>
      Effect.gen(function* () {
        const stalls = yield* Effect.promise(() =>
          startServer((_req, res) => {
            res.writeHead(500, { "Content-Type": "application/json" })
            res.write('{"error":"unknown_error","reason":"half of it')
          })
        )
        const view = yield* makeView({ capiBaseUrls: Effect.succeed([stalls.url]), timeout: "300 millis" })
        const error = yield* failure(view.queryCollect("d", "v"))
        expect(error._tag).toBe("TimeoutError")
        yield* Effect.promise(() => stalls.close())
      })
    )

    live("a consumer that holds a row for longer than the views timeout is not a stall", () =>
      Effect.gen(function* () {
        const view = yield* makeView({ timeout: "200 millis" })
        let n = 0
        // A body of several chunks, held for longer than the timeout at times: the time
        // counts only while the network is waited for.
        const rows = yield* view.query("beer", "brewery_beers", { limit: 2000 }).pipe(
          Stream.tap(() => (++n % 500 === 0 ? Effect.sleep("300 millis") : Effect.void)),
          Stream.runCollect
        )
        expect(rows.length).toBe(2000)
      })
    )
  })

viewQuerySuite("NodeHttpClient", NodeHttpClient.layer)
viewQuerySuite("a connection's own HTTP client", ConnectionHttpClient)

describe("View types", () => {
  it("query and queryCollect state their error union; rows carry the caller's key and value types", () => {
    type Q = ReturnType<View.View.Service["query"]>
    expectTypeOf<Stream.Stream.Error<Q>>().toEqualTypeOf<View.ViewError>()
    expectTypeOf<Stream.Stream.Context<Q>>().toEqualTypeOf<never>()
    type C = ReturnType<View.View.Service["queryCollect"]>
    expectTypeOf<Effect.Effect.Error<C>>().toEqualTypeOf<View.ViewError>()
    type Typed = Stream.Stream.Success<View.ViewStream<[string, string], number>>
    expectTypeOf<Typed["key"]>().toEqualTypeOf<[string, string]>()
    expectTypeOf<Typed["value"]>().toEqualTypeOf<number>()
    expectTypeOf<Typed["docid"]>().toEqualTypeOf<string | undefined>()
    expectTypeOf<View.ViewError>().toMatchTypeOf<{ readonly _tag: string; readonly message: string }>()
    // Unknown parameter names need unrecognized_ok; known ones are checked.
    expectTypeOf<{ limit: 10; stale: false }>().toMatchTypeOf<View.ViewQuery>()
    expectTypeOf<{ unrecognized_ok: true; new_param: "x" }>().toMatchTypeOf<View.ViewQuery>()
    expectTypeOf<{ limit: { n: 1 } }>().not.toMatchTypeOf<View.ViewQuery>()
  })
})

describe("View service tag and layer", () => {
  live("the layer provides the service", () =>
    Effect.gen(function* () {
      const view = yield* View.View
      const result = yield* view.queryCollect("beer", "brewery_beers", { limit: 1 })
      expect(result.rows).toHaveLength(1)
      expect(Either.isRight(View.encodeViewQuery({ stale: true }))).toBe(true)
    }).pipe(
      Effect.provide(
        View.layer({
          capiBaseUrls: Effect.sync(() => [server.url]),
          bucket: "beer-sample",
          username: "Administrator",
          password: Redacted.make("x")
        })
      )
    )
  )
})
