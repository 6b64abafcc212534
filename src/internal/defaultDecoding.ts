/**
 * How the default transcoder reads values, from a range of a buffer: the operations
 * decode a response's value where it lies in the bytes read from the socket, without
 * making a view of it first (a multi-get decodes thousands of values). The public
 * `Transcoder` functions call the same code with a whole buffer.
 *
 * Errors are thrown as {@link ValueFormatError}s, as a transcoder does.
 *
 * @internal
 */
import { isUtf8 } from "node:buffer"
import { ValueFormatError } from "../Errors.js"

/** What the default transcoder makes of a value's flags (undefined: a format it does not know). */
export type DefaultKind = "json" | "bytes" | "utf8" | undefined

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`

/**
 * The UTF-8 text in `buf[start, end)`; invalid UTF-8 is an error, never replaced. A
 * leading U+FEFF is content and stays. Node's decoder replaces what is invalid with
 * U+FFFD, so only text containing U+FFFD (which valid input may also contain) needs
 * the strict check: for valid text this is about a third faster than a fatal
 * `TextDecoder`, and it reads the range in place.
 */
export const utf8TextIn = (buf: Buffer, start: number, end: number, what: string): string => {
  const text = buf.toString("utf8", start, end)
  if (text.indexOf("\uFFFD") === -1 || isUtf8(buf.subarray(start, end))) return text
  throw new ValueFormatError({
    message: `${what} is not valid UTF-8; read it with noFormat: true to get the raw bytes`
  })
}

/** The JSON value in `buf[start, end)`. */
export const jsonIn = (buf: Buffer, start: number, end: number): unknown => {
  const text = utf8TextIn(buf, start, end, "the JSON value")
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new ValueFormatError({
      message: `the value is flagged as JSON but is not valid JSON (${end - start} bytes); read it with noFormat: true to get the raw bytes`,
      cause
    })
  }
}

/**
 * The value in `buf[start, end)` as the default transcoder decodes it for `kind`
 * (from `flags`, which only the error message needs). Bytes are a view, not a copy.
 */
export const defaultValueIn = (buf: Buffer, start: number, end: number, kind: DefaultKind, flags: number): unknown => {
  switch (kind) {
    case "json":
      return jsonIn(buf, start, end)
    case "bytes":
      return start === 0 && end === buf.length ? buf : buf.subarray(start, end)
    case "utf8":
      return utf8TextIn(buf, start, end, "the UTF-8 value")
    default:
      throw new ValueFormatError({
        message:
          (flags >>> 24 === 0x01
            ? `flags ${hex(flags)} mark a private (language-serialized) value that this client cannot read`
            : `flags ${hex(flags)} name a format this client does not know`) +
          "; read it with noFormat: true to get the raw bytes, or supply a transcoder"
      })
  }
}
