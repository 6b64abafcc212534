/**
 * Argument checks shared by every key/value operation (keys, key lists, CAS, TTLs,
 * counter amounts, formats, durability). Each returns an `Either` whose failure is an
 * {@link ArgumentError} that names the operation, the argument and what to do; nothing
 * here touches the network, so every check runs before anything is sent, and
 * synchronously (the callback adapter throws them).
 *
 * @internal
 */
import { Either } from "effect"
import { ArgumentError, ValueFormatError } from "../../Errors.js"
import type { OperationResult } from "../../Result.js"
import * as Transcoder from "../../Transcoder.js"

/** The longest key the server accepts, in bytes. */
export const MAX_KEY_BYTES = 250

/** The largest unsigned 64-bit value (CAS, counter delta and initial). */
export const U64_MAX = 0xffff_ffff_ffff_ffffn

/** The most replicas a Couchbase bucket can have. */
export const MAX_REPLICAS = 3

/** A failed check. */
export const argumentError = (op: string, message: string, key?: string): ArgumentError =>
  new ArgumentError({ message: `${op}: ${message}`, key })

const left = (op: string, message: string, key?: string): Either.Either<never, ArgumentError> =>
  Either.left(argumentError(op, message, key))

/**
 * A failed check passed on as the failure of a check of another type. A `Left`
 * carries no success value, so only its static type changes (no allocation). The
 * checks are plain code with early returns rather than `Either.gen`: they run once
 * per operation on the hot path, where a generator per check is measurable.
 */
export const fail = <E>(failed: Either.Left<E, unknown>): Either.Either<never, E> =>
  failed as unknown as Either.Either<never, E>

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (typeof value === "string")
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value)
  if (typeof value === "object") return `a ${(value as object).constructor?.name ?? "object"}`
  return `a ${typeof value}`
}

/**
 * A key: a non-empty string of at most {@link MAX_KEY_BYTES} bytes of UTF-8. The byte
 * length of the encoded key is checked again after a custom transcoder ran.
 */
export const validateKey = (op: string, key: unknown): Either.Either<string, ArgumentError> => {
  const problem = keyProblem(op, key)
  return problem === undefined ? Either.right(key as string) : Either.left(problem)
}

/**
 * What is wrong with `key` (see {@link validateKey}), or undefined when nothing is:
 * without the `Either`, for the commonest call, a plain get.
 */
export const keyProblem = (op: string, key: unknown): ArgumentError | undefined => {
  if (typeof key !== "string") return argumentError(op, `a key must be a string, got ${describe(key)}`)
  if (key.length === 0) return argumentError(op, "the key is empty; keys are 1 to 250 bytes of UTF-8")
  // A UTF-16 unit is at most 3 bytes of UTF-8: a key of up to 83 units cannot exceed
  // 250 bytes, and counting is only needed for longer ones.
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES) {
    return argumentError(
      op,
      `the key is ${Buffer.byteLength(key, "utf8")} bytes of UTF-8; the server's limit is 250`,
      key
    )
  }
  return undefined
}

/** What is wrong with a key's encoded bytes (a custom transcoder may lengthen or empty it), or undefined. */
export const encodedKeyProblem = (op: string, key: string, bytes: Uint8Array): ArgumentError | undefined =>
  bytes.length === 0
    ? argumentError(op, "the transcoder encoded the key to zero bytes", key)
    : bytes.length > MAX_KEY_BYTES
      ? argumentError(op, `the encoded key is ${bytes.length} bytes; the server's limit is 250`, key)
      : undefined

/** The options argument: absent, or a plain object. */
export const validateOptions = <O extends object>(
  op: string,
  options: O | undefined
): Either.Either<Partial<O>, ArgumentError> => {
  if (options === undefined) return Either.right({})
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    return left(op, `options must be an object, got ${describe(options)}`)
  }
  return Either.right(options)
}

