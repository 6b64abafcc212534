import { inspect } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Redacted } from "effect"
import * as Errors from "../../src/Errors.js"
import { MultiResult, missing, type OperationResult } from "../../src/Result.js"

type Category = Errors.Category
type ErrorClass = (typeof Errors.errorClasses)[number]

/** SPEC.md §4, row by row. `undefined` rc: the table gives none (client-side conditions). */
const TABLE: Record<string, { readonly rc: number | undefined; readonly categories: ReadonlyArray<Category> }> = {
  AuthError: { rc: 0x02, categories: ["fatal", "input"] },
  DeltaBadvalError: { rc: 0x03, categories: ["input", "data"] },
  TooBigError: { rc: 0x04, categories: ["input", "data"] },
  BusyError: { rc: 0x05, categories: ["transient"] },
  InvalidError: { rc: 0x07, categories: ["input"] },
  NoMemoryError: { rc: 0x08, categories: ["transient"] },
  TemporaryFailError: { rc: 0x0b, categories: ["transient"] },
  KeyExistsError: { rc: 0x0c, categories: ["data"] },
  NotFoundError: { rc: 0x0d, categories: ["data"] },
  NetworkError: { rc: 0x10, categories: ["network"] },
  NotMyVbucketError: { rc: 0x11, categories: ["network", "transient"] },
  NotStoredError: { rc: 0x12, categories: ["data"] },
  NotSupportedError: { rc: 0x13, categories: [] },
  UnknownCommandError: { rc: 0x14, categories: [] },
  UnknownHostError: { rc: 0x15, categories: ["network", "input"] },
  ProtocolError: { rc: 0x16, categories: ["network"] },
  TimeoutError: { rc: 0x17, categories: ["network", "transient"] },
  ConnectError: { rc: 0x18, categories: ["network"] },
  BucketNotFoundError: { rc: 0x19, categories: ["input", "fatal"] },
  ClientTemporaryFailError: { rc: 0x1b, categories: ["transient"] },
  ArgumentError: { rc: undefined, categories: ["input"] },
  ValueFormatError: { rc: undefined, categories: ["input"] },
  HTTPError: { rc: 0x3b, categories: [] },
  ViewEngineError: { rc: undefined, categories: [] },
  AlreadyQueriedError: { rc: undefined, categories: [] }
}

const make = (cls: ErrorClass, fields: Errors.ErrorFields = {}): Errors.CouchbaseError =>
  cls === Errors.HTTPError
    ? new Errors.HTTPError({ httpStatus: 500, body: "boom", ...fields })
    : new (cls as new (f: Errors.ErrorFields) => Errors.CouchbaseError)(fields)

const tableRcs = new Set(Object.values(TABLE).flatMap((r) => (r.rc === undefined ? [] : [r.rc])))

describe("error classes", () => {
  it("cover exactly the SPEC table", () => {
    expect(Errors.errorClasses.map((c) => c.name).sort()).toEqual(Object.keys(TABLE).sort())
  })

  for (const cls of Errors.errorClasses) {
    it(`${cls.name}: tag, rc and categories as in the table`, () => {
      const row = TABLE[cls.name]!
      const e = make(cls)
      expect(e._tag).toBe(cls.name)
      expect(e).toBeInstanceOf(cls)
      expect(e).toBeInstanceOf(Errors.CouchbaseErrorBase)
      expect(e).toBeInstanceOf(Error)
      if (row.rc === undefined) {
        // Client-side conditions have their own codes, which must not pass for a libcouchbase one.
        expect(tableRcs.has(e.rc)).toBe(false)
      } else {
        expect(e.rc).toBe(row.rc)
      }
      expect([...e.categories].sort()).toEqual([...row.categories].sort())
      expect({
        isTransient: e.isTransient,
        isNetwork: e.isNetwork,
        isData: e.isData,
        isInput: e.isInput,
        isFatal: e.isFatal
      }).toEqual({
        isTransient: row.categories.includes("transient"),
        isNetwork: row.categories.includes("network"),
        isData: row.categories.includes("data"),
        isInput: row.categories.includes("input"),
        isFatal: row.categories.includes("fatal")
      })
      expect(e.message.length).toBeGreaterThan(10)
    })
  }

  it("have distinct codes", () => {
    const rcs = Errors.errorClasses.map((c) => make(c).rc)
    expect(new Set(rcs).size).toBe(rcs.length)
  })

  it.effect("read as their tag in logs and stack traces, and stay catchable by tag", () =>
    Effect.gen(function* () {
      for (const cls of Errors.errorClasses) {
        const e = make(cls, { message: "what happened" })
        expect(e.name).toBe(e._tag)
        expect(String(e)).toBe(`${e._tag}: what happened`)
        expect(e.stack!.split("\n")[0]).toBe(`${e._tag}: what happened`)
        expect(Cause.pretty(Cause.fail(e)).split("\n")[0]).toBe(`${e._tag}: what happened`)
        expect(inspect(e).split("\n")[0]).toContain(`${e._tag}: what happened`)
        const caught = yield* Effect.fail(e as Errors.CouchbaseError).pipe(
          Effect.catchTag(e._tag, (error) => Effect.succeed(error._tag))
        )
        expect(caught).toBe(e._tag)
      }
    })
  )

  it("name the key in the message and keep the given fields", () => {
    const cause = new Error("socket closed")
    for (const cls of Errors.errorClasses) {
      const e = make(cls, { key: "user::42", cause, status: 0x86 })
      expect(e.message).toContain('"user::42"')
      expect(e.key).toBe("user::42")
      expect(e.cause).toBe(cause)
      expect(e.status).toBe(0x86)
    }
    expect(new Errors.NotFoundError({ message: "custom text", key: "k" }).message).toBe('custom text (key: "k")')
  })

  it("HTTPError carries the status and body", () => {
    const e = new Errors.HTTPError({ httpStatus: 404, body: '{"error":"not_found"}' })
    expect(e.httpStatus).toBe(404)
    expect(e.body).toBe('{"error":"not_found"}')
    expect(e.message).toContain("404")
    expect(e.message).toContain("not_found")
  })
})

