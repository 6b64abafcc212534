/**
 * The argument check of every operation, by name, run on the arguments exactly as a
 * caller passed them. The callback adapter (`AsyncResult.ts`) runs these before
 * starting an operation so that it can throw argument errors synchronously; the
 * Effect service runs the same checks as part of `prepare…`, so both report the
 * same errors.
 *
 * Checks that need the bucket (the replica count bounding `persistTo`,
 * `replicateTo` and `replicaIndex`) use the protocol's limits here and the bucket's
 * once the connection knows it.
 *
 * @internal
 */
import { Either } from "effect"
import type { OperationName } from "../../Connection.js"
import type { ArgumentError, ValueFormatError } from "../../Errors.js"
import { validateCounter, validateCounterMulti } from "./counter.js"
import {
  validateGet,
  validateGetMulti,
  validateGetReplica,
  validateGetReplicaMulti,
  validateLock,
  validateLockMulti,
  validateTouch,
  validateTouchMulti,
  validateUnlock,
  validateUnlockMulti
} from "./get.js"
import { validatePing, validateWaitUntilReady } from "./health.js"
import { validateEndure, validateEndureMulti, validateObserve, validateObserveMulti } from "./observe.js"
import { validateRemove, validateRemoveMulti } from "./remove.js"
import { validateStats } from "./stats.js"
import { validateConcatMulti, validateConcatOp, validateStore, validateStoreMulti } from "./store.js"

/** Checks one call's arguments; `now` is wall-clock milliseconds (for long TTLs). */
export type Validator = (
  args: ReadonlyArray<any>,
  now: number
) => Either.Either<unknown, ArgumentError | ValueFormatError>

/** The check of every operation. */
export const validators: { readonly [K in OperationName]: Validator } = {
  get: ([key, options], now) => validateGet(key, options, now),
  getMulti: ([keys, options], now) => validateGetMulti(keys, options, now),
  getReplica: ([key, options]) => validateGetReplica(key, options),
  getReplicaMulti: ([keys, options]) => validateGetReplicaMulti(keys, options),
  upsert: ([key, value, options], now) => validateStore("upsert", key, value, options, now),
  upsertMulti: ([values, options], now) => validateStoreMulti("upsert", values, options, now),
  insert: ([key, value, options], now) => validateStore("insert", key, value, options, now),
  insertMulti: ([values, options], now) => validateStoreMulti("insert", values, options, now),
  replace: ([key, value, options], now) => validateStore("replace", key, value, options, now),
  replaceMulti: ([values, options], now) => validateStoreMulti("replace", values, options, now),
  append: ([key, value, options]) => validateConcatOp("append", key, value, options),
  appendMulti: ([values, options]) => validateConcatMulti("append", values, options),
  prepend: ([key, value, options]) => validateConcatOp("prepend", key, value, options),
  prependMulti: ([values, options]) => validateConcatMulti("prepend", values, options),
  remove: ([key, options]) => validateRemove(key, options),
  removeMulti: ([keys, options]) => validateRemoveMulti(keys, options),
  counter: ([key, options], now) => validateCounter(key, options, now),
  counterMulti: ([keys, options], now) => validateCounterMulti(keys, options, now),
  touch: ([key, options], now) => validateTouch(key, options, now),
  touchMulti: ([keys, options], now) => validateTouchMulti(keys, options, now),
  lock: ([key, options]) => validateLock(key, options),
  lockMulti: ([keys, options]) => validateLockMulti(keys, options),
  unlock: ([key, cas]) => validateUnlock(key, cas),
  unlockMulti: ([locks]) => validateUnlockMulti(locks),
  observe: ([key, options]) => validateObserve(key, options),
  observeMulti: ([keys, options]) => validateObserveMulti(keys, options),
  endure: ([key, options]) => validateEndure(key, options),
  endureMulti: ([keys, options]) => validateEndureMulti(keys, options),
  stats: ([groups]) => validateStats(groups),
  ping: ([options]) => validatePing(options),
  diagnostics: () => Either.right(undefined),
  waitUntilReady: ([timeout, options]) => validateWaitUntilReady(timeout, options)
}

/** The `ArgumentError` of a call, or undefined when its arguments are fine. */
export const argumentErrorOf = (
  name: OperationName,
  args: ReadonlyArray<unknown>,
  now: number
): ArgumentError | undefined => {
  const checked = validators[name](args, now)
  // A value its format cannot carry is the operation's failure, as when it is encoded.
  return Either.isLeft(checked) && checked.left._tag === "ArgumentError" ? checked.left : undefined
}
