import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { HEADER_LENGTH, isResponseMagic, Magic, Opcode } from "../../src/internal/protocol/constants.js"
import {
  detachFrame,
  encodedLength,
  encodeFrame,
  extrasLength,
  type Frame,
  type FrameInit,
  framingExtrasLength,
  keyLatin1,
  keyLength,
  valueLength,
  writeFrame,
  writeKeyRequest
} from "../../src/internal/protocol/Frame.js"
import { FrameDecodeError, FrameDecoder } from "../../src/internal/protocol/FrameDecoder.js"

const hex = (b: Uint8Array | undefined): string =>
  b === undefined ? "" : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

/** What decoding `init` must give back. */
const expectedFrame = (init: FrameInit) => {
  const magic = init.magic ?? Magic.ClientRequest
  const response = isResponseMagic(magic)
  const fe = init.framingExtras?.length ?? 0
  return {
    magic:
      fe > 0 && magic === Magic.ClientRequest
        ? Magic.AltClientRequest
        : fe > 0 && magic === Magic.ClientResponse
          ? Magic.AltClientResponse
          : magic,
    opcode: init.opcode,
    datatype: init.datatype ?? 0,
    vbucket: response ? 0 : (init.vbucket ?? 0),
    status: response ? (init.status ?? 0) : 0,
    opaque: init.opaque ?? 0,
    cas: init.cas ?? 0n,
    framingExtras: hex(init.framingExtras),
    extras: hex(init.extras),
    key: hex(init.key),
    value: hex(init.value)
  }
}

const view = (f: Frame) => ({
  magic: f.magic,
  opcode: f.opcode,
  datatype: f.datatype,
  vbucket: f.vbucket,
  status: f.status,
  opaque: f.opaque,
  cas: f.cas,
  framingExtras: hex(f.framingExtras),
  extras: hex(f.extras),
  key: hex(f.key),
  value: hex(f.value)
})

const opcodeArb = fc.oneof(fc.constantFrom(...Object.values(Opcode)), fc.integer({ min: 0, max: 255 }))

const common = {
  opcode: opcodeArb,
  datatype: fc.integer({ min: 0, max: 255 }),
  vbucket: fc.integer({ min: 0, max: 0xffff }),
  status: fc.integer({ min: 0, max: 0xffff }),
  opaque: fc.integer({ min: 0, max: 0xffffffff }),
  cas: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  extras: fc.uint8Array({ maxLength: 255 }),
  value: fc.uint8Array({ maxLength: 3000 })
}

/** Frames of every magic: classic ones with 16-bit key lengths, flexible ones with framing extras and 8-bit keys. */
const frameArb: fc.Arbitrary<FrameInit> = fc.oneof(
  fc.record({
    magic: fc.constantFrom(Magic.ClientRequest, Magic.ClientResponse, Magic.ServerRequest, Magic.ServerResponse),
    key: fc.uint8Array({ maxLength: 400 }),
    ...common
  }),
  fc.record({
    magic: fc.constantFrom(Magic.ClientRequest, Magic.ClientResponse, Magic.AltClientRequest, Magic.AltClientResponse),
    framingExtras: fc.uint8Array({ maxLength: 255 }),
    key: fc.uint8Array({ maxLength: 255 }),
    ...common
  })
)

const decodeAll = (chunks: ReadonlyArray<Uint8Array>, options?: { maxBodyLength?: number }) => {
  const decoder = new FrameDecoder(options)
  const frames: Array<Frame> = []
  let error: FrameDecodeError | undefined
  for (const chunk of chunks) {
    error = decoder.feed(chunk, (f) => frames.push(f))
    if (error !== undefined) break
  }
  return { decoder, frames, error }
}

const splitAt = (buf: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Buffer> = []
  let at = 0
  for (const p of points) {
    chunks.push(buf.subarray(at, p))
    at = p
  }
  chunks.push(buf.subarray(at))
  return chunks
}

