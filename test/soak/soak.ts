/**
 * The soak: a seeded random workload against a 3-node embedded cluster while faults
 * are injected, checking what the client promises.
 *
 * - **Workload.** `workers` fibers, each owning its own keys (so that each key's
 *   operations are sequential and its expected value is known), run gets and upserts
 *   (a version counter per key) until `operations` have been started.
 * - **Faults**, one at a time, drawn by the seed: on the simulated network, resets in
 *   the middle of a frame, stalls, partitions and latency bursts of a node's
 *   connections; on both transports, a node that stops reading (stall/unstall), a node
 *   that hangs and restarts, a failover followed by a new node and a rebalance, and a
 *   rebalance in steps.
 * - **Checks.** Every operation ends exactly once and within its timeout plus the
 *   backoff slack; no acknowledged write is lost (a read, and the final read of every
 *   key, gives the last acknowledged version or one whose write failed ambiguously
 *   after it); no operation fails with an error the client does not document for it;
 *   after the connection's scope is closed, no handle is left open and the heap after
 *   a full GC is back near where it started.
 *
 * `npm run soak` runs 100 000 operations on each transport (`SOAK_OPERATIONS`,
 * `SOAK_SEED`); the test suite runs 5 000 of them.
 */
import { getHeapStatistics, setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { Effect, Either, Fiber, Random, Redacted } from "effect"
import type { Connection } from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { makeNetwork, make as makeSimulatedIops } from "../../src/Iops/Simulated.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { FMT_UTF8 } from "../../src/Transcoder.js"

/** What to run. */
export interface SoakOptions {
  readonly seed: number
  readonly operations: number
  readonly transport: "simulated" | "tcp"
  readonly workers?: number | undefined
  readonly keysPerWorker?: number | undefined
  /** The workload goes on until this many faults have been injected too (default 10). */
  readonly minFaults?: number | undefined
}

/** What a run saw. */
export interface SoakReport {
  readonly transport: "simulated" | "tcp"
  readonly seed: number
  readonly operations: number
  readonly succeeded: number
  /** Failures by error tag (each one documented for the operation). */
  readonly failed: Readonly<Record<string, number>>
  readonly faults: Readonly<Record<string, number>>
  /** Operations that ended more than once, or never: both must be 0. */
  readonly duplicates: number
  readonly unfinished: number
  /** Reads that returned a version older than the last acknowledged write: must be 0. */
  readonly lostWrites: number
  /** Keys that could not be read back once the faults were over: must be 0. */
  readonly unreadable: number
  /** The longest an operation took, in ms. */
  readonly slowestMillis: number
  readonly handlesBefore: number
  readonly handlesAfter: number
  readonly heapBeforeMB: number
  readonly heapAfterMB: number
  readonly seconds: number
}

const OPERATION_TIMEOUT_MS = 500
/** Past its timeout an operation may still be finishing a backoff step (at most 256 ms) and the failure's delivery. */
const SLACK_MS = 1500

/** Errors an upsert or a get may end with under faults, none of them a loss. */
const EXPECTED = new Set([
  "NotFoundError",
  "TimeoutError",
  "NetworkError",
  "ConnectError",
  "ClientTemporaryFailError",
  "TemporaryFailError",
  "NotMyVbucketError"
])

/** A full GC without `--expose-gc` on the command line. */
const fullGc = (): (() => void) | undefined => {
  try {
    setFlagsFromString("--expose-gc")
    return runInNewContext("gc") as () => void
  } catch {
    return undefined
  }
}

const handles = (): number => process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap").length

/** The open handles by kind, for the report when their count grew. */
export const handleKinds = (): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1
  return out
}

const heapMB = (): number => {
  fullGc()?.()
  return Math.round(getHeapStatistics().used_heap_size / 1e5) / 10
}

/** Runs one soak (see the module documentation). */
export const runSoak = (options: SoakOptions): Effect.Effect<SoakReport> =>
  Effect.gen(function* () {
    const started = performance.now()
    const handlesBefore = handles()
    const heapBeforeMB = heapMB()
    const report = yield* Effect.scoped(workload(options)).pipe(
      Effect.withRandom(Random.make(options.seed)),
      Effect.orDie
    )
    // Let closed sockets and timers go before counting what is left.
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 200)))
    return {
      ...report,
      handlesBefore,
      handlesAfter: handles(),
      heapBeforeMB,
      heapAfterMB: heapMB(),
      seconds: Math.round((performance.now() - started) / 100) / 10
    }
  })

