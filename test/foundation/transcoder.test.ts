import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, ParseResult, Schema } from "effect"
import { ValueFormatError } from "../../src/Errors.js"
import * as Transcoder from "../../src/Transcoder.js"

const { defaultTranscoder: tc } = Transcoder

const text = (b: Uint8Array): string => Buffer.from(b).toString("utf8")

/** The ValueFormatError of an Either, failing the test otherwise. */
const leftOf = <A>(either: Either.Either<A, ValueFormatError>): ValueFormatError => {
  if (Either.isRight(either)) throw new Error(`expected a failure, got ${String(either.right)}`)
  expect(either.left).toBeInstanceOf(ValueFormatError)
  expect(either.left._tag).toBe("ValueFormatError")
  return either.left
}

/** JSON values that survive a round trip exactly (no -0, no undefined, finite numbers). */
const jsonValue: fc.Arbitrary<unknown> = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)))

describe("formats", () => {
  it("have the common-flags values, with legacy codes in their low bits", () => {
    expect(Transcoder.FMT_JSON).toBe(0x02000000)
    expect(Transcoder.FMT_BYTES).toBe(0x03000002)
    expect(Transcoder.FMT_UTF8).toBe(0x04000004)
    expect(Transcoder.FMT_BYTES & Transcoder.FMT_LEGACY_MASK).toBe(Transcoder.FMT_LEGACY_BYTES)
    expect(Transcoder.FMT_UTF8 & Transcoder.FMT_LEGACY_MASK).toBe(Transcoder.FMT_LEGACY_UTF8)
    expect(Transcoder.FMT_JSON & Transcoder.FMT_LEGACY_MASK).toBe(Transcoder.FMT_LEGACY_JSON)
    // The AUTO sentinel is none of the formats a stored item can carry.
    expect(Transcoder.kindOfFlags(Transcoder.FMT_AUTO)).toBeUndefined()
  })

  it("read common flags and legacy low bits", () => {
    const cases: ReadonlyArray<readonly [number, Transcoder.ValueKind | undefined]> = [
      [0x02000000, "json"],
      [0x03000002, "bytes"],
      [0x04000004, "utf8"],
      [0x03000000, "bytes"],
      [0x04000000, "utf8"],
      // The common byte wins over contradicting low bits.
      [0x02000004, "json"],
      [0, "json"],
      [2, "bytes"],
      [4, "utf8"],
      [1, undefined],
      [3, undefined],
      [0x01000001, undefined],
      [0x05000000, undefined],
      [0xff000000, undefined]
    ]
    for (const [flags, kind] of cases) expect([flags, Transcoder.kindOfFlags(flags)]).toEqual([flags, kind])
    expect(Transcoder.isJsonFlags(0)).toBe(true)
    expect(Transcoder.isJsonFlags(Transcoder.FMT_JSON)).toBe(true)
    expect(Transcoder.isJsonFlags(Transcoder.FMT_UTF8)).toBe(false)
    expect(Transcoder.isJsonFlags(Transcoder.FMT_BYTES)).toBe(false)
  })
})

