/**
 * Against the embedded cluster (one node, in a child process, so that client and
 * server each have a thread as in a real deployment): get and upsert at
 * `BENCH_CONCURRENCY` (256) in flight, ours as a fiber loop and as the Promise wrapper
 * next to the official `couchbase` SDK (unless `BENCH_SDK=0`), each measurement in a
 * process of its own, interleaved rounds with medians.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, type Scope } from "effect"
import { Connection } from "effect-couchbase"
import { compareIsolated, OPS, ratio, report } from "./measure.js"

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
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

/** See the module documentation. */
export const embeddedBench = Effect.gen(function* () {
  const target = yield* childCluster
  yield* Effect.scoped(
    Effect.gen(function* () {
      const cb = yield* Connection.make(target)
      for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, { i, name: `doc ${i}` })
    })
  )
  const job = {
    target: {
      kind: "couchbase" as const,
      connectionString: target.connectionString,
      username: target.username,
      password: Redacted.value(target.password)
    },
    ops: EMBEDDED_OPS,
    concurrency: CONCURRENCY
  }
  const clients = ["effect-couchbase", "effect-couchbase-promise", ...(SDK ? ["couchbase-sdk"] : [])]
  for (const op of ["get", "upsert"] as const) {
    const results = yield* compareIsolated(clients, { ...job, op })
    for (const [client, result] of results) {
      report({
        bench: `embedded-${op}`,
        client,
        concurrency: CONCURRENCY,
        opsPerSec: Math.round(result.opsPerSec),
        vsSdk: ratio(result.opsPerSec, results.get("couchbase-sdk")?.opsPerSec)
      })
    }
  }
})
