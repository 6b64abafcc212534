/**
 * `remove` (DELETE), single and multi. Quiet applies: a missing key is then a
 * `MissingResult`. Durability of a removal waits until the key is gone.
 *
 * @internal
 */
import { Either } from "effect"
import type { RemoveMultiOptions, RemoveOptions } from "../../Connection.js"
import type { ArgumentError, KeyExistsError, NotFoundError, ValueFormatError } from "../../Errors.js"
import type { OperationResult } from "../../Result.js"
import { Opcode } from "../protocol/constants.js"
import type { Frame, FrameInit } from "../protocol/Frame.js"
import {
  type Durability,
  isKeyList,
  traverse,
  validateCas,
  validateDurability,
  validateEntries,
  validateFlag,
  validateKey,
  validateKeyList,
  validateOptions,
  wantsDurability
} from "./args.js"
import { type DurabilityRequirement, encodeKey, KeyOp, type OpContext, succeeded } from "./PreparedOp.js"
import * as Request from "./requests.js"
import { removeSpec } from "./status.js"

/** A validated remove. */
export interface RemoveCommand {
  readonly key: string
  readonly cas: bigint
  /** `undefined`: the connection's default. */
  readonly quiet: boolean | undefined
  readonly durability: Durability
}

const removeFields = (op: string, options: RemoveMultiOptions | undefined, key?: string) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    const quiet = yield* validateFlag(op, "quiet", o.quiet, key)
    const durability = yield* validateDurability(op, o)
    return { quiet, durability }
  })

/** Checks `remove(key, options)`. */
export const validateRemove = (
  key: unknown,
  options: RemoveOptions | undefined
): Either.Either<RemoveCommand, ArgumentError> =>
  Either.gen(function* () {
    const k = yield* validateKey("remove", key)
    const f = yield* removeFields("remove", options, k)
    const cas = yield* validateCas("remove", options?.cas, k)
    return { key: k, cas, ...f }
  })

/** Checks `removeMulti(keys | {k: cas}, options)`. */
export const validateRemoveMulti = (
  keys: unknown,
  options: RemoveMultiOptions | undefined
): Either.Either<ReadonlyArray<RemoveCommand>, ArgumentError> =>
  Either.gen(function* () {
    const op = "removeMulti"
    const f = yield* removeFields(op, options)
    if (isKeyList(keys)) {
      const list = yield* validateKeyList(op, keys)
      return list.map((key) => ({ key, cas: 0n, ...f }))
    }
    const entries = yield* validateEntries<unknown>(op, keys)
    return yield* traverse(entries, ([key, cas]) =>
      Either.map(validateCas(op, cas, key), (c) => ({ key, cas: c, ...f }))
    )
  })

/** DELETE. */
export class RemoveOp extends KeyOp<OperationResult, NotFoundError | KeyExistsError> {
  readonly name: string
  protected readonly opcode = Opcode.Delete
  protected readonly spec = removeSpec
  override readonly durability: DurabilityRequirement | undefined
  private readonly cas: bigint

  constructor(command: RemoveCommand, keyBytes: Uint8Array, quiet: boolean, durability: Durability, name: string) {
    super(command.key, keyBytes, quiet)
    this.name = name
    this.cas = command.cas
    this.durability = wantsDurability(durability) ? { ...durability, checkRemoved: true } : undefined
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.remove({ key: this.keyBytes, vbucket, opaque }, this.cas)
  }

  protected success(frame: Frame) {
    return Either.right(succeeded(this.key, frame.cas))
  }
}

/** A remove command as an operation. */
export const prepareRemoveCommand = (
  command: RemoveCommand,
  ctx: OpContext,
  name = "remove"
): Either.Either<RemoveOp, ArgumentError | ValueFormatError> =>
  Either.gen(function* () {
    const keyBytes = yield* encodeKey(name, command.key, ctx.transcoder)
    const durability =
      ctx.replicas === undefined || !wantsDurability(command.durability)
        ? command.durability
        : yield* validateDurability(name, command.durability, ctx.replicas)
    return new RemoveOp(command, keyBytes, command.quiet ?? ctx.quiet, durability, name)
  })

/** `remove(key, options)`, checked and prepared. */
export const prepareRemove = (key: unknown, options: RemoveOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateRemove(key, options), (c) => prepareRemoveCommand(c, ctx))

/** `removeMulti(keys | {k: cas}, options)`, checked and prepared. */
export const prepareRemoveMulti = (keys: unknown, options: RemoveMultiOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateRemoveMulti(keys, options), (cs) =>
    traverse(cs, (c) => prepareRemoveCommand(c, ctx, "removeMulti"))
  )
