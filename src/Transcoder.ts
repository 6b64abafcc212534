/**
 * Turning keys and values into bytes and back, with the item flags the Couchbase SDKs
 * agree on.
 *
 * A stored item carries 32-bit `flags` that say how its bytes were written. This
 * module writes the SDKs' "common flags" (SDK RFC 20: the format in the top byte),
 * chosen so that their low bits are also the Python SDK 1.x legacy format codes;
 * readers of either generation understand what we write, and we read both:
 *
 * | format      | flags written  | common (top byte) | legacy (low 3 bits, top byte 0) |
 * |-------------|----------------|-------------------|---------------------------------|
 * | `FMT_JSON`  | `0x02000000`   | `0x02`            | `0` (so flags 0 read as JSON)   |
 * | `FMT_BYTES` | `0x03000002`   | `0x03`            | `2`                             |
 * | `FMT_UTF8`  | `0x04000004`   | `0x04`            | `4`                             |
 *
 * Any other format (top byte `0x01`, the private/serialized format of the Python
 * pickle and Java serializers, or codes this library does not know) fails decoding
 * with a {@link ValueFormatError} rather than guessing: a caller who wants the bytes
 * anyway asks for them with `noFormat`, and a caller with its own format supplies a
 * {@link Transcoder}.
 *
 * The default transcoder's methods are plain synchronous functions (they run once per
 * operation on the hot path) that throw a `ValueFormatError`; the `…Either` and
 * Effect helpers run any transcoder, custom ones included, and turn whatever it throws
 * (or any malformed output) into a `ValueFormatError` that keeps the cause.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Connection, Transcoder } from "effect-couchbase"
 *
 * class User extends Schema.Class<User>("User")({ name: Schema.String, joined: Schema.DateFromString }) {}
 *
 * // Reads are validated against the schema: a stored document that does not match is
 * // a ValueFormatError naming what is wrong, never a mistyped value.
 * const joinedYear = (id: string) =>
 *   Effect.gen(function* () {
 *     const users = (yield* Connection.Connection).withTranscoder(Transcoder.schemaTranscoder(User))
 *     const user = yield* users.get(`user::${id}`)
 *     return user.value.joined.getFullYear()
 *   })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import { ValueFormatError } from "./Errors.js"
import { defaultValueIn, jsonIn, utf8TextIn } from "./internal/defaultDecoding.js"
import { decodeFailure, malformedKey, toValueFormatError } from "./internal/valueFormatError.js"
import { isWellFormed } from "./internal/wellFormed.js"

/**
 * JSON, compact (`JSON.stringify`). The default format.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_JSON = 0x02000000
/**
 * Raw bytes: the value must be a `Uint8Array` (a `Buffer` is one).
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_BYTES = 0x03000002
/**
 * UTF-8 text: the value must be a string.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_UTF8 = 0x04000004
/**
 * Pick the format from the value: string → {@link FMT_UTF8}, `Uint8Array` →
 * {@link FMT_BYTES}, anything else (objects, arrays, numbers, booleans, null) →
 * {@link FMT_JSON}. A request-side sentinel only: it is resolved before encoding and
 * never written to the wire (bit 30 is outside every format the SDKs define).
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_AUTO = 0x40000000

/**
 * Legacy (Python SDK 1.x) JSON flags: writing with it stores flags 0.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_LEGACY_JSON = 0
/**
 * Legacy (Python SDK 1.x) bytes flags: writing with it stores flags 2.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_LEGACY_BYTES = 2
/**
 * Legacy (Python SDK 1.x) UTF-8 flags: writing with it stores flags 4.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_LEGACY_UTF8 = 4

/**
 * The bits of the flags that carry the common format.
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_COMMON_MASK = 0xff000000
/**
 * The bits of the flags that carry the legacy format (when the common byte is 0).
 *
 * @since 0.1.0
 * @category constants
 */
export const FMT_LEGACY_MASK = 0x07

