import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import type { OperationName } from "../../src/Connection.js"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Errors from "../../src/Errors.js"
import { ArgumentError, NotFoundError, ValueFormatError } from "../../src/Errors.js"
import * as Iops from "../../src/Iops.js"
import * as Ops from "../../src/internal/ops/index.js"
import { MultiResult } from "../../src/Result.js"
import * as Transcoder from "../../src/Transcoder.js"
import { MemoryEngine, makeMemoryConnection } from "./memoryConnection.js"

const NOW = Date.UTC(2024, 0, 1)
const LONG_KEY = "é".repeat(126) // 126 characters, 252 bytes of UTF-8
const KEY_250 = "k".repeat(250)

/** [operation, arguments, a phrase the message must contain] */
type Case = readonly [OperationName, ReadonlyArray<unknown>, string]

const keyCases: ReadonlyArray<Case> = (
  [
    ["get", []],
    ["getReplica", []],
    ["upsert", [1]],
    ["insert", [1]],
    ["replace", [1]],
    ["append", ["x"]],
    ["prepend", ["x"]],
    ["remove", []],
    ["counter", []],
    ["touch", [{ ttl: 1 }]],
    ["lock", [{ ttl: 1 }]],
    ["unlock", [5n]],
    ["observe", []],
    ["endure", [{ persistTo: 1, replicateTo: 0 }]]
  ] as const
).flatMap(
  ([name, rest]): ReadonlyArray<Case> => [
    [name, ["", ...rest], "the key is empty"],
    [name, [42, ...rest], "a key must be a string, got 42"],
    [name, [undefined, ...rest], "a key must be a string"],
    [name, [Buffer.from("k"), ...rest], "a key must be a string, got a Buffer"],
    [name, [LONG_KEY, ...rest], "252 bytes"]
  ]
)

const listCases: ReadonlyArray<Case> = (
  [
    ["getMulti", []],
    ["getReplicaMulti", []],
    ["removeMulti", []],
    ["counterMulti", []],
    ["touchMulti", [{ ttl: 1 }]],
    ["lockMulti", [{ ttl: 1 }]],
    ["observeMulti", []],
    ["endureMulti", [{ persistTo: 1, replicateTo: 0 }]]
  ] as const
).flatMap(
  ([name, rest]): ReadonlyArray<Case> => [
    [name, [[], ...rest], "the list of keys is empty"],
    [name, [["a", "b", "a"], ...rest], 'the key "a" is given twice'],
    [name, [["a", ""], ...rest], "the key is empty"],
    [name, [["a", 7], ...rest], "a key must be a string"],
    [name, [["a", LONG_KEY], ...rest], "252 bytes"]
  ]
)

const recordCases: ReadonlyArray<Case> = (
  ["upsertMulti", "insertMulti", "replaceMulti", "appendMulti", "prependMulti", "unlockMulti"] as const
).flatMap(
  (name): ReadonlyArray<Case> => [
    [name, [{}], "there are no keys"],
    [name, [new Map()], "there are no keys"],
    [name, ["notamap"], "expected a Record or a Map"],
    [name, [new Map([[1, "v"]])], "a key must be a string"],
    [name, [{ [LONG_KEY]: "v" }], "252 bytes"]
  ]
)

const ttlCases: ReadonlyArray<Case> = (
  [
    ["get", (ttl: unknown) => ["k", { ttl }]],
    ["getMulti", (ttl: unknown) => [["k"], { ttl }]],
    ["upsert", (ttl: unknown) => ["k", 1, { ttl }]],
    ["insert", (ttl: unknown) => ["k", 1, { ttl }]],
    ["replace", (ttl: unknown) => ["k", 1, { ttl }]],
    ["upsertMulti", (ttl: unknown) => [{ k: 1 }, { ttl }]],
    ["counter", (ttl: unknown) => ["k", { initial: 1, ttl }]],
    ["touch", (ttl: unknown) => ["k", { ttl }]],
    ["touchMulti", (ttl: unknown) => [["k"], { ttl }]],
    ["touchMulti", (ttl: unknown) => [{ k: ttl }]]
  ] as const
).flatMap(
  ([name, args]): ReadonlyArray<Case> => [
    [name, args(-1), "must not be negative"],
    [name, args(2.5), "whole number of seconds"],
    [name, args(Number.NaN), "NaN"],
    [name, args("soon"), "seconds, a Duration or a Date"]
  ]
)

