/**
 * One measurement in a process of its own, run by the benchmark sections: one client,
 * one workload, then exit. Clients measured in one process disturb each other (each
 * leaves garbage for the next to collect, and shared code paths that see several
 * clients' objects compile for all of them: our Promise wrapper measured 2.3× slower
 * next to the others than alone), so each measurement gets a fresh process; the
 * sections still interleave the clients round after round and compare medians.
 *
 * Reads `BENCH_WORKER` (JSON {@link Job}), prints `{"opsPerSec", "bytesPerOp"}`: the rate
 * of a timed run after {@link WARMUP_MS} of warm-up runs of the same size, and the
 * bytes allocated per operation in one more run (see `measure.ts`).
 */
import { Effect, Redacted } from "effect"
import { AsyncResult, Connection, Iops } from "effect-couchbase"
import { allocatedDuring, callbacks, fibers, type Loop, promises, QUICK } from "./measure.js"
import { connectRaw } from "./rawClient.js"
import { runScript } from "./runScript.js"

/** What to measure. */
export interface Job {
  /** A memcached port, or a Couchbase connection string with credentials. */
  readonly target:
    | { readonly kind: "memcached"; readonly port: number }
    | {
        readonly kind: "couchbase"
        readonly connectionString: string
        readonly username: string
        readonly password: string
      }
  readonly client: string
  readonly op: "get" | "upsert" | "getMulti"
  readonly ops: number
  readonly concurrency: number
}

/** What a measurement found. */
export interface JobResult {
  readonly opsPerSec: number
  readonly bytesPerOp: number
}

const KEYS = 1000
const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
const keyBuffers = keys.map((k) => Buffer.from(k))

/** The loop of `job`'s client, with what it needs opened in the scope. */
const loopOf = (job: Job) =>
  Effect.gen(function* () {
    const { target, client, op } = job
    const memcached = target.kind === "memcached"
    const connect = () =>
      memcached
        ? Connection.make({ connectionString: `memcached://127.0.0.1:${target.port}` })
        : Connection.make({
            connectionString: target.connectionString,
            username: target.username,
            password: Redacted.make(target.password)
          })
    const raw = () =>
      Effect.acquireRelease(
        Effect.promise(() => connectRaw("127.0.0.1", memcached ? target.port : 0)),
        (c) => Effect.sync(() => c.close())
      )
    const fail = (code: number) => process.exit(code)
    switch (`${client}/${op}`) {
      case "raw/get": {
        const c = yield* raw()
        return callbacks((i, done) => c.get(keyBuffers[i % KEYS]!, (s) => (s === 0 ? done() : fail(2))))
      }
      case "effect-async-raw/get": {
        const c = yield* raw()
        return fibers((i) =>
          Effect.async<Buffer | undefined>((resume) =>
            c.get(keyBuffers[i % KEYS]!, (_, v) => resume(Effect.succeed(v)))
          )
        )
      }
      case "effect-async-no-io/get": {
        // No I/O at all: a batch of resumptions per turn of the event loop, as socket
        // reads deliver them. What one suspension of a fiber costs in Effect itself,
        // the floor under every Effect client's time and bytes per operation.
        let waiting: Array<(effect: Effect.Effect<Buffer>) => void> = []
        const resumeAll = () => {
          const batch = waiting
          waiting = []
          for (const resume of batch) resume(Effect.succeed(keyBuffers[0]!))
        }
        return fibers(() =>
          Effect.async<Buffer>((resume) => {
            if (waiting.push(resume) === 1) setImmediate(resumeAll)
          })
        )
      }
      case "raw-getq-pipeline/getMulti": {
        const c = yield* raw()
        return callbacks((_, done) => c.getMulti(keyBuffers, (values) => (values.length === KEYS ? done() : fail(3))))
      }
      case "memjs/get": {
        const { Client } = yield* Effect.promise(() => import("memjs"))
        const c = yield* Effect.acquireRelease(
          Effect.sync(() => Client.create(`127.0.0.1:${memcached ? target.port : 0}`, { logger: { log: () => {} } })),
          (m) => Effect.sync(() => m.close())
        )
        return promises((i) => c.get(keys[i % KEYS]!))
      }
      case "couchbase-sdk/get":
      case "couchbase-sdk/upsert": {
        if (memcached) break
        const couchbase = yield* Effect.promise(() => import("couchbase"))
        const cluster = yield* Effect.acquireRelease(
          Effect.promise(() =>
            couchbase.connect(target.connectionString, { username: target.username, password: target.password })
          ),
          (c) => Effect.promise(() => c.close())
        )
        const coll = cluster.bucket("default").defaultCollection()
        return op === "get"
          ? promises((i) => coll.get(keys[i % KEYS]!))
          : promises((i) => coll.upsert(keys[i % KEYS]!, { i }))
      }
    }
    const cb = yield* connect()
    const value = (i: number) => (memcached ? "x".repeat(100) : { i })
    const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb))
    switch (`${client}/${op}`) {
      case "effect-couchbase/get":
        return fibers((i) => cb.get(keys[i % KEYS]!))
      case "effect-couchbase-promise/get":
        return promises((i) => db.get(keys[i % KEYS]!))
      case "effect-couchbase-runPromise/get":
        return promises((i) => Effect.runPromise(cb.get(keys[i % KEYS]!)))
      case "effect-couchbase/upsert":
        return fibers((i) => cb.upsert(keys[i % KEYS]!, value(i)))
      case "effect-couchbase-promise/upsert":
        return promises((i) => db.upsert(keys[i % KEYS]!, value(i)))
      case "effect-couchbase/getMulti":
        return fibers(() => cb.getMulti(keys))
      case "effect-couchbase-promise/getMulti":
        return promises(() => db.getMulti(keys))
    }
    return yield* Effect.dieMessage(`no client ${client} for ${op} on ${target.kind}`)
  })

const job = JSON.parse(process.env.BENCH_WORKER ?? "{}") as Job

/**
 * Milliseconds of the workload run before the timed run (`BENCH_WARMUP_MS`). Every
 * client is measured in its steady state: the JIT's tiers and the young generation's
 * size settle over about a second of load, and one warm-up run of the timed size
 * measured start-up instead (at 256 in flight: our Promise path 0.47 M gets/s after a
 * 100 k warm-up, 0.74 M after 300 k runs; the raw client 1.04 M and 1.31 M).
 */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? (QUICK ? 300 : 2000))

runScript(
  Effect.scoped(
    Effect.gen(function* () {
      const loop: Loop = yield* loopOf(job)
      let warm = 0
      do warm += yield* loop(job.ops, job.concurrency)
      while (warm < WARMUP_MS)
      const ms = yield* loop(job.ops, job.concurrency)
      const bytes = yield* allocatedDuring(loop(job.ops, job.concurrency))
      const result: JobResult = {
        opsPerSec: (job.ops * 1000) / ms,
        bytesPerOp: Math.round(bytes / job.ops)
      }
      console.log(JSON.stringify(result))
    })
  ).pipe(Effect.provide(Iops.layerNode()))
)
