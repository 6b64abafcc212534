/**
 * A view response body (a Stream of network chunks) as a Stream of rows.
 *
 * - **Parsing.** One channel step per network chunk: the chunk goes through the
 *   {@link RowParser} and every row it completes is written downstream as one Chunk.
 *   A large first read goes in two steps, so that the first rows do not wait for
 *   the parsing of the rest.
 *   A malformed spot ends the stream with the parse error right after the rows that
 *   came before it.
 *
 * The body's stall timeout is the caller's: the body comes with it.
 *
 * The channel replaces a `Stream.flatMap` per chunk, which measured a quarter of the
 * Stream's cost.
 *
 * @internal
 */
import { Channel, Chunk, Stream } from "effect"
import type { RawViewRow, RowParseError, RowParser } from "./RowParser.js"

/** What {@link bodyRows} needs besides the body. */
export interface BodyRowsOptions<Row, E> {
  readonly parser: RowParser
  readonly toRow: (raw: RawViewRow) => Row
  /** The error of a malformed body. */
  readonly malformed: (error: RowParseError) => E
}

/** See the module documentation. */
export const bodyRows = <Row, E, BE>(
  body: Stream.Stream<Uint8Array, BE>,
  options: BodyRowsOptions<Row, E>
): Stream.Stream<Row, E | BE> => {
  const { parser, toRow, malformed } = options
  type Parse = Channel.Channel<Chunk.Chunk<Row>, Chunk.Chunk<Uint8Array>, E | BE, E | BE, unknown, unknown>
  // Until the first rows are out, a large read is parsed a piece at a time.
  let first = true
  // The rows of `pieces` written downstream, then the next network chunk.
  const rowsOf = (pieces: ReadonlyArray<Uint8Array>): Parse => {
    const rows: Array<Row> = []
    for (let i = 0; i < pieces.length; i++) {
      let bytes = pieces[i]!
      let rest: Array<Uint8Array> | undefined
      if (first && bytes.length > FIRST_PIECE) {
        rest = [bytes.subarray(FIRST_PIECE), ...pieces.slice(i + 1)]
        bytes = bytes.subarray(0, FIRST_PIECE)
      }
      const fed = parser.feed(bytes)
      for (const raw of fed.rows) rows.push(toRow(raw))
      if (fed.error !== undefined) {
        return Channel.zipRight(writeRows(rows), Channel.fail(malformed(fed.error)))
      }
      if (rows.length > 0) first = false
      if (rest !== undefined) {
        first = false
        return rows.length === 0
          ? rowsOf(rest)
          : Channel.zipRight(
              writeRows(rows),
              Channel.suspend(() => rowsOf(rest))
            )
      }
    }
    return rows.length === 0 ? parse : Channel.zipRight(writeRows(rows), parse)
  }
  const parse: Parse = Channel.suspend(() =>
    Channel.readWithCause({
      onInput: (chunk: Chunk.Chunk<Uint8Array>) => rowsOf(Chunk.toReadonlyArray(chunk)),
      onFailure: Channel.failCause,
      onDone: () => Channel.void
    })
  )
  return Stream.pipeThroughChannel(body, parse)
}

/**
 * The first bytes parsed on their own when the first read is larger: a node that
 * got ahead of the client sends 64 KiB (some 500 rows) at once, whose parsing held
 * the first row back by a quarter of a millisecond.
 */
const FIRST_PIECE = 4096

/** The rows of one network chunk, written downstream as they are (no copy). */
const writeRows = <Row>(rows: Array<Row>) => Channel.write(Chunk.unsafeFromArray(rows))
