import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { get16, get32, put16, put32 } from "../../src/internal/protocol/bigEndian.js"

// The header helpers skip Buffer's checks: they must still agree with Buffer's own
// big-endian reads and writes byte for byte, at any offset.
describe("big-endian header helpers", () => {
  it("store what writeUInt16BE and writeUInt32BE store", () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(8), (v16, v32, offset) => {
        const ours = Buffer.alloc(16, 0xaa)
        const node = Buffer.alloc(16, 0xaa)
        put16(ours, offset, v16)
        node.writeUInt16BE(v16, offset)
        put32(ours, offset + 4, v32)
        node.writeUInt32BE(v32, offset + 4)
        expect(ours.toString("hex")).toBe(node.toString("hex"))
      })
    )
  })

  it("load what readUInt16BE and readUInt32BE load, high bit included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 12 }), fc.nat(8), (bytes, at) => {
        const buf = Buffer.from(bytes)
        const offset = at % (buf.length - 3)
        expect(get16(buf, offset)).toBe(buf.readUInt16BE(offset))
        expect(get32(buf, offset)).toBe(buf.readUInt32BE(offset))
      })
    )
    expect(get32(Buffer.from("ffffffff", "hex"), 0)).toBe(0xffffffff)
  })
})