/**
 * A format the default transcoder can write: the common formats, their legacy codes, or {@link FMT_AUTO}.
 *
 * @since 0.1.0
 * @category models
 */
export type Format =
  | typeof FMT_JSON
  | typeof FMT_BYTES
  | typeof FMT_UTF8
  | typeof FMT_AUTO
  | typeof FMT_LEGACY_JSON
  | typeof FMT_LEGACY_BYTES
  | typeof FMT_LEGACY_UTF8

/**
 * What the flags of an item say its bytes are.
 *
 * @since 0.1.0
 * @category models
 */
export type ValueKind = "json" | "bytes" | "utf8"

/**
 * Converts keys and values to bytes and back. Replacing it replaces all of the
 * transcoding, keys included; throwing, or returning something malformed, becomes a
 * {@link ValueFormatError} in the helpers. `A` is the type of decoded values, for
 * transcoders that know their documents (see {@link schemaTranscoder}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Transcoder<A = unknown> {
  /** The bytes of a key. */
  encodeKey(key: string): Uint8Array
  /** A key read back from the wire (GETK, stats, views). */
  decodeKey(bytes: Uint8Array): string
  /**
   * The bytes and flags to store for `value`. `format` is one of the {@link Format}
   * constants, or a code of the transcoder's own.
   */
  encodeValue(value: A, format: number): readonly [Uint8Array, number]
  /** The value of stored bytes, by their flags. */
  decodeValue(bytes: Uint8Array, flags: number): A
}

/**
 * Options of the decoding helpers.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  /** Named in the error message when decoding fails. */
  readonly key?: string | undefined
  /** Return the raw bytes (a view of the received buffer) without running the transcoder. */
  readonly noFormat?: boolean | undefined
}

/**
 * Options of the encoding helpers.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodeOptions {
  /** Named in the error message when encoding fails. */
  readonly key?: string | undefined
}

// ---------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------

/**
 * The kind of value `flags` describe, or undefined when they name a format this
 * library does not know. The common byte wins over the legacy bits when present.
 *
 * @since 0.1.0
 * @category flags
 */
export const kindOfFlags = (flags: number): ValueKind | undefined => {
  const common = flags >>> 24
  if (common !== 0) {
    if (common === 0x02) return "json"
    if (common === 0x03) return "bytes"
    if (common === 0x04) return "utf8"
    return undefined
  }
  // The legacy scheme used only the low three bits; the bits above were never a format.
  const legacy = flags & FMT_LEGACY_MASK
  if (legacy === 0) return "json"
  if (legacy === 2) return "bytes"
  if (legacy === 4) return "utf8"
  return undefined
}

/**
 * True when `flags` say the bytes are JSON: the client then sets the JSON datatype
 * bit on the request if the node acknowledged the JSON HELLO feature. A custom
 * transcoder must therefore use JSON flags only for JSON bytes.
 *
 * @since 0.1.0
 * @category flags
 */
export const isJsonFlags = (flags: number): boolean => kindOfFlags(flags) === "json"

/**
 * The concrete format {@link FMT_AUTO} picks for `value`.
 *
 * @since 0.1.0
 * @category flags
 */
export const autoFormat = (value: unknown): typeof FMT_JSON | typeof FMT_BYTES | typeof FMT_UTF8 =>
  typeof value === "string" ? FMT_UTF8 : value instanceof Uint8Array ? FMT_BYTES : FMT_JSON

/**
 * `format`, with {@link FMT_AUTO} resolved for `value`; other codes unchanged.
 *
 * @since 0.1.0
 * @category flags
 */
export const resolveFormat = (value: unknown, format: number): number =>
  format === FMT_AUTO ? autoFormat(value) : format

