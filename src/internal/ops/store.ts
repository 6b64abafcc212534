/**
 * Writes: `upsert` (SET), `insert` (ADD), `replace` (REPLACE), `append` and `prepend`
 * (APPEND/PREPEND), single and multi. None of them is quiet: a missing key for replace
 * is a `NotFoundError` and for append/prepend a `NotStoredError`, whatever `quiet` says.
 *
 * @internal
 */
import { Either } from "effect"
import type {
  AppendMultiOptions,
  AppendOptions,
  InsertOptions,
  StoreMultiOptions,
  UpsertOptions
} from "../../Connection.js"
import {
  type ArgumentError,
  type KeyExistsError,
  type NotFoundError,
  type NotStoredError,
  TooBigError,
  type ValueFormatError
} from "../../Errors.js"
import type { OperationResult } from "../../Result.js"
import * as Transcoder from "../../Transcoder.js"
import { Opcode } from "../protocol/constants.js"
import type { Frame, FrameInit } from "../protocol/Frame.js"
import {
  argumentError,
  type Durability,
  fail,
  NO_DURABILITY,
  refuseQuiet,
  traverse,
  validateCas,
  validateConcat,
  validateDurability,
  validateEntries,
  validateFormat,
  validateKey,
  validateOptions,
  wantsDurability
} from "./args.js"
import {
  type DurabilityRequirement,
  encodeKey,
  KeyOp,
  type NodeFeatures,
  type OpContext,
  succeeded
} from "./PreparedOp.js"
import * as Request from "./requests.js"
import { concatSpec, insertSpec, replaceSpec, type StatusSpec, upsertSpec } from "./status.js"
import { toExpiry } from "./ttl.js"

/** The storing commands. */
export type StoreKind = "upsert" | "insert" | "replace"

/** The concatenating commands. */
export type ConcatKind = "append" | "prepend"

/** A validated upsert, insert or replace. */
export interface StoreCommand {
  readonly kind: StoreKind
  readonly key: string
  readonly value: unknown
  /** `undefined`: the connection's default format. */
  readonly format: number | undefined
  readonly expiry: number
  readonly cas: bigint
  readonly durability: Durability
}

/** A validated append or prepend; `format` is UTF-8 or bytes. */
export interface ConcatCommand {
  readonly kind: ConcatKind
  readonly key: string
  readonly value: string | Uint8Array
  readonly format: number
  readonly cas: bigint
  readonly durability: Durability
}

/** The fields of a store command that come from the options. */
interface StoreFields {
  readonly format: number | undefined
  readonly expiry: number
  readonly cas: bigint
  readonly durability: Durability
}

/**
 * The refusal of `cas` in a multi store's options (which apply to every key): one CAS
 * cannot match several documents, and the Python SDK's `*_multi` take none either.
 */
const noMultiCas = (op: string): ArgumentError =>
  argumentError(
    op,
    "a multi store takes no cas, since one CAS cannot match several documents; store each key with its own cas"
  )

/** A store without options: the common case, shared rather than rebuilt per call. */
const PLAIN_STORE: StoreFields = { format: undefined, expiry: 0, cas: 0n, durability: NO_DURABILITY }