const otherCases: ReadonlyArray<Case> = [
  // options
  ["get", ["k", "quiet"], "options must be an object"],
  ["get", ["k", { quiet: "yes" }], "quiet must be true or false"],
  ["get", ["k", { ttl: 10, replica: true }], "ttl cannot be combined with replica"],
  ["getReplica", ["k", { replicaIndex: 3 }], "replicaIndex must be an integer from 0 to 2"],
  ["getReplica", ["k", { replicaIndex: -1 }], "replicaIndex"],
  ["getReplica", ["k", { replicaIndex: 0.5 }], "replicaIndex"],
  // lock ttl: required, 1..30
  ["lock", ["k", {}], "ttl is required"],
  ["lock", ["k", { ttl: 0 }], "from 1 to 30 seconds"],
  ["lock", ["k", { ttl: 31 }], "from 1 to 30 seconds"],
  ["lock", ["k", { ttl: 1.5 }], "whole number of seconds"],
  ["lockMulti", [["k"], { ttl: 60 }], "from 1 to 30 seconds"],
  ["touch", ["k", {}], "ttl is required"],
  ["touchMulti", [["k"], {}], "ttl is required"],
  ["touchMulti", [{ k: 1 }, { ttl: 2 }], "both per key and for all keys"],
  // CAS
  ["upsert", ["k", 1, { cas: 5 }], "cas must be a bigint"],
  ["upsert", ["k", 1, { cas: -1n }], "outside the 64-bit unsigned range"],
  ["replace", ["k", 1, { cas: 2n ** 64n }], "outside the 64-bit unsigned range"],
  ["remove", ["k", { cas: "5" }], "cas must be a bigint"],
  ["removeMulti", [{ k: 5 }], "cas must be a bigint"],
  ["insert", ["k", 1, { cas: 5n }], "insert takes no cas"],
  // quiet where an operation has no quiet form would be ignored
  ["upsert", ["k", 1, { quiet: true, ttl: 5 }], "has no quiet form"],
  ["replace", ["k", 1, { quiet: true }], "has no quiet form"],
  ["counter", ["k", { quiet: true, ttl: 5 }], "has no quiet form"],
  ["appendMulti", [{ k: "x" }, { quiet: false }], "has no quiet form"],
  // Python's *_multi take no cas: one CAS cannot match several documents.
  ["upsertMulti", [{ k: 1 }, { cas: 5n }], "a multi store takes no cas"],
  ["replaceMulti", [{ k: 1 }, { cas: 5n }], "a multi store takes no cas"],
  ["appendMulti", [{ k: "x" }, { cas: 5n }], "a multi store takes no cas"],
  ["unlock", ["k"], "the CAS returned by lock is required"],
  ["unlock", ["k", 0n], "a CAS of 0 cannot unlock"],
  ["unlock", ["k", 5], "cas must be a bigint"],
  ["unlockMulti", [{ k: 0n }], "a CAS of 0 cannot unlock"],
  // counter amounts
  ["counter", ["k", { delta: 1.5 }], "delta must be an integer"],
  ["counter", ["k", { delta: Number.NaN }], "delta must be an integer"],
  ["counter", ["k", { delta: 2 ** 60 }], "pass a bigint"],
  ["counter", ["k", { delta: "1" }], "delta must be an integer number or a bigint"],
  ["counter", ["k", { delta: 2n ** 64n }], "does not fit in 64 bits"],
  ["counter", ["k", { initial: -1 }], "initial must not be negative"],
  ["counter", ["k", { initial: 1.25 }], "initial must be an integer"],
  ["counterMulti", [{ k: 0.5 }], "delta must be an integer"],
  ["counterMulti", [{ k: "x" }], "each key maps to a delta or to {delta, initial, ttl}"],
  ["counterMulti", [{ k: { initial: -2n } }], "initial must not be negative"],
  ["counterMulti", [["k"], { delta: 1.5 }], "delta must be an integer"],
  // durability (protocol limits: 3 replicas)
  ["upsert", ["k", 1, { persistTo: 5 }], "persistTo 5 is more than the 4 node(s)"],
  ["upsert", ["k", 1, { replicateTo: 4 }], "replicateTo 4 is more than the bucket's 3 replica(s)"],
  ["insert", ["k", 1, { persistTo: -2 }], "persistTo must be an integer ≥ 0"],
  ["remove", ["k", { replicateTo: 1.5 }], "replicateTo must be an integer"],
  ["append", ["k", "x", { persistTo: "1" }], "persistTo must be an integer"],
  ["upsertMulti", [{ k: 1 }, { replicateTo: 9 }], "replicateTo 9"],
  ["endure", ["k", { persistTo: 1 }], "persistTo and replicateTo are required"],
  ["endure", ["k", { persistTo: 0, replicateTo: 0 }], "nothing to wait for"],
  ["endure", ["k", { persistTo: 1, replicateTo: 0, timeout: -1 }], "timeout must be a finite, non-negative"],
  ["endure", ["k", { persistTo: 1, replicateTo: 0, cas: 0n }], "a CAS of 0"],
  ["endureMulti", [{ k: 3 }, { persistTo: 1, replicateTo: 0 }], "cas must be a bigint"],
  // formats
  ["append", ["k", "x", { format: Transcoder.FMT_JSON }], "cannot be appended to: use FMT_UTF8 or FMT_BYTES"],
  ["prependMulti", [{ k: "x" }, { format: Transcoder.FMT_JSON }], "cannot be appended to"],
  ["upsert", ["k", 1, { format: -1 }], "format must be one of the FMT_* constants"],
  // stats
  ["stats", [[""]], "a stats group must be a non-empty string"],
  ["stats", [["memory", "memory"]], "given twice"],
  ["stats", [5], "groups must be a string or an array"],
  // observe
  ["observe", ["k", { masterOnly: 1 }], "masterOnly must be true or false"]
]

