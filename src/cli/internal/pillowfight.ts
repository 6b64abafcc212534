/**
 * `pillowfight`: a load generator in the spirit of `cbc-pillowfight`. It stores the
 * key set once, then `--concurrency` loops get and upsert random keys (the share of
 * sets is `--set-ratio` percent) for `--duration` seconds. On a terminal, stderr shows
 * a live line (ops/s, p50/p99 latency of the last second, errors); stdout gets one JSON
 * summary at the end, also when interrupted.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Cause, Chunk, Effect, Fiber, Option, Stream } from "effect"
import type * as Connection from "../../Connection.js"
import { connect, connectionFlags } from "./connect.js"
import { json, wholeNumber } from "./flags.js"
import { CliIo } from "./Io.js"
import { LatencyHistogram } from "./LatencyHistogram.js"
import { toJson } from "./output.js"
import { endsOnSignal } from "./runMain.js"

/**
 * What a run is asked to do.
 *
 * @since 0.1.0
 */
export interface LoadSettings {
  readonly items: number
  readonly setRatio: number
  readonly size: number
  readonly concurrency: number
  readonly durationSeconds: number
  readonly prefix: string
}

/**
 * The counts of a run so far.
 *
 * @since 0.1.0
 */
export interface LoadTally {
  gets: number
  sets: number
  readonly errors: Record<string, number>
  /** The latencies since the last progress line. */
  interval: LatencyHistogram
  readonly total: LatencyHistogram
}

/** A JSON document of `size` bytes when encoded (at least its skeleton's 18). */
const documentOfSize = (size: number) => ({ pillowfight: "x".repeat(Math.max(0, size - 18)) })

const round = (ms: number) => Math.round(ms * 1000) / 1000

/**
 * The progress line: seconds so far, throughput and latency of the interval, errors.
 *
 * @since 0.1.0
 */
export const progressLine = (
  elapsedSeconds: number,
  interval: LatencyHistogram,
  intervalSeconds: number,
  errors: number
) =>
  `${elapsedSeconds.toFixed(1).padStart(6)} s ${Math.round(interval.count / intervalSeconds)
    .toLocaleString("en-US")
    .padStart(10)} ops/s   p50 ${interval.percentile(0.5).toFixed(3)} ms   p99 ${interval
    .percentile(0.99)
    .toFixed(3)} ms   errors ${errors}`

/**
 * The summary of a run, as printed at its end.
 *
 * @since 0.1.0
 */
export const summary = (settings: LoadSettings, tally: LoadTally, seconds: number) => {
  const ops = tally.gets + tally.sets + Object.values(tally.errors).reduce((a, b) => a + b, 0)
  return {
    command: "pillowfight",
    seconds: round(seconds),
    ops,
    gets: tally.gets,
    sets: tally.sets,
    errors: tally.errors,
    opsPerSecond: seconds > 0 ? Math.round(ops / seconds) : 0,
    latencyMs: {
      p50: round(tally.total.percentile(0.5)),
      p90: round(tally.total.percentile(0.9)),
      p99: round(tally.total.percentile(0.99)),
      p999: round(tally.total.percentile(0.999)),
      max: round(tally.total.max)
    },
    items: settings.items,
    size: settings.size,
    concurrency: settings.concurrency,
    setRatio: settings.setRatio
  }
}

/**
 * Stores every key once, 1000 to a batch, so that the run's gets find documents. Keys
 * are made as they are needed: a run over many millions holds one batch at a time.
 */
const populate = (cb: Connection.Connection.Service, settings: LoadSettings, doc: unknown) =>
  Stream.range(0, settings.items - 1).pipe(
    Stream.grouped(1000),
    Stream.runForEach((batch) =>
      cb.upsertMulti(Object.fromEntries(Chunk.toArray(batch).map((i) => [`${settings.prefix}${i}`, doc])))
    )
  )

/**
 * Runs the load on `cb`: populates, then loops until the duration is over (never with
 * a duration of 0) or the fiber is interrupted, and prints the summary either way,
 * also when stopped while populating.
 *
 * @since 0.1.0
 */
