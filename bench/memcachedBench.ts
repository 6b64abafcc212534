/**
 * Against Debian's `memcached -t 1` (found on PATH), one connection per client, 1000
 * keys of 100 bytes:
 *
 * - `memcached-get` at 1, 16 and 256 in flight: the raw pipelined client (the limit),
 *   `Effect.async` around the raw client in a fiber loop (what Effect itself costs per
 *   operation: the ceiling of any Effect client), memjs, and ours as a fiber loop, as
 *   the Promise wrapper (no fiber per operation) and through `Effect.runPromise`;
 * - `memcached-get-bytes`: bytes allocated per get at 256 in flight, per client;
 * - `memcached-getMulti`: batches of 1000 keys one after the other, ours (`getMulti`,
 *   one GETQ pipeline per node) against the raw client's GETQ×1000 + NOOP.
 */
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { delimiter, join } from "node:path"
import { Effect } from "effect"
import * as AsyncResult from "../src/AsyncResult.js"
import * as Connection from "../src/Connection.js"
import { FMT_UTF8 } from "../src/Transcoder.js"
import {
  allocatedDuring,
  type Client,
  callbacks,
  compare,
  fibers,
  OPS,
  promises,
  QUICK,
  ratio,
  report
} from "./measure.js"
import { connectRaw } from "./rawClient.js"

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

/** See the module documentation. */
export const memcachedBench = Effect.gen(function* () {
  const port = yield* startMemcached
  if (port === undefined) return
  const cb = yield* Connection.make({ connectionString: `memcached://127.0.0.1:${port}` })
  const value = "x".repeat(100)
  for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, value, { format: FMT_UTF8 })
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
  const keyBuffers = keys.map((k) => Buffer.from(k))
  const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb))

  const raw = yield* Effect.acquireRelease(
    Effect.promise(() => connectRaw("127.0.0.1", port)),
    (client) => Effect.sync(() => client.close())
  )
  const memjs = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const { Client } = await import("memjs")
      return Client.create(`127.0.0.1:${port}`, { logger: { log: () => {} } })
    }),
    (client) => Effect.sync(() => client.close())
  )
  const get = (i: number) => cb.get(keys[i % KEYS]!)
  const clients: ReadonlyArray<Client> = [
    [
      "raw",
      callbacks((i, done) => raw.get(keyBuffers[i % KEYS]!, (status) => (status === 0 ? done() : process.exit(2))))
    ],
    [
      "effect-async-raw",
      fibers((i) =>
        Effect.async<Buffer | undefined>((resume) =>
          raw.get(keyBuffers[i % KEYS]!, (_, v) => resume(Effect.succeed(v)))
        )
      )
    ],
    ["memjs", promises((i) => memjs.get(keys[i % KEYS]!))],
    ["effect-couchbase", fibers(get)],
    ["effect-couchbase-promise", promises((i) => db.get(keys[i % KEYS]!))],
    ["effect-couchbase-runPromise", promises((i) => Effect.runPromise(get(i)))]
  ]
  for (const concurrency of QUICK ? [16, 256] : [1, 16, 256]) {
    // One in flight is a round trip per get: fewer of them keep the run short.
    const ops = concurrency === 1 ? Math.ceil(OPS / 5) : OPS
    const rates = yield* compare(clients, ops, concurrency)
    for (const [client, rate] of rates) {
      report({
        bench: "memcached-get",
        client,
        concurrency,
        opsPerSec: Math.round(rate),
        vsRaw: ratio(rate, rates.get("raw")),
        vsEffectAsyncRaw: ratio(rate, rates.get("effect-async-raw")),
        vsMemjs: ratio(rate, rates.get("memjs"))
      })
    }
  }
  for (const [client, loop] of clients) {
    const bytes = yield* allocatedDuring(loop(OPS, 256))
    report({ bench: "memcached-get-bytes", client, concurrency: 256, bytesPerOp: Math.round(bytes / OPS) })
  }

  // getMulti: batches of every key, one after the other.
  const batches = Math.max(20, Math.round(OPS / KEYS))
  const multi = yield* compare(
    [
      [
        "raw-getq-pipeline",
        callbacks((_, done) =>
          raw.getMulti(keyBuffers, (values) => (values.length === KEYS ? done() : process.exit(3)))
        )
      ],
      ["effect-couchbase", fibers(() => cb.getMulti(keys))],
      ["effect-couchbase-promise", promises(() => db.getMulti(keys))]
    ],
    batches,
    1
  )
  for (const [client, rate] of multi) {
    report({
      bench: "memcached-getMulti",
      client,
      keysPerBatch: KEYS,
      keysPerSec: Math.round(rate * KEYS),
      vsRaw: ratio(rate, multi.get("raw-getq-pipeline"))
    })
  }
})
