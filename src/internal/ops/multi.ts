/**
 * Assembling a multi operation's outcome, as the Python SDK's `*_multi` calls do:
 * every key gets a result in input order; without quiet, the first key (in input
 * order) that failed fails the whole operation with its own error, re-issued with
 * `key`, `result` and `allResults` (every key's result) so the caller can see what
 * did succeed (`error.splitResults()`). Quiet misses are results (`success: false`),
 * not failures: they make `allOk` false and raise nothing.
 *
 * @internal
 */
import { Either } from "effect"
import type { CouchbaseErrorBase, ErrorFields } from "../../Errors.js"
import { MultiResult, type OperationResult } from "../../Result.js"

/** The result a failed key has in `allResults`: its error's `rc`, CAS 0, no value. */
export const failedResult = (key: string, error: { readonly rc: number }): OperationResult => ({
  key,
  cas: 0n,
  rc: error.rc,
  success: false
})

/**
 * `error` re-issued with the multi operation's context. Errors are immutable, so a
 * new one of the same class is built; its message is the original's (the key suffix
 * the constructor adds is not doubled).
 */
export const withMultiContext = <E extends CouchbaseErrorBase>(
  error: E,
  key: string,
  result: OperationResult,
  allResults: MultiResult
): E => {
  const suffix = error.key === undefined ? "" : ` (key: ${JSON.stringify(error.key)})`
  const message =
    suffix !== "" && error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message
  const Ctor = error.constructor as new (fields: ErrorFields) => E
  // The spread carries the fields particular to a class (a timeout's `ambiguous`).
  return new Ctor({ ...error, message, key, status: error.status, result, allResults, cause: error.cause })
}

/**
 * A single-key operation's error with the context the Python SDK gives it
 * (`excextra`): `key`, the key's failed `result`, and `allResults` holding just that
 * key, so that code written for multi operations reads single ones the same way.
 */
export const withKeyContext = <E extends CouchbaseErrorBase>(error: E, key: string): E => {
  if (error.allResults !== undefined) return error
  const result = failedResult(key, error)
  return withMultiContext(error, key, result, new MultiResult([[key, result]]))
}

/**
 * The `MultiResult` of per-key outcomes (aligned with `keys`), or the first
 * failure in key order carrying every key's result.
 */
export const assembleMulti = <R extends OperationResult, E extends CouchbaseErrorBase>(
  keys: ReadonlyArray<string | { readonly key: string }>,
  outcomes: ReadonlyArray<Either.Either<R, E>>
): Either.Either<MultiResult<R>, E> => {
  if (keys.length !== outcomes.length) {
    throw new RangeError(`assembleMulti: ${keys.length} keys but ${outcomes.length} outcomes`)
  }
  const all = new MultiResult<OperationResult>()
  let first: { readonly key: string; readonly error: E; readonly result: OperationResult } | undefined
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    const key = typeof k === "string" ? k : k.key
    const outcome = outcomes[i]!
    if (Either.isRight(outcome)) {
      all.set(key, outcome.right)
    } else {
      const result = failedResult(key, outcome.left)
      all.set(key, result)
      if (first === undefined) first = { key, error: outcome.left, result }
    }
  }
  if (first !== undefined) return Either.left(withMultiContext(first.error, first.key, first.result, all))
  return Either.right(all as MultiResult<R>)
}