describe("default transcoder round trips", () => {
  it.prop("JSON values", [jsonValue], ([value]) => {
    const [bytes, flags] = tc.encodeValue(value, Transcoder.FMT_JSON)
    expect(flags).toBe(Transcoder.FMT_JSON)
    expect(text(bytes)).toBe(JSON.stringify(value))
    expect(tc.decodeValue(bytes, flags)).toEqual(value)
  })

  it.prop("strings as UTF-8", [fc.string({ unit: "grapheme", maxLength: 200 })], ([value]) => {
    const [bytes, flags] = tc.encodeValue(value, Transcoder.FMT_UTF8)
    expect(flags).toBe(Transcoder.FMT_UTF8)
    expect(Buffer.from(bytes).equals(Buffer.from(value, "utf8"))).toBe(true)
    expect(tc.decodeValue(bytes, flags)).toBe(value)
  })

  it.prop("bytes unchanged", [fc.uint8Array({ maxLength: 500 })], ([value]) => {
    const [bytes, flags] = tc.encodeValue(value, Transcoder.FMT_BYTES)
    expect(flags).toBe(Transcoder.FMT_BYTES)
    expect(bytes).toBe(value)
    const decoded = tc.decodeValue(bytes, flags)
    expect(Buffer.isBuffer(decoded)).toBe(true)
    expect(Buffer.from(value).equals(decoded as Buffer)).toBe(true)
  })

  it.prop("keys as UTF-8", [fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 })], ([key]) => {
    const bytes = tc.encodeKey(key)
    expect(Buffer.from(bytes).equals(Buffer.from(key, "utf8"))).toBe(true)
    expect(tc.decodeKey(bytes)).toBe(key)
  })

  it("writes JSON compactly and keeps a leading BOM in text", () => {
    expect(text(tc.encodeValue({ a: [1, 2], b: { c: null } }, Transcoder.FMT_JSON)[0])).toBe(
      '{"a":[1,2],"b":{"c":null}}'
    )
    const [bytes, flags] = tc.encodeValue("\uFEFFbom", Transcoder.FMT_UTF8)
    expect(tc.decodeValue(bytes, flags)).toBe("\uFEFFbom")
  })

  it("decodes bytes as a view of the received buffer, not a copy", () => {
    const received = Buffer.from("xxpayloadxx")
    const slice = received.subarray(2, 9)
    const decoded = tc.decodeValue(slice, Transcoder.FMT_BYTES) as Buffer
    expect(decoded.buffer).toBe(received.buffer)
    expect(decoded.toString()).toBe("payload")
  })

  it("writes legacy flags when asked for a legacy format", () => {
    expect(tc.encodeValue({ a: 1 }, Transcoder.FMT_LEGACY_JSON)[1]).toBe(0)
    expect(tc.encodeValue("s", Transcoder.FMT_LEGACY_UTF8)[1]).toBe(4)
    expect(tc.encodeValue(Buffer.from("b"), Transcoder.FMT_LEGACY_BYTES)[1]).toBe(2)
  })
})

describe("FMT_AUTO", () => {
  const cases: ReadonlyArray<readonly [string, unknown, number]> = [
    ["a string", "text", Transcoder.FMT_UTF8],
    ["an empty string", "", Transcoder.FMT_UTF8],
    ["a Buffer", Buffer.from([1, 2, 3]), Transcoder.FMT_BYTES],
    ["a Uint8Array", new Uint8Array([4, 5]), Transcoder.FMT_BYTES],
    ["an object", { a: 1 }, Transcoder.FMT_JSON],
    ["an array", [1, "two"], Transcoder.FMT_JSON],
    ["a boolean", true, Transcoder.FMT_JSON],
    ["null", null, Transcoder.FMT_JSON],
    ["a number", 42.5, Transcoder.FMT_JSON]
  ]
  for (const [name, value, format] of cases) {
    it(`stores ${name} as ${format.toString(16)} and reads it back`, () => {
      expect(Transcoder.autoFormat(value)).toBe(format)
      expect(Transcoder.resolveFormat(value, Transcoder.FMT_AUTO)).toBe(format)
      const [bytes, flags] = tc.encodeValue(value, Transcoder.FMT_AUTO)
      expect(flags).toBe(format)
      expect(flags).not.toBe(Transcoder.FMT_AUTO)
      const back = tc.decodeValue(bytes, flags)
      if (value instanceof Uint8Array) expect(Buffer.from(value).equals(back as Buffer)).toBe(true)
      else expect(back).toEqual(value)
    })
  }

  it("leaves concrete formats alone", () => {
    expect(Transcoder.resolveFormat("s", Transcoder.FMT_JSON)).toBe(Transcoder.FMT_JSON)
    expect(text(tc.encodeValue("s", Transcoder.FMT_JSON)[0])).toBe('"s"')
  })
})

