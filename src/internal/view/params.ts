/**
 * View query parameters and their encoding, with the validation and the
 * exact output of the Python SDK 2.x (`couchbase/views/params.py`): the same accepted
 * and refused inputs, the same query string byte for byte, the same switch to POST
 * when the query string is longer than 2048 characters.
 *
 * How it works, as in Python: each parameter has a handler that validates the user's
 * value and turns it into a string (booleans → `true`/`false`, JSON values →
 * `json.dumps` with Python's spacing, integers → decimal, `stale: true` → `ok`). The
 * handled values are kept in insertion order and percent-encoded (`urllib.parse.quote`)
 * when the query string is built. `passthrough` replaces every handler with the plain
 * string handler and skips percent-encoding; `unrecognized_ok` lets unknown names
 * through as plain, unencoded strings.
 *
 * Differences from Python, all forced by JavaScript or chosen as fixes:
 * - A property whose value is `undefined` is absent (Python's `UNSPEC`); inside
 *   `mapkey_range`/`dockey_range`, an `undefined` element is an open end.
 * - Numbers follow the rule of `./python.ts`: safe integers are `int`, other numbers
 *   are `float`.
 * - When the POST form is used, a raw query string (`raw` or a string query) stays in
 *   the URI; Python drops it there, silently losing the caller's parameters.
 *
 * @internal
 */
import { Either } from "effect"
import { ArgumentError } from "../../Errors.js"
// The parameter types are the View module's own (documented there, for users).
import type { ViewQueryInput } from "../../View.js"
import { isPyFailure, jsonDumps, numberStr, type PyFailure, parseIntLikePython, quote } from "./python.js"

/** The longest query string sent with GET; longer ones are sent with POST (the Python SDK's `MAX_URI_LENGTH`). */
export const MAX_URI_LENGTH = 2048

/** The highest key character the Python SDK suggests for open-ended string ranges (`Query.STRING_RANGE_END`). */
export const STRING_RANGE_END = "\u0fff"

/** The outcome of encoding. */
export interface EncodedViewQuery {
  /** The full query string (Python's `Query.encoded`), whatever its length. */
  readonly encoded: string
  /** The query string to put in the URI: `encoded`, or without `keys` when too long. */
  readonly query: string
  /** When defined, send a POST with this JSON body (`{"keys":…}` or `{}`). */
  readonly body: string | undefined
  /** The values as the caller gave them, by wire name (Python's `_user_options`). */
  readonly given: ReadonlyMap<string, unknown>
  /** The handled values before percent-encoding, by wire name (Python's `_real_options`). */
  readonly handled: ReadonlyMap<string, string>
}

type Handler = (value: unknown) => string | PyFailure

const fail = (reason: string): PyFailure => ({ _tag: "PyFailure", reason })

const show = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u)
  if (typeof u === "bigint") return `${u}n`
  if (typeof u === "function") return "a function"
  if (typeof u === "symbol") return u.toString()
  if (u === undefined || u === null || typeof u !== "object") return String(u)
  try {
    const text = JSON.stringify(u)
    return text === undefined ? Object.prototype.toString.call(u) : text.length > 80 ? `${text.slice(0, 77)}...` : text
  } catch {
    return Object.prototype.toString.call(u)
  }
}

const boolHandler: Handler = (v) => {
  if (typeof v === "boolean") return v ? "true" : "false"
  if (typeof v === "string") {
    return v === "true" || v === "false" ? v : fail("String for boolean must be 'true' or 'false'")
  }
  // Python accepts anything that supports `x + 0` and uses its truth value (NaN is true).
  if (typeof v === "number") return v !== 0 ? "true" : "false"
  if (typeof v === "bigint") return v !== 0n ? "true" : "false"
  return fail("Boolean value must be boolean, numeric, or a string of 'true' or 'false'")
}

const numHandler: Handler = (v) => {
  if (typeof v === "boolean") return fail("Cannot use booleans as numeric values")
  if (typeof v === "bigint") return v.toString()
  if (typeof v === "number") {
    // Python's int(float) truncates toward zero and refuses infinities and NaN.
    return Number.isFinite(v) ? BigInt(Math.trunc(v)).toString() : fail("Expected a numeric argument")
  }
  if (typeof v === "string") return parseIntLikePython(v) ?? fail("Expected a numeric argument")
  return fail("Expected a numeric argument")
}

const stringHandler: Handler = (v) => {
  if (typeof v === "string") return v
  if (typeof v === "boolean") return fail("Can't use boolean as string")
  if (typeof v === "number" || typeof v === "bigint") return numberStr(v)
  return fail("Expected simple numeric type or string")
}

