import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { ArgumentError } from "../../src/Errors.js"
import { encodeViewQuery, MAX_URI_LENGTH } from "../../src/internal/view/params.js"
import type { ViewQueryInput } from "../../src/View.js"

// The expected strings below are what the Python SDK 2.x (couchbase/views/params.py,
// CPython 3) produces for the same input; the cases follow its viewstrings tests.

const enc = (input: ViewQueryInput): string => {
  const r = encodeViewQuery(input)
  if (Either.isLeft(r)) throw new Error(`refused: ${r.left.message}`)
  return r.right.encoded
}

const refused = (input: unknown): ArgumentError => {
  const r = encodeViewQuery(input as ViewQueryInput)
  if (Either.isRight(r)) throw new Error(`accepted: ${r.right.encoded}`)
  expect(r.left).toBeInstanceOf(ArgumentError)
  expect(r.left._tag).toBe("ArgumentError")
  return r.left
}

const q = (name: string, value: unknown, extra: Record<string, unknown> = {}): ViewQueryInput =>
  ({ ...extra, [name]: value }) as unknown as ViewQueryInput

describe("stale", () => {
  it("true → ok, false → false, and the three words as they are", () => {
    expect(enc({ stale: true })).toBe("stale=ok")
    expect(enc({ stale: false })).toBe("stale=false")
    expect(enc({ stale: "update_after" })).toBe("stale=update_after")
    expect(enc({ stale: "ok" })).toBe("stale=ok")
    expect(enc({ stale: "false" })).toBe("stale=false")
    expect(enc({ stale: "true" })).toBe("stale=ok")
    expect(enc({ stale: 1 })).toBe("stale=ok")
    expect(enc({ stale: 0 })).toBe("stale=false")
  })

  it("anything else is an ArgumentError", () => {
    for (const bad of ["blahblah", "OK", null, {}, [], "update-after"]) refused(q("stale", bad))
  })
})

describe("boolean parameters", () => {
  for (const p of ["descending", "reduce", "inclusive_end", "full_set", "group", "debug"]) {
    it(`${p}: booleans, "true"/"false" and numbers; nothing else`, () => {
      expect(enc(q(p, true))).toBe(`${p}=true`)
      expect(enc(q(p, false))).toBe(`${p}=false`)
      expect(enc(q(p, "true"))).toBe(`${p}=true`)
      expect(enc(q(p, "false"))).toBe(`${p}=false`)
      expect(enc(q(p, 1))).toBe(`${p}=true`)
      expect(enc(q(p, 0))).toBe(`${p}=false`)
      expect(enc(q(p, 2.5))).toBe(`${p}=true`)
      expect(enc(q(p, 0n))).toBe(`${p}=false`)
      for (const bad of ["gobble", "True", "1", "", null, {}, [], () => true]) {
        expect(refused(q(p, bad)).message).toContain(p)
      }
    })
  }
})

describe("integer parameters", () => {
  for (const p of ["connection_timeout", "group_level", "skip", "limit"]) {
    it(`${p}: integers and decimal strings as Python's int() reads them; booleans refused`, () => {
      expect(enc(q(p, 42))).toBe(`${p}=42`)
      expect(enc(q(p, "42"))).toBe(`${p}=42`)
      expect(enc(q(p, 0))).toBe(`${p}=0`)
      expect(enc(q(p, "0"))).toBe(`${p}=0`)
      expect(enc(q(p, -1))).toBe(`${p}=-1`)
      expect(enc(q(p, 42.9))).toBe(`${p}=42`)
      expect(enc(q(p, -0.5))).toBe(`${p}=0`)
      expect(enc(q(p, " 42\n"))).toBe(`${p}=42`)
      expect(enc(q(p, "+7"))).toBe(`${p}=7`)
      expect(enc(q(p, "007"))).toBe(`${p}=7`)
      expect(enc(q(p, "4_2"))).toBe(`${p}=42`)
      expect(enc(q(p, "١٢"))).toBe(`${p}=12`)
      expect(enc(q(p, 10n ** 30n))).toBe(`${p}=1${"0".repeat(30)}`)
      expect(enc(q(p, 1e20))).toBe(`${p}=100000000000000000000`)
      for (const bad of [
        true,
        false,
        "blah",
        "4.2",
        "",
        "1__2",
        "_1",
        "0x10",
        Number.NaN,
        Number.POSITIVE_INFINITY,
        null,
        [],
        {}
      ]) {
        refused(q(p, bad))
      }
    })
  }
})

