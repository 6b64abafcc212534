/**
 * `quiet` as types (SPEC.md §3.3). The `expectTypeOf` assertions and the
 * `@ts-expect-error` lines are checked by `tsc` (npm test type-checks test/): this file
 * stops compiling if quiet stops removing `NotFoundError` from the error channel, or
 * stops adding `MissingResult` to the success type, or a connection's quiet default
 * stops showing in its types. The runtime half runs the same calls against the
 * in-memory TEST connection, so the types are checked against behaviour.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Effect } from "effect"
import type { AsyncConnection, AsyncResult, PromiseConnection } from "../../src/AsyncResult.js"
import type { Connection, GetError } from "../../src/Connection.js"
import type { NotFoundError } from "../../src/Errors.js"
import type { CounterResult, MissingResult, MultiResult, OperationResult, ValueResult } from "../../src/Result.js"
import { isMissing } from "../../src/Result.js"
import { makeMemoryConnection } from "./memoryConnection.js"

type Success<T> = T extends Effect.Effect<infer A, infer _E, infer _R> ? A : never
type Failure<T> = T extends Effect.Effect<infer _A, infer E, infer _R> ? E : never
/** The NotFoundError members of an error union: `never` when it cannot fail "not found". */
type NotFoundIn<T> = Extract<Failure<T>, NotFoundError>

declare const loud: Connection.Service
declare const quiet: Connection.Service<true>
declare const runtimeFlag: boolean