const allCases: ReadonlyArray<Case> = [...keyCases, ...listCases, ...recordCases, ...ttlCases, ...otherCases]

describe("argument validation (before anything is sent)", () => {
  it("every rule is an ArgumentError naming the operation", () => {
    for (const [name, args, phrase] of allCases) {
      const error = Ops.argumentErrorOf(name, args, NOW)
      expect([name, args, error?._tag]).toEqual([name, args, "ArgumentError"])
      expect([name, error!.message]).toEqual([name, expect.stringContaining(phrase)])
      expect(error!.message.startsWith(name)).toBe(true)
      expect(error!.isInput).toBe(true)
    }
  })

  it("names the key when one is to blame", () => {
    expect(Ops.argumentErrorOf("get", [LONG_KEY], NOW)?.key).toBe(LONG_KEY)
    expect(Ops.argumentErrorOf("getMulti", [["a", "a"]], NOW)?.key).toBe("a")
    expect(Ops.argumentErrorOf("touchMulti", [{ t: -1 }], NOW)?.key).toBe("t")
    expect(Ops.argumentErrorOf("unlockMulti", [{ u: 0n }], NOW)?.key).toBe("u")
  })

  it("accepts the limits themselves", () => {
    const fine: ReadonlyArray<readonly [OperationName, ReadonlyArray<unknown>]> = [
      ["get", [KEY_250]],
      ["get", ["k", { ttl: 0, replica: true }]],
      ["getReplica", ["k", { replicaIndex: 2 }]],
      ["upsert", ["k", 1, { persistTo: 4, replicateTo: 3, cas: 2n ** 64n - 1n }]],
      ["upsert", ["k", 1, { persistTo: -1, replicateTo: -1 }]],
      ["counter", ["k", { delta: -(2n ** 64n - 1n), initial: 2n ** 64n - 1n }]],
      ["counter", ["k", { delta: Number.MAX_SAFE_INTEGER }]],
      ["lock", ["k", { ttl: 30 }]],
      ["touch", ["k", { ttl: 0 }]],
      ["touchMulti", [new Map([["a", 1]])]],
      ["append", ["k", Buffer.from("x"), { format: Transcoder.FMT_BYTES }]],
      ["prepend", ["k", "x", { format: Transcoder.FMT_AUTO }]],
      ["unlock", ["k", { key: "k", cas: 9n, rc: 0, success: true }]],
      // Python's remove_multi takes the MultiResult of a get_multi as it is, as unlock_multi and endure_multi do.
      ["removeMulti", [new MultiResult([["a", { key: "a", cas: 9n, rc: 0, success: true, value: 1, flags: 0 }]])]],
      ["endureMulti", [new Map([["a", 3n]]), { persistTo: 1, replicateTo: 1 }]],
      ["stats", []],
      ["stats", ["memory"]],
      ["stats", [[]]]
    ]
    for (const [name, args] of fine)
      expect([name, args, Ops.argumentErrorOf(name, args, NOW)]).toEqual([name, args, undefined])
  })

  it.effect("nothing reaches the server: the in-memory test connection receives no frame", () =>
    Effect.gen(function* () {
      const engine = new MemoryEngine()
      const service = makeMemoryConnection(engine) as unknown as Record<
        OperationName,
        (...args: Array<unknown>) => Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>
      >
      for (const [name, args] of allCases) {
        // observe, endure and stats are not implemented by the test connection, but
        // their arguments are checked by the same validators (above).
        if (name.startsWith("observe") || name.startsWith("endure") || name === "stats") continue
        const error = yield* Effect.flip(service[name]!(...args))
        // The test connection knows its bucket (1 replica), so limits may be phrased
        // with the bucket's numbers rather than the protocol's.
        expect([name, args, error._tag]).toEqual([name, args, "ArgumentError"])
      }
      expect(engine.received).toEqual([])
    })
  )
})