const workload = (options: SoakOptions) =>
  Effect.gen(function* () {
    const workers = options.workers ?? 48
    const keysPerWorker = options.keysPerWorker ?? 4
    const simulated = options.transport === "simulated"
    const network = simulated ? yield* makeNetwork({ seed: options.seed }) : undefined
    const cluster = yield* EmbeddedCluster.make({
      nodes: 3,
      replicas: 1,
      tcp: !simulated,
      ...(network === undefined ? {} : { network })
    })
    const iops = network === undefined ? makeNodeIops() : makeSimulatedIops(network)
    const cb: Connection.Service = yield* makeClient({
      connectionString: cluster.connectionString,
      username: cluster.username,
      password: Redacted.make(Redacted.value(cluster.password)),
      operationTimeout: `${OPERATION_TIMEOUT_MS} millis`,
      configPollInterval: "200 millis"
    }).pipe(Effect.provideService(Iops, iops))

    // Per key: the last acknowledged version, and versions written ambiguously since.
    const acked = new Map<string, number>()
    const pending = new Map<string, Set<number>>()
    const ended = new Map<number, number>()
    const failed: Record<string, number> = {}
    let started = 0
    let succeeded = 0
    let lostWrites = 0
    let unreadable = 0
    let slowest = 0
    let nextVersion = 1

    const check = (key: string, value: unknown) => {
      const version = value === undefined ? 0 : Number(value)
      if (version === (acked.get(key) ?? 0) || pending.get(key)?.has(version)) return
      lostWrites++
    }

    const operation = (key: string, write: boolean) =>
      Effect.gen(function* () {
        const id = started++
        const version = nextVersion++
        const t0 = performance.now()
        type Outcome = Either.Either<{ readonly value?: unknown }, { readonly _tag: string; readonly message: string }>
        const result = (
          write
            ? yield* Effect.either(cb.upsert(key, String(version), { format: FMT_UTF8 }))
            : yield* Effect.either(cb.get(key))
        ) as Outcome
        ended.set(id, (ended.get(id) ?? 0) + 1)
        slowest = Math.max(slowest, performance.now() - t0)
        if (Either.isRight(result)) {
          succeeded++
          if (write) {
            acked.set(key, version)
            pending.get(key)?.clear()
          } else check(key, result.right.value)
          return
        }
        const error = result.left
        const tag = error._tag
        failed[tag] = (failed[tag] ?? 0) + 1
        if (!EXPECTED.has(tag)) failed[`UNEXPECTED ${tag}: ${error.message}`] = 1
        if (!write && tag === "NotFoundError") return check(key, undefined)
        // A write that may have been applied: its version is a legitimate value from now on.
        const ambiguous =
          tag === "TimeoutError" ? (error as { ambiguous?: boolean }).ambiguous !== false : tag === "NetworkError"
        if (write && ambiguous) {
          let set = pending.get(key)
          if (set === undefined) pending.set(key, (set = new Set()))
          set.add(version)
        }
      })

    const worker = (w: number) =>
      Effect.gen(function* () {
        const keys = Array.from({ length: keysPerWorker }, (_, i) => `soak-${w}-${i}`)
        for (let n = 1; started < options.operations || injected < minFaults; n++) {
          const key = keys[yield* Random.nextIntBetween(0, keys.length)]!
          yield* operation(key, (yield* Random.next) < 0.4)
          // On the simulated network an operation can complete without a turn of the
          // event loop: let timers (faults, deadlines) run as they would under real I/O.
          if (n % 32 === 0) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
        }
      })

    const faults: Record<string, number> = {}
    const minFaults = options.minFaults ?? 10
    let injected = 0
    const members = [0, 1, 2]
    const pause = (ms: number) => Effect.sleep(`${ms} millis`)
    const address = (node: number) => `127.0.0.1:${cluster.nodes[node]!.kv}`
    const inject = Effect.gen(function* () {
      const node = members[yield* Random.nextIntBetween(0, members.length)]!
      const kinds = simulated
        ? ["reset", "stall", "partition", "latency", "unread", "hang", "failover", "rebalance"]
        : ["unread", "hang", "failover", "rebalance"]
      const kind = kinds[yield* Random.nextIntBetween(0, kinds.length)]!
      faults[kind] = (faults[kind] ?? 0) + 1
      injected++
      // Some faults outlast the 500 ms operation timeout: timeouts, ambiguous or not, happen too.
      const length = yield* Random.nextIntBetween(20, 900)
      switch (kind) {
        case "reset":
          network!.faults.reset(address(node), { afterBytes: yield* Random.nextIntBetween(0, 4000) })
          yield* pause(length)
          network!.faults.heal(address(node))
          return
        case "stall":
          network!.faults.stall(address(node))
          yield* pause(length)
          network!.faults.heal(address(node))
          return
        case "partition":
          network!.faults.partition(address(node))
          yield* pause(length)
          network!.faults.heal(address(node))
          return
        case "latency":
          network!.faults.latency(address(node), `${yield* Random.nextIntBetween(1, 8)} millis`)
          yield* pause(length)
          network!.faults.heal(address(node))
          return
        case "unread":
          yield* Effect.orDie(cluster.control.stall(node))
          yield* pause(length)
          yield* Effect.orDie(cluster.control.unstall(node))
          return
        case "hang":
          yield* Effect.orDie(cluster.control.hang(node))
          yield* pause(length)
          yield* Effect.orDie(cluster.control.restart(node))
          return
        case "failover": {
          // The replicas take over; a new node joins and the data is spread again.
          yield* Effect.orDie(cluster.control.failover(node))
          members.splice(members.indexOf(node), 1)
          const added = yield* Effect.orDie(cluster.control.addNode())
          yield* cluster.control.rebalance({ steps: 4 })
          members.push(added.index)
          return
        }
        case "rebalance": {
          const added = yield* Effect.orDie(cluster.control.addNode())
          yield* cluster.control.rebalance({ steps: 3 })
          yield* Effect.orDie(cluster.control.removeNode(node))
          members.splice(members.indexOf(node), 1)
          yield* cluster.control.rebalance({ steps: 3 })
          members.push(added.index)
          return
        }
      }
    })

    // Faults one after the other until the workload is done; the one under way is
    // always completed (healed, restarted, rebalanced), so the cluster ends whole.
    let stopping = false
    const faulting = yield* Effect.fork(
      Effect.whileLoop({
        while: () => !stopping,
        body: () => Effect.zipRight(Effect.flatMap(Random.nextIntBetween(5, 60), pause), inject),
        step: () => {}
      })
    )
    yield* Effect.forEach(
      Array.from({ length: workers }, (_, w) => w),
      worker,
      { concurrency: "unbounded", discard: true }
    )
    stopping = true
    yield* Fiber.join(faulting)

    // Every key read back once the faults are gone (retried while the cluster settles).
    for (let w = 0; w < workers; w++) {
      for (let i = 0; i < keysPerWorker; i++) {
        const key = `soak-${w}-${i}`
        const final = yield* cb
          .get(key)
          .pipe(Effect.retry({ times: 20, while: (e) => e._tag !== "NotFoundError" }), Effect.either)
        if (Either.isRight(final)) check(key, final.right.value)
        else if (final.left._tag === "NotFoundError") check(key, undefined)
        else unreadable++
      }
    }

    let duplicates = 0
    let unfinished = 0
    for (let id = 0; id < started; id++) {
      const count = ended.get(id) ?? 0
      if (count === 0) unfinished++
      if (count > 1) duplicates++
    }
    return {
      transport: options.transport,
      seed: options.seed,
      operations: started,
      succeeded,
      failed,
      faults,
      duplicates,
      unfinished,
      lostWrites,
      unreadable,
      slowestMillis: Math.round(slowest)
    }
  })

/** The bound on an operation's duration the checks use. */
export const SLOWEST_ALLOWED_MS = OPERATION_TIMEOUT_MS + SLACK_MS