describe("decoding legacy and foreign flags", () => {
  it("reads values written by legacy clients", () => {
    expect(tc.decodeValue(Buffer.from('{"v":1}'), 0)).toEqual({ v: 1 })
    expect(tc.decodeValue(Buffer.from("42"), 0)).toBe(42)
    expect(tc.decodeValue(Buffer.from("plain"), 4)).toBe("plain")
    expect((tc.decodeValue(Buffer.from("raw"), 2) as Buffer).toString()).toBe("raw")
  })

  it("returns the raw bytes under noFormat, whatever the flags", () => {
    const raw = Buffer.from("not json at all")
    for (const flags of [0, Transcoder.FMT_JSON, 0x01000001, 0x77]) {
      const out = Either.getOrThrow(Transcoder.decodeValueEither(tc, raw, flags, { noFormat: true }))
      expect(out).toBe(raw)
    }
    const fromArray = Either.getOrThrow(Transcoder.decodeValueEither(tc, new Uint8Array([1, 2]), 0, { noFormat: true }))
    expect(Buffer.isBuffer(fromArray)).toBe(true)
    expect([...fromArray]).toEqual([1, 2])
  })
})

describe("errors", () => {
  it("BYTES with a string", () => {
    const e = leftOf(Transcoder.encodeValueEither(tc, "text", Transcoder.FMT_BYTES, { key: "k1" }))
    expect(e.message).toContain("FMT_BYTES")
    expect(e.message).toContain("string")
    expect(e.key).toBe("k1")
    expect(e.message).toContain('"k1"')
  })

  it("UTF8 with an object", () => {
    const e = leftOf(Transcoder.encodeValueEither(tc, { a: 1 }, Transcoder.FMT_UTF8))
    expect(e.message).toContain("FMT_UTF8")
    expect(e.message).toContain("Object")
  })

  it("values JSON cannot represent", () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const value of [undefined, () => 1, Symbol("s"), 10n, { n: 1n }, cyclic]) {
      for (const format of [Transcoder.FMT_JSON, Transcoder.FMT_AUTO]) {
        const e = leftOf(Transcoder.encodeValueEither(tc, value, format))
        expect(e.message).toMatch(/JSON/)
      }
    }
    const bigint = leftOf(Transcoder.encodeValueEither(tc, { n: 1n }, Transcoder.FMT_JSON))
    expect(bigint.cause).toBeInstanceOf(TypeError)
  })

  it("bytes under JSON are refused, not stored as their dump; FMT_AUTO stores them as bytes", () => {
    for (const bytes of [Buffer.from("abc"), Uint8Array.of(1, 2, 3)]) {
      for (const format of [Transcoder.FMT_JSON, Transcoder.FMT_LEGACY_JSON]) {
        const e = leftOf(Transcoder.encodeValueEither(tc, bytes, format, { key: "blob" }))
        expect(e.message).toContain("FMT_BYTES")
        expect(e.message).toContain('{"type":"Buffer"')
        expect(e.key).toBe("blob")
      }
      const auto = Transcoder.encodeValueEither(tc, bytes, Transcoder.FMT_AUTO)
      expect(Either.isRight(auto) && [Buffer.from(auto.right[0]).toString("hex"), auto.right[1]]).toEqual([
        Buffer.from(bytes).toString("hex"),
        Transcoder.FMT_BYTES
      ])
    }
  })

  it("strings that are not valid Unicode", () => {
    const e = leftOf(Transcoder.encodeValueEither(tc, "half \uD800 pair", Transcoder.FMT_UTF8))
    expect(e.message).toMatch(/surrogate/)
    leftOf(Transcoder.encodeKeyEither(tc, "key\uDC00"))
  })

  it("an unknown format code", () => {
    const e = leftOf(Transcoder.encodeValueEither(tc, "x", 0x05000000))
    expect(e.message).toContain("0x05000000")
  })

  it("invalid JSON on decode", () => {
    for (const bytes of ["{not json", "", "[1,", "undefined"]) {
      const e = leftOf(Transcoder.decodeValueEither(tc, Buffer.from(bytes), Transcoder.FMT_JSON, { key: "doc" }))
      expect(e.message).toMatch(/not valid JSON/)
      expect(e.message).toContain("noFormat")
      expect(e.key).toBe("doc")
      expect(e.cause).toBeInstanceOf(SyntaxError)
    }
  })

  it("invalid UTF-8 on decode", () => {
    const invalid = Buffer.from([0x61, 0xff, 0xfe])
    expect(leftOf(Transcoder.decodeValueEither(tc, invalid, Transcoder.FMT_UTF8)).message).toMatch(/UTF-8/)
    expect(leftOf(Transcoder.decodeValueEither(tc, invalid, Transcoder.FMT_JSON)).message).toMatch(/UTF-8/)
    expect(leftOf(Transcoder.decodeKeyEither(tc, invalid)).message).toMatch(/UTF-8/)
  })

  it("unknown flags on decode", () => {
    const pickle = leftOf(Transcoder.decodeValueEither(tc, Buffer.from([0x80, 0x03]), 0x01000001, { key: "p" }))
    expect(pickle.message).toContain("0x01000001")
    expect(pickle.message).toMatch(/private/)
    expect(pickle.message).toContain("noFormat")
    const other = leftOf(Transcoder.decodeValueEither(tc, Buffer.from("x"), 0x07000000))
    expect(other.message).toContain("0x07000000")
    leftOf(Transcoder.decodeValueEither(tc, Buffer.from("x"), 1))
  })
})