describe("Frame encode/decode", () => {
  it.prop("round-trips any frame through the decoder", [frameArb], ([init]) => {
    const bytes = encodeFrame(init)
    expect(bytes.length).toBe(encodedLength(init))
    const { frames, error, decoder } = decodeAll([bytes])
    expect(error).toBeUndefined()
    expect(frames.map(view)).toEqual([expectedFrame(init)])
    expect(decoder.buffered).toBe(0)
  })

  it("round-trips every named opcode with empty and full sections", () => {
    for (const opcode of Object.values(Opcode)) {
      for (const magic of [Magic.ClientRequest, Magic.ClientResponse]) {
        const empty: FrameInit = { magic, opcode }
        const full: FrameInit = {
          magic,
          opcode,
          datatype: 1,
          vbucket: 1023,
          status: 0x86,
          opaque: 0xdeadbeef,
          cas: 0xfedcba9876543210n,
          framingExtras: Buffer.from([0x02, 0x00, 0x10]),
          extras: Buffer.alloc(8, 7),
          key: Buffer.from("user::1"),
          value: Buffer.from('{"a":1}')
        }
        for (const init of [empty, full]) {
          const { frames } = decodeAll([encodeFrame(init)])
          expect(frames.map(view)).toEqual([expectedFrame(init)])
        }
      }
    }
  })

  it("writes the header fields where the protocol puts them", () => {
    const bytes = encodeFrame({
      opcode: Opcode.Set,
      vbucket: 0x0102,
      opaque: 0x0a0b0c0d,
      cas: 1n,
      extras: Buffer.alloc(8),
      key: Buffer.from("k"),
      value: Buffer.from("vv")
    })
    expect(bytes[0]).toBe(0x80)
    expect(bytes[1]).toBe(0x01)
    expect(bytes.readUInt16BE(2)).toBe(1)
    expect(bytes[4]).toBe(8)
    expect(bytes.readUInt16BE(6)).toBe(0x0102)
    expect(bytes.readUInt32BE(8)).toBe(8 + 1 + 2)
    expect(bytes.readUInt32BE(12)).toBe(0x0a0b0c0d)
    expect(bytes.readBigUInt64BE(16)).toBe(1n)
    // Framing extras switch to the flexible magic: one-byte framing length, one-byte key length.
    const alt = encodeFrame({ opcode: Opcode.Get, framingExtras: Buffer.from([1, 2]), key: Buffer.from("abc") })
    expect([alt[0], alt[2], alt[3], alt.readUInt32BE(8)]).toEqual([0x08, 2, 3, 5])
  })

  it("writes frames back to back into one buffer at offsets", () => {
    const inits: Array<FrameInit> = [
      { opcode: Opcode.Get, key: Buffer.from("a"), opaque: 1 },
      { opcode: Opcode.Noop, opaque: 2 },
      { opcode: Opcode.Set, key: Buffer.from("b"), value: Buffer.from("x"), extras: Buffer.alloc(8), opaque: 3 }
    ]
    const buf = Buffer.alloc(inits.reduce((n, i) => n + encodedLength(i), 0))
    let at = 0
    for (const init of inits) at = writeFrame(buf, at, init)
    expect(at).toBe(buf.length)
    expect(decodeAll([buf]).frames.map(view)).toEqual(inits.map(expectedFrame))
  })

  it("writes a key-only request exactly as the general encoder does", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 40 }),
        (opcode, vbucket, opaque, key, offset) => {
          const init: FrameInit = { opcode, vbucket, opaque, key }
          const general = Buffer.alloc(offset + encodedLength(init), 0xee)
          const fast = Buffer.alloc(general.length, 0xee)
          const end = writeKeyRequest(fast, offset, opcode, vbucket, opaque, key)
          expect(end).toBe(writeFrame(general, offset, init))
          expect(fast.toString("hex")).toBe(general.toString("hex"))
        }
      )
    )
  })

  it("writes a string key as its UTF-8, short or long, ASCII or not", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
          fc.string({ unit: "grapheme", maxLength: 60 })
        ),
        fc.integer({ min: 0, max: 40 }),
        (key, offset) => {
          const bytes = Buffer.from(key, "utf8")
          const init: FrameInit = { opcode: Opcode.Get, vbucket: 5, opaque: 9, key: bytes }
          const general = Buffer.alloc(offset + encodedLength(init), 0xee)
          const fast = Buffer.alloc(general.length, 0xee)
          const end = writeKeyRequest(fast, offset, Opcode.Get, 5, 9, key)
          expect(end).toBe(writeFrame(general, offset, init))
          expect(fast.toString("hex")).toBe(general.toString("hex"))
        }
      )
    )
  })

  it("reads section lengths and the key as latin1 without views, alike for decoded and plain frames", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 255 }),
        // With framing extras the header has one byte for the key length.
        fc.uint8Array({ maxLength: 255 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 2000 }),
        (framingExtras, key, extras, value) => {
          const init: FrameInit = { opcode: Opcode.Set, opaque: 7, framingExtras, key, extras, value }
          const decoded = decodeAll([encodeFrame(init)]).frames[0]!
          for (const frame of [decoded, detachFrame(decoded)]) {
            expect([framingExtrasLength(frame), extrasLength(frame), keyLength(frame), valueLength(frame)]).toEqual([
              framingExtras.length,
              extras.length,
              key.length,
              value.length
            ])
            expect(keyLatin1(frame)).toBe(Buffer.from(key).toString("latin1"))
            expect(hex(frame.value)).toBe(hex(value))
          }
        }
      )
    )
  })

  it("rejects lengths the header cannot express", () => {
    expect(() => encodeFrame({ opcode: 0, key: Buffer.alloc(0x10000) })).toThrow(RangeError)
    expect(() => encodeFrame({ opcode: 0, extras: Buffer.alloc(256) })).toThrow(RangeError)
    expect(() => encodeFrame({ opcode: 0, framingExtras: Buffer.alloc(1), key: Buffer.alloc(256) })).toThrow(RangeError)
  })
})

