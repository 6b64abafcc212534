import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import { bodyRows } from "../../src/internal/view/bodyRows.js"
import { type RawViewRow, RowParser } from "../../src/internal/view/RowParser.js"

/** A body as a node writes it: one row per line. */
const body = (rows: number): Buffer => {
  const lines = Array.from(
    { length: rows },
    (_, i) => `{"id":"doc-${i}","key":[${i},"${"k".repeat(60)}"],"value":${i}}`
  )
  return Buffer.from(`{"total_rows":${rows},"rows":[\r\n${lines.join(",\r\n")}\r\n]\r\n}`)
}

const chunksOf = (bytes: ReadonlyArray<Uint8Array>) =>
  // One element per network chunk, as a socket delivers them.
  bodyRows(Stream.rechunk(Stream.fromIterable(bytes), 1), {
    parser: new RowParser(),
    toRow: (raw: RawViewRow) => raw.id as string,
    malformed: (e) => new Error(e.message)
  }).pipe(
    Stream.chunks,
    Stream.runCollect,
    Effect.map((c) => Chunk.toReadonlyArray(c).map(Chunk.toReadonlyArray))
  )

describe("bodyRows", () => {
  it.effect("a large first read gives its first rows before the rest is parsed; every row once, in order", () =>
    Effect.gen(function* () {
      const bytes = body(600)
      expect(bytes.length).toBeGreaterThan(40_000)
      const chunks = yield* chunksOf([bytes])
      // The first 4 KiB alone, then the rest of the read.
      expect(chunks).toHaveLength(2)
      expect(chunks[0]!.length).toBeGreaterThan(0)
      expect(chunks[0]!.length).toBeLessThan(60)
      expect(chunks.flat()).toEqual(Array.from({ length: 600 }, (_, i) => `doc-${i}`))
    })
  )

  it.effect("after the first rows, each network chunk is one step", () =>
    Effect.gen(function* () {
      const bytes = body(600)
      const cuts = [1000, 20_000, 30_000]
      const pieces = [0, ...cuts].map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length))
      const chunks = yield* chunksOf(pieces)
      // The first read is small: its rows go as they are; the later reads are not split.
      expect(chunks).toHaveLength(4)
      expect(chunks.flat()).toEqual(Array.from({ length: 600 }, (_, i) => `doc-${i}`))
    })
  )

  it.effect("a malformed spot in the first read: the rows before it are delivered, and the body is refused", () =>
    Effect.gen(function* () {
      const good = body(600).toString()
      const broken = Buffer.from(good.replace('{"id":"doc-300"', '{"id":doc-300"'))
      const parser = new RowParser()
      const rows: Array<string> = []
      const outcome = yield* bodyRows(Stream.make(broken), {
        parser,
        toRow: (raw: RawViewRow) => raw.id as string,
        malformed: (e) => e
      }).pipe(
        Stream.runForEach((row) => Effect.sync(() => rows.push(row))),
        Effect.either
      )
      expect(rows).toEqual(Array.from({ length: 300 }, (_, i) => `doc-${i}`))
      // Refused as it arrives, or at the end of the body (where the View reads it).
      expect(Either.isLeft(outcome) || Either.isLeft(parser.finish())).toBe(true)
    })
  )
})
