/**
 * The same user-level scenarios over both Iops layers against a 3-node, 1-replica
 * embedded cluster: real TCP (`Iops.layerNode`) and the simulated network under
 * TestClock (`Iops.layerSimulated`). Each scenario is written once against a `Setup`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import { ArgumentError, type NotFoundError } from "../../src/Errors.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { FMT_UTF8 } from "../../src/Transcoder.js"
import { failure, type Setup, simulated, tcp } from "./scenarioSetup.js"

type Scenario = (s: Setup) => Effect.Effect<void, unknown>

/** Waits (on the scenario's clock) until `check` holds; fails after 5 s of that clock. */
const waitFor = (check: () => boolean) =>
  Effect.gen(function* () {
    while (!check()) yield* Effect.sleep("1 millis")
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the callback never came") }))

const scenarios: ReadonlyArray<readonly [string, Scenario]> = [
  [
    "CAS conflicts: stale CAS, insert over an existing key, replace of a missing key (even quiet)",
    ({ cb }) =>
      Effect.gen(function* () {
        const first = yield* cb.upsert("cas", { v: 1 })
        expect(first.success).toBe(true)
        expect(first.cas).not.toBe(0n)
        const second = yield* cb.replace("cas", { v: 2 }, { cas: first.cas })
        expect(second.cas).not.toBe(first.cas)
        const stale = yield* failure(cb.replace("cas", { v: 3 }, { cas: first.cas }))
        expect(stale._tag).toBe("KeyExistsError")
        expect(stale.key).toBe("cas")
        expect((yield* failure(cb.insert("cas", { v: 4 })))._tag).toBe("KeyExistsError")
        expect(yield* cb.get("cas")).toMatchObject({ value: { v: 2 }, cas: second.cas })
        const missing = yield* failure(cb.replace("cas-missing", 1))
        expect(missing._tag).toBe("NotFoundError")
        expect(missing.key).toBe("cas-missing")
        // quiet only softens reads, touches and removals (ReplaceOptions has no quiet, so the
        // type needs a cast): passed anyway, it is refused rather than ignored.
        const quietMissing = yield* failure(cb.replace("cas-missing", 1, { quiet: true } as {}))
        expect(quietMissing._tag).toBe("ArgumentError")
        expect(quietMissing.message).toContain("has no quiet form")
      })
  ],
  [
    "counters: missing, initial, increments, floor at zero, non-numeric value",
    ({ cb }) =>
      Effect.gen(function* () {
        const missing = yield* failure(cb.counter("ctr"))
        expect(missing._tag).toBe("NotFoundError")
        expect(missing.key).toBe("ctr")
        expect((yield* cb.counter("ctr", { initial: 10, delta: 3 })).value).toBe(10n)
        expect((yield* cb.counter("ctr", { delta: 5 })).value).toBe(15n)
        expect((yield* cb.counter("ctr", { delta: -100 })).value).toBe(0n)
        expect((yield* cb.get("ctr")).value).toBe(0)
        yield* cb.upsert("ctr-json", { n: 1 })
        expect((yield* failure(cb.counter("ctr-json", { delta: 1 })))._tag).toBe("DeltaBadvalError")
        expect((yield* cb.get("ctr-json")).value).toEqual({ n: 1 })
      })
  ],
  [
    "locks: writes without the CAS and second locks are refused; unlock needs the right CAS",
    ({ cb }) =>
      Effect.gen(function* () {
        yield* cb.upsert("lk", { v: 1 })
        const lock = yield* cb.lock("lk", { ttl: 5 })
        expect(lock.value).toEqual({ v: 1 })
        expect((yield* failure(cb.upsert("lk", { v: 2 })))._tag).toBe("KeyExistsError")
        expect((yield* failure(cb.lock("lk", { ttl: 5 })))._tag).toBe("TemporaryFailError")
        expect((yield* failure(cb.unlock("lk", lock.cas + 1n)))._tag).toBe("TemporaryFailError")
        yield* cb.unlock("lk", lock.cas)
        yield* cb.upsert("lk", { v: 3 })
        expect((yield* cb.get("lk")).value).toEqual({ v: 3 })
      })
  ],
  [
    "TTL: a document is readable until its expiry, then gone",
    ({ cb, advance }) =>
      Effect.gen(function* () {
        yield* cb.upsert("ttl", "short-lived", { ttl: 2, format: FMT_UTF8 })
        yield* cb.upsert("ttl-long", "long-lived", { ttl: 60, format: FMT_UTF8 })
        expect((yield* cb.get("ttl")).value).toBe("short-lived")
        yield* advance("1 second")
        expect((yield* cb.get("ttl")).value).toBe("short-lived")
        yield* advance("2 seconds")
        const gone = yield* failure(cb.get("ttl"))
        expect(gone._tag).toBe("NotFoundError")
        expect(gone.key).toBe("ttl")
        expect((yield* cb.get("ttl-long")).value).toBe("long-lived")
      })
  ],
  [
    "append and prepend on a UTF-8 value; on a missing key they are not stored",
    ({ cb }) =>
      Effect.gen(function* () {
        yield* cb.upsert("ap", "mid", { format: FMT_UTF8 })
        yield* cb.append("ap", "<app>")
        yield* cb.prepend("ap", "<pre>")
        expect((yield* cb.get("ap")).value).toBe("<pre>mid<app>")
        const app = yield* failure(cb.append("ap-missing", "x"))
        expect(app._tag).toBe("NotStoredError")
        expect(app.key).toBe("ap-missing")
        expect((yield* failure(cb.prepend("ap-missing", "x")))._tag).toBe("NotStoredError")
      })
  ],
  [
    "quiet misses, single and multi; a loud multi miss carries every result",
    ({ cb }) =>
      Effect.gen(function* () {
        yield* cb.upsert("q-a", "here", { format: FMT_UTF8 })
        const single = yield* cb.get("q-missing", { quiet: true })
        expect(single).toMatchObject({ key: "q-missing", success: false, rc: 0x0d, value: undefined, cas: 0n })

        const multi = yield* cb.getMulti(["q-a", "q-missing"], { quiet: true })
        expect(multi.allOk).toBe(false)
        expect(multi.get("q-a")!.value).toBe("here")
        expect(multi.get("q-missing")!.success).toBe(false)
        const [ok, failed] = multi.splitResults()
        expect([...ok.keys()]).toEqual(["q-a"])
        expect([...failed.keys()]).toEqual(["q-missing"])

        const loud = yield* failure(cb.getMulti(["q-a", "q-missing"]))
        expect(loud._tag).toBe("NotFoundError")
        expect(loud.key).toBe("q-missing")
        const error = loud as unknown as import("../../src/Errors.js").NotFoundError
        expect(error.allResults!.size).toBe(2)
        expect(error.allResults!.get("q-a")).toMatchObject({ success: true, value: "here" })
        const [loudOk, loudFailed] = error.splitResults()
        expect([...loudOk.keys()]).toEqual(["q-a"])
        expect([...loudFailed.keys()]).toEqual(["q-missing"])
      })
  ],
  [
    "argument errors are raised before anything is sent",
    ({ cb, cluster }) =>
      Effect.gen(function* () {
        const checks = [
          cb.get(""),
          cb.upsert("k".repeat(251), 1),
          cb.getMulti(["dup", "dup"]),
          cb.upsert("neg-ttl", 1, { ttl: -1 })
        ]
        for (const check of checks) {
          const error = yield* failure(check as Effect.Effect<unknown, { readonly _tag: string }>)
          expect(error._tag).toBe("ArgumentError")
        }
        // Nothing reached the cluster.
        expect(cluster.bucket("default")!.getDocument("neg-ttl")).toBeUndefined()
        expect(cluster.bucket("default")!.getDocument("k".repeat(251))).toBeUndefined()
        // A 250-byte key is the longest allowed.
        expect((yield* cb.upsert("k".repeat(250), 1)).success).toBe(true)
      })
  ],
  [
    "durability: persist and replicate to one; more replicas than the bucket has is an argument error; a timeout when not reached",
    ({ cb, cluster, settle }) =>
      Effect.gen(function* () {
        const stored = yield* settle(cb.upsert("dur", { d: 1 }, { persistTo: 1, replicateTo: 1 }))
        expect(stored.success).toBe(true)
        const copies = yield* cluster.control.keyInfo("dur")
        expect(copies.filter((c) => c.exists && c.cas === stored.cas).length).toBe(2)
        const tooMany = yield* failure(cb.upsert("dur-3", { d: 3 }, { replicateTo: 3 }))
        expect(tooMany._tag).toBe("ArgumentError")
        expect(cluster.bucket("default")!.getDocument("dur-3")).toBeUndefined()

        // Not reached in time: the master's copy is only in memory, so persistTo 1 times out.
        const slow = yield* cb.upsert("dur-slow", { d: 2 })
        expect(yield* cluster.control.unpersist("dur-slow")).toBe(2)
        const timedOut = yield* failure(
          settle(cb.endure("dur-slow", { persistTo: 1, replicateTo: 1, cas: slow.cas, timeout: 0.2 }))
        )
        expect(timedOut._tag).toBe("TimeoutError")
        expect(timedOut.key).toBe("dur-slow")
        expect(timedOut.message).toMatch(/persistTo=1/)
        // Once the copies reach disk, the same requirement is met.
        yield* cluster.control.persist("dur-slow")
        const endured = yield* settle(
          cb.endure("dur-slow", { persistTo: 2, replicateTo: 1, cas: slow.cas, timeout: 1 })
        )
        expect(endured.success).toBe(true)
      })
  ],
  [
    "AsyncResult: callback after the call returns, errback with allResults, the missing-callback error, the Promise wrapper",
    ({ cb, settle }) =>
      Effect.gen(function* () {
        const unhandled: Array<AsyncResult.AsyncResultError> = []
        const runtime = yield* Effect.runtime<never>()
        const acb = AsyncResult.make(cb, runtime, { onUnhandled: (e) => unhandled.push(e) })

        // Callbacks set after the call are in time: they run after it has returned.
        const events: Array<string> = []
        const stored = acb.upsert("async", { n: 1 })
        expect(stored.operation).toBe('upsert("async")')
        stored.callback = (r) => events.push(`stored ${r.key} ${r.success}`)
        stored.errback = (_, e) => events.push(`failed ${e._tag}`)
        events.push("returned")
        yield* settle(waitFor(() => events.length === 2))
        expect(events).toEqual(["returned", "stored async true"])
        expect(stored.done).toBe(true)

        // A loud multi miss reaches errback with the AsyncResult and every key's result.
        const seen: Array<unknown> = []
        const multi = acb.getMulti(["async", "async-missing"])
        multi.setCallbacks(
          () => seen.push("success"),
          (ar, error) => seen.push(ar, error)
        )
        yield* settle(waitFor(() => seen.length === 2))
        expect(seen[0]).toBe(multi)
        const error = seen[1] as NotFoundError
        expect(error._tag).toBe("NotFoundError")
        expect(error.key).toBe("async-missing")
        expect(error.allResults!.get("async")).toMatchObject({ success: true, value: { n: 1 } })
        expect(error.allResults!.get("async-missing")!.success).toBe(false)
        // Quiet, the same miss is a result with allOk false, on callback.
        let quietResult: { readonly allOk: boolean } | undefined
        acb.getMulti(["async", "async-missing"], { quiet: true }).setCallbacks(
          (r) => {
            quietResult = r
          },
          () => seen.push("quiet failed")
        )
        yield* settle(waitFor(() => quietResult !== undefined))
        expect(quietResult!.allOk).toBe(false)

        // A result with no callback set is reported, naming the operation; so is a throwing callback.
        const orphan = acb.get("async")
        yield* settle(waitFor(() => unhandled.length === 1))
        expect(orphan.done).toBe(true)
        expect(unhandled[0]).toMatchObject({
          _tag: "AsyncResultError",
          reason: "MissingCallback",
          operation: 'get("async")'
        })
        expect(unhandled[0]!.message).toContain("no callback was set")
        expect((unhandled[0]!.cause as { value: unknown }).value).toEqual({ n: 1 })
        acb.get("async-missing").callback = () => undefined
        yield* settle(waitFor(() => unhandled.length === 2))
        expect(unhandled[1]).toMatchObject({ reason: "MissingCallback", operation: 'get("async-missing")' })
        expect(unhandled[1]!.message).toContain("no errback was set")
        expect((unhandled[1]!.cause as { _tag: string })._tag).toBe("NotFoundError")
        acb.get("async").setCallbacks(
          () => {
            throw new Error("boom")
          },
          () => undefined
        )
        yield* settle(waitFor(() => unhandled.length === 3))
        expect(unhandled[2]).toMatchObject({ reason: "CallbackThrew", operation: 'get("async")' })
        expect(unhandled[2]!.message).toContain("boom")

        // Argument errors are thrown by the call itself; nothing is sent.
        expect(() => acb.upsert("", 1)).toThrow(ArgumentError)
        expect(() => acb.lock("async", { ttl: 0 })).toThrow(ArgumentError)

        // The Promise wrapper: resolves with the result, rejects with the typed error.
        const promises = AsyncResult.toPromiseConnection(acb)
        const got = yield* settle(Effect.promise(() => promises.get("async")))
        expect(got.value).toEqual({ n: 1 })
        const rejected = yield* settle(
          Effect.promise(() =>
            promises.get("async-missing").then(
              () => "resolved",
              (e: { readonly _tag: string }) => e._tag
            )
          )
        )
        expect(rejected).toBe("NotFoundError")
        const invalid = yield* Effect.promise(() =>
          promises.upsert("", 1).then(
            () => "resolved",
            (e: unknown) => e
          )
        )
        expect(invalid).toBeInstanceOf(ArgumentError)
        expect(unhandled.length).toBe(3)
      })
  ],
  [
    "replica reads, and reads after the master is failed over",
    ({ cb, cluster, settle }) =>
      Effect.gen(function* () {
        const stored = yield* settle(cb.upsert("fo", { where: "master" }, { replicateTo: 1 }))
        const bucket = cluster.bucket("default")!
        const copies = yield* cluster.control.keyInfo("fo")
        const master = copies.find((c) => c.role === "master")!
        const replica = copies.find((c) => c.role === "replica")!
        expect(master.node).not.toBe(replica.node)
        expect(replica.cas).toBe(stored.cas)
        // The client's hashing and the cluster's map agree on the key's chain.
        const chain = bucket.source.vbuckets[vbucketOf("fo", bucket.numVBuckets)]!.chain
        expect([...chain]).toEqual([master.node, replica.node])

        expect((yield* cb.getReplica("fo")).value).toEqual({ where: "master" })
        yield* cluster.control.failover(master.node)
        const after = yield* settle(cb.get("fo"))
        expect(after.value).toEqual({ where: "master" })
        expect(after.cas).toBe(stored.cas)
        const promoted = (yield* cluster.control.keyInfo("fo")).find((c) => c.role === "master")!
        expect(promoted.node).toBe(replica.node)
        // Writes go to the new master too.
        yield* settle(cb.upsert("fo", { where: "promoted" }))
        expect((yield* settle(cb.get("fo"))).value).toEqual({ where: "promoted" })
      })
  ]
]

for (const transport of [tcp, simulated]) {
  describe(`scenarios over ${transport.name}`, () => {
    for (const [name, scenario] of scenarios) {
      const register = transport.live ? it.scopedLive : it.scoped
      register(name, () => Effect.flatMap(transport.setup, scenario))
    }
  })
}