describe("FrameDecoder streaming", () => {
  it.prop(
    "yields the same frames for any split of a stream",
    [fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 40 })],
    ([inits, cuts]) => {
      const stream = Buffer.concat(inits.map(encodeFrame))
      const { frames, error, decoder } = decodeAll(splitAt(stream, cuts))
      expect(error).toBeUndefined()
      expect(frames.map(view)).toEqual(inits.map(expectedFrame))
      expect(decoder.buffered).toBe(0)
    }
  )

  it.prop(
    "slices every frame that lies inside one chunk from that chunk, and copies only straddling ones",
    [fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 })],
    ([inits, cuts]) => {
      const encoded = inits.map(encodeFrame)
      const stream = Buffer.concat(encoded)
      // Own-memory chunks, so `.buffer` identifies the chunk (pooled Buffers would share one).
      const chunks = splitAt(stream, cuts).map((c) => Uint8Array.from(c))
      const { frames } = decodeAll(chunks)
      expect(frames.map(view)).toEqual(inits.map(expectedFrame))
      let start = 0
      encoded.forEach((bytes, i) => {
        const end = start + bytes.length
        let chunkStart = 0
        const home = chunks.findIndex((c) => {
          const inside = chunkStart <= start && end <= chunkStart + c.length
          chunkStart += c.length
          return inside
        })
        const value = frames[i]!.value
        if (value.length > 0) {
          if (home >= 0) expect(value.buffer).toBe(chunks[home]!.buffer)
          else expect(chunks.some((c) => c.buffer === value.buffer)).toBe(false)
        }
        start = end
      })
    }
  )

  it.prop(
    "reads past an oversized body when asked, handing its header over in stream order",
    [
      fc.array(frameArb, { maxLength: 4 }),
      fc.array(frameArb, { maxLength: 4 }),
      fc.integer({ min: 65, max: 3000 }),
      fc.array(fc.nat(), { maxLength: 30 })
    ],
    ([before, after, bodyLength, cuts]) => {
      // A request whose 4-byte-key body is over the 64-byte cap; its body is junk that
      // could look like headers, and must never be parsed.
      const big = encodeFrame({ opcode: Opcode.Set, opaque: 0xabcd, key: Buffer.from("kkkk") })
      big.writeUInt32BE(bodyLength, 8)
      const body = Buffer.alloc(bodyLength - 4, 0x80)
      const stream = Buffer.concat([...before.map(encodeFrame), big, body, ...after.map(encodeFrame)])
      const small = (f: FrameInit) => encodedLength(f) - HEADER_LENGTH <= 64
      const decoder = new FrameDecoder({ maxBodyLength: 64 })
      const seen: Array<string> = []
      for (const chunk of splitAt(stream, cuts)) {
        const error = decoder.feed(
          chunk,
          (f) => seen.push(`frame ${f.opaque}`),
          (header, length) => seen.push(`oversized ${header.opcode} ${header.opaque} ${length}`)
        )
        if (error !== undefined) seen.push(`error ${error.reason}`)
      }
      const expected = (list: ReadonlyArray<FrameInit>) =>
        list.map((f) =>
          small(f)
            ? `frame ${f.opaque ?? 0}`
            : `oversized ${f.opcode} ${f.opaque ?? 0} ${encodedLength(f) - HEADER_LENGTH}`
        )
      expect(seen).toEqual([...expected(before), `oversized ${Opcode.Set} ${0xabcd} ${bodyLength}`, ...expected(after)])
      expect(decoder.buffered).toBe(0)
      // Without the callback an oversized body is still a decode error.
      const strict = decodeAll([Buffer.concat([big, body])], { maxBodyLength: 64 })
      expect(strict.error?.reason).toBe("BodyTooLarge")
    }
  )

  it("yields the same frames when fed one byte at a time", () => {
    const inits: Array<FrameInit> = [
      { opcode: Opcode.Get, key: Buffer.from("hello"), opaque: 1, vbucket: 528 },
      { magic: Magic.ClientResponse, opcode: Opcode.Get, status: 1, opaque: 2, value: Buffer.from("Not found") },
      {
        magic: Magic.ClientResponse,
        opcode: Opcode.Get,
        opaque: 3,
        cas: 42n,
        extras: Buffer.from([0, 0, 0, 4]),
        framingExtras: Buffer.from([0x00, 0x01]),
        value: Buffer.from("text")
      },
      { opcode: Opcode.Noop }
    ]
    const stream = Buffer.concat(inits.map(encodeFrame))
    const bytes = Array.from(stream, (b) => Uint8Array.of(b))
    const { frames, error, decoder } = decodeAll(bytes)
    expect(error).toBeUndefined()
    expect(frames.map(view)).toEqual(inits.map(expectedFrame))
    expect(decoder.buffered).toBe(0)
  })

  it("delivers every split point of a small stream", () => {
    const inits: Array<FrameInit> = [
      { opcode: Opcode.Set, key: Buffer.from("k1"), value: Buffer.from("v1"), extras: Buffer.alloc(8, 1) },
      { opcode: Opcode.Get, key: Buffer.from("k2") }
    ]
    const stream = Buffer.concat(inits.map(encodeFrame))
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j += 7) {
        const { frames } = decodeAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)])
        expect(frames.map(view)).toEqual(inits.map(expectedFrame))
      }
    }
  })

  it("slices frames that lie inside one chunk without copying", () => {
    const a: FrameInit = { opcode: Opcode.Get, value: Buffer.from("first value") }
    const b: FrameInit = { opcode: Opcode.Get, value: Buffer.from("second value") }
    const c: FrameInit = { opcode: Opcode.Get, value: Buffer.from("third value") }
    const stream = Buffer.concat([a, b, c].map(encodeFrame))
    // One chunk: every frame is a view of it.
    const whole = Uint8Array.from(stream)
    const one = decodeAll([whole]).frames
    expect(one.map((f) => f.value.buffer === whole.buffer)).toEqual([true, true, true])
    // Frame a straddles the cut: it alone is copied; b and c are views of the second chunk.
    const cut = encodedLength(a) - 3
    // Plain Uint8Arrays own their memory (small Buffers share Node's pool, which would blur the check).
    const first = Uint8Array.from(stream.subarray(0, cut))
    const second = Uint8Array.from(stream.subarray(cut))
    const frames = decodeAll([first, second]).frames
    expect(frames.map(view)).toEqual([a, b, c].map(expectedFrame))
    expect(frames[0]!.value.buffer === second.buffer || frames[0]!.value.buffer === first.buffer).toBe(false)
    expect(frames[1]!.value.buffer).toBe(second.buffer)
    expect(frames[2]!.value.buffer).toBe(second.buffer)
    expect(frames[1]!.value.byteOffset).toBe(3 + HEADER_LENGTH)
  })

  it("copies a large frame that arrives in many reads once, and holds only its pieces until then", () => {
    const value = Buffer.alloc(1 << 20, 0x5a)
    const stream = encodeFrame({ opcode: Opcode.Get, value })
    const decoder = new FrameDecoder()
    const frames: Array<Frame> = []
    for (let at = 0; at < stream.length; at += 4096) {
      expect(decoder.feed(stream.subarray(at, at + 4096), (f) => frames.push(f))).toBeUndefined()
      if (at + 4096 < stream.length) expect(decoder.buffered).toBe(at + 4096)
    }
    expect(frames).toHaveLength(1)
    expect(frames[0]!.value.equals(value)).toBe(true)
    expect(decoder.buffered).toBe(0)
  })
})