// Type-level assertions, checked by tsc; the function is never called (`loud` and
// `quiet` are only declared). The runtime tests below exercise the same calls.
const typeAssertions = () => {
  // loud connection (the default)
  {
    const get = loud.get("k")
    expectTypeOf<NotFoundIn<typeof get>>().toEqualTypeOf<NotFoundError>()
    expectTypeOf<Success<typeof get>>().toEqualTypeOf<ValueResult<unknown>>()

    const quietGet = loud.get("k", { quiet: true })
    expectTypeOf<NotFoundIn<typeof quietGet>>().toEqualTypeOf<never>()
    expectTypeOf<Success<typeof quietGet>>().toEqualTypeOf<ValueResult<unknown> | MissingResult>()

    const quietGetMulti = loud.getMulti(["a"], { quiet: true, ttl: 10 })
    expectTypeOf<NotFoundIn<typeof quietGetMulti>>().toEqualTypeOf<never>()
    expectTypeOf<Success<typeof quietGetMulti>>().toEqualTypeOf<MultiResult<ValueResult<unknown> | MissingResult>>()
    const loudGetMulti = loud.getMulti(["a"])
    expectTypeOf<NotFoundIn<typeof loudGetMulti>>().toEqualTypeOf<NotFoundError>()
    expectTypeOf<Success<typeof loudGetMulti>>().toEqualTypeOf<MultiResult<ValueResult<unknown>>>()

    for (const op of [
      loud.getReplica("k", { quiet: true }),
      loud.getReplicaMulti(["k"], { quiet: true }),
      loud.lock("k", { ttl: 5, quiet: true }),
      loud.lockMulti(["k"], { ttl: 5, quiet: true }),
      loud.touch("k", { ttl: 5, quiet: true }),
      loud.touchMulti(["k"], { ttl: 5, quiet: true }),
      loud.touchMulti({ k: 5 }, { quiet: true }),
      loud.remove("k", { quiet: true }),
      loud.removeMulti({ k: 1n }, { quiet: true })
    ]) {
      expectTypeOf<NotFoundIn<typeof op>>().toEqualTypeOf<never>()
    }
    for (const op of [
      loud.getReplica("k"),
      loud.getReplicaMulti(["k"]),
      loud.lock("k", { ttl: 5 }),
      loud.lockMulti(["k"], { ttl: 5 }),
      loud.touch("k", { ttl: 5 }),
      loud.touchMulti(["k"], { ttl: 5 }),
      loud.remove("k"),
      loud.removeMulti(["k"])
    ]) {
      expectTypeOf<NotFoundIn<typeof op>>().toEqualTypeOf<NotFoundError>()
    }
    const quietRemove = loud.remove("k", { quiet: true })
    expectTypeOf<Success<typeof quietRemove>>().toEqualTypeOf<OperationResult | MissingResult>()
    const quietLock = loud.lock("k", { ttl: 5, quiet: true })
    expectTypeOf<Success<typeof quietLock>>().toEqualTypeOf<ValueResult<unknown> | MissingResult>()

    // Operations without a quiet form refuse the option in their types (it would be ignored).
    // @ts-expect-error upsert has no quiet
    loud.upsert("k", 1, { quiet: true, ttl: 5 })
    // @ts-expect-error replace has no quiet
    loud.replace("k", 1, { quiet: true, ttl: 5 })
    // @ts-expect-error counter has no quiet
    loud.counter("k", { quiet: true, ttl: 5 })
    // @ts-expect-error insert has no quiet
    loud.insert("k", 1, { quiet: false })
    // @ts-expect-error appendMulti has no quiet
    loud.appendMulti({ k: "x" }, { quiet: true })
    // @ts-expect-error nor a misspelt option (ttl)
    loud.get("k", { tll: 5 })
    // The same options without it are fine.
    loud.upsert("k", 1, { ttl: 5 })
    loud.counter("k", { delta: 2, ttl: 5 })

    // @ts-expect-error a quiet get cannot fail with NotFoundError, so there is no such tag to catch
    Effect.catchTag(loud.get("k", { quiet: true }), "NotFoundError", () => Effect.void)
    // @ts-expect-error a quiet remove cannot fail with NotFoundError either
    Effect.catchTag(loud.remove("k", { quiet: true }), "NotFoundError", () => Effect.void)
    // @ts-expect-error under quiet the result may be missing: it is not a plain ValueResult
    const _value: Effect.Effect<ValueResult<unknown>, unknown> = loud.get("k", { quiet: true })
    // A loud get can fail with NotFoundError, and catching it removes it.
    const caught = Effect.catchTag(loud.get("k"), "NotFoundError", () => Effect.succeed(null))
    expectTypeOf<NotFoundIn<typeof caught>>().toEqualTypeOf<never>()
  }

  // quiet is only for get, getReplica, lock, touch and remove
  {
    const replace = loud.replace("k", 1)
    expectTypeOf<NotFoundIn<typeof replace>>().toEqualTypeOf<NotFoundError>()
    const counter = quiet.counter("k")
    expectTypeOf<NotFoundIn<typeof counter>>().toEqualTypeOf<NotFoundError>()
    expectTypeOf<Success<typeof counter>>().toEqualTypeOf<CounterResult>()
    // With an initial value a counter creates the key instead.
    const created = loud.counter("k", { initial: 0 })
    expectTypeOf<NotFoundIn<typeof created>>().toEqualTypeOf<never>()
    const unlock = quiet.unlock("k", 1n)
    expectTypeOf<NotFoundIn<typeof unlock>>().toEqualTypeOf<NotFoundError>()
    // @ts-expect-error replace has no quiet option
    loud.replace("k", 1, { quiet: true })
    // @ts-expect-error counter has no quiet option
    loud.counter("k", { quiet: true })
  }

  // the connection-level default
  {
    const get = quiet.get("k")
    expectTypeOf<NotFoundIn<typeof get>>().toEqualTypeOf<never>()
    expectTypeOf<Success<typeof get>>().toEqualTypeOf<ValueResult<unknown> | MissingResult>()
    const optOut = quiet.get("k", { quiet: false })
    expectTypeOf<NotFoundIn<typeof optOut>>().toEqualTypeOf<NotFoundError>()
    expectTypeOf<Success<typeof optOut>>().toEqualTypeOf<ValueResult<unknown>>()
    const removeMulti = quiet.removeMulti(["a"])
    expectTypeOf<NotFoundIn<typeof removeMulti>>().toEqualTypeOf<never>()
    expectTypeOf(quiet.quiet).toEqualTypeOf<true>()
    const view = loud.withQuiet(true).touch("k", { ttl: 1 })
    expectTypeOf<NotFoundIn<typeof view>>().toEqualTypeOf<never>()
  }

  // a quiet known only at run time types conservatively
  {
    const get = loud.get("k", { quiet: runtimeFlag })
    expectTypeOf<NotFoundIn<typeof get>>().toEqualTypeOf<NotFoundError>()
    expectTypeOf<Success<typeof get>>().toEqualTypeOf<ValueResult<unknown> | MissingResult>()
    const options: { quiet?: boolean } = {}
    const remove = quiet.remove("k", options)
    expectTypeOf<NotFoundIn<typeof remove>>().toEqualTypeOf<NotFoundError>()
  }

  // values
  {
    const raw = loud.get("k", { noFormat: true })
    expectTypeOf<Success<typeof raw>>().toEqualTypeOf<ValueResult<Buffer>>()
    const typed = loud.withTranscoder<{ readonly n: number }>(null!).get("k")
    expectTypeOf<Success<typeof typed>>().toEqualTypeOf<ValueResult<{ readonly n: number }>>()
  }

  // the callback and Promise adapters carry the same types
  {
    const asyncLoud = null! as AsyncConnection
    const asyncQuiet = asyncLoud.get("k", { quiet: true })
    expectTypeOf(asyncQuiet).toEqualTypeOf<AsyncResult<ValueResult<unknown> | MissingResult, GetError<true>>>()
    const asyncLoudGet = asyncLoud.get("k")
    expectTypeOf(asyncLoudGet).toEqualTypeOf<AsyncResult<ValueResult<unknown>, GetError<false>>>()
    const promised = (null! as PromiseConnection<true>).lock("k", { ttl: 2 })
    expectTypeOf(promised).toEqualTypeOf<Promise<ValueResult<unknown> | MissingResult>>()
  }
}

