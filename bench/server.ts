/**
 * The embedded cluster on its own, for `bench/run.ts`: started as a child process so
 * that the client under test and the server do not share one JavaScript thread (on a
 * multi-core machine each gets a core, as a real client and server would).
 *
 * Prints one JSON line `{"connectionString", "username", "password"}` once the
 * cluster listens, then runs until its stdin closes (the parent exited) or it is
 * signalled. `BENCH_SAMPLE=1` adds the `beer-sample` bucket with its dataset.
 */
import { Effect, Redacted } from "effect"
import { EmbeddedCluster } from "effect-couchbase"
import { runScript } from "./runScript.js"

const nodes = Number(process.env.BENCH_NODES ?? 1)
const buckets =
  process.env.BENCH_SAMPLE === "1"
    ? [{ name: "default" }, { name: "beer-sample", sample: "beer-sample" as const }]
    : undefined

runScript(
  Effect.scoped(
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes, buckets })
      console.log(
        JSON.stringify({
          connectionString: cluster.connectionString,
          username: cluster.username,
          password: Redacted.value(cluster.password)
        })
      )
      // Until the parent closes our stdin (it exits or kills us).
      yield* Effect.async<void>((resume) => {
        process.stdin.on("end", () => resume(Effect.void))
        process.stdin.on("close", () => resume(Effect.void))
        process.stdin.resume()
      })
    })
  )
)
