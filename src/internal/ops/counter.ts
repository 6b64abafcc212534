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
  isKeyList,
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
): Either.Either<CounterFields, ArgumentError> =>
  Either.gen(function* () {
    const delta =
      o.delta === undefined ? (fallback?.delta ?? 1n) : yield* validateCounterAmount(op, "delta", o.delta, true, key)
    const initial =
      o.initial === undefined ? fallback?.initial : yield* validateCounterAmount(op, "initial", o.initial, false, key)
    const expiry = o.ttl === undefined ? (fallback?.expiry ?? 0) : yield* toExpiry(op, o.ttl, now, key)
    return { delta, initial, expiry }
  })

/** Checks `counter(key, options)`. */
export const validateCounter = (
  key: unknown,
  options: CounterOptions | undefined,
  now: number
): Either.Either<CounterCommand, ArgumentError> =>
  Either.gen(function* () {
    const k = yield* validateKey("counter", key)
    const o = yield* validateOptions("counter", options)
    const f = yield* counterFields("counter", o, now, undefined, k)
    return { key: k, ...f }
  })

/**
 * Checks `counterMulti(keys | {k: delta | {delta, initial, ttl}}, options)`: the
 * options are the defaults for what a key leaves out (as in the Python SDK).
 */
export const validateCounterMulti = (
  keys: unknown,
  options: CounterOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<CounterCommand>, ArgumentError> =>
  Either.gen(function* () {
    const op = "counterMulti"
    const o = yield* validateOptions(op, options)
    const globals = yield* counterFields(op, o, now, undefined)
    if (isKeyList(keys)) {
      const list = yield* validateKeyList(op, keys)
      return list.map((key) => ({ key, ...globals }))
    }
    const entries = yield* validateEntries<unknown>(op, keys)
    return yield* traverse(entries, ([key, spec]): Either.Either<CounterCommand, ArgumentError> => {
      if (typeof spec === "number" || typeof spec === "bigint") {
        return Either.map(validateCounterAmount(op, "delta", spec, true, key), (delta) => ({ key, ...globals, delta }))
      }
      if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
        return Either.left(argumentError(op, "each key maps to a delta or to {delta, initial, ttl}", key))
      }
      return Either.map(counterFields(op, spec as CounterOptions, now, globals, key), (f) => ({ key, ...f }))
    })
  })

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