// ---------------------------------------------------------------------------
// The default transcoder (plain functions; they throw ValueFormatError)
// ---------------------------------------------------------------------------

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, "0")}`

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (value instanceof Uint8Array) return `${value.constructor.name} of ${value.length} bytes`
  if (typeof value === "object") return (value as object).constructor?.name ?? "object"
  return typeof value
}

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const utf8Bytes = (text: string, what: string): Uint8Array => {
  if (!isWellFormed(text)) {
    throw new ValueFormatError({
      message: `${what} contains an unpaired UTF-16 surrogate and cannot be written as UTF-8; fix the string or store bytes`
    })
  }
  return Buffer.from(text, "utf8")
}

const utf8Text = (bytes: Uint8Array, what: string): string => utf8TextIn(asBuffer(bytes), 0, bytes.length, what)

/**
 * Encodes `value` as compact JSON. Throws a {@link ValueFormatError} for values JSON
 * cannot represent, and for bytes (a `Uint8Array` or `Buffer`), which JSON would
 * store as a dump of numbers.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeJson = (value: unknown): Uint8Array => {
  if (value instanceof Uint8Array) {
    // JSON.stringify would store a Buffer as {"type":"Buffer","data":[…]}: about twice
    // its size, and it would read back as that object, not as bytes.
    throw new ValueFormatError({
      message: `a ${describe(value)} is bytes, not JSON data (JSON would store its dump, {"type":"Buffer","data":[…]}); store it with FMT_BYTES or FMT_AUTO`
    })
  }
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    // BigInt and cyclic structures throw TypeError.
    throw new ValueFormatError({
      message: `the value cannot be encoded as JSON (${cause instanceof Error ? cause.message : String(cause)}); convert it to plain data first`,
      cause
    })
  }
  // undefined, functions and symbols have no JSON form at the top level.
  if (text === undefined) {
    throw new ValueFormatError({ message: `a ${describe(value)} cannot be encoded as JSON; store plain data` })
  }
  return Buffer.from(text, "utf8")
}

/**
 * Decodes JSON bytes. Throws a {@link ValueFormatError} for invalid UTF-8 or JSON.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeJson = (bytes: Uint8Array): unknown => jsonIn(asBuffer(bytes), 0, bytes.length)

const encodeBytes = (value: unknown): Uint8Array => {
  if (value instanceof Uint8Array) return value
  throw new ValueFormatError({
    message: `FMT_BYTES needs a Uint8Array or Buffer, got ${describe(value)}: use FMT_UTF8 for strings, FMT_JSON for data, or FMT_AUTO`
  })
}

const encodeUtf8 = (value: unknown): Uint8Array => {
  if (typeof value === "string") return utf8Bytes(value, "the value")
  throw new ValueFormatError({
    message: `FMT_UTF8 needs a string, got ${describe(value)}: use FMT_JSON for data, FMT_BYTES for bytes, or FMT_AUTO`
  })
}

const defaultEncodeValue = (value: unknown, format: number): readonly [Uint8Array, number] => {
  switch (format) {
    case FMT_JSON:
    case FMT_LEGACY_JSON:
      return [encodeJson(value), format]
    case FMT_BYTES:
    case FMT_LEGACY_BYTES:
      return [encodeBytes(value), format]
    case FMT_UTF8:
    case FMT_LEGACY_UTF8:
      return [encodeUtf8(value), format]
    case FMT_AUTO:
      return defaultEncodeValue(value, autoFormat(value))
    default:
      throw new ValueFormatError({
        message: `unknown format ${hex(format)}: use FMT_JSON, FMT_BYTES, FMT_UTF8 or FMT_AUTO, or supply a transcoder`
      })
  }
}

const defaultDecodeValue = (bytes: Uint8Array, flags: number): unknown =>
  defaultValueIn(asBuffer(bytes), 0, bytes.length, kindOfFlags(flags), flags)

/**
 * The transcoder used unless one is configured: keys as UTF-8, values by format as
 * described in the module documentation. Decoded bytes (FMT_BYTES) are a view of the
 * received buffer, not a copy; encoded bytes given as FMT_BYTES are not copied either.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultTranscoder: Transcoder = {
  encodeKey: (key) => utf8Bytes(key, "the key"),
  decodeKey: (bytes) => utf8Text(bytes, "the key"),
  encodeValue: defaultEncodeValue,
  decodeValue: defaultDecodeValue
}

/**
 * A transcoder from the parts given; the missing key functions come from
 * {@link defaultTranscoder}.
 *
 * @example
 * ```ts
 * import { Transcoder } from "effect-couchbase"
 *
 * // Strings stored as Latin-1 by an old writer: read and write them the same way.
 * const latin1 = Transcoder.make<string>({
 *   encodeValue: (value, format) => [Buffer.from(value, "latin1"), format],
 *   decodeValue: (bytes) => Buffer.from(bytes).toString("latin1")
 * })
 *
 * const [bytes, flags] = latin1.encodeValue("café", Transcoder.FMT_BYTES)
 * console.log(bytes.length, Transcoder.kindOfFlags(flags)) // 4 "bytes"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A = unknown>(parts: {
  readonly encodeValue: (value: A, format: number) => readonly [Uint8Array, number]
  readonly decodeValue: (bytes: Uint8Array, flags: number) => A
  readonly encodeKey?: ((key: string) => Uint8Array) | undefined
  readonly decodeKey?: ((bytes: Uint8Array) => string) | undefined
}): Transcoder<A> => ({
  encodeKey: parts.encodeKey ?? defaultTranscoder.encodeKey,
  decodeKey: parts.decodeKey ?? defaultTranscoder.decodeKey,
  encodeValue: parts.encodeValue,
  decodeValue: parts.decodeValue
})