describe("JSON parameters", () => {
  // Python's json.dumps: ", " and ": " separators, ASCII-only output, then quote().
  const cases: ReadonlyArray<readonly [unknown, string]> = [
    ["dummy", "%22dummy%22"],
    [42, "42"],
    [null, "null"],
    [true, "true"],
    [false, "false"],
    [{ chicken: "broth" }, "%7B%22chicken%22%3A%20%22broth%22%7D"],
    [["noodle", "soup"], "%5B%22noodle%22%2C%20%22soup%22%5D"],
    [["lone element"], "%5B%22lone%20element%22%5D"],
    [1.5, "1.5"],
    [1e-7, "1e-07"],
    [0.0001, "0.0001"],
    [1e300, "1e%2B300"],
    [-2.5e16, "-2.5e%2B16"],
    [Number.NaN, "NaN"],
    [Number.NEGATIVE_INFINITY, "-Infinity"],
    [12345678901234567890n, "12345678901234567890"],
    ['é😀\n"\\/~', "%22%5Cu00e9%5Cud83d%5Cude00%5Cn%5C%22%5C%5C/~%22"],
    ["\u007f\u0001", "%22%5Cu007f%5Cu0001%22"],
    [{ a: [1, { b: null }], c: undefined }, "%7B%22a%22%3A%20%5B1%2C%20%7B%22b%22%3A%20null%7D%5D%7D"],
    [
      new Map([
        ["2", 1],
        ["1", 2]
      ]),
      "%7B%222%22%3A%201%2C%20%221%22%3A%202%7D"
    ],
    [[], "%5B%5D"],
    [{}, "%7B%7D"]
  ]
  for (const p of ["startkey", "endkey", "key", "mapkey_single"]) {
    const wire = p === "mapkey_single" ? "key" : p
    it(`${p}: json.dumps then quote`, () => {
      for (const [value, expected] of cases) expect(enc(q(p, value))).toBe(`${wire}=${expected}`)
    })
    it(`${p}: values JSON cannot hold are refused`, () => {
      const cyclic: Array<unknown> = []
      cyclic.push(cyclic)
      for (const bad of [
        () => 1,
        Symbol("s"),
        new Date(0),
        new Set([1]),
        cyclic,
        [undefined],
        [1, () => 2],
        Buffer.from("x")
      ]) {
        refused(q(p, bad))
      }
    })
  }

  it("keys must encode as a JSON array", () => {
    expect(enc({ keys: ["foo", "bar"] })).toBe("keys=%5B%22foo%22%2C%20%22bar%22%5D")
    expect(enc({ keys: ["foo"] })).toBe("keys=%5B%22foo%22%5D")
    expect(enc({ mapkey_multi: [["a", 1]] })).toBe("keys=%5B%5B%22a%22%2C%201%5D%5D")
    for (const bad of [true, false, { foo: "bar" }, 1, "string", null]) refused(q("keys", bad))
  })

  it.prop(
    "a key's query value is the percent-encoding of JSON that parses back to the key",
    [fc.jsonValue({ maxDepth: 3 })],
    ([value]) => {
      const out = enc({ key: value as never })
      expect(out.startsWith("key=")).toBe(true)
      // Only unreserved characters and "/" survive quote(); everything else is %XX.
      expect(/^[A-Za-z0-9_.\-~/%]*$/.test(out.slice(4))).toBe(true)
      expect(JSON.parse(decodeURIComponent(out.slice(4)))).toEqual(JSON.parse(JSON.stringify(value)))
    }
  )
})

