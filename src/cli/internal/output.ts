/**
 * What the commands print: values as a user reads them (JSON documents as JSON,
 * strings as text, bytes as bytes) or, with `--json`, one JSON object per line with
 * CAS values as decimal strings (they do not fit a JSON number).
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { CliIo } from "./Io.js"

/**
 * `JSON.stringify` that writes a `bigint` as a number when it is safe, else a string,
 * and bytes as base64.
 *
 * @since 0.1.0
 */
export const toJson = (value: unknown): string =>
  JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    // `this[key]` is the value before its own toJSON (a Buffer's would give {type, data}).
    const raw = this[key]
    if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64")
    if (typeof v === "bigint") {
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(v)
    }
    return v
  })

/**
 * Writes one line to stdout.
 *
 * @since 0.1.0
 */
export const line = (text: string): Effect.Effect<void, never, CliIo> =>
  Effect.flatMap(CliIo, (io) => Effect.sync(() => io.out(`${text}\n`)))

/**
 * Writes `record` as a JSON line with `--json`, else `text`.
 *
 * @since 0.1.0
 */
export const emit = (json: boolean, record: object, text: string): Effect.Effect<void, never, CliIo> =>
  line(json ? toJson(record) : text)

/**
 * Writes a document's value: bytes as they are, a string as text, anything else as
 * JSON; a line break after text and JSON.
 *
 * @since 0.1.0
 */
export const writeValue = (value: unknown): Effect.Effect<void, never, CliIo> =>
  Effect.flatMap(CliIo, (io) =>
    Effect.sync(() => {
      if (value instanceof Uint8Array) io.out(value)
      else io.out(`${typeof value === "string" ? value : toJson(value)}\n`)
    })
  )