// ---------------------------------------------------------------------------
// Running any transcoder safely
// ---------------------------------------------------------------------------

const malformed = (key: string | undefined, message: string): ValueFormatError =>
  new ValueFormatError({ key, message: `the transcoder ${message}` })

const isFlags = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff

/**
 * Runs `transcoder.encodeValue`; a throw or a result other than `[Uint8Array, u32 flags]` is a {@link ValueFormatError}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeValueEither = <A>(
  transcoder: Transcoder<A>,
  value: A,
  format: number,
  options?: EncodeOptions
): Either.Either<readonly [Uint8Array, number], ValueFormatError> => {
  let out: readonly [Uint8Array, number]
  try {
    out = transcoder.encodeValue(value, format)
  } catch (cause) {
    return Either.left(toValueFormatError(cause, options?.key, "encode the value"))
  }
  if (!Array.isArray(out) || !(out[0] instanceof Uint8Array) || !isFlags(out[1])) {
    return Either.left(
      malformed(options?.key, "returned a malformed encoding: encodeValue must return [Uint8Array, 32-bit flags]")
    )
  }
  return Either.right(out)
}

/**
 * Runs `transcoder.decodeValue`; a throw is a {@link ValueFormatError}. Under
 * `noFormat` the raw bytes come back (a view of the received buffer) and the
 * transcoder is not run.
 *
 * @since 0.1.0
 * @category decoding
 */
export function decodeValueEither<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options: DecodeOptions & { readonly noFormat: true }
): Either.Either<Buffer, ValueFormatError>
export function decodeValueEither<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions & { readonly noFormat?: false | undefined }
): Either.Either<A, ValueFormatError>
export function decodeValueEither<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions
): Either.Either<A | Buffer, ValueFormatError>
export function decodeValueEither<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions
): Either.Either<A | Buffer, ValueFormatError> {
  if (options?.noFormat === true) return Either.right(asBuffer(bytes))
  try {
    return Either.right(transcoder.decodeValue(bytes, flags))
  } catch (cause) {
    return Either.left(decodeFailure(cause, options?.key, flags))
  }
}