const staleHandler: Handler = (v) => {
  if (v === "update_after" || v === "ok" || v === "false") return v
  const b = boolHandler(v)
  return b === "true" ? "ok" : b
}

const onErrorHandler: Handler = (v) =>
  v === "continue" || v === "stop" ? v : fail("on_error must be 'continue' or 'stop'")

const jsonHandler: Handler = (v) => {
  const out = jsonDumps(v)
  return isPyFailure(out) ? fail(`Couldn't convert value to JSON: ${out.reason}`) : out
}

const jsonArrayHandler: Handler = (v) => {
  const out = jsonHandler(v)
  if (isPyFailure(out)) return out
  return out.startsWith("[") ? out : fail("Value must be converted to JSON array")
}

// Python's `_HANDLER_MAP`, by wire name.
const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ["descending", boolHandler],
  ["startkey", jsonHandler],
  ["startkey_docid", stringHandler],
  ["endkey", jsonHandler],
  ["endkey_docid", stringHandler],
  ["full_set", boolHandler],
  ["group", boolHandler],
  ["group_level", numHandler],
  ["inclusive_end", boolHandler],
  ["key", jsonHandler],
  ["keys", jsonArrayHandler],
  ["on_error", onErrorHandler],
  ["reduce", boolHandler],
  ["stale", staleHandler],
  ["skip", numHandler],
  ["limit", numHandler],
  ["debug", boolHandler],
  ["connection_timeout", numHandler],
  ["start_range", jsonArrayHandler],
  ["end_range", jsonArrayHandler]
])

// The properties of Python's `ViewQuery`, each bound to the wire name it sets.
const PROPERTIES: ReadonlyMap<string, string> = new Map([
  ["stale", "stale"],
  ["skip", "skip"],
  ["limit", "limit"],
  ["full_set", "full_set"],
  ["connection_timeout", "connection_timeout"],
  ["debug", "debug"],
  ["on_error", "on_error"],
  ["descending", "descending"],
  ["startkey", "startkey"],
  ["endkey", "endkey"],
  ["startkey_docid", "startkey_docid"],
  ["endkey_docid", "endkey_docid"],
  ["keys", "keys"],
  ["key", "key"],
  ["inclusive_end", "inclusive_end"],
  ["reduce", "reduce"],
  ["group", "group"],
  ["group_level", "group_level"],
  ["mapkey_single", "key"],
  ["mapkey_multi", "keys"]
])

const RANGES: ReadonlyMap<string, readonly [string, string]> = new Map([
  ["mapkey_range", ["startkey", "endkey"] as const],
  ["dockey_range", ["startkey_docid", "endkey_docid"] as const]
])

// Settings of the query object itself, not parameters.
const SETTINGS: ReadonlySet<string> = new Set(["passthrough", "unrecognized_ok", "raw"])

class Builder {
  readonly real = new Map<string, string>()
  readonly user = new Map<string, unknown>()
  readonly extra = new Map<string, string>()

  constructor(
    readonly passthrough: boolean,
    readonly unrecognizedOk: boolean
  ) {}

  // Python's `_set_common`; `undefined` plays UNSPEC.
  setCommon(param: string, value: unknown, setUser = true): ArgumentError | undefined {
    if (value === undefined) {
      this.real.delete(param)
      if (setUser) this.user.delete(param)
      return undefined
    }
    let handler = HANDLERS.get(param)
    if (handler === undefined) {
      const out = stringHandler(value)
      if (isPyFailure(out)) return invalid(param, value, out)
      this.extra.set(param, out)
      return undefined
    }
    if (this.passthrough) handler = stringHandler
    const out = handler(value)
    if (isPyFailure(out)) return invalid(param, value, out)
    this.real.set(param, out)
    if (setUser) this.user.set(param, value)
    return undefined
  }

  // Python's `_set_range_common`.
  setRange(sugar: string, start: string, end: string, value: unknown): ArgumentError | undefined {
    if (!Array.isArray(value)) {
      return new ArgumentError({
        message: `Range specification for ${sugar} must be an array (got ${show(value)})`
      })
    }
    if (this.user.get(start) !== undefined || this.user.get(end) !== undefined) {
      return new ArgumentError({ message: `Cannot specify ${sugar} with either ${start} or ${end}` })
    }
    if (value.length === 0) {
      this.setCommon(start, undefined, false)
      this.setCommon(end, undefined, false)
      this.user.delete(sugar)
      return undefined
    }
    if (value.length > 2) {
      return new ArgumentError({
        message: `Range specification must have one or two elements (got ${show(value)})`
      })
    }
    const error = this.setCommon(start, value[0], false) ?? this.setCommon(end, value[1], false)
    if (error !== undefined) return error
    this.user.set(sugar, value)
    return undefined
  }

