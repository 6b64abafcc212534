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
  fail,
  traverse,
  validateCas,
  validateDurability,
  validateFlag,
  validateKey,
  validateKeysWithCas,
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

/** The fields of a remove command that come from the options. */
interface RemoveFields {
  readonly quiet: boolean | undefined
  readonly durability: Durability
}

const removeFields = (
  op: string,
  options: RemoveMultiOptions | undefined,
  key?: string
): Either.Either<RemoveFields, ArgumentError> => {
  const checked = validateOptions(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const quiet = validateFlag(op, "quiet", checked.right.quiet, key)
  if (Either.isLeft(quiet)) return fail(quiet)
  const durability = validateDurability(op, checked.right)
  if (Either.isLeft(durability)) return fail(durability)
  return Either.right({ quiet: quiet.right, durability: durability.right })
}

/** Checks `remove(key, options)`. */
export const validateRemove = (
  key: unknown,
  options: RemoveOptions | undefined
): Either.Either<RemoveCommand, ArgumentError> => {
  const k = validateKey("remove", key)
  if (Either.isLeft(k)) return fail(k)
  const f = removeFields("remove", options, k.right)
  if (Either.isLeft(f)) return fail(f)
  const cas = validateCas("remove", options?.cas, k.right)
  if (Either.isLeft(cas)) return fail(cas)
  return Either.right({ key: k.right, cas: cas.right, quiet: f.right.quiet, durability: f.right.durability })
}

/** Checks `removeMulti(keys | {k: cas}, options)`. */
export const validateRemoveMulti = (
  keys: unknown,
  options: RemoveMultiOptions | undefined
): Either.Either<ReadonlyArray<RemoveCommand>, ArgumentError> => {
  const op = "removeMulti"
  const checked = removeFields(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const f = checked.right
  // Each key's CAS, or the result whose CAS to use (a MultiResult of getMulti works as it is).
  const casOf = (op: string, cas: unknown, key: string) =>
    validateCas(op, cas !== null && typeof cas === "object" && "cas" in cas ? (cas as OperationResult).cas : cas, key)
  return Either.map(validateKeysWithCas(op, keys, casOf), (list) => list.map(({ key, cas }) => ({ key, cas, ...f })))
}

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
): Either.Either<RemoveOp, ArgumentError | ValueFormatError> => {
  const keyBytes = encodeKey(name, command.key, ctx.transcoder)
  if (Either.isLeft(keyBytes)) return fail(keyBytes)
  let durability = command.durability
  if (ctx.replicas !== undefined && wantsDurability(durability)) {
    const checked = validateDurability(name, durability, ctx.replicas)
    if (Either.isLeft(checked)) return fail(checked)
    durability = checked.right
  }
  return Either.right(new RemoveOp(command, keyBytes.right, command.quiet ?? ctx.quiet, durability, name))
}

/** `remove(key, options)`, checked and prepared. */
export const prepareRemove = (key: unknown, options: RemoveOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateRemove(key, options), (c) => prepareRemoveCommand(c, ctx))

/** `removeMulti(keys | {k: cas}, options)`, checked and prepared. */
export const prepareRemoveMulti = (keys: unknown, options: RemoveMultiOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateRemoveMulti(keys, options), (cs) =>
    traverse(cs, (c) => prepareRemoveCommand(c, ctx, "removeMulti"))
  )