describe("the Python SDK's semantics", () => {
  // Python (append_t.test_append_enoent… / badargs): appending an object raises ValueFormatError,
  // as our own upsert(obj, FMT_UTF8) does; nothing is sent.
  it.effect("append_t: a fragment that is neither a string nor bytes is a ValueFormatError, not sent", () =>
    Effect.gen(function* () {
      const engine = new MemoryEngine()
      const cb = makeMemoryConnection(engine)
      yield* cb.upsert("k", "base", { format: Transcoder.FMT_UTF8 })
      const sent = engine.received.length
      for (const error of [
        yield* Effect.flip(cb.prepend("k", { a: 1 } as any)),
        yield* Effect.flip(cb.append("k", 5 as any)),
        yield* Effect.flip(cb.appendMulti({ k: 5 } as any))
      ]) {
        expect(error).toBeInstanceOf(ValueFormatError)
        expect(error.message).toContain("the fragment must be a string or bytes")
        expect((error as ValueFormatError).key).toBe("k")
      }
      expect(engine.received).toHaveLength(sent)
      // Only the argument errors are refused up front by the callback adapter's check.
      expect(Ops.argumentErrorOf("append", ["k", { a: 1 }], NOW)).toBeUndefined()
    })
  )

  // Python (delete_t.test_delete_multi with a MultiResult): remove_multi(get_multi(...)) uses each CAS.
  it.effect("delete_t: removeMulti takes the MultiResult of a getMulti, with each key's CAS", () =>
    Effect.gen(function* () {
      const cb = makeMemoryConnection(new MemoryEngine())
      yield* cb.upsertMulti({ a: 1, b: 2 })
      const got = yield* cb.getMulti(["a", "b"])
      const removed = yield* cb.removeMulti(got)
      expect(removed.allOk).toBe(true)
      expect([...removed.keys()]).toEqual(["a", "b"])
      // A CAS that no longer matches fails that key.
      yield* cb.upsertMulti({ a: 1, b: 2 })
      const stale = yield* cb.getMulti(["a", "b"])
      yield* cb.upsert("b", 3)
      const error = yield* Effect.flip(cb.removeMulti(stale))
      expect(error._tag).toBe("KeyExistsError")
      expect(error.key).toBe("b")
    })
  )

  // Python (excextra_t): a single-key error has key, result and all_results (that one key).
  it.live("excextra_t: a single-key error carries its key, its failed result and allResults of that key", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const cb = yield* Connection.make({
        connectionString: cluster.connectionString,
        username: cluster.username,
        password: cluster.password
      }).pipe(Effect.provide(Iops.layerNode()))
      const missing = yield* Effect.flip(cb.get("nope"))
      expect(missing).toBeInstanceOf(NotFoundError)
      expect(missing.key).toBe("nope")
      // The key is named once in the message.
      expect(missing.message.split('(key: "nope")')).toHaveLength(2)
      expect(missing.result).toEqual({ key: "nope", cas: 0n, rc: 0x0d, success: false })
      expect([...missing.allResults!.entries()]).toEqual([["nope", missing.result]])
      const [ok, failed] = missing.splitResults()
      expect([ok.size, [...failed.keys()]]).toEqual([0, ["nope"]])
      expect(Errors.errstr(missing.result!)).toBe(NotFoundError.defaultMessage)

      yield* cb.upsert("there", 1)
      const exists = yield* Effect.flip(cb.insert("there", 2))
      expect(exists._tag).toBe("KeyExistsError")
      expect(exists.result).toMatchObject({ key: "there", rc: 0x0c, success: false })
      expect(exists.allResults!.size).toBe(1)
      // A success's errstr, as Python's.
      expect(Errors.errstr(yield* cb.get("there"))).toBe("Success")
      expect(Errors.errstr({ rc: 0x7777 })).toBe("unknown error 0x7777")
      // The fiber-free callback path gives the same context.
      const promises = AsyncResult.toPromiseConnection(AsyncResult.make(cb))
      const viaPromise = yield* Effect.flip(
        Effect.tryPromise({ try: () => promises.get("nope"), catch: (e) => e as NotFoundError })
      )
      expect(viaPromise.result).toEqual(missing.result)
      expect(viaPromise.allResults!.size).toBe(1)
    }).pipe(Effect.scoped)
  )

  // Python (set_t: upsert_multi has no cas argument).
  it.effect("set_t: upsertMulti and the other multi stores refuse a cas", () =>
    Effect.gen(function* () {
      const engine = new MemoryEngine()
      const cb = makeMemoryConnection(engine)
      const error = yield* Effect.flip(cb.upsertMulti({ a: 1, b: 2 }, { cas: 5n } as any))
      expect(error._tag).toBe("ArgumentError")
      expect(error.message).toBe(
        "upsertMulti: a multi store takes no cas, since one CAS cannot match several documents; store each key with its own cas"
      )
      expect(engine.received).toEqual([])
    })
  )
})