describe("FrameDecoder on garbage", () => {
  const maxBodyLength = 1024

  it.prop(
    "never throws, ends in frames or a typed error, and stays bounded",
    [fc.array(fc.uint8Array({ minLength: 0, maxLength: 600 }), { maxLength: 12 })],
    ([chunks]) => {
      const decoder = new FrameDecoder({ maxBodyLength })
      let error: FrameDecodeError | undefined
      let frames = 0
      for (const chunk of chunks) {
        error = decoder.feed(chunk, () => frames++)
        expect(decoder.buffered).toBeLessThanOrEqual(HEADER_LENGTH + maxBodyLength + chunk.length)
        if (error !== undefined) {
          expect(error).toBeInstanceOf(FrameDecodeError)
          expect(error._tag).toBe("FrameDecodeError")
          expect(["BadMagic", "BodyTooLarge", "BadLengths"]).toContain(error.reason)
          expect(decoder.buffered).toBe(0)
          break
        }
      }
      if (error === undefined) expect(decoder.failed).toBeUndefined()
      else expect(decoder.failed).toBe(error)
    }
  )

  it.prop(
    "reports garbage after valid frames only once the frames are delivered",
    [fc.array(frameArb, { maxLength: 3 }), fc.uint8Array({ minLength: HEADER_LENGTH, maxLength: 64 })],
    ([inits, junk]) => {
      junk[0] = 0x42 // not a magic
      const stream = Buffer.concat([...inits.map(encodeFrame), junk])
      const { frames, error } = decodeAll([stream], { maxBodyLength: 1 << 20 })
      expect(frames.map(view)).toEqual(inits.map(expectedFrame))
      expect(error?.reason).toBe("BadMagic")
    }
  )

  it("fails a 4 GiB body at once, before buffering it", () => {
    const header = Buffer.alloc(HEADER_LENGTH)
    header[0] = Magic.ClientResponse
    header.writeUInt32BE(0xffffffff, 8)
    const decoder = new FrameDecoder({ maxBodyLength: 1024 })
    const error = decoder.feed(header, () => expect.unreachable())
    expect(error?.reason).toBe("BodyTooLarge")
    expect(error?.message).toContain("4294967295")
    expect(decoder.buffered).toBe(0)
  })

  it("fails a too-large body whose header arrives in pieces", () => {
    const header = Buffer.alloc(HEADER_LENGTH)
    header[0] = Magic.ClientRequest
    header.writeUInt32BE(2048, 8)
    const decoder = new FrameDecoder({ maxBodyLength: 1024 })
    expect(decoder.feed(header.subarray(0, 10), () => expect.unreachable())).toBeUndefined()
    expect(decoder.buffered).toBe(10)
    expect(decoder.feed(header.subarray(10), () => expect.unreachable())?.reason).toBe("BodyTooLarge")
    expect(decoder.buffered).toBe(0)
  })

  it("accepts a body of exactly the cap", () => {
    const value = Buffer.alloc(1024, 1)
    const { frames, error } = decodeAll([encodeFrame({ opcode: Opcode.Get, value })], { maxBodyLength: 1024 })
    expect(error).toBeUndefined()
    expect(frames[0]!.value.equals(value)).toBe(true)
  })

  it("rejects an unknown magic", () => {
    const bytes = encodeFrame({ opcode: Opcode.Get, key: Buffer.from("k") })
    bytes[0] = 0x47 // "G", as in an HTTP or text-protocol reply
    const { error, frames } = decodeAll([bytes])
    expect(frames).toEqual([])
    expect(error?.reason).toBe("BadMagic")
    expect(error?.message).toContain("0x47")
  })

  it("rejects sections longer than the body", () => {
    const bytes = encodeFrame({ opcode: Opcode.Get, key: Buffer.from("abcd"), extras: Buffer.alloc(4) })
    bytes.writeUInt32BE(7, 8) // 4 extras + 4 key bytes do not fit in 7
    expect(decodeAll([bytes]).error?.reason).toBe("BadLengths")
    const alt = encodeFrame({ magic: Magic.AltClientRequest, opcode: Opcode.Get, framingExtras: Buffer.alloc(3) })
    alt.writeUInt32BE(2, 8)
    expect(decodeAll([alt]).error?.reason).toBe("BadLengths")
  })

  it("stays failed after an error, and reset() recovers", () => {
    const decoder = new FrameDecoder()
    const bad = Buffer.alloc(HEADER_LENGTH, 0xff)
    const error = decoder.feed(bad, () => expect.unreachable())
    expect(error?.reason).toBe("BadMagic")
    const good = encodeFrame({ opcode: Opcode.Noop, opaque: 9 })
    expect(decoder.feed(good, () => expect.unreachable())).toBe(error)
    expect(decoder.failed).toBe(error)
    decoder.reset()
    expect(decoder.failed).toBeUndefined()
    const frames: Array<Frame> = []
    expect(decoder.feed(good, (f) => frames.push(f))).toBeUndefined()
    expect(frames.map((f) => f.opaque)).toEqual([9])
  })

  it("reset() drops a partial frame", () => {
    const decoder = new FrameDecoder()
    const frame = encodeFrame({ opcode: Opcode.Get, key: Buffer.from("partial") })
    decoder.feed(frame.subarray(0, 30), () => expect.unreachable())
    expect(decoder.buffered).toBe(30)
    decoder.reset()
    expect(decoder.buffered).toBe(0)
    const frames: Array<Frame> = []
    decoder.feed(frame, (f) => frames.push(f))
    expect(frames.map((f) => hex(f.key))).toEqual([hex(Buffer.from("partial"))])
  })
})