  // Python's `_encode`.
  encode(omitKeys: boolean): string | ArgumentError {
    const parts: Array<string> = []
    for (const [k, v] of this.real) {
      if (omitKeys && k === "keys") continue
      if (this.passthrough) {
        parts.push(`${k}=${v}`)
        continue
      }
      const qk = quote(k)
      const qv = quote(v)
      if (isPyFailure(qk)) return invalid(k, k, qk)
      if (isPyFailure(qv)) return invalid(k, v, qv)
      parts.push(`${qk}=${qv}`)
    }
    for (const [k, v] of this.extra) parts.push(`${k}=${v}`)
    return parts.join("&")
  }
}

const unrecognized = (name: string): ArgumentError =>
  new ArgumentError({
    message: `unrecognized view parameter ${JSON.stringify(name)}: to send parameters this client does not know, set unrecognized_ok: true`
  })

const invalid = (param: string, value: unknown, failure: PyFailure): ArgumentError =>
  new ArgumentError({ message: `invalid value for view parameter ${param}: ${failure.reason} (got ${show(value)})` })

const codePointLength = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // A high surrogate followed by a low one is one code point (Python counts code points).
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/**
 * Validates and encodes view query parameters exactly as the Python SDK 2.x does.
 * Fails with an `ArgumentError` naming the parameter for any value Python refuses,
 * before anything is sent.
 */
export const encodeViewQuery = (input: ViewQueryInput | undefined): Either.Either<EncodedViewQuery, ArgumentError> => {
  if (input === undefined) input = {}
  if (typeof input === "string") {
    // Python joins the raw string and the (here empty) encoded parameters with "&".
    const result = finish(input === "" ? "" : `${input}&`, new Builder(false, false), input)
    return result instanceof ArgumentError ? Either.left(result) : Either.right(result)
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return Either.left(
      new ArgumentError({ message: `view parameters must be an object or a query string (got ${show(input)})` })
    )
  }
  const params = input as Readonly<Record<string, unknown>>
  const passthrough = params.passthrough
  const unrecognizedOk = params.unrecognized_ok
  const raw = params.raw
  if (passthrough !== undefined && typeof passthrough !== "boolean") {
    return Either.left(new ArgumentError({ message: `passthrough must be a boolean (got ${show(passthrough)})` }))
  }
  if (unrecognizedOk !== undefined && typeof unrecognizedOk !== "boolean") {
    return Either.left(
      new ArgumentError({ message: `unrecognized_ok must be a boolean (got ${show(unrecognizedOk)})` })
    )
  }
  if (raw !== undefined && typeof raw !== "string") {
    return Either.left(new ArgumentError({ message: `raw must be a query string (got ${show(raw)})` }))
  }
  const builder = new Builder(passthrough === true, unrecognizedOk === true)
  for (const name of Object.keys(params)) {
    const value = params[name]
    if (value === undefined || SETTINGS.has(name)) continue
    const property = PROPERTIES.get(name)
    const range = RANGES.get(name)
    const error =
      property !== undefined
        ? builder.setCommon(property, value)
        : range !== undefined
          ? builder.setRange(name, range[0], range[1], value)
          : builder.unrecognizedOk
            ? builder.setCommon(name, value)
            : unrecognized(name)
    if (error !== undefined) return Either.left(error)
  }
  const encoded = builder.encode(false)
  if (encoded instanceof ArgumentError) return Either.left(encoded)
  const full = raw !== undefined && raw !== "" ? `${raw}&${encoded}` : encoded
  const result = finish(full, builder, raw ?? "")
  return result instanceof ArgumentError ? Either.left(result) : Either.right(result)
}

// Python's `_view_path_helper` and `_long_query_encoded`.
const finish = (encoded: string, builder: Builder, raw: string): EncodedViewQuery | ArgumentError => {
  const given: ReadonlyMap<string, unknown> = builder.user
  const handled: ReadonlyMap<string, string> = builder.real
  if (codePointLength(encoded) <= MAX_URI_LENGTH) return { encoded, query: encoded, body: undefined, given, handled }
  const withoutKeys = builder.encode(true)
  if (withoutKeys instanceof ArgumentError) return withoutKeys
  const keys = builder.real.get("keys")
  const query = raw === "" ? withoutKeys : withoutKeys === "" ? raw : `${raw}&${withoutKeys}`
  return { encoded, query, body: keys === undefined ? "{}" : `{"keys":${keys}}`, given, handled }
}
