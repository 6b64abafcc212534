/**
 * Reads and locks: `get` (GET, or GAT with a ttl), `getReplica` (GET_REPLICA),
 * `lock` (GET_LOCKED), `unlock` (UNLOCK_KEY) and `touch` (TOUCH), single and multi.
 *
 * Each operation has a `validate…` step (pure and synchronous: arguments to a
 * command, or an `ArgumentError`) and a `prepare…` step (the command, encoded with
 * the connection's transcoder, as a {@link PreparedOp}). Quiet applies to get,
 * getReplica, lock and touch: a missing key is then a `MissingResult`.
 *
 * @internal
 */
import { Either } from "effect"
import type {
  GetOptions,
  GetReplicaOptions,
  LockOptions,
  TouchMultiOptions,
  TouchOptions,
  TtlInput
} from "../../Connection.js"
import type { ArgumentError, NotFoundError, TemporaryFailError, ValueFormatError } from "../../Errors.js"
import type { OperationResult, ValueResult } from "../../Result.js"
import { Opcode } from "../protocol/constants.js"
import type { Frame, FrameInit } from "../protocol/Frame.js"
import {
  argumentError,
  fail,
  isKeyList,
  keyProblem,
  traverse,
  validateEntries,
  validateFlag,
  validateKey,
  validateKeyList,
  validateOptions,
  validateReplicaIndex,
  validateRequiredCas
} from "./args.js"
import {
  deferredKeyOrError,
  encodeKey,
  KeyOp,
  MASTER,
  type OpContext,
  type Route,
  succeeded,
  valueResult
} from "./PreparedOp.js"
import * as Request from "./requests.js"
import {
  type CommonStatusError,
  getReplicaSpec,
  getSpec,
  lockSpec,
  type StatusSpec,
  touchSpec,
  unlockSpec
} from "./status.js"
import { toExpiry, toLockTime } from "./ttl.js"

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

/** A validated get, getReplica or get-with-replica. */
export interface GetCommand {
  readonly key: string
  /** 0: plain GET; otherwise GAT with this expiry. */
  readonly expiry: number
  /** `undefined`: the connection's default. */
  readonly quiet: boolean | undefined
  readonly route: Route
  readonly noFormat: boolean
}

/** A validated lock. */
export interface LockCommand {
  readonly key: string
  readonly lockTime: number
  readonly quiet: boolean | undefined
}

/** A validated touch. */
export interface TouchCommand {
  readonly key: string
  readonly expiry: number
  readonly quiet: boolean | undefined
}

/** A validated unlock. */
export interface UnlockCommand {
  readonly key: string
  readonly cas: bigint
}

const ANY_REPLICA: Route = { _tag: "AnyReplica" }

/** The fields of a get command that come from the options. */
interface GetFields {
  readonly expiry: number
  readonly quiet: boolean | undefined
  readonly route: Route
  readonly noFormat: boolean
}

/** A get without options: the common case, shared rather than rebuilt per call. */
const PLAIN_GET: GetFields = { expiry: 0, quiet: undefined, route: MASTER, noFormat: false }

const getFields = (
  op: string,
  options: GetOptions | undefined,
  now: number,
  key?: string
): Either.Either<GetFields, ArgumentError> => {
  if (options === undefined) return Either.right(PLAIN_GET)
  const o = validateOptions(op, options)
  if (Either.isLeft(o)) return fail(o)
  const quiet = validateFlag(op, "quiet", o.right.quiet, key)
  if (Either.isLeft(quiet)) return fail(quiet)
  const replica = validateFlag(op, "replica", o.right.replica, key)
  if (Either.isLeft(replica)) return fail(replica)
  const noFormat = validateFlag(op, "noFormat", o.right.noFormat, key)
  if (Either.isLeft(noFormat)) return fail(noFormat)
  const expiry = toExpiry(op, o.right.ttl, now, key)
  if (Either.isLeft(expiry)) return fail(expiry)
  if (replica.right === true && expiry.right !== 0) {
    return Either.left(argumentError(op, "ttl cannot be combined with replica: replicas cannot be touched", key))
  }
  return Either.right({
    expiry: expiry.right,
    quiet: quiet.right,
    route: replica.right === true ? ANY_REPLICA : MASTER,
    noFormat: noFormat.right === true
  })
}

