import { describe, expect, it, vi } from "@effect/vitest"
import { Effect, Exit, FiberId, Redacted, Runtime, Scope } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import { AsyncViewBase } from "../../src/AsyncViewBase.js"
import * as ConnectionModule from "../../src/Connection.js"
import { Connection } from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { ArgumentError, NetworkError, NotFoundError } from "../../src/Errors.js"
import * as Iops from "../../src/Iops.js"
import { isMissing, MultiResult } from "../../src/Result.js"
import { MemoryEngine, makeMemoryConnection } from "./memoryConnection.js"

/** Waits until `check` passes (callbacks arrive on later ticks). */
const eventually = async (check: () => void, timeoutMs = 2000): Promise<void> => {
  const start = Date.now()
  for (;;) {
    try {
      check()
      return
    } catch (error) {
      if (Date.now() - start > timeoutMs) throw error
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

/** Runs `body` with the process's uncaught exceptions collected into `caught` instead of failing the run. */
const catchingUncaught = async (body: (caught: Array<unknown>) => Promise<void>): Promise<void> => {
  const caught: Array<unknown> = []
  const listener = (error: unknown) => caught.push(error)
  const previous = process.listeners("uncaughtException")
  process.removeAllListeners("uncaughtException")
  process.on("uncaughtException", listener)
  try {
    await body(caught)
  } finally {
    process.removeListener("uncaughtException", listener)
    for (const l of previous) process.on("uncaughtException", l)
  }
}

const setup = (quiet = false) => {
  const engine = new MemoryEngine()
  const unhandled: Array<AsyncResult.AsyncResultError> = []
  const service = makeMemoryConnection(engine, quiet)
  const cb = AsyncResult.make(service, Runtime.defaultRuntime, { onUnhandled: (e) => unhandled.push(e) })
  return { engine, unhandled, service, cb }
}

describe("AsyncConnection over the in-memory TEST connection", () => {
  it("returns an AsyncResult at once and calls callback(result) after the call returned", async () => {
    const { cb, unhandled } = setup()
    const events: Array<string> = []
    const stored = cb.upsert("k", { n: 1 })
    expect(stored).toBeInstanceOf(AsyncResult.AsyncResult)
    expect(stored.operation).toBe('upsert("k")')
    stored.callback = (r) => events.push(`stored ${r.key} ${r.success}`)
    stored.errback = () => events.push("failed")
    events.push("returned")
    await eventually(() => expect(events).toEqual(["returned", "stored k true"]))
    const got = cb.get("k").setCallbacks(
      (r) => events.push(`got ${JSON.stringify(r.value)}`),
      () => events.push("failed")
    )
    await eventually(() => expect(events).toContain('got {"n":1}'))
    expect(got.done).toBe(true)
    expect(unhandled).toEqual([])
  })

  it("calls errback(asyncResult, error) on failure", async () => {
    const { cb } = setup()
    const seen: Array<unknown> = []
    const pending = cb.get("missing")
    pending.setCallbacks(
      () => seen.push("success?"),
      (ar, error) => seen.push(ar, error)
    )
    await eventually(() => expect(seen).toHaveLength(2))
    expect(seen[0]).toBe(pending)
    expect(seen[1]).toBeInstanceOf(NotFoundError)
    expect((seen[1] as NotFoundError).key).toBe("missing")
  })

  it("delivers a multi operation's MultiResult, or an error carrying allResults", async () => {
    const { cb } = setup()
    let multi: MultiResult | undefined
    cb.upsertMulti({ a: 1, b: 2 }).setCallbacks(
      (r) => (multi = r),
      () => undefined
    )
    await eventually(() => expect(multi?.allOk).toBe(true))
    expect(multi).toBeInstanceOf(MultiResult)
    let failure: NotFoundError | undefined
    cb.getMulti(["a", "nope", "b"]).setCallbacks(
      () => undefined,
      (_, e) => (failure = e as NotFoundError)
    )
    await eventually(() => expect(failure).toBeDefined())
    expect(failure!._tag).toBe("NotFoundError")
    expect(failure!.key).toBe("nope")
    expect([...failure!.allResults!.keys()]).toEqual(["a", "nope", "b"])
    const [ok, failed] = failure!.splitResults()
    expect([...ok.keys()]).toEqual(["a", "b"])
    expect([...failed.keys()]).toEqual(["nope"])
  })

  it("keeps quiet semantics: a quiet miss is a successful callback", async () => {
    const { cb } = setup(true)
    let result: unknown
    cb.remove("gone").setCallbacks(
      (r) => (result = r),
      () => undefined
    )
    await eventually(() => expect(result).toBeDefined())
    expect(isMissing(result as never)).toBe(true)
    expect(cb.quiet).toBe(true)
  })

  it("throws argument errors synchronously, before anything is sent", () => {
    const { cb, engine, service } = setup()
    expect(() => cb.get("")).toThrow(ArgumentError)
    expect(() => cb.getMulti([])).toThrow(/the list of keys is empty/)
    expect(() => cb.lock("k", { ttl: 60 })).toThrow(/from 1 to 30 seconds/)
    expect(() => cb.upsert("k", 1, { ttl: -1 })).toThrow(/must not be negative/)
    expect(() => cb.counter("k", { delta: 0.5 })).toThrow(ArgumentError)
    expect(() => cb.unlock("k", 0n)).toThrow(/a CAS of 0/)
    expect(() => cb.touchMulti({ a: 1 }, { ttl: 1 } as never)).toThrow(/both per key and for all keys/)
    expect(engine.received).toEqual([])
    // The service was never even asked.
    expect(service.calls).toEqual([])
  })

  it("reports a result without callbacks as a clear AsyncResultError, to the onUnhandled hook", async () => {
    const { cb, unhandled } = setup()
    cb.upsert("k", 1) // no callbacks set
    await eventually(() => expect(unhandled).toHaveLength(1))
    expect(unhandled[0]!._tag).toBe("AsyncResultError")
    expect(unhandled[0]!.reason).toBe("MissingCallback")
    expect(unhandled[0]!.operation).toBe('upsert("k")')
    expect(unhandled[0]!.message).toContain("no callback was set")
    expect(unhandled[0]!.message).toContain("setCallbacks")
    // Only an errback set, and the operation fails: the errback is used, nothing is reported.
    const only = cb.get("missing")
    let errors = 0
    only.errback = () => errors++
    await eventually(() => expect(errors).toBe(1))
    // Only a callback set, and the operation fails: reported, naming the errback.
    const onlyCallback = cb.get("missing")
    onlyCallback.callback = () => undefined
    await eventually(() => expect(unhandled).toHaveLength(2))
    expect(unhandled[1]!.message).toContain("no errback was set")
    expect(unhandled[1]!.cause).toBeInstanceOf(NotFoundError)
  })

  it("reports a callback that throws, without losing the error", async () => {
    const { cb, unhandled } = setup()
    cb.upsert("k", 1).setCallbacks(
      () => {
        throw new Error("boom")
      },
      () => undefined
    )
    await eventually(() => expect(unhandled).toHaveLength(1))
    expect(unhandled[0]!.reason).toBe("CallbackThrew")
    expect(unhandled[0]!.message).toContain("boom")
    expect((unhandled[0]!.cause as Error).message).toBe("boom")
  })

  it("with rethrowUnhandled, rethrows unhandled problems outside any stack, as an uncaught exception", () =>
    catchingUncaught(async (caught) => {
      const cb = AsyncResult.make(makeMemoryConnection(), Runtime.defaultRuntime, {
        onUnhandled: AsyncResult.rethrowUnhandled
      })
      cb.upsert("k", 1)
      await eventually(() => expect(caught).toHaveLength(1))
      expect(caught[0]).toBeInstanceOf(AsyncResult.AsyncResultError)
    }))

  it("a callback whose error handler throws surfaces as an uncaught exception, once", () =>
    catchingUncaught(async (caught) => {
      const cb = AsyncResult.make(makeMemoryConnection(), Runtime.defaultRuntime, {
        onUnhandled: (problem) => {
          throw new Error(`handler broke on: ${problem.reason}`)
        }
      })
      const calls: Array<unknown> = []
      cb.getMulti(["a", "b"], { quiet: true }).setCallbacks(
        (r) => {
          calls.push(r.size)
          throw new Error("callback broke")
        },
        (_, error) => calls.push(error)
      )
      await eventually(() => expect(caught).toHaveLength(1))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(calls).toEqual([2])
      expect(caught).toHaveLength(1)
      expect((caught[0] as Error).message).toBe("handler broke on: CallbackThrew")
    }))

  it("cancel stops the operation and suppresses the callbacks", async () => {
    const { cb, unhandled } = setup()
    const events: Array<string> = []
    const r = cb.upsert("k", 1).setCallbacks(
      () => events.push("ok"),
      () => events.push("err")
    )
    r.cancel()
    expect(r.done).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events).toEqual([])
    expect(unhandled).toEqual([])
  })
})

describe("AsyncResult", () => {
  it("delivers an outcome known during the call only after the call returned", async () => {
    const events: Array<string> = []
    const r = new AsyncResult.AsyncResult<number, never>("sync()", (complete) => {
      complete(Exit.succeed(7))
      return () => undefined
    })
    r.callback = (n) => events.push(`ok ${n}`)
    events.push("set")
    await eventually(() => expect(events).toEqual(["set", "ok 7"]))
  })

  it("turns a defect into a DefectError and an interruption into a NetworkError, as on a closed connection", async () => {
    const errors: Array<unknown> = []
    const defect = new AsyncResult.AsyncResult<number, never>("bug()", (complete) => {
      complete(Exit.die(new Error("bug")))
      return () => undefined
    })
    defect.errback = (_, e) => errors.push(e)
    const interrupted = new AsyncResult.AsyncResult<number, never>("stopped()", (complete) => {
      complete(Exit.interrupt(FiberId.none))
      return () => undefined
    })
    interrupted.errback = (_, e) => errors.push(e)
    await eventually(() => expect(errors).toHaveLength(2))
    expect(errors[0]).toBeInstanceOf(AsyncResult.DefectError)
    expect((errors[0] as AsyncResult.DefectError).cause).toEqual(new Error("bug"))
    expect(errors[1]).toBeInstanceOf(NetworkError)
    expect((errors[1] as NetworkError).message).toContain("open a new one")
  })

  it("ignores a second completion", async () => {
    let calls = 0
    const r = new AsyncResult.AsyncResult<number, never>("twice()", (complete) => {
      setImmediate(() => {
        complete(Exit.succeed(1))
        complete(Exit.succeed(2))
      })
      return () => undefined
    })
    let value = 0
    r.callback = (n) => {
      calls++
      value = n
    }
    await eventually(() => expect(calls).toBe(1))
    await new Promise((resolve) => setImmediate(resolve))
    expect([calls, value]).toEqual([1, 1])
  })

  it.effect("fromContext runs on the current runtime", () =>
    Effect.gen(function* () {
      const cb = yield* AsyncResult.fromContext().pipe(Effect.provideService(Connection, makeMemoryConnection()))
      const value = yield* Effect.async<unknown, unknown>((resume) => {
        cb.counter("n", { initial: 5 }).setCallbacks(
          (r) => resume(Effect.succeed(r.value)),
          (_, e) => resume(Effect.fail(e))
        )
      })
      expect(value).toBe(5n)
    })
  )
})

describe("PromiseConnection (the worked example)", () => {
  it("resolves with results, rejects with errors, and rejects on argument errors", async () => {
    const cb = AsyncResult.toPromiseConnection(AsyncResult.make(makeMemoryConnection()))
    const stored = await cb.upsert("p", "text", { format: 0x04000004 })
    expect(stored.success).toBe(true)
    const got = await cb.get("p")
    expect(got.value).toBe("text")
    await expect(cb.get("nope")).rejects.toBeInstanceOf(NotFoundError)
    await expect(cb.get("")).rejects.toBeInstanceOf(ArgumentError)
    const missing = await cb.get("nope", { quiet: true })
    expect(isMissing(missing)).toBe(true)
    const counted = await cb.counterMulti({ c1: { initial: 1n }, c2: 3 }, { initial: 10 })
    expect([...counted.values()].map((r) => r.value)).toEqual([1n, 10n])
    const locked = await cb.lock("p", { ttl: 5 })
    await expect(cb.upsert("p", "x")).rejects.toMatchObject({ _tag: "KeyExistsError" })
    await expect(cb.unlock("p", locked.cas + 1n)).rejects.toMatchObject({ _tag: "TemporaryFailError" })
    expect((await cb.unlock("p", locked.cas)).success).toBe(true)
    await cb.append("p", "!")
    expect((await cb.get("p")).value).toBe("text!")
    await expect(cb.append("absent", "!")).rejects.toMatchObject({ _tag: "NotStoredError" })
    await expect(cb.stats()).rejects.toMatchObject({ _tag: "NotSupportedError" })
  })

  it("toPromise adapts any AsyncResult", async () => {
    const r = new AsyncResult.AsyncResult<string, never>("x()", (complete) => {
      setImmediate(() => complete(Exit.succeed("done")))
      return () => undefined
    })
    await expect(AsyncResult.toPromise(r)).resolves.toBe("done")
  })
})

describe("AsyncConnection when its connection closes", () => {
  it.live("in-flight, fiber-free and fiber-run operations alike end with a NetworkError; later calls too", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const scope = yield* Scope.make()
      const cb = AsyncResult.make(
        yield* ConnectionModule.make({
          connectionString: cluster.connectionString,
          username: cluster.username,
          password: cluster.password,
          operationTimeout: "30 seconds"
        }).pipe(Effect.provide(Iops.layerNode()), Scope.extend(scope))
      )
      yield* cluster.control.stall(0)
      const errors: Array<unknown> = []
      // A fiber-free get, and a multi-key operation that runs as a fiber: both wait on the stalled node.
      cb.get("k").errback = (_, e) => errors.push(e)
      cb.getMulti(["a", "b"]).errback = (_, e) => errors.push(e)
      yield* Effect.sleep("50 millis")
      expect(errors).toEqual([])
      yield* Scope.close(scope, Exit.void)
      cb.upsert("after", 1).errback = (_, e) => errors.push(e)
      yield* Effect.promise(() => eventually(() => expect(errors).toHaveLength(3)))
      for (const error of errors) expect(error).toBeInstanceOf(NetworkError)
      // Those in flight may have been applied, and say so; the one after the close was never sent.
      expect((errors[0] as NetworkError).message).toContain("may or may not have been applied")
      expect((errors[2] as NetworkError).message).toContain("the connection is closed; open a new one")
    }).pipe(Effect.scoped)
  )
})

