/**
 * One key/value workload, long enough to profile: `bench/run.ts` runs many short
 * measurements, this runs one. Like them, it runs the built package (build it first;
 * `tsconfig.bench.json` makes `effect-couchbase` resolve to it):
 *
 * ```sh
 * npm run build
 * BENCH_TARGET=memcached BENCH_OP=get BENCH_OPS=300000 TSX_TSCONFIG_PATH=tsconfig.bench.json \
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile.ts
 * ```
 *
 * - BENCH_TARGET: `embedded` (default: the cluster in this process), `memcached`
 *   (Debian's, started here), or a connection string (e.g. the one `bench/server.ts`
 *   prints; BENCH_USERNAME/BENCH_PASSWORD default to the embedded cluster's).
 * - BENCH_OP: `get` (default) or `upsert`. BENCH_MODE: `fibers` (default),
 *   `promise` (the Promise wrapper: no fiber per operation) or `runPromise` (a fiber per
 *   operation). BENCH_OPS, BENCH_CONCURRENCY.
 *
 * Prints `{"op", "mode", "ops", "opsPerSec"}`.
 */
import { spawn } from "node:child_process"
import { Effect, Redacted } from "effect"
import { AsyncResult, Connection, EmbeddedCluster, Iops } from "effect-couchbase"
import { runScript } from "./runScript.js"

const OPS = Number(process.env.BENCH_OPS ?? 200_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
const TARGET = process.env.BENCH_TARGET ?? "embedded"
const OP = process.env.BENCH_OP ?? "get"
const MODE = process.env.BENCH_MODE ?? "fibers"
const KEYS = 1000

const target = Effect.gen(function* () {
  if (TARGET === "embedded") {
    const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
    return { connectionString: cluster.connectionString, username: cluster.username, password: cluster.password }
  }
  if (TARGET === "memcached") {
    const port = 20000 + Math.floor(Math.random() * 20000)
    const user = process.getuid?.() === 0 ? ["-u", "root"] : []
    yield* Effect.acquireRelease(
      Effect.sync(() => spawn("/usr/bin/memcached", ["-l", "127.0.0.1", "-p", String(port), "-U", "0", ...user])),
      (p) => Effect.sync(() => p.kill())
    )
    yield* Effect.sleep("300 millis")
    return { connectionString: `memcached://127.0.0.1:${port}` }
  }
  return {
    connectionString: TARGET,
    username: process.env.BENCH_USERNAME ?? "Administrator",
    password: Redacted.make(process.env.BENCH_PASSWORD ?? "password")
  }
})

const program = Effect.gen(function* () {
  const cb = yield* Connection.make(yield* target)
  for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, { i, name: `doc ${i}` })
  const op: (i: number) => Effect.Effect<unknown, unknown> =
    OP === "upsert" ? (i) => cb.upsert(`k${i % KEYS}`, { i }) : (i) => cb.get(`k${i % KEYS}`)
  let next = 0
  const start = performance.now()
  if (MODE === "promise") {
    const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb))
    const call: (i: number) => Promise<unknown> =
      OP === "upsert" ? (i) => db.upsert(`k${i % KEYS}`, { i }) : (i) => db.get(`k${i % KEYS}`)
    yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < OPS) await call(next++)
        })
      )
    )
  } else if (MODE === "runPromise") {
    yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < OPS) await Effect.runPromise(op(next++))
        })
      )
    )
  } else {
    const worker = Effect.whileLoop({ while: () => next < OPS, body: () => op(next++), step: () => {} })
    yield* Effect.forEach(Array.from({ length: CONCURRENCY }), () => worker, {
      concurrency: "unbounded",
      discard: true
    })
  }
  const ms = performance.now() - start
  console.log(JSON.stringify({ op: OP, mode: MODE, ops: OPS, opsPerSec: Math.round((OPS * 1000) / ms) }))
})

runScript(Effect.scoped(program).pipe(Effect.provide(Iops.layerNode())))
