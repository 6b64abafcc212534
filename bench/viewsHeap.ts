/**
 * Run by `viewsBench.ts` under `node --max-old-space-size=64`: streams every row of
 * the view `heap/rows` of the bucket `default` on the cluster in BENCH_TARGET (JSON
 * `{connectionString, username, password}`) and prints `{"rows", "startHeapUsedMB",
 * "maxHeapUsedMB", "retainedMB"}`: the heap used before the query, the most it reached
 * while the rows streamed (sampled every 500 rows), and the heap kept after a full
 * collection before the query and after each quarter of the rows (`--expose-gc`).
 */
import { Effect, Redacted, Stream } from "effect"
import { Connection, Iops, View } from "effect-couchbase"
import { runScript } from "./runScript.js"

const target = JSON.parse(process.env.BENCH_TARGET ?? "{}") as {
  connectionString: string
  username: string
  password: string
}
const mb = (bytes: number) => Number((bytes / 1024 / 1024).toFixed(1))
/** The rows of the view (`viewsBench.ts` writes them). */
const ROWS = Number(process.env.BENCH_ROWS ?? 40_000)
/** Run with `--expose-gc`. */
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined)

runScript(
  Effect.scoped(
    Effect.gen(function* () {
      const cb = yield* Connection.make({ ...target, password: Redacted.make(target.password) })
      const view = yield* View.makeFromConnection(cb)
      // The heap kept after a full collection, before the query and after each
      // quarter of the rows: flat when nothing accumulates while the rows stream.
      const retained = () => {
        gc()
        return mb(process.memoryUsage().heapUsed)
      }
      const retainedMB = [retained()]
      const start = process.memoryUsage().heapUsed
      let max = start
      let rows = 0
      yield* view.query("heap", "rows", { stale: false }).pipe(
        Stream.runForEach(() =>
          Effect.sync(() => {
            if (++rows % 500 === 0) max = Math.max(max, process.memoryUsage().heapUsed)
            if (rows % (ROWS / 4) === 0) retainedMB.push(retained())
          })
        )
      )
      console.log(JSON.stringify({ rows, startHeapUsedMB: mb(start), maxHeapUsedMB: mb(max), retainedMB }))
    })
  ).pipe(Effect.provide(Iops.layerNode()))
)
