import { describe, expect, it, vi } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { type RawViewRow, RowParseError, RowParser } from "../../src/internal/view/RowParser.js"

interface Parsed {
  readonly rows: ReadonlyArray<RawViewRow>
  readonly totalRows: number | undefined
  readonly errors: ReadonlyArray<unknown>
  readonly debugInfo: unknown
}

/** Feeds `body` cut at `cuts` (byte offsets); returns what came out, or the error. */
const parse = (body: Uint8Array, cuts: ReadonlyArray<number> = [], options = {}): Parsed | RowParseError => {
  const parser = new RowParser(options)
  const rows: Array<RawViewRow> = []
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), body.length)))].sort((a, b) => a - b)
  let at = 0
  for (const cut of [...points, body.length]) {
    const fed = parser.feed(body.subarray(at, cut))
    if (fed.error !== undefined) return fed.error
    rows.push(...fed.rows)
    at = cut
  }
  const done = parser.finish()
  return Either.isLeft(done) ? done.left : { rows, ...done.right }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

// Bodies as a Couchbase node writes them, and then some: members in any order,
// whitespace (including \r\n) between tokens, rows with any JSON keys and values,
// IDs with escapes, quotes and astral characters, optional docs.
const text = fc.string({ unit: "binary", maxLength: 12 })
const row = fc.record(
  {
    id: text,
    key: fc.jsonValue({ maxDepth: 3 }),
    value: fc.jsonValue({ maxDepth: 2 }),
    doc: fc.record({ meta: fc.record({ id: text }), json: fc.jsonValue({ maxDepth: 2 }) })
  },
  { requiredKeys: ["key", "value"] }
)
const ws = fc.constantFrom("", "", " ", "\r\n", "\n\t ")
const body = fc
  .record({
    rows: fc.array(row, { maxLength: 12 }),
    total_rows: fc.option(fc.nat(), { nil: undefined }),
    errors: fc.option(fc.array(fc.record({ from: text, reason: text }), { maxLength: 3 }), { nil: undefined }),
    debug_info: fc.option(fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { nil: undefined }),
    order: fc.shuffledSubarray(["total_rows", "rows", "errors", "debug_info", "extra"], { minLength: 5, maxLength: 5 }),
    spacing: fc.array(ws, { minLength: 64, maxLength: 64 })
  })
  .map((b) => {
    let n = 0
    const sp = () => b.spacing[n++ % b.spacing.length]!
    const members: Array<string> = []
    for (const name of b.order) {
      if (name === "rows") {
        const rows = b.rows.map((r) => sp() + JSON.stringify(r) + sp())
        members.push(`${sp()}"rows"${sp()}:${sp()}[${rows.join(",") || sp()}]${sp()}`)
      } else if (name === "extra") {
        members.push(`${sp()}"extra"${sp()}:${sp()}{"nested":[1,"]}",{"a":"\\""}]}${sp()}`)
      } else {
        const value = (b as Record<string, unknown>)[name]
        if (value !== undefined)
          members.push(`${sp()}${JSON.stringify(name)}${sp()}:${sp()}${JSON.stringify(value)}${sp()}`)
      }
    }
    return `${sp()}{${members.join(",")}}${sp()}`
  })

// Bodies in the layout a Couchbase node writes, one row per line, which the parser
// reads a line run at a time; some rows spread over several lines (a pretty-printed
// document), which the parser must notice and read byte by byte instead.
const serverBody = fc
  .record({
    rows: fc.array(fc.tuple(row, fc.constantFrom(false, false, false, true)), { maxLength: 16 }),
    total_rows: fc.nat(),
    errors: fc.boolean()
  })
  .map((b) => {
    const rows = b.rows.map(([r, pretty]) => (pretty ? JSON.stringify(r, null, 1) : JSON.stringify(r)))
    const tail = b.errors ? `\r\n],\r\n"errors":[\r\n{"from":"local","reason":"x"}\r\n]\r\n}` : "\r\n]\r\n}"
    return `{"total_rows":${b.total_rows},"rows":[\r\n${rows.join(",\r\n")}${tail}`
  })

