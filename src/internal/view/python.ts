/**
 * The few pieces of CPython 3 behaviour that the Python SDK's view-parameter encoder
 * relies on, reproduced so that our encoder produces byte-identical query strings:
 * `json.dumps` (default separators, `ensure_ascii`), `repr(float)`, `int(str)` and
 * `urllib.parse.quote` (default `safe='/'`).
 *
 * JavaScript has one number type where Python has two. The rule used throughout: a
 * `number` that is a safe integer is a Python `int`, any other `number` is a Python
 * `float`, and a `bigint` is always an `int`.
 *
 * Each function returns `undefined` (or a {@link PyFailure}) instead of throwing, so
 * that the encoder can turn every refusal into an `ArgumentError`.
 *
 * @internal
 */

/** Why a conversion failed, in words a caller can act on. */
export interface PyFailure {
  readonly _tag: "PyFailure"
  readonly reason: string
}

const failure = (reason: string): PyFailure => ({ _tag: "PyFailure", reason })

/** True for the failure value of this module's functions. */
export const isPyFailure = (u: unknown): u is PyFailure =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "PyFailure"

/** A JavaScript number that Python would see as an `int` (see the module comment). */
export const isPyInt = (n: number): boolean => Number.isSafeInteger(n)

/**
 * `repr(float)` of CPython 3: the shortest round-trip digits (the same digits
 * JavaScript prints), fixed notation for decimal exponents in [-4, 16) with at least
 * one fractional digit, scientific notation otherwise with a signed two-digit exponent.
 */
export const floatRepr = (x: number): string => {
  if (Number.isNaN(x)) return "nan"
  if (x === Number.POSITIVE_INFINITY) return "inf"
  if (x === Number.NEGATIVE_INFINITY) return "-inf"
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0"
  const sign = x < 0 ? "-" : ""
  const [mantissa, expText] = Math.abs(x).toExponential().split("e") as [string, string]
  const digits = mantissa.replace(".", "")
  const exp = Number(expText)
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`
    const intPart = digits.length > exp + 1 ? digits.slice(0, exp + 1) : digits.padEnd(exp + 1, "0")
    const fracPart = digits.length > exp + 1 ? digits.slice(exp + 1) : "0"
    return `${sign}${intPart}.${fracPart}`
  }
  const rest = digits.length > 1 ? `.${digits.slice(1)}` : ""
  const absExp = Math.abs(exp)
  return `${sign}${digits[0]}${rest}e${exp < 0 ? "-" : "+"}${absExp < 10 ? `0${absExp}` : absExp}`
}

/** `str()` of a Python int or float, following the module's number rule. */
export const numberStr = (n: number | bigint): string =>
  typeof n === "bigint" ? n.toString() : isPyInt(n) ? String(n) : floatRepr(n)

// Python's json.dumps(ensure_ascii=True) escapes everything outside ' '..'~', with
// short forms for these and lowercase \uXXXX (UTF-16 units, so surrogate pairs) for the rest.
const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  34: '\\"',
  92: "\\\\",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t"
}

/** `json.dumps(s)` for a string: ASCII-only output. */
export const jsonString = (s: string): string => {
  let out = '"'
  let runStart = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) continue
    out += s.slice(runStart, i)
    out += SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`
    runStart = i + 1
  }
  return `${out}${s.slice(runStart)}"`
}

const isPlainObject = (u: object): boolean => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const describeType = (u: unknown): string => {
  if (u === null) return "null"
  if (typeof u !== "object") return typeof u
  const ctor = (u as { constructor?: { name?: unknown } }).constructor
  return typeof ctor?.name === "string" ? ctor.name : "object"
}

/**
 * `json.dumps(value)` with Python's defaults: `", "` and `": "` separators, ASCII-only
 * strings, `NaN`/`Infinity` allowed, insertion order kept. Accepts what Python's
 * encoder accepts: null, booleans, numbers, bigints, strings, arrays and plain
 * objects or `Map`s with string keys (members whose value is `undefined` are left
 * out, as JavaScript's own JSON does). Anything else (functions, symbols, class instances, `undefined` as a
 * value, cycles) is refused.
 */