describe("fromStatus", () => {
  const mapping: ReadonlyArray<readonly [number, string]> = [
    [0x01, "NotFoundError"],
    [0x02, "KeyExistsError"],
    [0x03, "TooBigError"],
    [0x04, "InvalidError"],
    [0x05, "NotStoredError"],
    [0x06, "DeltaBadvalError"],
    [0x07, "NotMyVbucketError"],
    [0x09, "TemporaryFailError"],
    [0x20, "AuthError"],
    [0x81, "UnknownCommandError"],
    [0x82, "NoMemoryError"],
    [0x83, "NotSupportedError"],
    [0x85, "BusyError"],
    [0x86, "TemporaryFailError"],
    // Beyond the SPEC table: no bucket selected / access denied.
    [0x08, "BucketNotFoundError"],
    [0x24, "BucketNotFoundError"]
  ]

  for (const [status, tag] of mapping) {
    it(`0x${status.toString(16)} → ${tag}`, () => {
      const e = Errors.fromStatus(status, { key: "doc-1" })
      expect(e._tag).toBe(tag)
      expect(e.status).toBe(status)
      expect(e.key).toBe("doc-1")
      expect(e.message).toContain('"doc-1"')
    })
  }

  it("says the key is locked for status 0x09", () => {
    expect(Errors.fromStatus(0x09).message).toMatch(/locked/)
  })

  it("turns an unknown status into a ProtocolError naming it", () => {
    const e = Errors.fromStatus(0xbeef)
    expect(e._tag).toBe("ProtocolError")
    expect(e.message).toContain("0xbeef")
    expect(e.status).toBe(0xbeef)
  })
})

describe("multi-operation results on errors", () => {
  const ok = (key: string): OperationResult => ({ key, cas: 1n, rc: 0, success: true })

  it("splitResults() splits allResults into succeeded and failed", () => {
    const all = new MultiResult()
    all.set("a", ok("a"))
    all.set("b", missing("b"))
    all.set("c", ok("c"))
    const e = new Errors.NotFoundError({ key: "b", result: all.get("b"), allResults: all })
    const [good, bad] = e.splitResults()
    expect([...good.keys()]).toEqual(["a", "c"])
    expect([...bad.keys()]).toEqual(["b"])
    expect(bad.get("b")).toBe(all.get("b"))
    expect(e.result).toBe(all.get("b"))
    expect(all.allOk).toBe(false)
    expect(good.allOk).toBe(true)
  })

  it("splitResults() without allResults gives two empty results", () => {
    const [good, bad] = new Errors.TimeoutError({ key: "x" }).splitResults()
    expect(good).toBeInstanceOf(MultiResult)
    expect(bad).toBeInstanceOf(MultiResult)
    expect([good.size, bad.size]).toEqual([0, 0])
  })
})

describe("errors in Effect", () => {
  it.effect("catchTag selects by class name", () =>
    Effect.gen(function* () {
      const failing: Effect.Effect<number, Errors.NotFoundError | Errors.KeyExistsError> = Effect.fail(
        new Errors.KeyExistsError({ key: "k" })
      )
      const recovered = yield* failing.pipe(
        Effect.catchTag("NotFoundError", () => Effect.succeed(-1)),
        Effect.catchTag("KeyExistsError", (e) => Effect.succeed(e.rc))
      )
      expect(recovered).toBe(0x0c)
      const status = yield* Effect.flip(Effect.fail(Errors.fromStatus(0x01, { key: "gone" })))
      expect(status._tag).toBe("NotFoundError")
    })
  )

  it.effect("yield* fails with the error itself", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.gen(function* () {
          return yield* new Errors.BusyError()
        })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        expect(failure._tag === "Some" && failure.value._tag).toBe("BusyError")
      }
    })
  )
})

describe("secrets", () => {
  const secret = "s3cr3t-Pa55w0rd"

  const renderings = (e: Errors.CouchbaseError): Array<string> => {
    const exit = Effect.runSyncExit(Effect.fail(e))
    return [
      String(e),
      e.message,
      e.stack ?? "",
      JSON.stringify(e),
      JSON.stringify((e as unknown as { toJSON?: () => unknown }).toJSON?.()),
      inspect(e, { depth: 20, showHidden: true }),
      inspect(e.cause, { depth: 20, showHidden: true }),
      Exit.isFailure(exit) ? Cause.pretty(exit.cause, { renderErrorCause: true }) : "",
      String(Effect.runSyncExit(Effect.fail(e)))
    ]
  }

  for (const cls of Errors.errorClasses) {
    it(`${cls.name} never renders a Redacted password from its cause`, () => {
      const credentials = { username: "app", password: Redacted.make(secret) }
      const e = make(cls, {
        key: "k",
        cause: new Error("SASL step failed", { cause: credentials })
      })
      const plain = make(cls, { cause: credentials })
      for (const text of [...renderings(e), ...renderings(plain)]) {
        expect(text).not.toContain(secret)
      }
      // The secret is still there for whoever unwraps it on purpose.
      expect(Redacted.value(credentials.password)).toBe(secret)
      expect(inspect(plain, { depth: 20 })).toContain("<redacted>")
    })
  }
})
