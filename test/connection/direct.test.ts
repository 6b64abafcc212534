/**
 * The callback and Promise adapters start the common single-key operations and the
 * batches of multi-key ones without a fiber (the response callbacks settle them) and
 * hand everything else (retries, durability) to a fiber on their runtime. Checked against a real client and the embedded cluster:
 * which operations start fibers (counted by a Supervisor), that results and typed
 * errors are the same either way, that retries still happen, that a tracer still
 * gets its spans, and that cancelling stops the callbacks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Option, Supervisor, Tracer } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { ArgumentError, type NetworkError, NotFoundError, TemporaryFailError } from "../../src/Errors.js"
import * as Iops from "../../src/Iops.js"
import { isMissing } from "../../src/Result.js"

/** Counts the fibers started under it (making an adapter runs one, to read the runtime's tracer: reset after). */
class FiberCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  ended = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started++
  }
  override onEnd() {
    this.ended++
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

/** What the Promise of `start` rejects with (undefined when it resolves). */
const rejectionOf = (start: () => Promise<unknown>): Effect.Effect<unknown> =>
  Effect.promise(() =>
    start().then(
      () => undefined,
      (e: unknown) => e
    )
  )

/** A runtime whose root fibers are counted. */
const countedRuntime = Effect.gen(function* () {
  const counter = new FiberCounter()
  const runtime = yield* Effect.supervised(Effect.runtime<never>(), counter)
  return { counter, runtime }
})

/** The Promise wrapper over `cb` on a counted runtime, and its counter. */
const countedPromises = (cb: Effect.Effect.Success<typeof setup>["cb"]) =>
  Effect.map(countedRuntime, ({ counter, runtime }) => ({
    counter,
    db: AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
  }))

describe("operations started outside Effect", () => {
  it.live("the Promise wrapper completes single-key and multi-key operations without a fiber", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const { counter, db } = yield* countedPromises(cb)
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

        // Multi-key operations: their batches are sent at once and settle from the responses.
        const stored2 = yield* Effect.promise(() => db.upsertMulti({ m1: 1, m2: "two" }))
        const many = yield* Effect.promise(() => db.getMulti(["present", "m1", "m2"]))
        const quietMany = yield* Effect.promise(() => db.getMulti(["m1", "absent"], { quiet: true }))
        const removedMany = yield* Effect.promise(() => db.removeMulti(["m1", "m2"]))
        expect([...stored2.values()].map((r) => r.success)).toEqual([true, true])
        expect([...many].map(([k, r]) => [k, r.value])).toEqual([
          ["present", { n: 1 }],
          ["m1", 1],
          ["m2", "two"]
        ])
        expect(many.get("m2")?.cas).toBe(stored2.get("m2")?.cas)
        expect([quietMany.get("m1")?.value, isMissing(quietMany.get("absent")!)]).toEqual([1, true])
        expect([...removedMany.values()].every((r) => r.success)).toBe(true)
        expect(counter.started).toBe(0)

        // A failing key fails the operation with its typed error and every key's result.
        const failed = yield* rejectionOf(() => db.getMulti(["present", "m1"]))
        expect(failed).toBeInstanceOf(NotFoundError)
        expect(failed).toMatchObject({ key: "m1" })
        expect((failed as NotFoundError).allResults?.get("present")).toMatchObject({ value: { n: 1 } })
        expect(counter.started).toBe(0)
      })
    )
  )

  it.live("a multi-key operation hands only what waits (a retry, durability) to a fiber", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cluster, cb } = yield* setup
        const { counter, db } = yield* countedPromises(cb)
        yield* cb.upsert("other", 2)
        counter.started = 0
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 2 })
        const many = yield* Effect.promise(() => db.getMulti(["present", "other"]))
        expect([many.get("present")?.value, many.get("other")?.value]).toEqual([{ n: 1 }, 2])
        // The fiber that finishes the retried key (and the children it runs the retries in).
        expect(counter.started).toBeGreaterThan(0)

        counter.started = 0
        const durable = yield* Effect.promise(() => db.upsertMulti({ d1: 1, d2: 2 }, { persistTo: 1 }))
        expect([...durable.values()].map((r) => r.success)).toEqual([true, true])
        expect(counter.started).toBeGreaterThan(0)
        const read = yield* cb.getMulti(["d1", "d2"])
        expect([read.get("d1")?.cas, read.get("d2")?.cas]).toEqual([durable.get("d1")?.cas, durable.get("d2")?.cas])
      })
    )
  )

  it.live("a multi-key operation on a closed connection fails with a typed error", () =>
    Effect.gen(function* () {
      const { counter, runtime } = yield* countedRuntime
      const closed = yield* Effect.scoped(
        Effect.gen(function* () {
          const { cb } = yield* setup
          return cb
        })
      )
      const db = AsyncResult.toPromiseConnection(AsyncResult.make(closed, runtime))
      counter.started = 0
      const failed = yield* rejectionOf(() => db.getMulti(["a", "b"]))
      expect(failed).toMatchObject({ _tag: "NetworkError", key: "a" })
      expect((failed as NetworkError).allResults?.size).toBe(2)
      expect(counter.started).toBe(0)
    })
  )

  it.live("fails with the same typed errors as the Effect API", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const { counter, runtime } = yield* countedRuntime
        const db = AsyncResult.toPromiseConnection(AsyncResult.make(cb, runtime))
        const quietDb = AsyncResult.toPromiseConnection(AsyncResult.make(cb.withQuiet(true), runtime))
        counter.started = 0

        const missing = yield* rejectionOf(() => db.get("absent"))
        const viaEffect = yield* Effect.flip(cb.get("absent"))
        expect(missing).toBeInstanceOf(NotFoundError)
        expect(missing).toMatchObject({ _tag: viaEffect._tag, key: "absent", status: viaEffect.status })

        const quietMiss = yield* Effect.promise(() => quietDb.get("absent"))
        expect(isMissing(quietMiss)).toBe(true)

        const invalid = yield* rejectionOf(() => db.get(""))
        expect(invalid).toBeInstanceOf(ArgumentError)
        const clash = yield* rejectionOf(() => db.insert("present", 1))
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
        const { counter, db } = yield* countedPromises(cb)
        counter.started = 0
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 2 })
        const got = yield* Effect.promise(() => db.get("present"))
        expect(got.value).toEqual({ n: 1 })
        expect(counter.started).toBe(1)

        // When the deadline leaves no room to retry, the last error is typed.
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 1_000_000 })
        const failed = yield* rejectionOf(() => db.get("present"))
        expect(failed).toBeInstanceOf(TemporaryFailError)
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 0 })
      })
    )
  )

  it.live("argument errors are thrown by the call, with or without a tracer, the bucket's limits included", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cb } = yield* setup
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind) =>
            new NativeSpan(name, parent, context, links, startTime, kind),
          context: (f) => f()
        })
        const plain = yield* Effect.runtime<never>()
        const traced = yield* Effect.runtime<never>().pipe(Effect.withTracer(tracer))
        for (const runtime of [plain, traced]) {
          const callbacks = AsyncResult.make(cb, runtime)
          expect(() => callbacks.getMulti([])).toThrow(/the list of keys is empty/)
          expect(() => callbacks.getMulti(["a", "a"])).toThrow(/given twice/)
          // The bucket has no replicas: more durability than it has is refused before sending.
          expect(() => callbacks.upsert("a", 1, { replicateTo: 1 })).toThrow(ArgumentError)
          expect(() => callbacks.upsertMulti({ a: 1, b: 2 }, { replicateTo: 1 })).toThrow(ArgumentError)
          expect(() => callbacks.getReplicaMulti(["a"], { replicaIndex: 0 })).toThrow(ArgumentError)
        }
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

  it.live("a cancelled multi-key AsyncResult calls nothing back, sent or still waiting for its retry", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { cluster, cb } = yield* setup
        const { counter, runtime } = yield* countedRuntime
        const callbacks = AsyncResult.make(cb, runtime)
        const calls: Array<string> = []
        const record = <A, E>(pending: AsyncResult.AsyncResult<A, E>) =>
          pending.setCallbacks(
            () => calls.push("callback"),
            () => calls.push("errback")
          )
        // Cancelled at once: its batch is in flight.
        const sent = callbacks.getMulti(["present", "absent"])
        record(sent)
        sent.cancel()
        // Cancelled while a key waits for its retry, in a fiber.
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 1_000_000 })
        counter.started = 0
        counter.ended = 0
        const retrying = callbacks.getMulti(["present"])
        record(retrying)
        yield* Effect.sleep("30 millis")
        expect(counter.started).toBeGreaterThan(counter.ended)
        retrying.cancel()
        // The retrying fiber is interrupted, not left to run to its deadline.
        for (let i = 0; i < 100 && counter.ended < counter.started; i++) yield* Effect.sleep("10 millis")
        expect(counter.ended).toBe(counter.started)
        yield* cluster.control.injectStatus("present", ETMPFAIL, { times: 0 })
        const later = yield* Effect.promise(() => AsyncResult.toPromise(callbacks.getMulti(["present"])))
        yield* Effect.sleep("50 millis")
        expect(later.get("present")?.value).toEqual({ n: 1 })
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