const storeFields = (
  op: string,
  kind: StoreKind,
  options: (UpsertOptions & InsertOptions) | undefined,
  now: number,
  key?: string
): Either.Either<StoreFields, ArgumentError> => {
  if (options === undefined) return Either.right(PLAIN_STORE)
  const checked = validateOptions(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const o = checked.right
  const quiet = refuseQuiet(op, o, key)
  if (quiet !== undefined) return Either.left(quiet)
  if (kind === "insert" && o.cas !== undefined) {
    return Either.left(argumentError(op, "insert takes no cas: it only stores a key that does not exist", key))
  }
  if (key === undefined && o.cas !== undefined) return Either.left(noMultiCas(op))
  const cas = validateCas(op, o.cas, key)
  if (Either.isLeft(cas)) return fail(cas)
  const format = validateFormat(op, o.format)
  if (Either.isLeft(format)) return fail(format)
  const expiry = toExpiry(op, o.ttl, now, key)
  if (Either.isLeft(expiry)) return fail(expiry)
  const durability = validateDurability(op, o)
  if (Either.isLeft(durability)) return fail(durability)
  return Either.right({ format: format.right, expiry: expiry.right, cas: cas.right, durability: durability.right })
}

/** A store command (explicit properties: a spread is slower on the hot path). */
const storeCommand = (kind: StoreKind, key: string, value: unknown, f: StoreFields): StoreCommand => ({
  kind,
  key,
  value,
  format: f.format,
  expiry: f.expiry,
  cas: f.cas,
  durability: f.durability
})

/** Checks `upsert|insert|replace(key, value, options)`. */
export const validateStore = (
  kind: StoreKind,
  key: unknown,
  value: unknown,
  options: (UpsertOptions & InsertOptions) | undefined,
  now: number
): Either.Either<StoreCommand, ArgumentError> => {
  const k = validateKey(kind, key)
  if (Either.isLeft(k)) return fail(k)
  const f = storeFields(kind, kind, options, now, k.right)
  if (Either.isLeft(f)) return fail(f)
  return Either.right(storeCommand(kind, k.right, value, f.right))
}

/** Checks `upsertMulti|insertMulti|replaceMulti(values, options)`: the options apply to every key. */
export const validateStoreMulti = (
  kind: StoreKind,
  values: unknown,
  options: StoreMultiOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<StoreCommand>, ArgumentError> => {
  const op = `${kind}Multi`
  const entries = validateEntries<unknown>(op, values)
  if (Either.isLeft(entries)) return fail(entries)
  const fields = storeFields(op, kind, options, now)
  if (Either.isLeft(fields)) return fail(fields)
  return Either.right(entries.right.map(([key, value]) => storeCommand(kind, key, value, fields.right)))
}

/** The fields of a concat command that come from the options. */
interface ConcatFields {
  readonly cas: bigint
  readonly durability: Durability
  /** Unchecked: the fragment's own type decides when it is absent (see `validateConcat`). */
  readonly format: unknown
}

const concatFields = (
  op: string,
  options: AppendOptions | undefined,
  key?: string
): Either.Either<ConcatFields, ArgumentError> => {
  const checked = validateOptions(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const o = checked.right
  const quiet = refuseQuiet(op, o, key)
  if (quiet !== undefined) return Either.left(quiet)
  if (key === undefined && o.cas !== undefined) return Either.left(noMultiCas(op))
  const cas = validateCas(op, o.cas, key)
  if (Either.isLeft(cas)) return fail(cas)
  const durability = validateDurability(op, o)
  if (Either.isLeft(durability)) return fail(durability)
  return Either.right({ cas: cas.right, durability: durability.right, format: o.format })
}

/** Checks `append|prepend(key, fragment, options)`: only UTF-8 or bytes. */
export const validateConcatOp = (
  kind: ConcatKind,
  key: unknown,
  value: unknown,
  options: AppendOptions | undefined
): Either.Either<ConcatCommand, ArgumentError | ValueFormatError> => {
  const k = validateKey(kind, key)
  if (Either.isLeft(k)) return fail(k)
  const f = concatFields(kind, options, k.right)
  if (Either.isLeft(f)) return fail(f)
  const format = validateConcat(kind, value, f.right.format, k.right)
  if (Either.isLeft(format)) return fail(format)
  return Either.right({
    kind,
    key: k.right,
    value: value as string | Uint8Array,
    format: format.right,
    cas: f.right.cas,
    durability: f.right.durability
  })
}

/** Checks `appendMulti|prependMulti(values, options)`. */
export const validateConcatMulti = (
  kind: ConcatKind,
  values: unknown,
  options: AppendMultiOptions | undefined
): Either.Either<ReadonlyArray<ConcatCommand>, ArgumentError | ValueFormatError> => {
  const op = `${kind}Multi`
  const entries = validateEntries<unknown>(op, values)
  if (Either.isLeft(entries)) return fail(entries)
  const f = concatFields(op, options)
  if (Either.isLeft(f)) return fail(f)
  const { format: fragmentFormat, durability } = f.right
  return traverse(entries.right, ([key, value]) =>
    Either.map(validateConcat(op, value, fragmentFormat, key), (format) => ({
      kind,
      key,
      value: value as string | Uint8Array,
      format,
      cas: 0n,
      durability
    }))
  )
}

// ---------------------------------------------------------------------------
// Prepared operations
// ---------------------------------------------------------------------------

const STORE_OPCODE = { upsert: Opcode.Set, insert: Opcode.Add, replace: Opcode.Replace } as const
const STORE_SPEC: Record<StoreKind, StatusSpec<NotFoundError | KeyExistsError | TooBigError>> = {
  upsert: upsertSpec,
  insert: insertSpec,
  replace: replaceSpec
}

const requirement = (d: Durability, checkRemoved: boolean): DurabilityRequirement | undefined =>
  wantsDurability(d) ? { ...d, checkRemoved } : undefined

/** SET, ADD or REPLACE with an encoded value. */
export class StoreOp extends KeyOp<OperationResult, NotFoundError | KeyExistsError | TooBigError> {
  readonly name: string
  protected readonly opcode: (typeof STORE_OPCODE)[StoreKind]
  protected readonly spec: StatusSpec<NotFoundError | KeyExistsError | TooBigError>
  override readonly durability: DurabilityRequirement | undefined
  private readonly value: Uint8Array
  private readonly flags: number
  private readonly expiry: number
  private readonly cas: bigint

  constructor(command: StoreCommand, keyBytes: Uint8Array, value: Uint8Array, flags: number, name: string) {
    super(command.key, keyBytes, false)
    this.name = name
    this.opcode = STORE_OPCODE[command.kind]
    this.spec = STORE_SPEC[command.kind]
    this.durability = requirement(command.durability, false)
    this.value = value
    this.flags = flags
    this.expiry = command.expiry
    this.cas = command.cas
  }

  request(vbucket: number, opaque: number, node: NodeFeatures): FrameInit {
    return Request.store(
      this.opcode,
      { key: this.keyBytes, vbucket, opaque },
      {
        value: this.value,
        flags: this.flags,
        expiry: this.expiry,
        cas: this.cas,
        json: node.json && Transcoder.isJsonFlags(this.flags)
      }
    )
  }

  protected success(frame: Frame) {
    return Either.right(succeeded(this.key, frame.cas))
  }
}

/** APPEND or PREPEND with the fragment's bytes. */
export class ConcatOp extends KeyOp<OperationResult, NotStoredError | KeyExistsError | TooBigError> {
  readonly name: string
  protected readonly opcode: typeof Opcode.Append | typeof Opcode.Prepend
  protected readonly spec: StatusSpec<NotStoredError | KeyExistsError | TooBigError>
  override readonly durability: DurabilityRequirement | undefined
  private readonly value: Uint8Array
  private readonly cas: bigint

  constructor(command: ConcatCommand, keyBytes: Uint8Array, value: Uint8Array, name: string) {
    super(command.key, keyBytes, false)
    this.name = name
    this.opcode = command.kind === "append" ? Opcode.Append : Opcode.Prepend
    this.spec = concatSpec(name)
    this.durability = requirement(command.durability, false)
    this.value = value
    this.cas = command.cas
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.concat(this.opcode, { key: this.keyBytes, vbucket, opaque }, this.value, this.cas)
  }

  protected success(frame: Frame) {
    return Either.right(succeeded(this.key, frame.cas))
  }
}

type PrepareError = ArgumentError | ValueFormatError | TooBigError

/** Refuses a value larger than the connection sends (see `Options.maxValueSize`), before it is queued. */
const checkSize = (key: string, bytes: Uint8Array, ctx: OpContext): Either.Either<Uint8Array, TooBigError> =>
  bytes.length <= ctx.maxValueSize
    ? Either.right(bytes)
    : Either.left(
        new TooBigError({
          key,
          message: `the value is ${bytes.length} bytes once encoded, over the ${ctx.maxValueSize}-byte limit of this connection (maxValueSize, by default the server's item limit); it was not sent`
        })
      )

/** Re-checks durability against the bucket's replica count (known only after bootstrap). */
const durabilityFor = (op: string, d: Durability, ctx: OpContext): Either.Either<Durability, ArgumentError> =>
  ctx.replicas === undefined || !wantsDurability(d) ? Either.right(d) : validateDurability(op, d, ctx.replicas)

/** A store command as an operation: the key and the value encoded. */
export const prepareStoreCommand = (
  command: StoreCommand,
  ctx: OpContext,
  name: string = command.kind
): Either.Either<StoreOp, PrepareError> => {
  const keyBytes = encodeKey(name, command.key, ctx.transcoder)
  if (Either.isLeft(keyBytes)) return fail(keyBytes)
  const durability = durabilityFor(name, command.durability, ctx)
  if (Either.isLeft(durability)) return fail(durability)
  const format = Transcoder.resolveFormat(command.value, command.format ?? ctx.defaultFormat)
  const encoded = Transcoder.encodeValueEither(ctx.transcoder, command.value, format, { key: command.key })
  if (Either.isLeft(encoded)) return fail(encoded)
  const [bytes, flags] = encoded.right
  const sized = checkSize(command.key, bytes, ctx)
  if (Either.isLeft(sized)) return fail(sized)
  const checked = durability.right === command.durability ? command : { ...command, durability: durability.right }
  return Either.right(new StoreOp(checked, keyBytes.right, bytes, flags, name))
}

/** A concat command as an operation. */
export const prepareConcatCommand = (
  command: ConcatCommand,
  ctx: OpContext,
  name: string = command.kind
): Either.Either<ConcatOp, PrepareError> => {
  const keyBytes = encodeKey(name, command.key, ctx.transcoder)
  if (Either.isLeft(keyBytes)) return fail(keyBytes)
  const durability = durabilityFor(name, command.durability, ctx)
  if (Either.isLeft(durability)) return fail(durability)
  const encoded = Transcoder.encodeValueEither(ctx.transcoder, command.value, command.format, { key: command.key })
  if (Either.isLeft(encoded)) return fail(encoded)
  const sized = checkSize(command.key, encoded.right[0], ctx)
  if (Either.isLeft(sized)) return fail(sized)
  const checked = durability.right === command.durability ? command : { ...command, durability: durability.right }
  return Either.right(new ConcatOp(checked, keyBytes.right, encoded.right[0], name))
}

/** `upsert|insert|replace(key, value, options)`, checked and prepared. */
export const prepareStore = (
  kind: StoreKind,
  key: unknown,
  value: unknown,
  options: (UpsertOptions & InsertOptions) | undefined,
  ctx: OpContext
): Either.Either<StoreOp, PrepareError> => {
  const command = validateStore(kind, key, value, options, ctx.now())
  return Either.isLeft(command) ? fail(command) : prepareStoreCommand(command.right, ctx)
}

/** `upsertMulti|insertMulti|replaceMulti(values, options)`, checked and prepared. */
export const prepareStoreMulti = (
  kind: StoreKind,
  values: unknown,
  options: StoreMultiOptions | undefined,
  ctx: OpContext
) =>
  Either.flatMap(validateStoreMulti(kind, values, options, ctx.now()), (cs) =>
    traverse(cs, (c) => prepareStoreCommand(c, ctx, `${kind}Multi`))
  )

/** `append|prepend(key, fragment, options)`, checked and prepared. */
export const prepareConcat = (
  kind: ConcatKind,
  key: unknown,
  value: unknown,
  options: AppendOptions | undefined,
  ctx: OpContext
) => Either.flatMap(validateConcatOp(kind, key, value, options), (c) => prepareConcatCommand(c, ctx))

/** `appendMulti|prependMulti(values, options)`, checked and prepared. */
export const prepareConcatMulti = (
  kind: ConcatKind,
  values: unknown,
  options: AppendMultiOptions | undefined,
  ctx: OpContext
) =>
  Either.flatMap(validateConcatMulti(kind, values, options), (cs) =>
    traverse(cs, (c) => prepareConcatCommand(c, ctx, `${kind}Multi`))
  )