/**
 * The refusal of `quiet` by an operation without a quiet form (stores, appends,
 * counters): it would be ignored, which is worse than an error. Their option types
 * already have no `quiet`; this is for callers without types.
 */
export const refuseQuiet = (op: string, options: object, key?: string): ArgumentError | undefined =>
  (options as { readonly quiet?: unknown }).quiet === undefined
    ? undefined
    : argumentError(op, "has no quiet form: only reads, touch, lock and remove treat a missing key as a value", key)

/** An optional boolean option. */
export const validateFlag = (
  op: string,
  name: string,
  value: unknown,
  key?: string
): Either.Either<boolean | undefined, ArgumentError> =>
  value === undefined || typeof value === "boolean"
    ? Either.right(value)
    : left(op, `${name} must be true or false, got ${describe(value)}`, key)

/**
 * A list of keys for a multi operation: a non-empty array of valid keys without
 * duplicates (each key gets exactly one result, so a duplicate has no meaning).
 */
export const validateKeyList = (op: string, keys: unknown): Either.Either<ReadonlyArray<string>, ArgumentError> => {
  if (!Array.isArray(keys)) return left(op, `keys must be an array of strings, got ${describe(keys)}`)
  if (keys.length === 0) return left(op, "the list of keys is empty; give at least one key")
  const seen = new Set<string>()
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]
    const problem = keyProblem(op, key)
    if (problem !== undefined) return Either.left(problem)
    // A key already there leaves the size as it was (one lookup instead of has + add).
    if (seen.add(key).size === i) return left(op, `the key ${JSON.stringify(key)} is given twice`, key)
  }
  return Either.right(keys as ReadonlyArray<string>)
}

/**
 * The entries of a multi operation given as a `Record` or a `Map`, in order (a
 * `Record`'s order is JavaScript's property order: integer-like keys first). Keys are
 * validated; the values are left to the caller's checks.
 */
export const validateEntries = <V>(
  op: string,
  input: unknown
): Either.Either<ReadonlyArray<readonly [string, V]>, ArgumentError> => {
  let entries: Array<readonly [unknown, V]>
  if (input instanceof Map) entries = [...(input as Map<unknown, V>)]
  else if (input !== null && typeof input === "object" && !Array.isArray(input)) {
    entries = Object.entries(input as Record<string, V>)
  } else return left(op, `expected a Record or a Map of keys to values, got ${describe(input)}`)
  if (entries.length === 0) return left(op, "there are no keys; give at least one")
  const out: Array<readonly [string, V]> = []
  for (const [k, v] of entries) {
    const key = validateKey(op, k)
    if (Either.isLeft(key)) return Either.left(key.left)
    out.push([key.right, v])
  }
  return Either.right(out)
}

/** True when `input` is a keys array rather than a Record or Map of per-key values. */
export const isKeyList = (input: unknown): input is ReadonlyArray<string> => Array.isArray(input)

/**
 * The keys of a multi operation that takes either a list of keys or a key → CAS map
 * (`removeMulti`, `endureMulti`), each with its CAS: 0n for a bare list, else the
 * map's value as `checkCas` reads it.
 */
export const validateKeysWithCas = (
  op: string,
  keys: unknown,
  checkCas: (op: string, cas: unknown, key: string) => Either.Either<bigint, ArgumentError>
): Either.Either<ReadonlyArray<{ readonly key: string; readonly cas: bigint }>, ArgumentError> => {
  if (isKeyList(keys)) {
    const list = validateKeyList(op, keys)
    if (Either.isLeft(list)) return fail(list)
    return Either.right(list.right.map((key) => ({ key, cas: 0n })))
  }
  const entries = validateEntries<unknown>(op, keys)
  if (Either.isLeft(entries)) return fail(entries)
  return traverse(entries.right, ([key, cas]) => Either.map(checkCas(op, cas, key), (c) => ({ key, cas: c })))
}

