/**
 * Results of key/value operations, mirroring the Python SDK's `OperationResult`,
 * `ValueResult`, `ObserveInfo` and `MultiResult`.
 *
 * @since 0.1.0
 */

/**
 * Libcouchbase code for "key not found", the `rc` of a quiet miss.
 *
 * @since 0.1.0
 * @category constants
 */
export const RC_NOT_FOUND = 0x0d

/**
 * The outcome of one operation on one key. `cas` is the 64-bit CAS as a `bigint`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OperationResult {
  readonly key: string
  readonly cas: bigint
  /** 0 on success, otherwise the libcouchbase code of the error class. */
  readonly rc: number
  readonly success: boolean
}

/**
 * A result that carries a decoded value and the item's flags.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValueResult<A = unknown> extends OperationResult {
  readonly value: A
  readonly flags: number
}

/**
 * What a quiet read returns for a missing key: `success: false`, `rc` 0x0D, no value
 * and CAS 0. Quiet suppresses only "not found", so this is the only failure shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface MissingResult extends OperationResult {
  readonly success: false
  readonly rc: typeof RC_NOT_FOUND
  readonly cas: 0n
  readonly value: undefined
  readonly flags: 0
}

/**
 * A counter's result: the value after the update, always a non-negative integer.
 *
 * @since 0.1.0
 * @category models
 */
export interface CounterResult extends ValueResult<bigint> {}

/**
 * One node's answer to OBSERVE for a key.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObserveInfo {
  /** The key state byte: 0x00 found (not persisted), 0x01 persisted, 0x80 not found, 0x81 logically deleted. */
  readonly flags: number
  readonly cas: bigint
  readonly fromMaster: boolean
}

/**
 * The result of `observe`: the answers of the master and of each replica asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObserveResult extends OperationResult {
  readonly value: ReadonlyArray<ObserveInfo>
}

/**
 * Builds the result of a quiet miss.
 *
 * @since 0.1.0
 * @category constructors
 */
export const missing = (key: string): MissingResult => ({
  key,
  cas: 0n,
  rc: RC_NOT_FOUND,
  success: false,
  value: undefined,
  flags: 0
})

/**
 * True when a (possibly quiet) result is a miss.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Connection, Result } from "effect-couchbase"
 *
 * // Under quiet a missing key is a result, so "not found" needs no error handler.
 * const greeting = Effect.gen(function* () {
 *   const cb = yield* Connection.Connection
 *   const profile = yield* cb.get("profile::ada", { quiet: true })
 *   return Result.isMissing(profile) ? "Welcome!" : "Welcome back!"
 * })
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isMissing = (result: OperationResult): result is MissingResult =>
  !result.success && result.rc === RC_NOT_FOUND

/**
 * Every key's result of a multi-key operation, in the order the keys were given.
 * `allOk` is false as soon as one key failed, quiet misses included.
 *
 * @since 0.1.0
 * @category models
 */
export class MultiResult<R extends OperationResult = OperationResult> extends Map<string, R> {
  /** True when every key succeeded. */
  get allOk(): boolean {
    for (const r of this.values()) if (!r.success) return false
    return true
  }

  /**
   * `[succeeded, failed]`, each keyed like this result.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Connection } from "effect-couchbase"
   *
   * // Which of the keys are not there (yet)?
   * const absent = (keys: ReadonlyArray<string>) =>
   *   Effect.gen(function* () {
   *     const cb = yield* Connection.Connection
   *     const [, missing] = (yield* cb.getMulti(keys, { quiet: true })).splitResults()
   *     return [...missing.keys()]
   *   })
   * ```
   *
   * @since 0.1.0
   */
  splitResults(): readonly [MultiResult<R>, MultiResult<R>] {
    const ok = new MultiResult<R>()
    const failed = new MultiResult<R>()
    for (const [k, r] of this) (r.success ? ok : failed).set(k, r)
    return [ok, failed]
  }
}