/** Checks `get(key, options)`. A ttl of 0 reads without touching. */
export const validateGet = (
  key: unknown,
  options: GetOptions | undefined,
  now: number
): Either.Either<GetCommand, ArgumentError> => {
  const k = validateKey("get", key)
  if (Either.isLeft(k)) return fail(k)
  const f = getFields("get", options, now, k.right)
  if (Either.isLeft(f)) return fail(f)
  return Either.right(withKey(k.right, f.right))
}

/** A command of `key` with `fields` (explicit properties: a spread is slower on the hot path). */
const withKey = (key: string, f: GetFields): GetCommand => ({
  key,
  expiry: f.expiry,
  quiet: f.quiet,
  route: f.route,
  noFormat: f.noFormat
})

/** The checked arguments of `getMulti`: the keys, and the fields every key shares. */
const getMultiArgs = (
  keys: unknown,
  options: GetOptions | undefined,
  now: number
): Either.Either<readonly [keys: ReadonlyArray<string>, fields: GetFields], ArgumentError> => {
  const list = validateKeyList("getMulti", keys)
  if (Either.isLeft(list)) return fail(list)
  const fields = getFields("getMulti", options, now)
  if (Either.isLeft(fields)) return fail(fields)
  return Either.right([list.right, fields.right])
}