describe("checks that need the connection", () => {
  const ctx = (
    replicas: number | undefined,
    transcoder: Transcoder.Transcoder<any> = Transcoder.defaultTranscoder
  ) => ({
    transcoder,
    defaultFormat: Transcoder.FMT_JSON,
    quiet: false,
    now: () => NOW,
    maxValueSize: 20 * 1024 * 1024,
    replicas
  })

  it("bound persistTo and replicateTo by the bucket's replica count, resolving -1", () => {
    const tooMany = Ops.prepareStore("upsert", "k", 1, { persistTo: 3 }, ctx(1))
    expect(Either.isLeft(tooMany) && tooMany.left.message).toContain("persistTo 3 is more than the 2 node(s)")
    const tooManyReplicas = Ops.prepareRemove("k", { replicateTo: 2 }, ctx(1))
    expect(Either.isLeft(tooManyReplicas) && tooManyReplicas.left.message).toContain("replicateTo 2")
    const noReplicas = Ops.prepareStoreMulti("upsert", { a: 1 }, { replicateTo: 1 }, ctx(0))
    expect(Either.isLeft(noReplicas) && noReplicas.left._tag).toBe("ArgumentError")
    const max = Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, { persistTo: -1, replicateTo: -1 }, ctx(2)))
    expect(max.durability).toEqual({ persistTo: 3, replicateTo: 2, checkRemoved: false })
    const removal = Either.getOrThrow(Ops.prepareRemove("k", { persistTo: 1 }, ctx(2)))
    expect(removal.durability).toEqual({ persistTo: 1, replicateTo: 0, checkRemoved: true })
    expect(Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, {}, ctx(2))).durability).toBeUndefined()
    const endure = Either.getOrThrow(Ops.prepareEndure("k", { persistTo: -1, replicateTo: 1 }, ctx(1)))
    expect(endure.requirement).toEqual({ persistTo: 2, replicateTo: 1, checkRemoved: false })
  })

  it("bound replicaIndex by the bucket's replica count", () => {
    const r = Ops.prepareGetReplica("k", { replicaIndex: 1 }, ctx(1))
    expect(Either.isLeft(r) && r.left.message).toContain("from 0 to 0")
    expect(Either.getOrThrow(Ops.prepareGetReplica("k", { replicaIndex: 0 }, ctx(1))).route).toEqual({
      _tag: "Replica",
      index: 0
    })
  })

  it("check the key length after a custom transcoder encoded it", () => {
    const doubling = Transcoder.make({
      encodeKey: (key) => Buffer.from(key + key),
      encodeValue: (v) => [Buffer.from(String(v)), Transcoder.FMT_UTF8],
      decodeValue: (b) => Buffer.from(b).toString()
    })
    const r = Ops.prepareGet("k".repeat(200), undefined, ctx(1, doubling))
    expect(Either.isLeft(r) && r.left._tag).toBe("ArgumentError")
    expect(Either.isLeft(r) && r.left.message).toContain("encoded key is 400 bytes")
    const failing = Transcoder.make({
      encodeKey: () => {
        throw new Error("no keys today")
      },
      encodeValue: () => [new Uint8Array(), 0],
      decodeValue: () => null
    })
    const f = Ops.prepareRemove("k", undefined, ctx(1, failing))
    expect(Either.isLeft(f) && f.left).toBeInstanceOf(ValueFormatError)
  })

  it("report a value the transcoder cannot encode as a ValueFormatError, before sending", () => {
    const r = Ops.prepareStore("upsert", "k", { n: 1n }, undefined, ctx(1))
    expect(Either.isLeft(r) && r.left).toBeInstanceOf(ValueFormatError)
    expect(Either.isLeft(r) && r.left.key).toBe("k")
    const utf8 = Ops.prepareStore("upsert", "k", 5, { format: Transcoder.FMT_UTF8 }, ctx(1))
    expect(Either.isLeft(utf8) && utf8.left._tag).toBe("ValueFormatError")
    const unknownFormat = Ops.prepareStore("upsert", "k", 5, { format: 0x777 }, ctx(1))
    expect(Either.isLeft(unknownFormat) && unknownFormat.left._tag).toBe("ValueFormatError")
  })

  it("an ArgumentError is the only failure of validation", () => {
    for (const [name, args] of allCases) expect(Ops.argumentErrorOf(name, args, NOW)).toBeInstanceOf(ArgumentError)
  })
})
