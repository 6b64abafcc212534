/**
 * `counter` (INCREMENT/DECREMENT), single and multi. Not quiet: without `initial` a
 * missing key is a `NotFoundError`; with it the key is created with `initial` (the
 * delta is not applied on creation). Decrements floor at 0 on the server.
 *
 * @internal
 */
import { Either } from "effect"
import type { CounterAmount, CounterOptions } from "../../Connection.js"
import {
  type ArgumentError,
  type DeltaBadvalError,
  type NotFoundError,
  ProtocolError,
  type TemporaryFailError,
  type ValueFormatError
} from "../../Errors.js"
import type { CounterResult } from "../../Result.js"
import { Opcode } from "../protocol/constants.js"
import type { Frame, FrameInit } from "../protocol/Frame.js"
import {
  argumentError,
  fail,
  isKeyList,
  refuseQuiet,
  traverse,
  validateCounterAmount,
  validateEntries,
  validateKey,
  validateKeyList,
  validateOptions
} from "./args.js"
import { encodeKey, KeyOp, type OpContext } from "./PreparedOp.js"
import * as Request from "./requests.js"
import { counterSpec } from "./status.js"
import { toExpiry } from "./ttl.js"

/** A validated counter update. */
export interface CounterCommand {
  readonly key: string
  /** Signed: negative decrements by its magnitude. */
  readonly delta: bigint
  /** Create a missing key with this value; `undefined`: fail instead. */
  readonly initial: bigint | undefined
  /** The expiry of a created counter. */
  readonly expiry: number
}

interface CounterFields {
  readonly delta: bigint
  readonly initial: bigint | undefined
  readonly expiry: number
}

const counterFields = (
  op: string,
  o: Partial<CounterOptions>,
  now: number,
  fallback: CounterFields | undefined,
  key?: string
): Either.Either<CounterFields, ArgumentError> => {
  const quiet = refuseQuiet(op, o, key)
  if (quiet !== undefined) return Either.left(quiet)
  let delta = fallback?.delta ?? 1n
  if (o.delta !== undefined) {
    const checked = validateCounterAmount(op, "delta", o.delta, true, key)
    if (Either.isLeft(checked)) return fail(checked)
    delta = checked.right
  }
  let initial = fallback?.initial
  if (o.initial !== undefined) {
    const checked = validateCounterAmount(op, "initial", o.initial, false, key)
    if (Either.isLeft(checked)) return fail(checked)
    initial = checked.right
  }
  let expiry = fallback?.expiry ?? 0
  if (o.ttl !== undefined) {
    const checked = toExpiry(op, o.ttl, now, key)
    if (Either.isLeft(checked)) return fail(checked)
    expiry = checked.right
  }
  return Either.right({ delta, initial, expiry })
}

/** Checks `counter(key, options)`. */
export const validateCounter = (
  key: unknown,
  options: CounterOptions | undefined,
  now: number
): Either.Either<CounterCommand, ArgumentError> => {
  const k = validateKey("counter", key)
  if (Either.isLeft(k)) return fail(k)
  const o = validateOptions("counter", options)
  if (Either.isLeft(o)) return fail(o)
  const f = counterFields("counter", o.right, now, undefined, k.right)
  if (Either.isLeft(f)) return fail(f)
  return Either.right({ key: k.right, ...f.right })
}

/**
 * Checks `counterMulti(keys | {k: delta | {delta, initial, ttl}}, options)`: the
 * options are the defaults for what a key leaves out (as in the Python SDK).
 */
export const validateCounterMulti = (
  keys: unknown,
  options: CounterOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<CounterCommand>, ArgumentError> => {
  const op = "counterMulti"
  const o = validateOptions(op, options)
  if (Either.isLeft(o)) return fail(o)
  const checkedGlobals = counterFields(op, o.right, now, undefined)
  if (Either.isLeft(checkedGlobals)) return fail(checkedGlobals)
  const globals = checkedGlobals.right
  if (isKeyList(keys)) {
    const list = validateKeyList(op, keys)
    if (Either.isLeft(list)) return fail(list)
    return Either.right(list.right.map((key) => ({ key, ...globals })))
  }
  const entries = validateEntries<unknown>(op, keys)
  if (Either.isLeft(entries)) return fail(entries)
  return traverse(entries.right, ([key, spec]): Either.Either<CounterCommand, ArgumentError> => {
    if (typeof spec === "number" || typeof spec === "bigint") {
      return Either.map(validateCounterAmount(op, "delta", spec, true, key), (delta) => ({ key, ...globals, delta }))
    }
    if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
      return Either.left(argumentError(op, "each key maps to a delta or to {delta, initial, ttl}", key))
    }
    return Either.map(counterFields(op, spec as CounterOptions, now, globals, key), (f) => ({ key, ...f }))
  })
}

/** INCREMENT or DECREMENT. */
export class CounterOp extends KeyOp<CounterResult, NotFoundError | DeltaBadvalError | TemporaryFailError> {
  readonly name: string
  protected readonly opcode: number
  protected readonly spec = counterSpec
  private readonly delta: bigint
  private readonly initial: bigint | undefined
  private readonly expiry: number

  constructor(command: CounterCommand, keyBytes: Uint8Array, name: string) {
    super(command.key, keyBytes, false)
    this.name = name
    this.opcode = command.delta < 0n ? Opcode.Decrement : Opcode.Increment
    this.delta = command.delta
    this.initial = command.initial
    this.expiry = command.expiry
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.counter({ key: this.keyBytes, vbucket, opaque }, this.delta, this.initial, this.expiry)
  }

  protected success(frame: Frame): Either.Either<CounterResult, ProtocolError> {
    if (frame.value.length !== 8) {
      return Either.left(
        new ProtocolError({
          key: this.key,
          message: `the counter response carries ${frame.value.length} bytes instead of an 8-byte value`
        })
      )
    }
    return Either.right({
      key: this.key,
      cas: frame.cas,
      rc: 0,
      success: true,
      value: frame.value.readBigUInt64BE(0),
      flags: 0
    })
  }
}

/** A counter command as an operation. */
export const prepareCounterCommand = (
  command: CounterCommand,
  ctx: OpContext,
  name = "counter"
): Either.Either<CounterOp, ArgumentError | ValueFormatError> =>
  Either.map(encodeKey(name, command.key, ctx.transcoder), (bytes) => new CounterOp(command, bytes, name))

/** `counter(key, options)`, checked and prepared. */
export const prepareCounter = (key: unknown, options: CounterOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateCounter(key, options, ctx.now()), (c) => prepareCounterCommand(c, ctx))

/** `counterMulti(keys | {k: …}, options)`, checked and prepared. */
export const prepareCounterMulti = (
  keys:
    | ReadonlyArray<string>
    | Readonly<Record<string, CounterAmount | CounterOptions>>
    | ReadonlyMap<string, unknown>
    | unknown,
  options: CounterOptions | undefined,
  ctx: OpContext
) =>
  Either.flatMap(validateCounterMulti(keys, options, ctx.now()), (cs) =>
    traverse(cs, (c) => prepareCounterCommand(c, ctx, "counterMulti"))
  )
