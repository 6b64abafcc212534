/**
 * `npm run bench`: key/value throughput of our client next to its peers, in one run.
 *
 * - get/upsert against the embedded cluster (1 node, over loopback TCP): our client
 *   versus the official `couchbase` SDK, with the same concurrency. The cluster runs
 *   in this process (`embedded-*`: client and server share one thread) and in a child
 *   process (`embedded-child-*`: each has its own thread, as a real deployment would);
 * - get against Debian's `memcached -t 1` (when it is on PATH) at 1, 16 and 256 in flight:
 *   a minimal raw pipelined client (the limit, `rawClient.ts`), memjs, and ours, taking
 *   turns in BENCH_ROUNDS rounds; medians, with each client's ratio to raw and to memjs.
 *
 * Our client is measured two ways:
 * - `effect-couchbase`: the way an Effect program runs it, CONCURRENCY fibers each
 *   running operations one after the other in one runtime;
 * - `effect-couchbase-runPromise`: each operation started from a Promise loop with
 *   `Effect.runPromise` (a new fiber per operation), the way code outside Effect
 *   might call it, and the shape of the SDK's loop.
 *
 * Each measurement is preceded by an unreported warm-up of BENCH_WARMUP operations
 * (default: min(BENCH_OPS, 5000)) so that every client is measured after the JIT
 * compiled its hot path. Environment: BENCH_OPS, BENCH_CONCURRENCY, BENCH_WARMUP,
 * BENCH_SERVER (`both` (default), `in-process` or `child`), BENCH_SDK (`0` skips the SDK).
 *
 * Prints one JSON line per measurement: `{"bench", "client", "ops", "seconds", "opsPerSec"}`.
 * Numbers on a shared 2-core machine are noisy: compare clients within one run.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { delimiter, join } from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, type Scope } from "effect"
import * as Connection from "../src/Connection.js"
import * as EmbeddedCluster from "../src/EmbeddedCluster.js"
import * as Iops from "../src/Iops.js"
import { connectRaw } from "./rawClient.js"

const OPS = Number(process.env.BENCH_OPS ?? 50_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 256)
const WARMUP = Number(process.env.BENCH_WARMUP ?? Math.min(OPS, 5000))
const SERVER = process.env.BENCH_SERVER ?? "both"
const SDK = process.env.BENCH_SDK !== "0"
const KEYS = 1000

const report = (bench: string, client: string, ops: number, ms: number) =>
  console.log(JSON.stringify({ bench, client, ops, seconds: ms / 1000, opsPerSec: Math.round((ops * 1000) / ms) }))

/** Runs `op` `ops` times from `concurrency` Promise loops; returns the milliseconds taken. */
const runPromises = async (
  ops: number,
  op: (i: number) => Promise<unknown>,
  concurrency = CONCURRENCY
): Promise<number> => {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) await op(next++)
    })
  )
  return performance.now() - start
}

/** Warms up, then runs `op` OPS times with CONCURRENCY in flight and reports the rate. */
const measure = (bench: string, client: string, op: (i: number) => Promise<unknown>) =>
  Effect.promise(async () => {
    await runPromises(WARMUP, op)
    report(bench, client, OPS, await runPromises(OPS, op))
  })

/** Runs `op` `ops` times from `concurrency` fibers of the current runtime; returns the milliseconds taken. */
const runFibers = (ops: number, op: (i: number) => Effect.Effect<unknown, unknown>, concurrency = CONCURRENCY) =>
  Effect.suspend(() => {
    let next = 0
    const start = performance.now()
    const worker = Effect.whileLoop({
      while: () => next < ops,
      body: () => op(next++),
      step: () => {}
    })
    return Effect.forEach(Array.from({ length: concurrency }), () => worker, {
      concurrency: "unbounded",
      discard: true
    }).pipe(Effect.map(() => performance.now() - start))
  })

/** {@link measure} for an Effect operation run by fibers. */
const measureEffect = (bench: string, client: string, op: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    yield* runFibers(WARMUP, op)
    report(bench, client, OPS, yield* runFibers(OPS, op))
  })

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

interface Target {
  readonly connectionString: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
}

const ours = (target: Target) =>
  Connection.make({
    connectionString: target.connectionString,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password })
  })

/** get and upsert with our client (both ways) and, unless disabled, with the SDK. */
const kvBenches = (prefix: string, target: Target) =>
  Effect.gen(function* () {
    const cb = yield* ours(target)
    for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, { i, name: `doc ${i}` })
    const get = (i: number) => cb.get(`k${i % KEYS}`)
    const upsert = (i: number) => cb.upsert(`k${i % KEYS}`, { i })
    yield* measureEffect(`${prefix}-get`, "effect-couchbase", get)
    yield* measure(`${prefix}-get`, "effect-couchbase-runPromise", (i) => Effect.runPromise(get(i)))
    yield* measureEffect(`${prefix}-upsert`, "effect-couchbase", upsert)
    yield* measure(`${prefix}-upsert`, "effect-couchbase-runPromise", (i) => Effect.runPromise(upsert(i)))
    if (!SDK) return

    const couchbase = yield* Effect.promise(() => import("couchbase"))
    const sdk = yield* Effect.acquireRelease(
      Effect.promise(() =>
        couchbase.connect(target.connectionString, {
          username: target.username ?? "",
          password: target.password === undefined ? "" : Redacted.value(target.password)
        })
      ),
      (sdk) => Effect.promise(() => sdk.close())
    )
    const coll = sdk.bucket("default").defaultCollection()
    yield* measure(`${prefix}-get`, "couchbase-sdk", (i) => coll.get(`k${i % KEYS}`))
    yield* measure(`${prefix}-upsert`, "couchbase-sdk", (i) => coll.upsert(`k${i % KEYS}`, { i }))
  })

