/**
 * The {@link ValueFormatError} of a transcoder that threw, shared by the public
 * `Transcoder` functions and the operations' decoding (which calls transcoders
 * directly rather than through an `Either` per value).
 *
 * @internal
 */
import { ValueFormatError } from "../Errors.js"

/** `cause` (what a transcoder threw) as a ValueFormatError about `key`, saying it failed to `what`. */
export const toValueFormatError = (cause: unknown, key: string | undefined, what: string): ValueFormatError => {
  if (cause instanceof ValueFormatError) {
    return key === undefined || cause.key !== undefined
      ? cause
      : new ValueFormatError({ key, message: cause.message, cause: cause.cause })
  }
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new ValueFormatError({ key, message: `the transcoder failed to ${what}: ${detail}`, cause })
}

/** The error of a value that could not be decoded with `flags`. */
export const decodeFailure = (cause: unknown, key: string | undefined, flags: number): ValueFormatError =>
  toValueFormatError(cause, key, `decode the value with flags 0x${(flags >>> 0).toString(16).padStart(8, "0")}`)

/** The error of a transcoder whose `encodeKey` returned something other than bytes. */
export const malformedKey = (key: string): ValueFormatError =>
  new ValueFormatError({ key, message: "the transcoder returned a malformed key: encodeKey must return a Uint8Array" })
