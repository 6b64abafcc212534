/**
 * Expiry times and other durations given to operations.
 *
 * The wire carries an item's expiry as 32 bits that the server reads two ways: 0 is
 * "never", up to 30 days is seconds from now, anything larger is an absolute Unix
 * time. Operations accept, as the Python SDK does, a number of seconds that goes to
 * the wire as it is, and, beyond Python, a `Duration` (always relative: converted to
 * an absolute time when longer than 30 days) or a `Date` (always absolute).
 *
 * A bare number larger than 30 days that, read as a Unix time, is already in the past
 * is refused: it is almost always a relative TTL that would make the item expire on
 * arrival. Give a `Duration` for long relative TTLs.
 *
 * @internal
 */
import { Duration, Either, Option } from "effect"
import type { ArgumentError } from "../../Errors.js"
import { argumentError } from "./args.js"

/** The largest relative expiry, in seconds; larger values are absolute Unix times. */
export const THIRTY_DAYS = 30 * 24 * 60 * 60

/** The longest a lock may be held, in seconds (the server's limit). */
export const MAX_LOCK_SECONDS = 30

const U32_MAX = 0xffffffff

const describe = (value: unknown): string =>
  typeof value === "string"
    ? JSON.stringify(value)
    : typeof value === "object"
      ? String(value)
      : `${typeof value} ${String(value)}`

/** A non-number duration input, decoded; undefined when it is not one. */
const decodeDuration = (input: unknown): Duration.Duration | undefined => {
  if (typeof input === "number" || typeof input === "bigint") return undefined
  return Option.getOrUndefined(Duration.decodeUnknown(input))
}

/** Whole seconds, rounded up so that a short positive duration never becomes 0 ("never"). */
const ceilSeconds = (d: Duration.Duration): number => {
  const nanos = Duration.unsafeToNanos(d)
  return Number((nanos + 999_999_999n) / 1_000_000_000n)
}

/**
 * The 32-bit expiry for `ttl` at wall-clock time `nowMillis`. `undefined` is 0
 * (never expires). Negative, fractional, NaN, non-numeric and out-of-range values are
 * an {@link ArgumentError}.
 */
export const toExpiry = (
  op: string,
  ttl: unknown,
  nowMillis: number,
  key?: string,
  name = "ttl"
): Either.Either<number, ArgumentError> => {
  const fail = (why: string) => Either.left(argumentError(op, `${name} ${why}`, key))
  if (ttl === undefined) return Either.right(0)
  const nowSeconds = Math.floor(nowMillis / 1000)
  if (typeof ttl === "number") {
    if (Number.isNaN(ttl)) return fail("is NaN; give seconds, a Duration or a Date")
    if (!Number.isFinite(ttl) || !Number.isInteger(ttl)) {
      return fail(`must be a whole number of seconds, got ${ttl}; use a Duration for fractions`)
    }
    if (ttl < 0) return fail(`must not be negative, got ${ttl}`)
    if (ttl > U32_MAX) return fail(`${ttl} does not fit the 32-bit expiry field`)
    if (ttl > THIRTY_DAYS && ttl <= nowSeconds) {
      return fail(
        `${ttl} is more than 30 days, so the server reads it as an absolute Unix time, which is in the past; ` +
          "pass a Duration (e.g. Duration.days(45)) for a long relative TTL, or a Date"
      )
    }
    return Either.right(ttl)
  }
  if (ttl instanceof Date) {
    const t = ttl.getTime()
    if (Number.isNaN(t)) return fail("is an invalid Date")
    const seconds = Math.ceil(t / 1000)
    if (seconds <= THIRTY_DAYS) return fail(`${ttl.toISOString()} is too early to be read as an absolute time`)
    if (seconds > U32_MAX) return fail(`${ttl.toISOString()} is beyond the 32-bit expiry field (year 2106)`)
    return Either.right(seconds)
  }
  const d = decodeDuration(ttl)
  if (d === undefined) return fail(`must be seconds, a Duration or a Date, got ${describe(ttl)}`)
  // An infinite lifetime is what "never expires" means.
  if (!Duration.isFinite(d)) return Either.right(0)
  const seconds = ceilSeconds(d)
  if (seconds <= THIRTY_DAYS) return Either.right(seconds)
  const absolute = nowSeconds + seconds
  if (absolute > U32_MAX) return fail(`${Duration.format(d)} from now is beyond the 32-bit expiry field (year 2106)`)
  return Either.right(absolute)
}

/**
 * A duration where a bare number is seconds (the Python SDK's convention for
 * operation arguments), or any other `Duration.DurationInput`. Must be finite and not
 * negative.
 */
export const toDuration = (
  op: string,
  name: string,
  input: unknown,
  key?: string
): Either.Either<Duration.Duration, ArgumentError> => {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) {
      return Either.left(
        argumentError(op, `${name} must be a finite, non-negative number of seconds, got ${input}`, key)
      )
    }
    return Either.right(Duration.millis(input * 1000))
  }
  const d = decodeDuration(input)
  if (d === undefined || !Duration.isFinite(d)) {
    return Either.left(argumentError(op, `${name} must be seconds or a finite Duration, got ${describe(input)}`, key))
  }
  return Either.right(d)
}

/**
 * The lock time of `lock`, in whole seconds: required, more than 0 and at most 30
 * (the server would silently shorten a longer lock; saying so is kinder).
 */
export const toLockTime = (op: string, ttl: unknown, key?: string): Either.Either<number, ArgumentError> => {
  if (ttl === undefined)
    return Either.left(argumentError(op, "ttl is required: how many seconds (1 to 30) to hold the lock", key))
  let seconds: number
  if (typeof ttl === "number") {
    if (!Number.isInteger(ttl)) {
      return Either.left(argumentError(op, `ttl must be a whole number of seconds from 1 to 30, got ${ttl}`, key))
    }
    seconds = ttl
  } else {
    const d = decodeDuration(ttl)
    if (d === undefined || !Duration.isFinite(d)) {
      return Either.left(argumentError(op, `ttl must be seconds or a Duration, got ${describe(ttl)}`, key))
    }
    seconds = ceilSeconds(d)
  }
  if (seconds <= 0 || seconds > MAX_LOCK_SECONDS) {
    return Either.left(argumentError(op, `ttl must be from 1 to ${MAX_LOCK_SECONDS} seconds, got ${seconds}`, key))
  }
  return Either.right(seconds)
}