export const jsonDumps = (value: unknown): string | PyFailure => {
  const stack = new Set<object>()
  const go = (v: unknown): string | PyFailure => {
    switch (typeof v) {
      case "string":
        return jsonString(v)
      case "boolean":
        return v ? "true" : "false"
      case "bigint":
        return v.toString()
      case "number":
        if (isPyInt(v)) return String(v)
        if (Number.isNaN(v)) return "NaN"
        if (v === Number.POSITIVE_INFINITY) return "Infinity"
        if (v === Number.NEGATIVE_INFINITY) return "-Infinity"
        return floatRepr(v)
      case "object": {
        if (v === null) return "null"
        if (stack.has(v)) return failure("Circular reference detected")
        if (Array.isArray(v)) {
          stack.add(v)
          const parts: Array<string> = []
          for (let i = 0; i < v.length; i++) {
            const item = go(v[i])
            if (isPyFailure(item)) return item
            parts.push(item)
          }
          stack.delete(v)
          return `[${parts.join(", ")}]`
        }
        if (v instanceof Map) {
          // A Map is the way to give an object whose integer-like member names keep
          // their order (a plain object lists those first), as a Python dict would.
          stack.add(v)
          const parts: Array<string> = []
          for (const [k, member] of v) {
            if (typeof k !== "string") return failure(`keys must be strings, not ${describeType(k)}`)
            if (member === undefined) continue
            const item = go(member)
            if (isPyFailure(item)) return item
            parts.push(`${jsonString(k)}: ${item}`)
          }
          stack.delete(v)
          return `{${parts.join(", ")}}`
        }
        if (!isPlainObject(v)) return failure(`Object of type ${describeType(v)} is not JSON serializable`)
        stack.add(v)
        const parts: Array<string> = []
        for (const k of Object.keys(v)) {
          const member = (v as Record<string, unknown>)[k]
          if (member === undefined) continue
          const item = go(member)
          if (isPyFailure(item)) return item
          parts.push(`${jsonString(k)}: ${item}`)
        }
        stack.delete(v)
        return `{${parts.join(", ")}}`
      }
      default:
        return failure(`Object of type ${describeType(v)} is not JSON serializable`)
    }
  }
  try {
    return go(value)
  } catch (cause) {
    // A structure deep enough to overflow the stack: Python's RecursionError.
    return failure(`cannot serialize the value: ${String(cause)}`)
  }
}

// Python's str.strip() whitespace as int() sees it (Py_UNICODE_ISSPACE).
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g")
const PY_INT = /^([+-]?)(\p{Nd}+(?:_\p{Nd}+)*)$/u
const DECIMAL = /\p{Nd}/u

// Unicode encodes every decimal digit in contiguous runs of ten, zero first (a
// stability guarantee), so a digit's value is its distance from the start of its run
// of decimal digits, modulo ten.
const digitValue = (cp: number): number => {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30
  let start = cp
  while (DECIMAL.test(String.fromCodePoint(start - 1))) start--
  return (cp - start) % 10
}

/** `int(s)` of CPython 3 in base 10, as a decimal string, or `undefined` when Python refuses. */
export const parseIntLikePython = (s: string): string | undefined => {
  const m = PY_INT.exec(s.replace(PY_STRIP, ""))
  if (m === null) return undefined
  let n = 0n
  for (const ch of m[2]!) {
    if (ch === "_") continue
    n = n * 10n + BigInt(digitValue(ch.codePointAt(0)!))
  }
  return (m[1] === "-" ? -n : n).toString()
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * `urllib.parse.quote(s)` of CPython 3.7+: UTF-8, letters, digits, `_.-~` and `/` kept,
 * everything else `%XX` with uppercase hex. A lone surrogate cannot be encoded (Python
 * raises `UnicodeEncodeError`).
 */
export const quote = (s: string): string | PyFailure => {
  if (LONE_SURROGATE.test(s)) return failure("the string contains a lone UTF-16 surrogate and cannot be encoded")
  // encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); Python also keeps '/' and
  // escapes ! * ' ( ).
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, "/")
}
