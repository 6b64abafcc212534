/**
 * How the benchmarks measure: loops that keep N operations in flight (fibers,
 * Promises or plain callbacks), interleaved rounds with medians, allocation per
 * operation, and the report (a table, or JSON lines with `BENCH_JSON=1`).
 *
 * **Rates.** The clients of a comparison take turns, round after round
 * (`BENCH_ROUNDS`), so that a noisy moment of the shared machine hits them alike; the
 * rate reported is the median of a client's rounds, and each ratio divides two medians
 * of the same run. Each measurement runs in a process of its own (`worker.ts`, see
 * {@link isolated}), after a warm-up run of the same size; {@link compare} measures
 * loops within this process instead, for what cannot move to a worker.
 *
 * **Bytes per operation.** After the timed rounds, one more run per client with
 * `v8.GCProfiler` on: the heap's growth between collections plus what each collection
 * freed is what the run allocated (`sum(beforeGC − afterPreviousGC) + (end −
 * afterLastGC)`), divided by the operations. Everything allocated in the process
 * counts, the loop's own Promises or fibers included (they are what a caller of that
 * shape pays too).
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { GCProfiler } from "node:v8"
import { Effect } from "effect"
import type { Job, JobResult } from "./worker.js"

/** `BENCH_QUICK=1`: fewer operations and one round, for a first look in under a minute (too noisy to quote). */
export const QUICK = process.env.BENCH_QUICK === "1"
/** Operations per measurement. */
export const OPS = Number(process.env.BENCH_OPS ?? (QUICK ? 20_000 : 100_000))
/** Rounds per comparison. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 5))
/** Whether to print JSON lines instead of tables. */
export const JSON_OUTPUT = process.env.BENCH_JSON === "1"

/** A loop that runs `ops` operations with `concurrency` in flight and returns the milliseconds it took. */
export type Loop = (ops: number, concurrency: number) => Effect.Effect<number, unknown>

/** Operations from `concurrency` fibers of the current runtime, each one after the other. */
export const fibers =
  (op: (i: number) => Effect.Effect<unknown, unknown>): Loop =>
  (ops, concurrency) =>
    Effect.suspend(() => {
      let next = 0
      const start = performance.now()
      const worker = Effect.whileLoop({ while: () => next < ops, body: () => op(next++), step: () => {} })
      return Effect.forEach(Array.from({ length: concurrency }), () => worker, {
        concurrency: "unbounded",
        discard: true
      }).pipe(Effect.map(() => performance.now() - start))
    })

/** Operations from `concurrency` async loops awaiting one Promise at a time. */
export const promises =
  (op: (i: number) => Promise<unknown>): Loop =>
  (ops, concurrency) =>
    Effect.promise(async () => {
      let next = 0
      const start = performance.now()
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < ops) await op(next++)
        })
      )
      return performance.now() - start
    })

/** Operations from `concurrency` callback chains (no Promise, no fiber). */
export const callbacks =
  (op: (i: number, done: () => void) => void): Loop =>
  (ops, concurrency) =>
    Effect.promise(
      () =>
        new Promise<number>((resolve) => {
          let next = 0
          let running = concurrency
          const start = performance.now()
          const loop = () => {
            if (next < ops) op(next++, loop)
            else if (--running === 0) resolve(performance.now() - start)
          }
          for (let i = 0; i < concurrency; i++) loop()
        })
    )

/** The median of `xs`. */
export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Bytes the process allocated while `effect` ran (see the module documentation). */
export const allocatedDuring = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<number, E> =>
  Effect.suspend(() => {
    const profiler = new GCProfiler()
    profiler.start()
    const before = process.memoryUsage().heapUsed
    return Effect.map(effect, () => {
      const after = process.memoryUsage().heapUsed
      const collections = profiler.stop().statistics
      let allocated = 0
      let last = before
      for (const gc of collections) {
        allocated += gc.beforeGC.heapStatistics.usedHeapSize - last
        last = gc.afterGC.heapStatistics.usedHeapSize
      }
      return allocated + after - last
    })
  })