/** The cluster in this process. */
const embedded = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
  yield* kvBenches("embedded", cluster)
})

/** Starts `bench/server.ts` in a child process and reads where it listens. */
const childCluster: Effect.Effect<Target, never, Scope.Scope> = Effect.gen(function* () {
  const script = fileURLToPath(new URL("./server.ts", import.meta.url))
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(process.execPath, ["--import", "tsx", script], { stdio: ["pipe", "pipe", "inherit"] })),
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
  return {
    connectionString: info.connectionString,
    username: info.username,
    password: Redacted.make(info.password)
  }
})

/** The cluster in a child process. */
const embeddedChild = Effect.gen(function* () {
  yield* kvBenches("embedded-child", yield* childCluster)
})

/** Runs `get` `ops` times from `concurrency` callback loops (no Promise, no fiber); returns the milliseconds. */
const runCallbacks = (ops: number, get: (i: number, done: () => void) => void, concurrency: number): Promise<number> =>
  new Promise((resolve) => {
    let next = 0
    let running = concurrency
    const start = performance.now()
    const loop = () => {
      if (next < ops) get(next++, loop)
      else if (--running === 0) resolve(performance.now() - start)
    }
    for (let i = 0; i < concurrency; i++) loop()
  })

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** memcached on PATH, as the tests find it. */
const memcachedBinary = (): string | undefined =>
  (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "")
    .map((dir) => join(dir, "memcached"))
    .find((path) => existsSync(path))

/**
 * Gets against Debian's memcached (`-t 1`) at 1, 16 and 256 in flight on one
 * connection: the minimal raw client (the limit), memjs, and ours as a fiber loop and
 * through `Effect.runPromise`. Clients take turns within each round (BENCH_ROUNDS,
 * default 5) so that a noisy moment hits them alike; each rate reported is the median
 * of its rounds, with the ratios to raw and to memjs.
 */
const memcached = Effect.gen(function* () {
  const binary = memcachedBinary()
  if (binary === undefined) return console.error("memcached not found on PATH: its benchmarks are skipped")
  const port = yield* Effect.promise(freePort)
  const user = process.getuid?.() === 0 ? ["-u", "root"] : []
  const proc = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(binary, ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", "1", ...user])),
    (p) => Effect.sync(() => p.kill())
  )
  yield* Effect.sleep("300 millis")
  if (proc.exitCode !== null) return
  const cb = yield* ours({ connectionString: `memcached://127.0.0.1:${port}` })
  const value = "x".repeat(100)
  for (let i = 0; i < KEYS; i++) yield* cb.upsert(`k${i}`, value, { format: 0x04000004 })
  const keys = Array.from({ length: KEYS }, (_, i) => `k${i}`)
  const keyBuffers = keys.map((k) => Buffer.from(k))

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
  const clients: ReadonlyArray<
    readonly [string, (ops: number, concurrency: number) => Effect.Effect<number, unknown>]
  > = [
    [
      "raw",
      (ops, c) =>
        Effect.promise(() =>
          runCallbacks(
            ops,
            (i, done) => raw.get(keyBuffers[i % KEYS]!, (status) => (status === 0 ? done() : process.exit(2))),
            c
          )
        )
    ],
    ["memjs", (ops, c) => Effect.promise(() => runPromises(ops, (i) => memjs.get(keys[i % KEYS]!), c))],
    ["effect-couchbase", (ops, c) => runFibers(ops, get, c)],
    [
      "effect-couchbase-runPromise",
      (ops, c) => Effect.promise(() => runPromises(ops, (i) => Effect.runPromise(get(i)), c))
    ]
  ]
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
  for (const concurrency of [1, 16, 256]) {
    // One in flight is a round trip per get: fewer of them keep the run short.
    const ops = concurrency === 1 ? Math.ceil(OPS / 5) : OPS
    const rates = new Map<string, Array<number>>(clients.map(([name]) => [name, []]))
    for (const [, run] of clients) yield* run(Math.min(WARMUP, ops), concurrency)
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of clients) rates.get(name)!.push((ops * 1000) / (yield* run(ops, concurrency)))
    }
    const rawRate = median(rates.get("raw")!)
    const memjsRate = median(rates.get("memjs")!)
    for (const [name, samples] of rates) {
      const opsPerSec = median(samples)
      console.log(
        JSON.stringify({
          bench: "memcached-get",
          client: name,
          concurrency,
          ops,
          rounds,
          opsPerSec: Math.round(opsPerSec),
          vsRaw: Number((opsPerSec / rawRate).toFixed(2)),
          vsMemjs: Number((opsPerSec / memjsRate).toFixed(2))
        })
      )
    }
  }
})

Effect.runPromise(
  Effect.gen(function* () {
    if (SERVER !== "child") yield* Effect.scoped(embedded)
    if (SERVER !== "in-process") yield* Effect.scoped(embeddedChild)
    yield* Effect.scoped(memcached)
  }).pipe(Effect.provide(Iops.layerNode()))
).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
