import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ValueFormatError } from "../../src/Errors.js"
import { defaultValueIn, utf8TextIn } from "../../src/internal/defaultDecoding.js"

// The reference: a fatal decoder that keeps a BOM, as the UTF-8 format promises.
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const reference = (bytes: Uint8Array): string | "invalid" => {
  try {
    return strict.decode(bytes)
  } catch {
    return "invalid"
  }
}
const ours = (buf: Buffer, start: number, end: number): string | "invalid" => {
  try {
    return utf8TextIn(buf, start, end, "the value")
  } catch (e) {
    expect(e).toBeInstanceOf(ValueFormatError)
    return "invalid"
  }
}

// Bytes that are often UTF-8-shaped: valid text (U+FFFD and BOM included) cut and
// spliced with stray bytes, so both sides of the U+FFFD shortcut are exercised.
const bytesLike = fc
  .array(
    fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 8 }).map((s) => Buffer.from(s)),
      fc.constantFrom(Buffer.from("\uFFFD"), Buffer.from("\uFEFF"), Buffer.from([0xef, 0xbf]), Buffer.from([0xff])),
      fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b))
    ),
    { maxLength: 8 }
  )
  .map((parts) => Buffer.concat(parts))

describe("default value decoding in place", () => {
  it("accepts exactly what a fatal TextDecoder accepts, with the same text, inside a larger buffer", () => {
    fc.assert(
      fc.property(bytesLike, fc.uint8Array({ maxLength: 5 }), fc.uint8Array({ maxLength: 5 }), (bytes, pre, post) => {
        const buf = Buffer.concat([pre, bytes, post])
        expect(ours(buf, pre.length, pre.length + bytes.length)).toBe(reference(bytes))
      }),
      { numRuns: 2000 }
    )
  })

  it("reads JSON, text and bytes from a range; bytes are a view of it", () => {
    const buf = Buffer.from('xx{"a":[1,"\uFFFD"]}yy')
    const end = buf.length - 2
    expect(defaultValueIn(buf, 2, end, "json", 0x02000006)).toEqual({ a: [1, "\uFFFD"] })
    expect(defaultValueIn(buf, 2, end, "utf8", 0x04000000)).toBe('{"a":[1,"\uFFFD"]}')
    const view = defaultValueIn(buf, 2, end, "bytes", 0x03000000) as Buffer
    expect(view.buffer).toBe(buf.buffer)
    expect(view.toString()).toBe('{"a":[1,"\uFFFD"]}')
    expect(() => defaultValueIn(Buffer.from([0x22, 0xff, 0x22]), 0, 3, "json", 0)).toThrow(/not valid UTF-8/)
    expect(() => defaultValueIn(buf, 0, end, "json", 0)).toThrow(/not valid JSON/)
    expect(() => defaultValueIn(buf, 2, end, undefined, 0x01000001)).toThrow(/private/)
  })
})