/** One line of the report. */
export interface Row {
  readonly bench: string
  readonly client: string
  readonly [field: string]: string | number | undefined
}

const rows: Array<Row> = []

/** Records a row (printed at once as JSON with `BENCH_JSON=1`, else in {@link printReport}). */
export const report = (row: Row): void => {
  rows.push(row)
  if (JSON_OUTPUT) console.log(JSON.stringify(row))
}

/**
 * Prints the rows recorded since the last call as one table per bench (nothing with
 * `BENCH_JSON=1`: they were printed as they came).
 */
export const printReport = (): void => {
  if (JSON_OUTPUT) return
  const benches = [...new Set(rows.map((r) => r.bench))]
  for (const bench of benches) {
    const group = rows.filter((r) => r.bench === bench)
    const columns = [...new Set(group.flatMap((r) => Object.keys(r)))].filter((c) => c !== "bench")
    const cells = group.map((r) => columns.map((c) => format(r[c])))
    const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
    console.log(`\n${bench}`)
    console.log(columns.map((c, i) => c.padEnd(widths[i]!)).join("  "))
    for (const row of cells) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  "))
  }
  rows.length = 0
}

const format = (value: string | number | undefined): string =>
  value === undefined
    ? ""
    : typeof value === "number" && Number.isInteger(value)
      ? value.toLocaleString("en")
      : String(value)

/** A client of a comparison: its name and its loop. */
export type Client = readonly [name: string, loop: Loop]

/**
 * Runs `clients` against each other: a warm-up each, then `ROUNDS` interleaved rounds
 * of `ops` operations at `concurrency` in flight. Returns each client's median rate.
 */
export const compare = (
  clients: ReadonlyArray<Client>,
  ops: number,
  concurrency: number
): Effect.Effect<ReadonlyMap<string, number>, unknown> =>
  Effect.gen(function* () {
    const rates = new Map<string, Array<number>>(clients.map(([name]) => [name, []]))
    for (const [, loop] of clients) yield* loop(ops, concurrency)
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, loop] of clients) rates.get(name)!.push((ops * 1000) / (yield* loop(ops, concurrency)))
    }
    return new Map([...rates].map(([name, samples]) => [name, median(samples)]))
  })

/** Runs `job` in a fresh process (`worker.ts`) and reads what it measured. */
export const isolated = (job: Job): Effect.Effect<JobResult, Error> =>
  Effect.async<JobResult, Error>((resume) => {
    const script = fileURLToPath(new URL("./worker.ts", import.meta.url))
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_WORKER: JSON.stringify(job) }
    })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.once("exit", (code) => {
      if (code !== 0) return resume(Effect.fail(new Error(`bench worker for ${job.client} exited with ${code}`)))
      resume(Effect.succeed(JSON.parse(out.trim()) as JobResult))
    })
    return Effect.sync(() => child.kill())
  })

/**
 * {@link compare} with each measurement in its own process: `clients` take turns over
 * `ROUNDS` rounds of `job`; each client's median rate and median bytes per operation.
 */
export const compareIsolated = (
  clients: ReadonlyArray<string>,
  job: Omit<Job, "client">
): Effect.Effect<ReadonlyMap<string, JobResult>, Error> =>
  Effect.gen(function* () {
    const results = new Map<string, Array<JobResult>>(clients.map((c) => [c, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const client of clients) results.get(client)!.push(yield* isolated({ ...job, client }))
    }
    return new Map(
      [...results].map(([client, rs]) => [
        client,
        { opsPerSec: median(rs.map((r) => r.opsPerSec)), bytesPerOp: median(rs.map((r) => r.bytesPerOp)) }
      ])
    )
  })

/** A ratio with two decimals. */
export const ratio = (a: number, b: number | undefined): number | undefined =>
  b === undefined || b === 0 ? undefined : Number((a / b).toFixed(2))