describe("string parameters", () => {
  for (const p of ["startkey_docid", "endkey_docid"]) {
    it(`${p}: strings and numbers, quoted`, () => {
      expect(enc(q(p, "string"))).toBe(`${p}=string`)
      expect(enc(q(p, -1))).toBe(`${p}=-1`)
      expect(enc(q(p, 1.5))).toBe(`${p}=1.5`)
      expect(enc(q(p, "OHAI!"))).toBe(`${p}=OHAI%21`)
      expect(enc(q(p, "&&escape_me_nao&&"))).toBe(`${p}=%26%26escape_me_nao%26%26`)
      expect(enc(q(p, "a/b c~*'()"))).toBe(`${p}=a/b%20c~%2A%27%28%29`)
      expect(enc(q(p, "brasserie_d'achouffe-é"))).toBe(`${p}=brasserie_d%27achouffe-%C3%A9`)
    })
    it(`${p}: booleans, null, objects and lone surrogates are refused`, () => {
      for (const bad of [true, false, null, {}, [], "\ud800x"]) refused(q(p, bad))
    })
  }
})

describe("on_error", () => {
  it("only continue or stop", () => {
    expect(enc({ on_error: "continue" })).toBe("on_error=continue")
    expect(enc({ on_error: "stop" })).toBe("on_error=stop")
    for (const bad of ["Stop", "abort", true, 1, null]) refused(q("on_error", bad))
  })
})

describe("ranges", () => {
  it("mapkey_range sets startkey and endkey", () => {
    expect(enc({ mapkey_range: ["foo"] })).toBe("startkey=%22foo%22")
    expect(enc({ mapkey_range: ["foo", "bar"] })).toBe("startkey=%22foo%22&endkey=%22bar%22")
    expect(enc({ mapkey_range: [undefined, ["z", {}]] })).toBe("endkey=%5B%22z%22%2C%20%7B%7D%5D")
  })

  it("dockey_range sets startkey_docid and endkey_docid", () => {
    expect(enc({ dockey_range: ["bar"] })).toBe("startkey_docid=bar")
    expect(enc({ dockey_range: ["range_begin", "range_end"] })).toBe(
      "startkey_docid=range_begin&endkey_docid=range_end"
    )
  })

  for (const p of ["mapkey_range", "dockey_range"]) {
    it(`${p}: empty or open ranges encode nothing; bad ranges are refused`, () => {
      expect(enc(q(p, []))).toBe("")
      expect(enc(q(p, [undefined]))).toBe("")
      expect(enc(q(p, [undefined, undefined]))).toBe("")
      for (const bad of [[Symbol("x")], null, "foo", [1, 2, 3], { 0: "a" }]) refused(q(p, bad))
    })
  }

  it("a range after its start or end parameter is refused; one before it is overridden", () => {
    expect(refused({ startkey: "a", mapkey_range: ["b", "c"] }).message).toContain("Cannot specify mapkey_range")
    expect(refused({ endkey_docid: "a", dockey_range: ["b"] }).message).toContain("Cannot specify dockey_range")
    expect(enc({ mapkey_range: ["b", "c"], startkey: "a" })).toBe("startkey=%22a%22&endkey=%22c%22")
  })
})

describe("passthrough", () => {
  const handled = [
    "descending",
    "startkey",
    "startkey_docid",
    "endkey",
    "endkey_docid",
    "full_set",
    "group",
    "group_level",
    "inclusive_end",
    "key",
    "keys",
    "on_error",
    "reduce",
    "stale",
    "skip",
    "limit",
    "debug",
    "connection_timeout"
  ]
  it("every known parameter takes a plain string or number, sent without encoding", () => {
    for (const p of handled) {
      for (const v of ["blah", -1, "-invalid/uri&char"]) {
        expect(enc(q(p, v, { passthrough: true }))).toBe(`${p}=${v}`)
      }
    }
  })

  it("unknown names and non-string values are still refused", () => {
    refused({ passthrough: true, foo: "bar" })
    for (const bad of [{}, null, true, false]) refused(q("stale", bad, { passthrough: true }))
  })
})

