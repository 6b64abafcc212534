/**
 * Schema-typed view rows: each row's key, value and (with `include_docs`) document
 * decoded with the caller's Schemas as the rows stream. The rows before a bad one are
 * delivered; the bad one ends the stream with a `ValueFormatError` naming it (its
 * position, document ID and key, and which part did not match, with Schema's report).
 * One channel step per chunk, as the row parser's, not an Effect per row.
 *
 * @internal
 */
import { Channel, Chunk, Either, ParseResult, Schema, Stream } from "effect"
import { ValueFormatError } from "../../Errors.js"
import type { RowSchemas, ViewRow } from "../../View.js"

type Decoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseError>

const decoder = (schema: Schema.Schema<any, any> | undefined): Decoder | undefined =>
  schema === undefined ? undefined : (Schema.decodeUnknownEither(schema as Schema.Schema<any, any, never>) as Decoder)

const describeKey = (key: unknown): string => {
  try {
    const text = JSON.stringify(key)
    return text === undefined ? String(key) : text.length > 200 ? `${text.slice(0, 200)}…` : text
  } catch {
    return String(key)
  }
}

/** Decodes the rows of `stream` with `schemas`; `what` names the query in errors. */
export const decodeRows = <K, V, D, E, R>(
  stream: Stream.Stream<ViewRow<unknown, unknown, unknown>, E, R>,
  schemas: RowSchemas<K, V, D>,
  what: string
): Stream.Stream<ViewRow<K, V, D>, E | ValueFormatError, R> => {
  const key = decoder(schemas.key)
  const value = decoder(schemas.value)
  const doc = decoder(schemas.doc)
  let index = 0
  const fail = (row: ViewRow, at: number, part: string, error: ParseResult.ParseError) =>
    new ValueFormatError({
      ...(row.docid === undefined ? {} : { key: row.docid }),
      message: `row ${at} of ${what} (key ${describeKey(row.key)}): its ${part} does not match the schema: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
      cause: error
    })
  const decodeChunk = (
    rows: Chunk.Chunk<ViewRow>
  ): { readonly out: Array<ViewRow<K, V, D>>; readonly error?: ValueFormatError } => {
    const out: Array<ViewRow<K, V, D>> = []
    for (const row of rows) {
      const at = index++
      let k: unknown = row.key
      let v: unknown = row.value
      let d = row.doc
      if (key !== undefined) {
        const r = key(k)
        if (Either.isLeft(r)) return { out, error: fail(row, at, "key", r.left) }
        k = r.right
      }
      if (value !== undefined) {
        const r = value(v)
        if (Either.isLeft(r)) return { out, error: fail(row, at, "value", r.left) }
        v = r.right
      }
      if (doc !== undefined && d?.success === true) {
        const r = doc(d.value)
        if (Either.isLeft(r)) return { out, error: fail(row, at, "document", r.left) }
        d = { ...d, value: r.right }
      }
      out.push({ ...row, key: k as K, value: v as V, ...(d === undefined ? {} : { doc: d as any }) })
    }
    return { out }
  }
  const step: Channel.Channel<
    Chunk.Chunk<ViewRow<K, V, D>>,
    Chunk.Chunk<ViewRow>,
    E | ValueFormatError,
    E,
    unknown,
    unknown
  > = Channel.readWithCause({
    onInput: (rows: Chunk.Chunk<ViewRow>) => {
      const { out, error } = decodeChunk(rows)
      const written = out.length === 0 ? Channel.void : Channel.write(Chunk.unsafeFromArray(out))
      return error === undefined ? Channel.zipRight(written, step) : Channel.zipRight(written, Channel.fail(error))
    },
    onFailure: Channel.failCause,
    onDone: () => Channel.void
  })
  return Stream.pipeThroughChannel(stream as Stream.Stream<ViewRow, E, R>, step)
}
