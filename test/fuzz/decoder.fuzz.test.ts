import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { HEADER_LENGTH, Magic } from "../../src/internal/protocol/constants.js"
import { encodeFrame, type FrameInit } from "../../src/internal/protocol/Frame.js"
import { FrameDecodeError, FrameDecoder } from "../../src/internal/protocol/FrameDecoder.js"
import { announce, FUZZ_SEED } from "./seed.js"

announce("frame decoder")

const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b))

// Valid frames of every magic, headers with random fields, and plain noise, spliced.
const frame: fc.Arbitrary<Buffer> = fc
  .record({
    magic: fc.constantFrom(Magic.ClientRequest, Magic.ClientResponse, Magic.AltClientRequest, Magic.ServerRequest),
    opcode: fc.nat(0xff),
    opaque: fc.nat(),
    extras: bytes(24),
    key: bytes(40),
    value: bytes(300)
  })
  .map((init: FrameInit) => encodeFrame(init))
const header = fc.uint8Array({ minLength: HEADER_LENGTH, maxLength: HEADER_LENGTH }).map((b) => Buffer.from(b))
const stream = fc
  .array(
    fc.oneof({ weight: 4, arbitrary: frame }, { weight: 1, arbitrary: header }, { weight: 1, arbitrary: bytes(64) }),
    {
      maxLength: 8
    }
  )
  .map((parts) => Buffer.concat(parts))

describe("fuzz: frame decoder", () => {
  it("10 000 random streams, split at random: frames or one typed error, never a throw, memory bounded", () => {
    const maxBodyLength = 512
    let errors = 0
    let frames = 0
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (input, cuts, skip) => {
        const decoder = new FrameDecoder({ maxBodyLength })
        const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)
        let at = 0
        for (const end of [...points, input.length]) {
          const chunk = input.subarray(at, end)
          at = end
          const error = decoder.feed(chunk, () => frames++, skip ? () => frames++ : undefined)
          expect(decoder.buffered).toBeLessThanOrEqual(HEADER_LENGTH + maxBodyLength + chunk.length)
          if (error !== undefined) {
            expect(error).toBeInstanceOf(FrameDecodeError)
            expect(decoder.buffered).toBe(0)
            // Failed for good: later bytes change nothing.
            expect(decoder.feed(Buffer.alloc(30), () => expect.unreachable())).toBe(error)
            errors++
            return
          }
        }
      }),
      { seed: FUZZ_SEED, numRuns: 10_000 }
    )
    // The generator reaches both outcomes (else it tests nothing).
    expect(errors).toBeGreaterThan(100)
    expect(frames).toBeGreaterThan(1000)
  })
})
