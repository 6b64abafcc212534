/**
 * The callback and Promise adapters start the common single-key operations without a
 * fiber (the request's response callback settles them) and hand everything else to a
 * fiber on their runtime. Checked against a real client and the embedded cluster:
 * which operations start fibers (counted by a Supervisor), that results and typed
 * errors are the same either way, that retries still happen, that a tracer still
 * gets its spans, and that cancelling stops the callbacks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Option, Supervisor, Tracer } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { ArgumentError, NotFoundError, TemporaryFailError } from "../../src/Errors.js"
import * as Iops from "../../src/Iops.js"
import { isMissing } from "../../src/Result.js"

/** Counts the fibers started under it (making an adapter runs one, to read the runtime's tracer: reset after). */
class FiberCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started++
  }
}

const ETMPFAIL = 0x86

/** A one-node cluster over loopback TCP and a client connected to it. */
const setup = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 1, replicas: 0 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  })
  yield* cb.upsert("present", { n: 1 })
  return { cluster, cb }
}).pipe(Effect.provide(Iops.layerNode()))

/** A runtime whose root fibers are counted. */
const countedRuntime = Effect.gen(function* () {
  const counter = new FiberCounter()
  const runtime = yield* Effect.supervised(Effect.runtime<never>(), counter)
  return { counter, runtime }
})

describe("operations started outside Effect", () => {
  it.live("the Promise wrapper completes single-key operations without a fiber, multi-key ones with one", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const { counter, runtime } = yield* countedRuntime
        const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
        counter.started = 0

        const stored = yield* Effect.promise(() => db.upsert("k1", { a: 1 }))
        const got = yield* Effect.promise(() => db.get("k1"))
        const counted = yield* Effect.promise(() => db.counter("n", { initial: 5 }))
        yield* Effect.promise(() => db.touch("k1", { ttl: 0 }))
        const removed = yield* Effect.promise(() => db.remove("k1"))
        expect(stored.success).toBe(true)
        expect(got.value).toEqual({ a: 1 })
        expect(got.cas).toBe(stored.cas)
        expect(counted.value).toBe(5n)
        expect(removed.success).toBe(true)
        expect(counter.started).toBe(0)

        // A multi-key operation goes to a fiber on the adapter's runtime: the counter sees it.
        const many = yield* Effect.promise(() => db.getMulti(["present"]))
        expect(many.get("present")?.value).toEqual({ n: 1 })
        expect(counter.started).toBe(1)
      })
    )
  )

  it.live("fails with the same typed errors as the Effect API", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const { counter, runtime } = yield* countedRuntime
        const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
        const quietDb = AsyncResult.toPromiseConnection(AsyncResult.make(cb.withQuiet(true), runtime))
        counter.started = 0

        const missing = yield* Effect.promise(() =>
          db.get("absent").then(
            () => undefined,
            (e: unknown) => e
          )
        )
        const viaEffect = yield* Effect.flip(cb.get("absent"))
        expect(missing).toBeInstanceOf(NotFoundError)
        expect(missing).toMatchObject({ _tag: viaEffect._tag, key: "absent", status: viaEffect.status })

        const quietMiss = yield* Effect.promise(() => quietDb.get("absent"))
        expect(isMissing(quietMiss)).toBe(true)

        const invalid = yield* Effect.promise(() =>
          db.get("").then(
            () => undefined,
            (e: unknown) => e
          )
        )
        expect(invalid).toBeInstanceOf(ArgumentError)
        const clash = yield* Effect.promise(() =>
          db.insert("present", 1).then(
            () => undefined,
            (e: unknown) => e
          )
        )
        expect(clash).toMatchObject({ _tag: "KeyExistsError", key: "present" })
        expect(counter.started).toBe(0)

        // The callback adapter throws an argument error from the call itself.
        const callbacks = AsyncResult.make(cb, runtime)
        expect(() => callbacks.get(42 as unknown as string)).toThrow(ArgumentError)
      })
    )
  )

  it.live("hands a retry to a fiber and still succeeds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cluster, cb } = yield* setup
        const { counter, runtime } = yield* countedRuntime
        const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
        counter.started = 0
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 2 })
        const got = yield* Effect.promise(() => db.get("present"))
        expect(got.value).toEqual({ n: 1 })
        expect(counter.started).toBe(1)

        // When the deadline leaves no room to retry, the last error is typed.
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 1_000_000 })
        const failed = yield* Effect.promise(() =>
          db.get("present").then(
            () => undefined,
            (e: unknown) => e
          )
        )
        expect(failed).toBeInstanceOf(TemporaryFailError)
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 0 })
      })
    )
  )

  it.live("with a tracer installed every operation runs in a fiber and has its span", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const names: Array<string> = []
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind) => {
            names.push(name)
            return new NativeSpan(name, parent, context, links, startTime, kind)
          },
          context: (f) => f()
        })
        const runtime = yield* Effect.runtime<never>().pipe(Effect.withTracer(tracer))
        const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
        const got = yield* Effect.promise(() => db.get("present"))
        expect(got.value).toEqual({ n: 1 })
        expect(names).toEqual(["couchbase.get"])
      })
    )
  )

  it.live("a cancelled AsyncResult calls nothing back and the connection stays usable", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const { runtime } = yield* countedRuntime
        const callbacks = AsyncResult.make(cb, runtime)
        const calls: Array<string> = []
        const pending = callbacks.get("present")
        pending.setCallbacks(
          () => calls.push("callback"),
          () => calls.push("errback")
        )
        pending.cancel()
        const later = yield* Effect.promise(
          () =>
            new Promise<unknown>((resolve) =>
              callbacks.get("present").setCallbacks(
                (r) => resolve(r.value),
                (_, e) => resolve(e)
              )
            )
        )
        yield* Effect.sleep("20 millis")
        expect(later).toEqual({ n: 1 })
        expect(calls).toEqual([])
      })
    )
  )
})

/** A minimal span for the recording tracer. */
class NativeSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = Math.random().toString(16).slice(2)
  readonly traceId = "trace"
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Tracer.Span["context"],
    readonly links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Tracer.Span extends { end(t: bigint, e: infer X): void } ? X : never): void {
    if (this.status._tag === "Started") this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(): void {}
  addLinks(): void {}
}
