/**
 * Against Debian's `memcached -t 1` (found on PATH), one connection per client, 1000
 * keys of 100 bytes, each measurement in a process of its own (`worker.ts`):
 *
 * - `memcached-get` at 1, 16 and 256 in flight: the raw pipelined client (the limit),
 *   `Effect.async` around the raw client in a fiber loop (what Effect itself costs per
 *   operation: the ceiling of any Effect client), `Effect.async` resumed with no I/O
 *   at all (the floor of a fiber's suspension, in time and bytes), memjs, and ours as
 *   a fiber loop, as the Promise wrapper (no fiber per operation) and through
 *   `Effect.runPromise`; with the bytes each client allocates per get;
 * - `memcached-getMulti`: batches of 1000 keys one after the other, ours (`getMulti`,
 *   one GETQ pipeline per node) against the raw client's GETQ×1000 + NOOP.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { delimiter, join } from "node:path"
import { Effect } from "effect"
import { Connection, Transcoder } from "effect-couchbase"
import { compareIsolated, OPS, QUICK, ratio, report } from "./measure.js"

const KEYS = 1000

/** memcached on PATH, as the tests find it. */
const memcachedBinary = (): string | undefined =>
  (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, "memcached"))
    .find((path) => existsSync(path))

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

/** Starts memcached on a free port for the scope; undefined when it is not installed. */
export const startMemcached = Effect.gen(function* () {
  const binary = memcachedBinary()
  if (binary === undefined) {
    console.error("memcached not found on PATH: its benchmarks are skipped")
    return undefined
  }
  const port = yield* Effect.promise(freePort)
  const user = process.getuid?.() === 0 ? ["-u", "root"] : []
  const proc = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(binary, ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", "1", ...user])),
    (p) => Effect.sync(() => p.kill())
  )
  yield* Effect.sleep("300 millis")
  return proc.exitCode === null ? port : undefined
})

const GET_CLIENTS = [
  "raw",
  "effect-async-raw",
  "effect-async-no-io",
  "memjs",
  "effect-couchbase",
  "effect-couchbase-promise",
  "effect-couchbase-runPromise"
]

/** See the module documentation. */
export const memcachedBench = Effect.gen(function* () {
  const port = yield* startMemcached
  if (port === undefined) return
  yield* Effect.scoped(
    Effect.gen(function* () {
      const cb = yield* Connection.make({ connectionString: `memcached://127.0.0.1:${port}` })
      const value = "x".repeat(100)
      for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, value, { format: Transcoder.FMT_UTF8 })
    })
  )
  const target = { kind: "memcached" as const, port }
  for (const concurrency of QUICK ? [16, 256] : [1, 16, 256]) {
    // One in flight is a round trip per get: fewer of them keep the run short.
    const ops = concurrency === 1 ? Math.ceil(OPS / 5) : OPS
    const results = yield* compareIsolated(GET_CLIENTS, { target, op: "get", ops, concurrency })
    const rate = (client: string) => results.get(client)?.opsPerSec
    for (const [client, result] of results) {
      report({
        bench: "memcached-get",
        client,
        concurrency,
        opsPerSec: Math.round(result.opsPerSec),
        vsRaw: ratio(result.opsPerSec, rate("raw")),
        vsEffectAsyncRaw: ratio(result.opsPerSec, rate("effect-async-raw")),
        vsMemjs: ratio(result.opsPerSec, rate("memjs")),
        bytesPerOp: result.bytesPerOp
      })
    }
  }

  // getMulti: batches of every key, one after the other. A thousand batches (about a
  // second): with a tenth of that, ours measured from 0.52 to 0.65 of the raw pipeline
  // from one run to the next, and from 0.57 to 0.60 with these.
  const batches = Math.max(20, Math.round(OPS / 100))
  const multi = yield* compareIsolated(["raw-getq-pipeline", "effect-couchbase", "effect-couchbase-promise"], {
    target,
    op: "getMulti",
    ops: batches,
    concurrency: 1
  })
  for (const [client, result] of multi) {
    report({
      bench: "memcached-getMulti",
      client,
      keysPerBatch: KEYS,
      keysPerSec: Math.round(result.opsPerSec * KEYS),
      vsRaw: ratio(result.opsPerSec, multi.get("raw-getq-pipeline")?.opsPerSec),
      bytesPerKey: Math.round(result.bytesPerOp / KEYS)
    })
  }
})
