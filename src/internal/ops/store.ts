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
import type {
  ArgumentError,
  KeyExistsError,
  NotFoundError,
  NotStoredError,
  TooBigError,
  ValueFormatError
} from "../../Errors.js"
import type { OperationResult } from "../../Result.js"
import * as Transcoder from "../../Transcoder.js"
import { Opcode } from "../protocol/constants.js"
import type { Frame, FrameInit } from "../protocol/Frame.js"
import {
  argumentError,
  type Durability,
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

const storeFields = (
  op: string,
  kind: StoreKind,
  options: (UpsertOptions & InsertOptions) | undefined,
  now: number,
  key?: string
) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    if (kind === "insert" && o.cas !== undefined) {
      return yield* Either.left(argumentError(op, "insert takes no cas: it only stores a key that does not exist", key))
    }
    const cas = yield* validateCas(op, o.cas, key)
    const format = yield* validateFormat(op, o.format)
    const expiry = yield* toExpiry(op, o.ttl, now, key)
    const durability = yield* validateDurability(op, o)
    return { format, expiry, cas, durability }
  })

/** Checks `upsert|insert|replace(key, value, options)`. */
export const validateStore = (
  kind: StoreKind,
  key: unknown,
  value: unknown,
  options: (UpsertOptions & InsertOptions) | undefined,
  now: number
): Either.Either<StoreCommand, ArgumentError> =>
  Either.flatMap(validateKey(kind, key), (k) =>
    Either.map(storeFields(kind, kind, options, now, k), (f) => ({ kind, key: k, value, ...f }))
  )

/** Checks `upsertMulti|insertMulti|replaceMulti(values, options)`: the options apply to every key. */
export const validateStoreMulti = (
  kind: StoreKind,
  values: unknown,
  options: StoreMultiOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<StoreCommand>, ArgumentError> =>
  Either.gen(function* () {
    const op = `${kind}Multi`
    const entries = yield* validateEntries<unknown>(op, values)
    const fields = yield* storeFields(op, kind, options, now)
    return entries.map(([key, value]) => ({ kind, key, value, ...fields }))
  })

const concatFields = (op: string, options: AppendOptions | undefined, key?: string) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    const cas = yield* validateCas(op, o.cas, key)
    const durability = yield* validateDurability(op, o)
    return { cas, durability, format: o.format }
  })

/** Checks `append|prepend(key, fragment, options)`: only UTF-8 or bytes. */
export const validateConcatOp = (
  kind: ConcatKind,
  key: unknown,
  value: unknown,
  options: AppendOptions | undefined
): Either.Either<ConcatCommand, ArgumentError> =>
  Either.gen(function* () {
    const k = yield* validateKey(kind, key)
    const f = yield* concatFields(kind, options, k)
    const format = yield* validateConcat(kind, value, f.format, k)
    return { kind, key: k, value: value as string | Uint8Array, format, cas: f.cas, durability: f.durability }
  })

/** Checks `appendMulti|prependMulti(values, options)`. */
export const validateConcatMulti = (
  kind: ConcatKind,
  values: unknown,
  options: AppendMultiOptions | undefined
): Either.Either<ReadonlyArray<ConcatCommand>, ArgumentError> =>
  Either.gen(function* () {
    const op = `${kind}Multi`
    const entries = yield* validateEntries<unknown>(op, values)
    const f = yield* concatFields(op, options)
    return yield* traverse(entries, ([key, value]) =>
      Either.map(validateConcat(op, value, f.format, key), (format) => ({
        kind,
        key,
        value: value as string | Uint8Array,
        format,
        cas: 0n,
        durability: f.durability
      }))
    )
  })

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

type PrepareError = ArgumentError | ValueFormatError

/** Re-checks durability against the bucket's replica count (known only after bootstrap). */
const durabilityFor = (op: string, d: Durability, ctx: OpContext): Either.Either<Durability, ArgumentError> =>
  ctx.replicas === undefined || !wantsDurability(d) ? Either.right(d) : validateDurability(op, d, ctx.replicas)

/** A store command as an operation: the key and the value encoded. */
export const prepareStoreCommand = (
  command: StoreCommand,
  ctx: OpContext,
  name: string = command.kind
): Either.Either<StoreOp, PrepareError> =>
  Either.gen(function* () {
    const keyBytes = yield* encodeKey(name, command.key, ctx.transcoder)
    const durability = yield* durabilityFor(name, command.durability, ctx)
    const format = Transcoder.resolveFormat(command.value, command.format ?? ctx.defaultFormat)
    const [bytes, flags] = yield* Transcoder.encodeValueEither(ctx.transcoder, command.value, format, {
      key: command.key
    })
    return new StoreOp({ ...command, durability }, keyBytes, bytes, flags, name)
  })

/** A concat command as an operation. */
export const prepareConcatCommand = (
  command: ConcatCommand,
  ctx: OpContext,
  name: string = command.kind
): Either.Either<ConcatOp, PrepareError> =>
  Either.gen(function* () {
    const keyBytes = yield* encodeKey(name, command.key, ctx.transcoder)
    const durability = yield* durabilityFor(name, command.durability, ctx)
    const [bytes] = yield* Transcoder.encodeValueEither(ctx.transcoder, command.value, command.format, {
      key: command.key
    })
    return new ConcatOp({ ...command, durability }, keyBytes, bytes, name)
  })

/** `upsert|insert|replace(key, value, options)`, checked and prepared. */
export const prepareStore = (
  kind: StoreKind,
  key: unknown,
  value: unknown,
  options: (UpsertOptions & InsertOptions) | undefined,
  ctx: OpContext
) => Either.flatMap(validateStore(kind, key, value, options, ctx.now()), (c) => prepareStoreCommand(c, ctx))

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
