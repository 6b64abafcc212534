/**
 * `npm run bench`: key/value throughput of our client next to its peers, in one run.
 *
 * - get/upsert against the embedded cluster (1 node, over loopback TCP): our client
 *   versus the official `couchbase` SDK, with the same concurrency;
 * - get against Debian's `memcached` in memcached mode (when `/usr/bin/memcached` exists).
 *
 * Prints one JSON line per measurement: `{"bench", "client", "ops", "seconds", "opsPerSec"}`.
 * Numbers on a shared 2-core machine are noisy: compare clients within one run.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { Effect, Redacted } from "effect"
import * as Connection from "../src/Connection.js"
import * as EmbeddedCluster from "../src/EmbeddedCluster.js"
import * as Iops from "../src/Iops.js"

const OPS = Number(process.env.BENCH_OPS ?? 50_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
const KEYS = 1000

const report = (bench: string, client: string, ops: number, ms: number) =>
  console.log(JSON.stringify({ bench, client, ops, seconds: ms / 1000, opsPerSec: Math.round((ops * 1000) / ms) }))

/** Runs `op` OPS times with CONCURRENCY in flight and reports the rate. */
const measure = async (bench: string, client: string, op: (i: number) => Promise<unknown>) => {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < OPS) await op(next++)
    })
  )
  report(bench, client, OPS, performance.now() - start)
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

const ours = (connectionString: string, username?: string, password?: Redacted.Redacted) =>
  Effect.gen(function* () {
    const cb = yield* Connection.make({
      connectionString,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password })
    })
    const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)
    return { cb, run }
  })

const embedded = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
  const { cb, run } = yield* ours(cluster.connectionString, cluster.username, cluster.password)
  for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, { i, name: `doc ${i}` })
  yield* Effect.promise(() => measure("embedded-get", "effect-couchbase", (i) => run(cb.get(`k${i % KEYS}`))))
  yield* Effect.promise(() =>
    measure("embedded-upsert", "effect-couchbase", (i) => run(cb.upsert(`k${i % KEYS}`, { i })))
  )

  const couchbase = yield* Effect.promise(() => import("couchbase"))
  const sdk = yield* Effect.promise(() =>
    couchbase.connect(cluster.connectionString, {
      username: cluster.username,
      password: Redacted.value(cluster.password)
    })
  )
  const coll = sdk.bucket("default").defaultCollection()
  yield* Effect.promise(() => measure("embedded-get", "couchbase-sdk", (i) => coll.get(`k${i % KEYS}`)))
  yield* Effect.promise(() => measure("embedded-upsert", "couchbase-sdk", (i) => coll.upsert(`k${i % KEYS}`, { i })))
  yield* Effect.promise(() => sdk.close())
})

const memcached = Effect.gen(function* () {
  if (!existsSync("/usr/bin/memcached")) return
  const port = yield* Effect.promise(freePort)
  const user = process.getuid?.() === 0 ? ["-u", "root"] : []
  const proc = yield* Effect.acquireRelease(
    Effect.sync(() => spawn("/usr/bin/memcached", ["-l", "127.0.0.1", "-p", String(port), "-U", "0", ...user])),
    (p) => Effect.sync(() => p.kill())
  )
  yield* Effect.sleep("300 millis")
  if (proc.exitCode !== null) return
  const { cb, run } = yield* ours(`memcached://127.0.0.1:${port}`)
  for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, `value ${i}`)
  yield* Effect.promise(() => measure("memcached-get", "effect-couchbase", (i) => run(cb.get(`k${i % KEYS}`))))
})

Effect.runPromise(
  Effect.gen(function* () {
    yield* Effect.scoped(embedded)
    yield* Effect.scoped(memcached)
  }).pipe(Effect.provide(Iops.layerNode()))
).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