/** An optional CAS: a `bigint` in [0, 2^64). 0 means "any". */
export const validateCas = (op: string, cas: unknown, key?: string): Either.Either<bigint, ArgumentError> => {
  if (cas === undefined) return Either.right(0n)
  if (typeof cas !== "bigint") {
    return left(
      op,
      `cas must be a bigint (the 64-bit CAS of a result), got ${describe(cas)}; a number cannot hold every CAS exactly`,
      key
    )
  }
  if (cas < 0n || cas > U64_MAX) return left(op, `cas ${cas} is outside the 64-bit unsigned range`, key)
  return Either.right(cas)
}

/** A CAS that must be given (unlock): a non-zero bigint, or the result whose CAS to use. */
export const validateRequiredCas = (op: string, cas: unknown, key: string): Either.Either<bigint, ArgumentError> => {
  const value =
    cas !== null && typeof cas === "object" && "cas" in cas ? (cas as OperationResult).cas : (cas as bigint | undefined)
  if (value === undefined) return left(op, "the CAS returned by lock is required", key)
  return Either.flatMap(validateCas(op, value, key), (c) =>
    c === 0n ? left(op, "a CAS of 0 cannot unlock anything; pass the CAS returned by lock", key) : Either.right(c)
  )
}

/**
 * A counter amount (delta or initial) as a `bigint`: a safe-integer number or a
 * bigint, within 64 bits. `signed` allows negative values (a negative delta
 * decrements).
 */
export const validateCounterAmount = (
  op: string,
  name: string,
  value: unknown,
  signed: boolean,
  key?: string
): Either.Either<bigint, ArgumentError> => {
  let n: bigint
  if (typeof value === "bigint") n = value
  else if (typeof value === "number") {
    if (!Number.isInteger(value)) return left(op, `${name} must be an integer, got ${describe(value)}`, key)
    if (!Number.isSafeInteger(value)) {
      return left(op, `${name} ${value} is beyond 2^53 and cannot be exact as a number; pass a bigint`, key)
    }
    n = BigInt(value)
  } else return left(op, `${name} must be an integer number or a bigint, got ${describe(value)}`, key)
  if (!signed && n < 0n) return left(op, `${name} must not be negative, got ${n}`, key)
  if (n > U64_MAX || n < -U64_MAX) return left(op, `${name} ${n} does not fit in 64 bits`, key)
  return Either.right(n)
}

/** Durability requirements after validation; -1 means "as many as the bucket has". */
export interface Durability {
  readonly persistTo: number
  readonly replicateTo: number
}

/** No durability requirement. */
export const NO_DURABILITY: Durability = { persistTo: 0, replicateTo: 0 }

const durabilityCount = (
  op: string,
  name: string,
  value: unknown,
  max: number
): Either.Either<number, ArgumentError> => {
  if (value === undefined) return Either.right(0)
  if (typeof value !== "number" || !Number.isInteger(value) || value < -1) {
    return left(op, `${name} must be an integer ≥ 0 (or -1 for "as many as possible"), got ${describe(value)}`)
  }
  if (value > max) {
    return left(
      op,
      name === "persistTo"
        ? `persistTo ${value} is more than the ${max} node(s) that can hold the key (the master and ${max - 1} replica(s))`
        : `replicateTo ${value} is more than the bucket's ${max} replica(s)`
    )
  }
  return Either.right(value)
}

/**
 * Checks `persistTo` (nodes, the master included) and `replicateTo` (replicas, the
 * master excluded). Without a replica count only the protocol's limits (3 replicas)
 * apply; with one, the bucket's, and -1 resolves to the maximum.
 */
