/**
 * Per-key progress of a multi-key operation, for callers that show results as they
 * arrive (the callback adapter fills its `AsyncResult` key by key, as the Python
 * SDK's did). A fiber that sets this reference is told each key's outcome as soon as
 * it is known; the Effect result is unchanged. Read once per batch, so it costs
 * nothing per key when unset.
 *
 * @internal
 */
import { type Either, FiberRef } from "effect"
import type { CouchbaseErrorBase } from "../../Errors.js"
import type { OperationResult } from "../../Result.js"

/** Told each key's outcome, in the order the outcomes arrive. */
export type KeyObserver = (key: string, outcome: Either.Either<OperationResult, CouchbaseErrorBase>) => void

/** The observer of the current fiber's multi-key operations, if any. */
export const KeyProgress: FiberRef.FiberRef<KeyObserver | undefined> = FiberRef.unsafeMake<KeyObserver | undefined>(
  undefined
)