describe("unrecognized_ok", () => {
  it("unknown names go through as name=value, unencoded", () => {
    for (const p of ["new_param", "another_param"]) {
      for (const v of ["blah", -1, "-invalid-uri-char^&"]) {
        expect(enc(q(p, v, { unrecognized_ok: true }))).toBe(`${p}=${v}`)
      }
    }
    expect(enc({ unrecognized_ok: true, zeta: 1, limit: 2 })).toBe("limit=2&zeta=1")
  })

  it("without it an unknown name is refused, and bad values are refused either way", () => {
    expect(refused({ frobble: "gobble" } as never).message).toContain("frobble")
    for (const bad of [{}, true, false, null]) refused(q("foo", bad, { unrecognized_ok: true }))
  })
})

describe("query strings", () => {
  it("keeps the order in which parameters were given", () => {
    expect(enc({ limit: 1, stale: false, descending: true, key: "k" })).toBe(
      "limit=1&stale=false&descending=true&key=%22k%22"
    )
    expect(enc({ key: "a", mapkey_single: "b", limit: 3 })).toBe("key=%22b%22&limit=3")
  })

  it("a raw query string comes first, joined with '&' as Python does", () => {
    expect(enc("stale=ok&limit=3")).toBe("stale=ok&limit=3&")
    expect(enc({ raw: "foo=bar", limit: 2 })).toBe("foo=bar&limit=2")
    expect(enc("")).toBe("")
    expect(enc({})).toBe("")
  })

  it("refuses what is not parameters", () => {
    for (const bad of [42, null, ["limit"], { passthrough: "yes" }, { raw: 5 }]) refused(bad)
  })
})

describe("the 2048-character switch to POST", () => {
  // keys=%5B%22k%22%2C%20… : each further key adds the encoded ", "k"" (12 chars + the key).
  const keysOfLength = (target: number): ReadonlyArray<string> => {
    const keys: Array<string> = []
    for (;;) {
      const next = [...keys, "x"]
      const len = enc({ keys: next }).length
      if (len > target) break
      keys.push("x")
    }
    const pad = target - enc({ keys }).length
    keys[0] = "x".repeat(1 + pad)
    return keys
  }

  it("up to 2048 characters: GET", () => {
    const keys = keysOfLength(MAX_URI_LENGTH)
    const r = encodeViewQuery({ keys })
    expect(Either.isRight(r) && r.right.encoded.length).toBe(2048)
    expect(Either.isRight(r) && r.right.body).toBe(undefined)
    expect(Either.isRight(r) && r.right.query).toBe(Either.isRight(r) && r.right.encoded)
  })

  it('over 2048: POST {"keys": …} (Python\'s json.dumps form), the rest in the URI', () => {
    const keys = [...keysOfLength(MAX_URI_LENGTH - 12), "y"]
    const r = encodeViewQuery({ stale: false, keys, limit: 10 })
    if (Either.isLeft(r)) throw r.left
    expect(r.right.encoded.length).toBeGreaterThan(2048)
    expect(r.right.query).toBe("stale=false&limit=10")
    expect(r.right.body).toBe(`{"keys":[${keys.map((k) => `"${k}"`).join(", ")}]}`)
    expect(JSON.parse(r.right.body!)).toEqual({ keys })
  })

  it("counts characters (code points), not bytes", () => {
    const r = encodeViewQuery({ passthrough: true, startkey_docid: "é".repeat(2030) })
    expect(Either.isRight(r) && r.right.body).toBe(undefined)
  })

  it("a long query without keys is sent as POST {}", () => {
    const r = encodeViewQuery({ startkey: "s".repeat(3000), limit: 1 })
    if (Either.isLeft(r)) throw r.left
    expect(r.right.body).toBe("{}")
    expect(r.right.query).toBe(r.right.encoded)
  })

  it("a raw string stays in the URI of the POST form", () => {
    const r = encodeViewQuery({ raw: "foo=bar", keys: ["k".repeat(3000)] })
    if (Either.isLeft(r)) throw r.left
    expect(r.right.query).toBe("foo=bar")
    expect(r.right.body).toBe(`{"keys":["${"k".repeat(3000)}"]}`)
  })
})