describe("custom transcoders", () => {
  const boom = new RangeError("custom codec exploded")
  const throwing = Transcoder.make<unknown>({
    encodeValue: () => {
      throw boom
    },
    decodeValue: () => {
      throw "a string, not an Error"
    },
    encodeKey: () => {
      throw boom
    },
    decodeKey: () => {
      throw boom
    }
  })

  it("a throw becomes a ValueFormatError that keeps the cause", () => {
    const enc = leftOf(Transcoder.encodeValueEither(throwing, { a: 1 }, Transcoder.FMT_JSON, { key: "k" }))
    expect(enc.cause).toBe(boom)
    expect(enc.message).toContain("custom codec exploded")
    expect(enc.key).toBe("k")
    const dec = leftOf(Transcoder.decodeValueEither(throwing, Buffer.from("{}"), 0))
    expect(dec.cause).toBe("a string, not an Error")
    expect(dec.message).toContain("0x00000000")
    expect(leftOf(Transcoder.encodeKeyEither(throwing, "k")).cause).toBe(boom)
    expect(leftOf(Transcoder.decodeKeyEither(throwing, Buffer.from("k"))).cause).toBe(boom)
  })

  it("a ValueFormatError thrown by a transcoder passes through, gaining the key", () => {
    const own = new ValueFormatError({ message: "my format rejects this" })
    const strict = Transcoder.make<unknown>({
      encodeValue: () => {
        throw own
      },
      decodeValue: (b) => b
    })
    expect(leftOf(Transcoder.encodeValueEither(strict, 1, 0))).toBe(own)
    const keyed = leftOf(Transcoder.encodeValueEither(strict, 1, 0, { key: "doc" }))
    expect(keyed.key).toBe("doc")
    expect(keyed.message).toContain("my format rejects this")
  })

  it("malformed output is a ValueFormatError", () => {
    const bad = [
      [undefined, 0],
      ["not bytes", 0],
      [new Uint8Array(1), -1],
      [new Uint8Array(1), 2 ** 32],
      [new Uint8Array(1), 1.5],
      [new Uint8Array(1), "0"]
    ]
    for (const out of bad) {
      const t = Transcoder.make<unknown>({ encodeValue: () => out as never, decodeValue: (b) => b })
      expect(leftOf(Transcoder.encodeValueEither(t, 1, 0)).message).toContain("[Uint8Array, 32-bit flags]")
    }
    const notArray = Transcoder.make<unknown>({ encodeValue: () => "x" as never, decodeValue: (b) => b })
    leftOf(Transcoder.encodeValueEither(notArray, 1, 0))
    const badKeys = Transcoder.make({
      encodeValue: (v: Uint8Array) => [v, 0] as const,
      decodeValue: (b) => b,
      encodeKey: () => "k" as never,
      decodeKey: () => 7 as never
    })
    leftOf(Transcoder.encodeKeyEither(badKeys, "k"))
    leftOf(Transcoder.decodeKeyEither(badKeys, Buffer.from("k")))
  })

  it("a working custom transcoder's output is used as is", () => {
    const reversed = Transcoder.make<string>({
      encodeValue: (s) => [Buffer.from([...s].reverse().join("")), 0x04000004] as const,
      decodeValue: (b) => [...Buffer.from(b).toString()].reverse().join("")
    })
    const [bytes, flags] = Either.getOrThrow(Transcoder.encodeValueEither(reversed, "abc", Transcoder.FMT_UTF8))
    expect([text(bytes), flags]).toEqual(["cba", 0x04000004])
    expect(Either.getOrThrow(Transcoder.decodeValueEither(reversed, bytes, flags))).toBe("abc")
    // Keys fall back to the default.
    expect(text(reversed.encodeKey("k€"))).toBe("k€")
  })

  it.effect("the Effect helpers fail with ValueFormatError in the error channel", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Transcoder.encodeValue(throwing, 1, Transcoder.FMT_JSON, { key: "e" }))
      expect(error._tag).toBe("ValueFormatError")
      expect(error.cause).toBe(boom)
      const caught = yield* Transcoder.decodeValue(tc, Buffer.from("{"), Transcoder.FMT_JSON).pipe(
        Effect.catchTag("ValueFormatError", (e) => Effect.succeed(`caught: ${e.message}`))
      )
      expect(caught).toMatch(/^caught: the value is flagged as JSON/)
      const value = yield* Transcoder.decodeValue(tc, Buffer.from('{"ok":true}'), Transcoder.FMT_JSON)
      expect(value).toEqual({ ok: true })
      const [bytes] = yield* Transcoder.encodeValue(tc, "hi", Transcoder.FMT_AUTO)
      expect(text(bytes)).toBe("hi")
      expect(yield* Transcoder.encodeKey(tc, "key")).toEqual(Buffer.from("key"))
      expect(yield* Transcoder.decodeKey(tc, Buffer.from("key"))).toBe("key")
      const raw = yield* Transcoder.decodeValue(tc, Buffer.from("{"), Transcoder.FMT_JSON, { noFormat: true })
      expect(raw.toString()).toBe("{")
    })
  )
})