expectTypeOf(typeAssertions).toBeFunction()

describe("quiet at run time (in-memory TEST connection)", () => {
  it.effect("a loud get of a missing key fails NotFoundError; a quiet one returns a MissingResult", () =>
    Effect.gen(function* () {
      const cb = makeMemoryConnection()
      const error = yield* Effect.flip(cb.get("missing"))
      expect(error._tag).toBe("NotFoundError")
      const result = yield* cb.get("missing", { quiet: true })
      expect(isMissing(result)).toBe(true)
      expect(result).toEqual({ key: "missing", cas: 0n, rc: 0x0d, success: false, value: undefined, flags: 0 })
      // Only "not found" is suppressed.
      yield* cb.upsert("k", 1)
      const locked = yield* cb.lock("k", { ttl: 5, quiet: true })
      expect(locked.success).toBe(true)
      const again = yield* Effect.flip(cb.lock("k", { ttl: 5, quiet: true }))
      expect(again._tag).toBe("TemporaryFailError")
    })
  )

  it.effect("a quiet connection's default applies, and a call can opt out", () =>
    Effect.gen(function* () {
      const cb = makeMemoryConnection(undefined, true)
      const removed = yield* cb.remove("nothing")
      expect(isMissing(removed)).toBe(true)
      const multi = yield* cb.getMulti(["x", "y"])
      expect(multi.allOk).toBe(false)
      expect([...multi.values()].every(isMissing)).toBe(true)
      const error = yield* Effect.flip(cb.get("x", { quiet: false }))
      expect(error._tag).toBe("NotFoundError")
      // replace ignores quiet.
      const replace = yield* Effect.flip(cb.replace("x", 1))
      expect(replace._tag).toBe("NotFoundError")
    })
  )
})