/** Checks `getMulti(keys, options)`: the options apply to every key. */
export const validateGetMulti = (
  keys: unknown,
  options: GetOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<GetCommand>, ArgumentError> =>
  Either.map(getMultiArgs(keys, options, now), ([list, fields]) => list.map((key) => withKey(key, fields)))

const replicaFields = (
  op: string,
  options: GetReplicaOptions | undefined,
  replicas: number | undefined,
  key?: string
): Either.Either<GetFields, ArgumentError> => {
  const o = validateOptions(op, options)
  if (Either.isLeft(o)) return fail(o)
  const quiet = validateFlag(op, "quiet", o.right.quiet, key)
  if (Either.isLeft(quiet)) return fail(quiet)
  const index = validateReplicaIndex(op, o.right.replicaIndex, replicas)
  if (Either.isLeft(index)) return fail(index)
  const route: Route = index.right === undefined ? ANY_REPLICA : { _tag: "Replica", index: index.right }
  return Either.right({ expiry: 0, quiet: quiet.right, route, noFormat: false })
}

/** Checks `getReplica(key, options)`; `replicas` bounds the index when known. */
export const validateGetReplica = (
  key: unknown,
  options: GetReplicaOptions | undefined,
  replicas?: number | undefined
): Either.Either<GetCommand, ArgumentError> => {
  const k = validateKey("getReplica", key)
  if (Either.isLeft(k)) return fail(k)
  const f = replicaFields("getReplica", options, replicas, k.right)
  if (Either.isLeft(f)) return fail(f)
  return Either.right(withKey(k.right, f.right))
}

/** Checks `getReplicaMulti(keys, options)`. */
export const validateGetReplicaMulti = (
  keys: unknown,
  options: GetReplicaOptions | undefined,
  replicas?: number | undefined
): Either.Either<ReadonlyArray<GetCommand>, ArgumentError> => {
  const list = validateKeyList("getReplicaMulti", keys)
  if (Either.isLeft(list)) return fail(list)
  const fields = replicaFields("getReplicaMulti", options, replicas)
  if (Either.isLeft(fields)) return fail(fields)
  return Either.right(list.right.map((key) => withKey(key, fields.right)))
}

const lockFields = (
  op: string,
  options: LockOptions | undefined,
  key?: string
): Either.Either<Omit<LockCommand, "key">, ArgumentError> => {
  const o = validateOptions(op, options)
  if (Either.isLeft(o)) return fail(o)
  const quiet = validateFlag(op, "quiet", o.right.quiet, key)
  if (Either.isLeft(quiet)) return fail(quiet)
  const lockTime = toLockTime(op, o.right.ttl, key)
  if (Either.isLeft(lockTime)) return fail(lockTime)
  return Either.right({ lockTime: lockTime.right, quiet: quiet.right })
}

/** Checks `lock(key, {ttl})`: the ttl is required, 1 to 30 seconds. */
export const validateLock = (
  key: unknown,
  options: LockOptions | undefined
): Either.Either<LockCommand, ArgumentError> => {
  const k = validateKey("lock", key)
  if (Either.isLeft(k)) return fail(k)
  const f = lockFields("lock", options, k.right)
  if (Either.isLeft(f)) return fail(f)
  return Either.right({ key: k.right, lockTime: f.right.lockTime, quiet: f.right.quiet })
}

/** Checks `lockMulti(keys, {ttl})`. */
export const validateLockMulti = (
  keys: unknown,
  options: LockOptions | undefined
): Either.Either<ReadonlyArray<LockCommand>, ArgumentError> => {
  const list = validateKeyList("lockMulti", keys)
  if (Either.isLeft(list)) return fail(list)
  const fields = lockFields("lockMulti", options)
  if (Either.isLeft(fields)) return fail(fields)
  const { lockTime, quiet } = fields.right
  return Either.right(list.right.map((key) => ({ key, lockTime, quiet })))
}

const requiredTtl = (op: string, ttl: unknown, now: number, key?: string): Either.Either<number, ArgumentError> =>
  ttl === undefined
    ? Either.left(argumentError(op, "ttl is required (0 removes the expiry)", key))
    : toExpiry(op, ttl, now, key)

/** Checks `touch(key, {ttl})`; a ttl of 0 removes the expiry. */
export const validateTouch = (
  key: unknown,
  options: TouchOptions | undefined,
  now: number
): Either.Either<TouchCommand, ArgumentError> => {
  const k = validateKey("touch", key)
  if (Either.isLeft(k)) return fail(k)
  const o = validateOptions("touch", options)
  if (Either.isLeft(o)) return fail(o)
  const quiet = validateFlag("touch", "quiet", o.right.quiet, k.right)
  if (Either.isLeft(quiet)) return fail(quiet)
  const expiry = requiredTtl("touch", o.right.ttl, now, k.right)
  if (Either.isLeft(expiry)) return fail(expiry)
  return Either.right({ key: k.right, expiry: expiry.right, quiet: quiet.right })
}

/**
 * Checks `touchMulti(keys, {ttl})` (one ttl for all) or `touchMulti({k: ttl})` (a ttl
 * per key). Giving both is ambiguous and refused.
 */
export const validateTouchMulti = (
  keys: unknown,
  options: (TouchMultiOptions & { readonly ttl?: TtlInput | undefined }) | undefined,
  now: number
): Either.Either<ReadonlyArray<TouchCommand>, ArgumentError> => {
  const op = "touchMulti"
  const o = validateOptions(op, options)
  if (Either.isLeft(o)) return fail(o)
  const checkedQuiet = validateFlag(op, "quiet", o.right.quiet)
  if (Either.isLeft(checkedQuiet)) return fail(checkedQuiet)
  const quiet = checkedQuiet.right
  if (isKeyList(keys)) {
    const list = validateKeyList(op, keys)
    if (Either.isLeft(list)) return fail(list)
    const expiry = requiredTtl(op, o.right.ttl, now)
    if (Either.isLeft(expiry)) return fail(expiry)
    return Either.right(list.right.map((key) => ({ key, expiry: expiry.right, quiet })))
  }
  const entries = validateEntries<unknown>(op, keys)
  if (Either.isLeft(entries)) return fail(entries)
  if (o.right.ttl !== undefined) {
    return Either.left(argumentError(op, "a ttl is given both per key and for all keys; give one or the other"))
  }
  return traverse(entries.right, ([key, ttl]) =>
    Either.map(requiredTtl(op, ttl, now, key), (expiry) => ({ key, expiry, quiet }))
  )
}

/** Checks `unlock(key, cas)`: the CAS returned by lock (a result is accepted too). */
export const validateUnlock = (key: unknown, cas: unknown): Either.Either<UnlockCommand, ArgumentError> =>
  Either.flatMap(validateKey("unlock", key), (k) =>
    Either.map(validateRequiredCas("unlock", cas, k), (c) => ({ key: k, cas: c }))
  )

/** Checks `unlockMulti({k: cas | result})` (a `MultiResult` of `lockMulti` works as it is). */
export const validateUnlockMulti = (input: unknown): Either.Either<ReadonlyArray<UnlockCommand>, ArgumentError> =>
  Either.flatMap(validateEntries<unknown>("unlockMulti", input), (entries) =>
    traverse(entries, ([key, cas]) =>
      Either.map(validateRequiredCas("unlockMulti", cas, key), (c) => ({ key, cas: c }))
    )
  )

// ---------------------------------------------------------------------------
// Prepared operations
// ---------------------------------------------------------------------------

/** The failures a GET/GAT response can mean. */
export type GetFailure = NotFoundError | TemporaryFailError | ValueFormatError | CommonStatusError

/** GET, GAT, or GET_REPLICA when routed to a replica. */
export class GetOp extends KeyOp<ValueResult<unknown>, NotFoundError | TemporaryFailError | ValueFormatError> {
  readonly name: string
  protected readonly opcode: number
  protected readonly spec: StatusSpec<NotFoundError | TemporaryFailError>
  override readonly hasQuietForm: boolean
  readonly keyOpcode: number | undefined
  readonly quietKeyOpcode: number | undefined
  private readonly expiry: number
  private readonly noFormat: boolean
  private readonly transcoder: OpContext["transcoder"]

  constructor(
    key: string,
    command: GetFields,
    keyBytes: Uint8Array | undefined,
    quiet: boolean,
    transcoder: OpContext["transcoder"],
    name = "get"
  ) {
    super(key, keyBytes, quiet, command.route)
    const replica = command.route._tag !== "Master"
    this.name = name
    this.opcode = replica ? Opcode.GetReplica : command.expiry === 0 ? Opcode.Get : Opcode.Gat
    this.spec = replica ? getReplicaSpec : getSpec
    // GET_REPLICA has no quiet twin.
    this.hasQuietForm = !replica
    this.keyOpcode = this.opcode === Opcode.Get ? Opcode.Get : undefined
    this.quietKeyOpcode = this.opcode === Opcode.Get ? Opcode.GetQ : undefined
    this.expiry = command.expiry
    this.noFormat = command.noFormat
    this.transcoder = transcoder
  }

  request(vbucket: number, opaque: number): FrameInit {
    if (this.opcode === Opcode.Get) return { opcode: Opcode.Get, key: this.keyBytes, vbucket, opaque }
    const a = { key: this.keyBytes, vbucket, opaque }
    if (this.opcode === Opcode.GetReplica) return Request.getReplica(a)
    return this.expiry === 0 ? Request.get(a) : Request.getAndTouch(a, this.expiry)
  }

  override quietRequest(vbucket: number, opaque: number): FrameInit {
    if (!this.hasQuietForm) return this.request(vbucket, opaque)
    if (this.opcode === Opcode.Get) return { opcode: Opcode.GetQ, key: this.keyBytes, vbucket, opaque }
    const a = { key: this.keyBytes, vbucket, opaque }
    return this.expiry === 0 ? Request.get(a, true) : Request.getAndTouch(a, this.expiry, true)
  }

  protected success(frame: Frame) {
    return valueResult(frame, this.key, this.transcoder, this.noFormat)
  }
}

/** GET_LOCKED. */
export class LockOp extends KeyOp<ValueResult<unknown>, NotFoundError | TemporaryFailError | ValueFormatError> {
  readonly name = "lock"
  protected readonly opcode = Opcode.GetLocked
  protected readonly spec = lockSpec
  private readonly lockTime: number
  private readonly transcoder: OpContext["transcoder"]

  constructor(command: LockCommand, keyBytes: Uint8Array, quiet: boolean, transcoder: OpContext["transcoder"]) {
    super(command.key, keyBytes, quiet)
    this.lockTime = command.lockTime
    this.transcoder = transcoder
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.getLocked({ key: this.keyBytes, vbucket, opaque }, this.lockTime)
  }

  protected success(frame: Frame) {
    return valueResult(frame, this.key, this.transcoder, false)
  }
}

/** TOUCH. */
export class TouchOp extends KeyOp<OperationResult, NotFoundError | TemporaryFailError> {
  readonly name = "touch"
  protected readonly opcode = Opcode.Touch
  protected readonly spec = touchSpec
  private readonly expiry: number

  constructor(command: TouchCommand, keyBytes: Uint8Array, quiet: boolean) {
    super(command.key, keyBytes, quiet)
    this.expiry = command.expiry
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.touch({ key: this.keyBytes, vbucket, opaque }, this.expiry)
  }

  protected success(frame: Frame) {
    return Either.right(succeeded(this.key, frame.cas))
  }
}

/** UNLOCK_KEY. Never quiet: unlocking a missing key is an error. */
export class UnlockOp extends KeyOp<OperationResult, NotFoundError | TemporaryFailError> {
  readonly name = "unlock"
  protected readonly opcode = Opcode.UnlockKey
  protected readonly spec = unlockSpec
  private readonly cas: bigint

  constructor(command: UnlockCommand, keyBytes: Uint8Array) {
    super(command.key, keyBytes, false)
    this.cas = command.cas
  }

  request(vbucket: number, opaque: number): FrameInit {
    return Request.unlock({ key: this.keyBytes, vbucket, opaque }, this.cas)
  }

  protected success(frame: Frame) {
    return Either.right(succeeded(this.key, frame.cas))
  }
}

// ---------------------------------------------------------------------------
// Prepare: command + connection → operation
// ---------------------------------------------------------------------------

type PrepareError = ArgumentError | ValueFormatError

/** A get command as an operation. */
export const prepareGetCommand = (
  command: GetCommand,
  ctx: OpContext,
  name = "get"
): Either.Either<GetOp, PrepareError> => {
  const bytes = encodeKey(name, command.key, ctx.transcoder)
  if (Either.isLeft(bytes)) return fail(bytes)
  return Either.right(new GetOp(command.key, command, bytes.right, command.quiet ?? ctx.quiet, ctx.transcoder, name))
}

/** A lock command as an operation. */
export const prepareLockCommand = (command: LockCommand, ctx: OpContext): Either.Either<LockOp, PrepareError> =>
  Either.map(
    encodeKey("lock", command.key, ctx.transcoder),
    (bytes) => new LockOp(command, bytes, command.quiet ?? ctx.quiet, ctx.transcoder)
  )

/** A touch command as an operation. */
export const prepareTouchCommand = (command: TouchCommand, ctx: OpContext): Either.Either<TouchOp, PrepareError> =>
  Either.map(
    encodeKey("touch", command.key, ctx.transcoder),
    (bytes) => new TouchOp(command, bytes, command.quiet ?? ctx.quiet)
  )

/** An unlock command as an operation. */
export const prepareUnlockCommand = (command: UnlockCommand, ctx: OpContext): Either.Either<UnlockOp, PrepareError> =>
  Either.map(encodeKey("unlock", command.key, ctx.transcoder), (bytes) => new UnlockOp(command, bytes))

/** `get(key, options)`, checked and prepared. */
export const prepareGet = (
  key: unknown,
  options: GetOptions | undefined,
  ctx: OpContext
): Either.Either<GetOp, PrepareError> => {
  if (options === undefined) {
    // The common call, get(key): no options to read and no command object to build.
    const problem = keyProblem("get", key)
    if (problem !== undefined) return Either.left(problem)
    const bytes = deferredKeyOrError("get", key as string, ctx.transcoder)
    if (bytes !== undefined && !(bytes instanceof Uint8Array)) return Either.left(bytes)
    return Either.right(new GetOp(key as string, PLAIN_GET, bytes, ctx.quiet, ctx.transcoder, "get"))
  }
  const command = validateGet(key, options, ctx.now())
  return Either.isLeft(command) ? fail(command) : prepareGetCommand(command.right, ctx)
}

/** `getMulti(keys, options)`, checked and prepared. */
export const prepareGetMulti = (
  keys: unknown,
  options: GetOptions | undefined,
  ctx: OpContext
): Either.Either<ReadonlyArray<GetOp>, PrepareError> => {
  // One loop from keys to operations: a thousand keys are a thousand of everything
  // built per key, so no command object and no Either per key.
  const args = getMultiArgs(keys, options, options === undefined ? 0 : ctx.now())
  if (Either.isLeft(args)) return fail(args)
  const [list, f] = args.right
  const quiet = f.quiet ?? ctx.quiet
  const ops: Array<GetOp> = new Array(list.length)
  for (let i = 0; i < ops.length; i++) {
    const key = list[i]!
    const bytes = deferredKeyOrError("getMulti", key, ctx.transcoder)
    if (bytes !== undefined && !(bytes instanceof Uint8Array)) return Either.left(bytes)
    ops[i] = new GetOp(key, f, bytes, quiet, ctx.transcoder, "getMulti")
  }
  return Either.right(ops)
}

/** `getReplica(key, options)`, checked against the bucket's replica count and prepared. */
export const prepareGetReplica = (key: unknown, options: GetReplicaOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateGetReplica(key, options, ctx.replicas), (c) => prepareGetCommand(c, ctx, "getReplica"))

/** `getReplicaMulti(keys, options)`, checked and prepared. */
export const prepareGetReplicaMulti = (keys: unknown, options: GetReplicaOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateGetReplicaMulti(keys, options, ctx.replicas), (cs) =>
    traverse(cs, (c) => prepareGetCommand(c, ctx, "getReplicaMulti"))
  )

/** `lock(key, options)`, checked and prepared. */
export const prepareLock = (key: unknown, options: LockOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateLock(key, options), (c) => prepareLockCommand(c, ctx))

/** `lockMulti(keys, options)`, checked and prepared. */
export const prepareLockMulti = (keys: unknown, options: LockOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateLockMulti(keys, options), (cs) => traverse(cs, (c) => prepareLockCommand(c, ctx)))

/** `touch(key, options)`, checked and prepared. */
export const prepareTouch = (key: unknown, options: TouchOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateTouch(key, options, ctx.now()), (c) => prepareTouchCommand(c, ctx))

/** `touchMulti(keys | {k: ttl}, options)`, checked and prepared. */
export const prepareTouchMulti = (
  keys: unknown,
  options: (TouchMultiOptions & { readonly ttl?: TtlInput | undefined }) | undefined,
  ctx: OpContext
) =>
  Either.flatMap(validateTouchMulti(keys, options, ctx.now()), (cs) => traverse(cs, (c) => prepareTouchCommand(c, ctx)))

/** `unlock(key, cas)`, checked and prepared. */
export const prepareUnlock = (key: unknown, cas: unknown, ctx: OpContext) =>
  Either.flatMap(validateUnlock(key, cas), (c) => prepareUnlockCommand(c, ctx))

/** `unlockMulti({k: cas | result})`, checked and prepared. */
export const prepareUnlockMulti = (input: unknown, ctx: OpContext) =>
  Either.flatMap(validateUnlockMulti(input), (cs) => traverse(cs, (c) => prepareUnlockCommand(c, ctx)))