export const validateDurability = (
  op: string,
  options: { readonly persistTo?: unknown; readonly replicateTo?: unknown },
  replicas?: number | undefined
): Either.Either<Durability, ArgumentError> => {
  const max = replicas ?? MAX_REPLICAS
  const persistTo = durabilityCount(op, "persistTo", options.persistTo, max + 1)
  if (Either.isLeft(persistTo)) return fail(persistTo)
  const replicateTo = durabilityCount(op, "replicateTo", options.replicateTo, max)
  if (Either.isLeft(replicateTo)) return fail(replicateTo)
  if (replicas === undefined) {
    return persistTo.right === 0 && replicateTo.right === 0
      ? Either.right(NO_DURABILITY)
      : Either.right({ persistTo: persistTo.right, replicateTo: replicateTo.right })
  }
  return Either.right({
    persistTo: persistTo.right === -1 ? replicas + 1 : persistTo.right,
    replicateTo: replicateTo.right === -1 ? replicas : replicateTo.right
  })
}

/** True when `durability` asks for anything. */
export const wantsDurability = (durability: Durability): boolean =>
  durability.persistTo !== 0 || durability.replicateTo !== 0

/** An optional format code: a 32-bit unsigned integer. */
export const validateFormat = (op: string, format: unknown): Either.Either<number | undefined, ArgumentError> => {
  if (format === undefined) return Either.right(undefined)
  if (typeof format !== "number" || !Number.isInteger(format) || format < 0 || format > 0xffffffff) {
    return left(op, `format must be one of the FMT_* constants, got ${describe(format)}`)
  }
  return Either.right(format)
}

const CONCAT_FORMATS: ReadonlySet<number> = new Set([
  Transcoder.FMT_UTF8,
  Transcoder.FMT_BYTES,
  Transcoder.FMT_LEGACY_UTF8,
  Transcoder.FMT_LEGACY_BYTES
])

/**
 * The format of an append/prepend fragment: only UTF-8 or bytes make sense when
 * bytes are glued onto a stored value, so JSON is refused as the Python SDK refuses it.
 * Without a format the fragment's own type decides (string → UTF-8, bytes → bytes),
 * whatever the default format.
 */
export const validateConcat = (
  op: string,
  value: unknown,
  format: unknown,
  key?: string
): Either.Either<number, ArgumentError | ValueFormatError> =>
  Either.flatMap(validateFormat(op, format), (f): Either.Either<number, ArgumentError | ValueFormatError> => {
    if (f === undefined || f === Transcoder.FMT_AUTO) {
      if (typeof value === "string") return Either.right(Transcoder.FMT_UTF8)
      if (value instanceof Uint8Array) return Either.right(Transcoder.FMT_BYTES)
      // A value the format cannot carry, as Python's ValueFormatError (and our upsert of an object as FMT_UTF8).
      return Either.left(
        new ValueFormatError({
          message: `${op}: the fragment must be a string or bytes, got ${describe(value)}`,
          ...(key === undefined ? {} : { key })
        })
      )
    }
    if (!CONCAT_FORMATS.has(f)) {
      return left(
        op,
        `format 0x${f.toString(16)} cannot be appended to: use FMT_UTF8 or FMT_BYTES (JSON would no longer parse)`,
        key
      )
    }
    return Either.right(f)
  })

/** A replica index: an integer in [0, replicas). */
export const validateReplicaIndex = (
  op: string,
  index: unknown,
  replicas?: number | undefined
): Either.Either<number | undefined, ArgumentError> => {
  if (index === undefined) return Either.right(undefined)
  const max = replicas ?? MAX_REPLICAS
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= max) {
    return left(op, `replicaIndex must be an integer from 0 to ${max - 1}, got ${describe(index)}`)
  }
  return Either.right(index)
}

/** Runs `check` on each element, stopping at the first failure. */
export const traverse = <A, B, E>(
  items: ReadonlyArray<A>,
  check: (item: A, index: number) => Either.Either<B, E>
): Either.Either<Array<B>, E> => {
  const out: Array<B> = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const r = check(items[i]!, i)
    if (Either.isLeft(r)) return Either.left(r.left)
    out[i] = r.right
  }
  return Either.right(out)
}
