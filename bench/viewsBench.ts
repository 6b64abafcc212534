/**
 * Views against the embedded cluster in a child process:
 *
 * - `views-brewery_beers`: every row of beer-sample's `beer/brewery_beers` (7303
 *   rows), ours as a Stream (rows parsed as the body arrives) next to the official SDK's
 *   `viewQuery` (buffered), whole queries in interleaved rounds; rows per second and
 *   the median time from the request to the first row of a whole query (ours: the
 *   first Stream chunk; the SDK: its first `row` event).
 * - `views-heap`: 40 000 rows of 1.5 KB (a 60 MB body) streamed by a client process
 *   started with `--max-old-space-size=64` (`viewsHeap.ts`), which reports the most
 *   heap it used while reading them and the heap it kept (after a full collection)
 *   before the query and after each quarter of the rows.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, Stream } from "effect"
import { Connection, View } from "effect-couchbase"
import { childClusterWith } from "./embeddedBench.js"
import { compare, median, QUICK, ratio, report } from "./measure.js"

const BREWERY_BEERS = 7303
const HEAP_ROWS = 40_000

/** See the module documentation. */
export const viewsBench = Effect.gen(function* () {
  const target = yield* childClusterWith({ BENCH_SAMPLE: "1" })
  const cb = yield* Connection.make({ ...target, connectionString: `${target.connectionString}/beer-sample` })
  const view = yield* View.makeFromConnection(cb)
  const couchbase = yield* Effect.promise(() => import("couchbase"))
  const sdk = yield* Effect.acquireRelease(
    Effect.promise(() =>
      couchbase.connect(target.connectionString, {
        username: target.username,
        password: Redacted.value(target.password)
      })
    ),
    (c) => Effect.promise(() => c.close())
  )
  const bucket = sdk.bucket("beer-sample")

  // A query's Stream runs once: each run makes a new one.
  const ours = Effect.suspend(() =>
    Effect.flatMap(view.query("beer", "brewery_beers").pipe(Stream.runCount), (n) =>
      n === BREWERY_BEERS ? Effect.void : Effect.dieMessage(`brewery_beers gave ${n} rows`)
    )
  )
  const theirs = () =>
    bucket.viewQuery("beer", "brewery_beers").then((r) => {
      if (r.rows.length !== BREWERY_BEERS) throw new Error(`the SDK got ${r.rows.length} rows`)
    })
  const queries = QUICK ? 3 : 10
  const rates = yield* compare(
    [
      [
        "effect-couchbase-stream",
        (n) =>
          Effect.suspend(() => {
            const start = performance.now()
            return Effect.as(Effect.repeatN(ours, n - 1), 0).pipe(Effect.map(() => performance.now() - start))
          })
      ],
      [
        "couchbase-sdk-viewQuery",
        (n) =>
          Effect.promise(async () => {
            const start = performance.now()
            for (let i = 0; i < n; i++) await theirs()
            return performance.now() - start
          })
      ]
    ],
    queries,
    1
  )

  // Time to the first row, as a median of whole queries (a query abandoned after its
  // first row would leave the server writing the rest while the next one starts). Thirty
  // of them: a garbage collection on either side delays a first row by a few
  // milliseconds, and the median of ten moved by 0.9 ms from one run to the next.
  const firstOurs: Array<number> = []
  const firstTheirs: Array<number> = []
  for (let i = 0; i < (QUICK ? 5 : 30); i++) {
    const start = performance.now()
    let first: number | undefined
    yield* view.query("beer", "brewery_beers").pipe(
      Stream.runForEachChunk(() =>
        Effect.sync(() => {
          first ??= performance.now() - start
        })
      )
    )
    firstOurs.push(first ?? Number.NaN)
    firstTheirs.push(
      yield* Effect.promise(
        () =>
          new Promise<number>((resolve, reject) => {
            const begin = performance.now()
            let first: number | undefined
            const query = bucket.viewQuery("beer", "brewery_beers")
            query.on("row", () => {
              first ??= performance.now() - begin
            })
            query.on("end", () => resolve(first ?? Number.NaN))
            query.on("error", reject)
          })
      )
    )
  }
  const firstRow = new Map([
    ["effect-couchbase-stream", median(firstOurs)],
    ["couchbase-sdk-viewQuery", median(firstTheirs)]
  ])
  for (const [client, rate] of rates) {
    report({
      bench: "views-brewery_beers",
      client,
      rowsPerSec: Math.round(rate * BREWERY_BEERS),
      vsSdk: ratio(rate, rates.get("couchbase-sdk-viewQuery")),
      firstRowMs: Number(firstRow.get(client)!.toFixed(2))
    })
  }

  yield* heapBench(target)
})

/** Loads HEAP_ROWS documents of 1.5 KB and a view emitting them, then runs `viewsHeap.ts` under a 64 MB heap. */
const heapBench = (target: {
  readonly connectionString: string
  readonly username: string
  readonly password: Redacted.Redacted
}) =>
  Effect.gen(function* () {
    const cb = yield* Connection.make(target)
    const payload = "p".repeat(1500)
    const keys = Array.from({ length: HEAP_ROWS }, (_, i) => `heap::${i}`)
    for (let i = 0; i < keys.length; i += 1000) {
      yield* cb.upsertMulti(Object.fromEntries(keys.slice(i, i + 1000).map((k) => [k, { payload }])))
    }
    const [capi] = yield* cb.cluster.capiBaseUrls
    const auth = Buffer.from(`${target.username}:${Redacted.value(target.password)}`).toString("base64")
    yield* Effect.promise(() =>
      fetch(`${capi}/default/_design/heap`, {
        method: "PUT",
        headers: { authorization: `Basic ${auth}`, "content-type": "application/json" },
        body: JSON.stringify({ views: { rows: { map: "function (doc, meta) { emit(meta.id, doc.payload) }" } } })
      }).then((r) => {
        if (!r.ok) throw new Error(`design document PUT: HTTP ${r.status}`)
      })
    )
    const script = fileURLToPath(new URL("./viewsHeap.ts", import.meta.url))
    const output = yield* Effect.async<string, Error>((resume) => {
      const child = spawn(process.execPath, ["--max-old-space-size=64", "--expose-gc", "--import", "tsx", script], {
        stdio: ["ignore", "pipe", "inherit"],
        env: {
          ...process.env,
          BENCH_TARGET: JSON.stringify({ ...target, password: Redacted.value(target.password) }),
          BENCH_ROWS: String(HEAP_ROWS)
        }
      })
      let out = ""
      child.stdout.on("data", (chunk) => (out += chunk))
      child.once("exit", (code) =>
        resume(code === 0 ? Effect.succeed(out) : Effect.fail(new Error(`viewsHeap.ts exited with ${code}`)))
      )
    })
    const result = JSON.parse(output.trim()) as {
      rows: number
      maxHeapUsedMB: number
      startHeapUsedMB: number
      retainedMB: ReadonlyArray<number>
    }
    report({
      bench: "views-heap",
      client: "effect-couchbase-stream",
      rows: result.rows,
      rowBytes: 1500,
      heapLimitMB: 64,
      startHeapUsedMB: result.startHeapUsedMB,
      maxHeapUsedMB: result.maxHeapUsedMB,
      // Kept after a full collection: before the query, then after each quarter of the rows.
      retainedMB: result.retainedMB.join(" → ")
    })
  })