describe("schemaTranscoder", () => {
  class User extends Schema.Class<User>("User")({
    name: Schema.String,
    age: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
    joined: Schema.Date
  }) {}
  const users = Transcoder.schemaTranscoder(User)

  it("stores the encoded form and reads back a validated instance", () => {
    const user = new User({ name: "ada", age: 36, joined: new Date("2020-01-02T03:04:05.000Z") })
    const [bytes, flags] = Either.getOrThrow(Transcoder.encodeValueEither(users, user, Transcoder.FMT_JSON))
    expect(flags).toBe(Transcoder.FMT_JSON)
    expect(JSON.parse(text(bytes))).toEqual({ name: "ada", age: 36, joined: "2020-01-02T03:04:05.000Z" })
    const back = Either.getOrThrow(Transcoder.decodeValueEither(users, bytes, flags))
    expect(back).toBeInstanceOf(User)
    expect(back.joined.getTime()).toBe(user.joined.getTime())
    expect(back.name).toBe("ada")
  })

  it("fails a stored document that does not match, explaining why", () => {
    const stored = Buffer.from(JSON.stringify({ name: "bob", age: -1, joined: "2020-01-01" }))
    const e = leftOf(Transcoder.decodeValueEither(users, stored, Transcoder.FMT_JSON, { key: "user::2" }))
    expect(e.message).toMatch(/does not match the document schema/)
    expect(e.message).toMatch(/age/)
    expect(e.key).toBe("user::2")
    expect(ParseResult.isParseError(e.cause)).toBe(true)
  })

  it("fails a value that does not match before anything is stored", () => {
    const notAUser = { name: 3 } as unknown as User
    const e = leftOf(Transcoder.encodeValueEither(users, notAUser, Transcoder.FMT_JSON))
    expect(e.message).toMatch(/does not match the document schema/)
  })

  it("still reports an invalid JSON body as a format error", () => {
    const e = leftOf(Transcoder.decodeValueEither(users, Buffer.from("{"), Transcoder.FMT_JSON))
    expect(e.message).toMatch(/not valid JSON/)
  })
})