describe("AsyncConnection.connect (no Effect needed)", () => {
  it.live("opens with a plain-string password, runs operations and views, and closes", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({
        nodes: 1,
        buckets: [{ name: "beer-sample", sample: "beer-sample" }]
      })
      const options = {
        connectionString: `${cluster.connectionString}/beer-sample`,
        username: cluster.username,
        password: Redacted.value(cluster.password)
      }
      const cb = yield* Effect.promise(() => AsyncResult.AsyncConnection.connect(options))
      expect(cb.quiet).toBe(false)
      const stored = yield* Effect.promise(() => AsyncResult.toPromise(cb.upsert("plain", "text")))
      expect(stored.success).toBe(true)
      // Python's query(…, itercls): an unstarted object of the class.
      class Rows extends AsyncViewBase<unknown, unknown> {
        readonly seen: Array<unknown> = []
        readonly finished = new Promise<void>((resolve) => {
          this.onDone = resolve
        })
        onRows(rows: ReadonlyArray<{ readonly key: unknown }>) {
          for (const row of rows) this.seen.push(row.key)
        }
        onError(error: unknown) {
          throw error
        }
        onDone() {}
      }
      const query = cb.query("beer", "brewery_beers", { limit: 5 }, Rows)
      expect(query.started).toBe(false)
      yield* Effect.promise(() => query.start().finished)
      expect(query.seen).toHaveLength(5)
      expect(() => cb.query("beer", "brewery_beers", {}, class NotAView {} as any)).toThrow(
        "itercls must be a subclass of AsyncViewBase"
      )
      // close: once, whoever asks; later operations fail with NetworkError.
      const closing = cb.close()
      expect(cb.close()).toBe(closing)
      yield* Effect.promise(() => closing)
      const after = yield* Effect.flip(
        Effect.tryPromise({ try: () => AsyncResult.toPromise(cb.get("plain")), catch: (e) => e as NetworkError })
      )
      expect(after).toBeInstanceOf(NetworkError)
    }).pipe(Effect.scoped)
  )

  it.live("a callback that closes the connection while a batch is being read: every other operation ends once", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const cb = yield* Effect.promise(() =>
        AsyncResult.AsyncConnection.connect({
          connectionString: cluster.connectionString,
          username: cluster.username,
          password: Redacted.value(cluster.password)
        })
      )
      const keys = Array.from({ length: 300 }, (_, i) => `close-${i}`)
      yield* Effect.promise(() => AsyncResult.toPromise(cb.upsertMulti(Object.fromEntries(keys.map((k) => [k, k])))))
      const ends = new Map<string, Array<string>>()
      const end = (name: string, how: string) => ends.set(name, [...(ends.get(name) ?? []), how])
      const names: Array<string> = []
      const watch = <A, E extends { readonly _tag: string }>(name: string, pending: AsyncResult.AsyncResult<A, E>) => {
        names.push(name)
        pending.setCallbacks(
          () => end(name, "ok"),
          (_, error) => end(name, error._tag)
        )
      }
      // The first batch's callback runs while the pipeline dispatches the frames it read,
      // with the other operations' frames around it, and closes the connection there.
      names.push("closer")
      cb.getMulti(keys.slice(0, 100)).setCallbacks(
        () => {
          end("closer", "ok")
          void cb.close()
        },
        (_, error) => end("closer", error._tag)
      )
      for (let i = 0; i < 20; i++) watch(`multi-${i}`, cb.getMulti(keys.slice(100 + i * 10, 110 + i * 10)))
      for (let i = 0; i < 3000; i++) watch(`get-${i}`, cb.get(keys[i % keys.length]!))
      yield* Effect.promise(() => eventually(() => expect(ends.size).toBe(names.length), 5000))
      yield* Effect.sleep("50 millis")
      expect(ends.get("closer")).toEqual(["ok"])
      for (const name of names) {
        const how = ends.get(name)!
        expect(how).toHaveLength(1)
        expect(["ok", "NetworkError"]).toContain(how[0])
      }
      // The close cut operations short: the case this is about happened.
      expect([...ends.values()].filter((how) => how[0] === "NetworkError").length).toBeGreaterThan(0)
    }).pipe(Effect.scoped)
  )

  it.live("the callback form, a failed connect as the typed error, and a quiet connection", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const refused = yield* Effect.promise(
        () =>
          new Promise<unknown>((resolve) =>
            AsyncResult.AsyncConnection.connect(
              { connectionString: cluster.connectionString, username: cluster.username, password: "wrong" },
              (error) => resolve(error)
            )
          )
      )
      expect((refused as { readonly _tag: string })._tag).toBe("AuthError")
      expect(String((refused as Error).message)).not.toContain("wrong")
      const quiet = yield* Effect.promise(
        () =>
          new Promise<AsyncResult.OpenAsyncConnection<true>>((resolve, reject) =>
            AsyncResult.AsyncConnection.connect(
              {
                connectionString: cluster.connectionString,
                username: cluster.username,
                password: cluster.password,
                quiet: true
              },
              (error, connection) => (error === null ? resolve(connection!) : reject(error))
            )
          )
      )
      expect(quiet.quiet).toBe(true)
      const missing = yield* Effect.promise(() => AsyncResult.toPromise(quiet.get("absent")))
      expect(missing.success).toBe(false)
      yield* Effect.promise(
        () => new Promise<void>((resolve, reject) => quiet.close((e) => (e ? reject(e) : resolve())))
      )
    }).pipe(Effect.scoped)
  )

  it("a callback that throws is logged with its message, and the process goes on", async () => {
    const lines: Array<string> = []
    const spy = vi.spyOn(console, "error").mockImplementation((...args: Array<unknown>) => {
      lines.push(args.map(String).join(" "))
    })
    try {
      const cb = AsyncResult.make(makeMemoryConnection())
      cb.upsert("k", 1).callback = () => {
        throw new RangeError("my callback broke")
      }
      await eventually(() => expect(lines).toHaveLength(1))
      expect(lines[0]).toContain('a callback of upsert("k") threw: my callback broke')
      expect(lines[0]).toContain("RangeError: my callback broke")
      // Still serving.
      expect((await AsyncResult.toPromise(cb.upsert("k", 2))).success).toBe(true)
    } finally {
      spy.mockRestore()
    }
  })
})