/**
 * Runs `transcoder.encodeKey`; a throw or a non-`Uint8Array` result is a {@link ValueFormatError}.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeKeyEither = (
  transcoder: Pick<Transcoder, "encodeKey">,
  key: string
): Either.Either<Uint8Array, ValueFormatError> => {
  let out: Uint8Array
  try {
    out = transcoder.encodeKey(key)
  } catch (cause) {
    return Either.left(toValueFormatError(cause, key, "encode the key"))
  }
  return out instanceof Uint8Array ? Either.right(out) : Either.left(malformedKey(key))
}

/**
 * Runs `transcoder.decodeKey`; a throw or a non-string result is a {@link ValueFormatError}.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeKeyEither = (
  transcoder: Pick<Transcoder, "decodeKey">,
  bytes: Uint8Array
): Either.Either<string, ValueFormatError> => {
  let out: string
  try {
    out = transcoder.decodeKey(bytes)
  } catch (cause) {
    return Either.left(toValueFormatError(cause, undefined, "decode a key"))
  }
  return typeof out === "string"
    ? Either.right(out)
    : Either.left(malformed(undefined, "returned a malformed key: decodeKey must return a string"))
}

/**
 * {@link encodeValueEither} as an Effect.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeValue = <A>(
  transcoder: Transcoder<A>,
  value: A,
  format: number,
  options?: EncodeOptions
): Effect.Effect<readonly [Uint8Array, number], ValueFormatError> =>
  Effect.suspend(() => encodeValueEither(transcoder, value, format, options))

/**
 * {@link decodeValueEither} as an Effect.
 *
 * @since 0.1.0
 * @category decoding
 */
export function decodeValue<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options: DecodeOptions & { readonly noFormat: true }
): Effect.Effect<Buffer, ValueFormatError>
export function decodeValue<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions & { readonly noFormat?: false | undefined }
): Effect.Effect<A, ValueFormatError>
export function decodeValue<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions
): Effect.Effect<A | Buffer, ValueFormatError>
export function decodeValue<A>(
  transcoder: Transcoder<A>,
  bytes: Uint8Array,
  flags: number,
  options?: DecodeOptions
): Effect.Effect<A | Buffer, ValueFormatError> {
  return Effect.suspend(() => decodeValueEither(transcoder, bytes, flags, options))
}

/**
 * {@link encodeKeyEither} as an Effect.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeKey = (
  transcoder: Pick<Transcoder, "encodeKey">,
  key: string
): Effect.Effect<Uint8Array, ValueFormatError> => Effect.suspend(() => encodeKeyEither(transcoder, key))

/**
 * {@link decodeKeyEither} as an Effect.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeKey = (
  transcoder: Pick<Transcoder, "decodeKey">,
  bytes: Uint8Array
): Effect.Effect<string, ValueFormatError> => Effect.suspend(() => decodeKeyEither(transcoder, bytes))

// ---------------------------------------------------------------------------
// Schema-typed documents
// ---------------------------------------------------------------------------

/**
 * A transcoder for documents of one Schema: values are encoded with the schema (then
 * stored by `base`, JSON by default) and validated when read, so a document that does
 * not match fails with a {@link ValueFormatError} carrying the `ParseError` and its
 * readable explanation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schemaTranscoder = <A, I>(
  schema: Schema.Schema<A, I, never>,
  base: Transcoder<unknown> = defaultTranscoder
): Transcoder<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  const encode = Schema.encodeEither(schema)
  const fail = (what: string, error: ParseResult.ParseError): ValueFormatError =>
    new ValueFormatError({
      message: `${what} does not match the document schema: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
      cause: error
    })
  return {
    encodeKey: (key) => base.encodeKey(key),
    decodeKey: (bytes) => base.decodeKey(bytes),
    encodeValue: (value, format) => {
      const encoded = encode(value)
      if (Either.isLeft(encoded)) throw fail("the value", encoded.left)
      return base.encodeValue(encoded.right, format)
    },
    decodeValue: (bytes, flags) => {
      const decoded = decode(base.decodeValue(bytes, flags))
      if (Either.isLeft(decoded)) throw fail("the stored document", decoded.left)
      return decoded.right
    }
  }
}