export const runLoad = (cb: Connection.Connection.Service, settings: LoadSettings) =>
  Effect.gen(function* () {
    const io = yield* CliIo
    const doc = documentOfSize(settings.size)
    const tally: LoadTally = {
      gets: 0,
      sets: 0,
      errors: {},
      interval: new LatencyHistogram(),
      total: new LatencyHistogram()
    }
    let started: number | undefined
    let lastTick = 0
    /** Folds the interval into the total; on a terminal, redraws the live line. */
    const tick = Effect.sync(() => {
      if (started === undefined) return
      const now = performance.now()
      const since = lastTick
      lastTick = now
      const interval = tally.interval
      tally.interval = new LatencyHistogram()
      tally.total.add(interval)
      if (io.errIsTTY && now > since) {
        const errors = Object.values(tally.errors).reduce((a, b) => a + b, 0)
        io.err(`\r\u001b[2K${progressLine((now - started) / 1000, interval, (now - since) / 1000, errors)}`)
      }
    })
    const finish = Effect.zipRight(
      tick,
      Effect.sync(() => {
        if (io.errIsTTY && started !== undefined) io.err("\n")
        const seconds = started === undefined ? 0 : (performance.now() - started) / 1000
        io.out(`${toJson(summary(settings, tally, seconds))}\n`)
      })
    )

    const run = Effect.gen(function* () {
      yield* populate(cb, settings, doc)
      started = performance.now()
      lastTick = started
      const end = settings.durationSeconds === 0 ? Number.POSITIVE_INFINITY : started + settings.durationSeconds * 1000
      const worker = Effect.gen(function* () {
        while (performance.now() < end) {
          const key = `${settings.prefix}${Math.floor(Math.random() * settings.items)}`
          const isSet = Math.random() * 100 < settings.setRatio
          const t0 = performance.now()
          const exit = yield* Effect.exit<unknown, { readonly _tag: string }, never>(
            isSet ? cb.upsert(key, doc) : cb.get(key)
          )
          tally.interval.record(performance.now() - t0)
          if (exit._tag === "Success") {
            if (isSet) tally.sets++
            else tally.gets++
          } else {
            // An operation cut short by the end of the run (Ctrl-C) is not an error of the cluster's.
            const failure = Cause.failureOption(exit.cause)
            const tag = Option.isSome(failure)
              ? failure.value._tag
              : Cause.isInterruptedOnly(exit.cause)
                ? undefined
                : "Defect"
            if (tag !== undefined) tally.errors[tag] = (tally.errors[tag] ?? 0) + 1
          }
        }
      })
      const ticker = yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sleep("1 second"), tick)))
      yield* Effect.forEach(Array.from({ length: settings.concurrency }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
      yield* Fiber.interrupt(ticker)
    })
    yield* Effect.ensuring(run, finish)
  })

/**
 * The `pillowfight` command.
 *
 * @since 0.1.0
 */
export const pillowfightCommand = Command.make(
  "pillowfight",
  {
    ...connectionFlags,
    json: json.pipe(Options.withDescription("accepted for symmetry: the summary is JSON already")),
    items: wholeNumber("num-items", 999_999_999, 1).pipe(
      Options.withAlias("I"),
      Options.withDefault(1000),
      Options.withDescription("how many keys")
    ),
    setRatio: wholeNumber("set-ratio", 100).pipe(
      Options.withAlias("r"),
      Options.withDefault(33),
      Options.withDescription("percent of operations that are upserts, the rest gets")
    ),
    size: wholeNumber("size", 20 * 1024 * 1024).pipe(
      Options.withAlias("m"),
      Options.withDefault(100),
      Options.withDescription("document size in bytes (JSON)")
    ),
    concurrency: wholeNumber("concurrency", 10_000, 1).pipe(
      Options.withAlias("t"),
      Options.withDefault(32),
      Options.withDescription("operations in flight at once")
    ),
    durationSeconds: wholeNumber("duration").pipe(
      Options.withAlias("d"),
      Options.withDefault(10),
      Options.withDescription("seconds to run (0: until interrupted)")
    ),
    prefix: Options.text("key-prefix").pipe(Options.withDefault("pillowfight:"))
  },
  (args) =>
    Effect.scoped(
      // Ctrl-C is a normal way to end a run: the summary is printed and the status is 0.
      Effect.flatMap(Effect.zipRight(endsOnSignal, connect(args)), (cb) =>
        runLoad(cb, {
          items: args.items,
          setRatio: args.setRatio,
          size: args.size,
          concurrency: args.concurrency,
          durationSeconds: args.durationSeconds,
          prefix: args.prefix
        })
      )
    )
).pipe(
  Command.withDescription(
    "load generator: gets and upserts of random keys; live progress on a terminal, a JSON summary at the end"
  )
)