describe("AsyncResult as the Python SDK's MultiResult", () => {
  it.live("is empty when returned and fills in key by key as results arrive, then goes to the callback", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 0 })
      const service = yield* ConnectionModule.make({
        connectionString: cluster.connectionString,
        username: cluster.username,
        password: cluster.password,
        operationTimeout: "20 seconds"
      }).pipe(Effect.provide(Iops.layerNode()))
      const cb = AsyncResult.make(service)
      const keys = Array.from({ length: 40 }, (_, i) => `mres-${i}`)
      yield* service.upsertMulti(Object.fromEntries(keys.map((k) => [k, k])))

      // One key: empty on return, complete when the callback runs, handed to it as well.
      const one = cb.get("mres-0")
      expect([one.size, one.remaining, one.expected]).toEqual([0, 1, 1])
      const [value, container] = yield* Effect.promise(
        () => new Promise<[unknown, unknown]>((resolve) => (one.callback = (v, c) => resolve([v, c])))
      )
      expect(container).toBe(one)
      expect(one.get("mres-0")).toBe(value)
      expect([one.size, one.remaining, one.allOk]).toEqual([1, 0, true])

      // Many keys with one node stalled: the other node's keys are there before the rest.
      yield* cluster.control.stall(1)
      const many = cb.getMulti(keys)
      let called: unknown
      many.callback = (v) => {
        called = v
      }
      expect([many.size, many.remaining]).toEqual([0, 40])
      yield* Effect.promise(() => eventually(() => expect(many.size).toBeGreaterThan(0)))
      yield* Effect.sleep("50 millis")
      const partial = many.size
      expect(partial).toBeLessThan(40)
      expect(many.remaining).toBe(40 - partial)
      expect(called).toBeUndefined()
      yield* cluster.control.unstall(1)
      yield* Effect.promise(() => eventually(() => expect(called).toBeDefined()))
      expect([many.size, many.remaining, many.allOk]).toEqual([40, 0, true])
      expect([...many.keys()].sort()).toEqual([...keys].sort())
      expect(many.get("mres-7")).toMatchObject({ value: "mres-7", success: true })

      // A failure: the container holds every key's result, as the error's allResults.
      const failing = cb.getMulti(["mres-1", "absent-key"])
      const error = yield* Effect.promise(() => new Promise<any>((resolve) => (failing.errback = (_, e) => resolve(e))))
      expect(error._tag).toBe("NotFoundError")
      expect(failing.size).toBe(2)
      expect(failing.get("absent-key")).toMatchObject({ success: false, rc: 0x0d })
      expect(failing.get("mres-1")).toMatchObject({ success: true, value: "mres-1" })
    }).pipe(Effect.scoped)
  )
})