describe("RowParser", () => {
  it("parses a chunk of one-row-per-line rows with one JSON.parse, and rows over several lines one by one", () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ id: `doc${i}`, key: [i, "k"], value: { n: i } }))
    const lines = `{"total_rows":100,"rows":[\r\n${rows.map((r) => JSON.stringify(r)).join(",\r\n")}\r\n]\r\n}`
    const pretty = `{"total_rows":100,"rows":[\r\n${rows.map((r) => JSON.stringify(r, null, 1)).join(",\r\n")}\r\n]\r\n}`
    const parses = (body: string) => {
      const spy = vi.spyOn(JSON, "parse")
      try {
        const result = parse(utf8(body))
        if (result instanceof RowParseError) throw result
        expect(result.rows).toEqual(rows)
        return spy.mock.calls.length
      } finally {
        spy.mockRestore()
      }
    }
    // The member names, total_rows, and one parse for all the row lines.
    expect(parses(lines)).toBeLessThanOrEqual(4)
    // A row over several lines: the line run is refused and every row is parsed alone.
    expect(parses(pretty)).toBeGreaterThanOrEqual(100)
  })

  it.prop(
    "any split of a body gives the rows and members JSON.parse sees",
    [fc.oneof(body, serverBody), fc.array(fc.nat(), { maxLength: 40 })],
    ([text, rawCuts]) => {
      const bytes = utf8(text)
      const expected = JSON.parse(text)
      const result = parse(
        bytes,
        rawCuts.map((c) => c % (bytes.length + 1))
      )
      if (result instanceof RowParseError) throw result
      expect(result.rows).toEqual(expected.rows)
      expect(result.totalRows).toEqual(expected.total_rows)
      expect(result.errors).toEqual(expected.errors ?? [])
      expect(result.debugInfo).toEqual(expected.debug_info)
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "byte by byte, every split inside multi-byte characters and escapes included",
    [body],
    ([text]) => {
      const bytes = utf8(text)
      const result = parse(
        bytes,
        Array.from({ length: bytes.length }, (_, i) => i)
      )
      if (result instanceof RowParseError) throw result
      expect(result.rows).toEqual(JSON.parse(text).rows)
    },
    { fastCheck: { numRuns: 60 } }
  )

  it.prop(
    "a row comes out as soon as its last byte is in",
    [fc.array(row, { minLength: 1, maxLength: 8 })],
    ([rows]) => {
      const parts = rows.map((r) => JSON.stringify(r))
      const text = `{"total_rows":${rows.length},"rows":[${parts.join(",")}]}`
      const bytes = utf8(text)
      const parser = new RowParser()
      let offset = utf8(`{"total_rows":${rows.length},"rows":[`).length
      let seen = 0
      let fed = 0
      for (let i = 0; i < parts.length; i++) {
        const end = offset + utf8(parts[i]!).length
        // Everything up to the row's closing brace, nothing after it.
        const out = parser.feed(bytes.subarray(fed, end))
        fed = end
        if (out.error !== undefined) throw out.error
        seen += out.rows.length
        expect(seen).toBe(i + 1)
        // Against the row as JSON carries it: a generated -0 travels as 0.
        expect(out.rows.at(-1)).toEqual(JSON.parse(parts[i]!))
        offset = end + 1
      }
      const rest = parser.feed(bytes.subarray(fed))
      expect(rest).toEqual({ rows: [], error: undefined })
      expect(Either.isRight(parser.finish())).toBe(true)
    }
  )

  it.prop(
    "a body cut short is an error, never a silent success",
    [fc.oneof(body, serverBody), fc.nat()],
    ([text, at]) => {
      const bytes = utf8(text.trimEnd())
      const cut = at % bytes.length
      const result = parse(bytes.subarray(0, cut))
      expect(result).toBeInstanceOf(RowParseError)
    }
  )

  it.prop(
    "a corrupted body is accepted only if it is still a valid response",
    [fc.oneof(body, serverBody), fc.nat(), fc.integer({ min: 0, max: 255 })],
    ([text, at, byte]) => {
      const bytes = utf8(text)
      const corrupt = Uint8Array.from(bytes)
      corrupt[at % corrupt.length] = byte
      const result = parse(corrupt, [at % corrupt.length])
      let expected: any
      try {
        expected = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(corrupt))
      } catch {
        expect(result).toBeInstanceOf(RowParseError)
        return
      }
      const wellShaped =
        typeof expected === "object" &&
        expected !== null &&
        !Array.isArray(expected) &&
        (expected.rows === undefined ||
          (Array.isArray(expected.rows) &&
            expected.rows.every((r: unknown) => typeof r === "object" && r !== null && !Array.isArray(r)))) &&
        (expected.total_rows === undefined || (Number.isInteger(expected.total_rows) && expected.total_rows >= 0)) &&
        (expected.errors === undefined || Array.isArray(expected.errors))
      if (!wellShaped) {
        expect(result).toBeInstanceOf(RowParseError)
        return
      }
      if (result instanceof RowParseError) {
        // The only well-shaped JSON refused: a member name made "rows" twice by the corruption.
        expect(result.message).toContain("twice")
        return
      }
      expect(result.rows).toEqual(expected.rows ?? [])
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("refuses bodies of the wrong shape, saying where", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["[]", '"{"'],
      ['{"rows":{}}', '"["'],
      ['{"rows":[1]}', "not a JSON object"],
      ['{"rows":[[]]}', "not a JSON object"],
      ['{"rows":[{"a":1},]}', "a row"],
      ['{"rows":[,{"a":1}]}', "a row"],
      ['{"rows":[{"a":1}{"b":2}]}', '"," or "]"'],
      ['{"total_rows":"7","rows":[]}', "total_rows"],
      ['{"total_rows":-1,"rows":[]}', "total_rows"],
      ['{"errors":{},"rows":[]}', "errors"],
      ['{"rows":[]} x', "end of the view response"],
      ['{"rows":[],"rows":[]}', "twice"],
      ['{"rows":[{"a":tru}]}', "not valid JSON"],
      ["{rows:[]}", "member name"],
      ['{"rows" []}', '":"']
    ]
    for (const [text, message] of cases) {
      const result = parse(utf8(text))
      expect(result, text).toBeInstanceOf(RowParseError)
      expect((result as RowParseError).message, text).toContain(message)
      expect((result as RowParseError).offset).toBeGreaterThanOrEqual(0)
    }
  })

  it("delivers the rows before a malformed spot of the same chunk, then the error", () => {
    const parser = new RowParser()
    const out = parser.feed(utf8('{"rows":[{"id":"a"},{"id":"b"},}'))
    expect(out.rows).toEqual([{ id: "a" }, { id: "b" }])
    expect(out.error).toBeInstanceOf(RowParseError)
  })

  it("refuses invalid UTF-8 inside a row", () => {
    const bytes = Uint8Array.from([...utf8('{"rows":[{"id":"'), 0xc3, 0x28, ...utf8('"}]}')])
    expect(parse(bytes)).toBeInstanceOf(RowParseError)
  })

  it("bounds what it holds: a row over the limit is an error, wherever the chunks fall", () => {
    const big = `{"rows":[{"id":"${"x".repeat(5000)}"}]}`
    for (const cuts of [[], [100, 2000, 4000], Array.from({ length: 60 }, (_, i) => i * 97)]) {
      const result = parse(utf8(big), cuts, { maxRowBytes: 4096 })
      expect(result).toBeInstanceOf(RowParseError)
      expect((result as RowParseError).message).toContain("larger than the limit of 4096 bytes")
    }
    // Many rows, each under the limit, in a body far over it: fine.
    const many = `{"rows":[${Array.from({ length: 200 }, (_, i) => `{"id":"${i}","key":${i}}`).join(",")}]}`
    const ok = parse(utf8(many), [7, 300, 301, 2000], { maxRowBytes: 64 })
    expect(ok instanceof RowParseError ? ok.message : (ok as Parsed).rows.length).toBe(200)
  })

  it("keeps failing after a failure, and reads an empty object", () => {
    const parser = new RowParser()
    expect(parser.feed(utf8("]")).error).toBeInstanceOf(RowParseError)
    expect(parser.feed(utf8("{}")).error).toBeInstanceOf(RowParseError)
    expect(Either.isLeft(parser.finish())).toBe(true)
    const empty = parse(utf8("{}"))
    expect(empty).toEqual({ rows: [], totalRows: undefined, errors: [], debugInfo: undefined })
  })
})
