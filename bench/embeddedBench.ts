/**
 * Against the embedded cluster (one node; in a child process by default, so that
 * client and server each have a thread as in a real deployment, or in this process
 * with `BENCH_SERVER=in-process|both`): get and upsert at `BENCH_CONCURRENCY` (256)
 * in flight, ours as a fiber loop and as the Promise wrapper next to the official
 * `couchbase` SDK (unless `BENCH_SDK=0`), interleaved rounds with medians.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, type Scope } from "effect"
import * as AsyncResult from "../src/AsyncResult.js"
import * as Connection from "../src/Connection.js"
import * as EmbeddedCluster from "../src/EmbeddedCluster.js"
import { type Client, compare, fibers, OPS, promises, ratio, report } from "./measure.js"

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
const SERVER = process.env.BENCH_SERVER ?? "child"
const SDK = process.env.BENCH_SDK !== "0"
const KEYS = 1000
/** The SDK does about 15 k operations a second here: fewer operations keep the section to a few minutes. */
const EMBEDDED_OPS = Number(process.env.BENCH_EMBEDDED_OPS ?? Math.min(OPS, 50_000))

/** Where a cluster listens and how to log in. */
export interface Target {
  readonly connectionString: string
  readonly username: string
  readonly password: Redacted.Redacted
}

/** Starts `bench/server.ts` in a child process (with `env` added) and reads where it listens. */
export const childClusterWith = (env: Record<string, string>): Effect.Effect<Target, never, Scope.Scope> =>
  Effect.gen(function* () {
    const script = fileURLToPath(new URL("./server.ts", import.meta.url))
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", script], {
          stdio: ["pipe", "pipe", "inherit"],
          env: { ...process.env, ...env }
        })
      ),
      (c: ChildProcess) => Effect.sync(() => c.kill())
    )
    const line = yield* Effect.async<string>((resume) => {
      const lines = readline.createInterface({ input: child.stdout! })
      lines.once("line", (l) => {
        lines.close()
        resume(Effect.succeed(l))
      })
      child.once("exit", (code) => resume(Effect.dieMessage(`bench server exited with ${code} before listening`)))
    })
    const info = JSON.parse(line) as { connectionString: string; username: string; password: string }
    return { connectionString: info.connectionString, username: info.username, password: Redacted.make(info.password) }
  })

/** The embedded cluster in a child process. */
export const childCluster: Effect.Effect<Target, never, Scope.Scope> = childClusterWith({})

/** The official SDK's default collection on `target`, closed with the scope. */
export const sdkCollection = (target: Target) =>
  Effect.gen(function* () {
    const couchbase = yield* Effect.promise(() => import("couchbase"))
    const cluster = yield* Effect.acquireRelease(
      Effect.promise(() =>
        couchbase.connect(target.connectionString, {
          username: target.username,
          password: Redacted.value(target.password)
        })
      ),
      (c) => Effect.promise(() => c.close())
    )
    return cluster.bucket("default").defaultCollection()
  })

/** get and upsert, ours next to the SDK, on `target`. */
const kv = (bench: string, target: Target) =>
  Effect.gen(function* () {
    const cb = yield* Connection.make(target)
    for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, { i, name: `doc ${i}` })
    const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb))
    const coll = SDK ? yield* sdkCollection(target) : undefined
    const ops = {
      get: {
        ours: (i: number) => cb.get(`k${i % KEYS}`),
        promise: (i: number) => db.get(`k${i % KEYS}`),
        sdk: (i: number) => coll!.get(`k${i % KEYS}`)
      },
      upsert: {
        ours: (i: number) => cb.upsert(`k${i % KEYS}`, { i }),
        promise: (i: number) => db.upsert(`k${i % KEYS}`, { i }),
        sdk: (i: number) => coll!.upsert(`k${i % KEYS}`, { i })
      }
    }
    for (const [name, op] of Object.entries(ops)) {
      const clients: Array<Client> = [
        ["effect-couchbase", fibers(op.ours)],
        ["effect-couchbase-promise", promises(op.promise)]
      ]
      if (coll !== undefined) clients.push(["couchbase-sdk", promises(op.sdk)])
      const rates = yield* compare(clients, EMBEDDED_OPS, CONCURRENCY)
      for (const [client, rate] of rates) {
        report({
          bench: `${bench}-${name}`,
          client,
          concurrency: CONCURRENCY,
          opsPerSec: Math.round(rate),
          vsSdk: ratio(rate, rates.get("couchbase-sdk"))
        })
      }
    }
  })

/** See the module documentation. */
export const embeddedBench = Effect.gen(function* () {
  if (SERVER === "in-process" || SERVER === "both") {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
        yield* kv("embedded", cluster)
      })
    )
  }
  if (SERVER === "child" || SERVER === "both") {
    yield* Effect.scoped(Effect.flatMap(childCluster, (target) => kv("embedded-child", target)))
  }
})
