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
  isKeyList,
  traverse,
  validateEntries,
  validateFlag,
  validateKey,
  validateKeyList,
  validateOptions,
  validateReplicaIndex,
  validateRequiredCas
} from "./args.js"
import { encodeKey, KeyOp, MASTER, type OpContext, type Route, succeeded, valueResult } from "./PreparedOp.js"
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

const getFields = (op: string, options: GetOptions | undefined, now: number, key?: string) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    const quiet = yield* validateFlag(op, "quiet", o.quiet, key)
    const replica = yield* validateFlag(op, "replica", o.replica, key)
    const noFormat = yield* validateFlag(op, "noFormat", o.noFormat, key)
    const expiry = yield* toExpiry(op, o.ttl, now, key)
    if (replica === true && expiry !== 0) {
      return yield* Either.left(
        argumentError(op, "ttl cannot be combined with replica: replicas cannot be touched", key)
      )
    }
    return { expiry, quiet, route: replica === true ? ANY_REPLICA : MASTER, noFormat: noFormat === true }
  })

/** Checks `get(key, options)`. A ttl of 0 reads without touching. */
export const validateGet = (
  key: unknown,
  options: GetOptions | undefined,
  now: number
): Either.Either<GetCommand, ArgumentError> =>
  Either.flatMap(validateKey("get", key), (k) =>
    Either.map(getFields("get", options, now, k), (f) => ({ key: k, ...f }))
  )

/** Checks `getMulti(keys, options)`: the options apply to every key. */
export const validateGetMulti = (
  keys: unknown,
  options: GetOptions | undefined,
  now: number
): Either.Either<ReadonlyArray<GetCommand>, ArgumentError> =>
  Either.gen(function* () {
    const list = yield* validateKeyList("getMulti", keys)
    const fields = yield* getFields("getMulti", options, now)
    return list.map((key) => ({ key, ...fields }))
  })

const replicaFields = (
  op: string,
  options: GetReplicaOptions | undefined,
  replicas: number | undefined,
  key?: string
) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    const quiet = yield* validateFlag(op, "quiet", o.quiet, key)
    const index = yield* validateReplicaIndex(op, o.replicaIndex, replicas)
    const route: Route = index === undefined ? ANY_REPLICA : { _tag: "Replica", index }
    return { expiry: 0, quiet, route, noFormat: false }
  })

/** Checks `getReplica(key, options)`; `replicas` bounds the index when known. */
export const validateGetReplica = (
  key: unknown,
  options: GetReplicaOptions | undefined,
  replicas?: number | undefined
): Either.Either<GetCommand, ArgumentError> =>
  Either.flatMap(validateKey("getReplica", key), (k) =>
    Either.map(replicaFields("getReplica", options, replicas, k), (f) => ({ key: k, ...f }))
  )

/** Checks `getReplicaMulti(keys, options)`. */
export const validateGetReplicaMulti = (
  keys: unknown,
  options: GetReplicaOptions | undefined,
  replicas?: number | undefined
): Either.Either<ReadonlyArray<GetCommand>, ArgumentError> =>
  Either.gen(function* () {
    const list = yield* validateKeyList("getReplicaMulti", keys)
    const fields = yield* replicaFields("getReplicaMulti", options, replicas)
    return list.map((key) => ({ key, ...fields }))
  })

const lockFields = (op: string, options: LockOptions | undefined, key?: string) =>
  Either.gen(function* () {
    const o = yield* validateOptions(op, options)
    const quiet = yield* validateFlag(op, "quiet", o.quiet, key)
    const lockTime = yield* toLockTime(op, o.ttl, key)
    return { lockTime, quiet }
  })

/** Checks `lock(key, {ttl})`: the ttl is required, 1 to 30 seconds. */
export const validateLock = (
  key: unknown,
  options: LockOptions | undefined
): Either.Either<LockCommand, ArgumentError> =>
  Either.flatMap(validateKey("lock", key), (k) => Either.map(lockFields("lock", options, k), (f) => ({ key: k, ...f })))

/** Checks `lockMulti(keys, {ttl})`. */
export const validateLockMulti = (
  keys: unknown,
  options: LockOptions | undefined
): Either.Either<ReadonlyArray<LockCommand>, ArgumentError> =>
  Either.gen(function* () {
    const list = yield* validateKeyList("lockMulti", keys)
    const fields = yield* lockFields("lockMulti", options)
    return list.map((key) => ({ key, ...fields }))
  })

const requiredTtl = (op: string, ttl: unknown, now: number, key?: string): Either.Either<number, ArgumentError> =>
  ttl === undefined
    ? Either.left(argumentError(op, "ttl is required (0 removes the expiry)", key))
    : toExpiry(op, ttl, now, key)

/** Checks `touch(key, {ttl})`; a ttl of 0 removes the expiry. */
export const validateTouch = (
  key: unknown,
  options: TouchOptions | undefined,
  now: number
): Either.Either<TouchCommand, ArgumentError> =>
  Either.gen(function* () {
    const k = yield* validateKey("touch", key)
    const o = yield* validateOptions("touch", options)
    const quiet = yield* validateFlag("touch", "quiet", o.quiet, k)
    const expiry = yield* requiredTtl("touch", o.ttl, now, k)
    return { key: k, expiry, quiet }
  })

/**
 * Checks `touchMulti(keys, {ttl})` (one ttl for all) or `touchMulti({k: ttl})` (a ttl
 * per key). Giving both is ambiguous and refused.
 */
export const validateTouchMulti = (
  keys: unknown,
  options: (TouchMultiOptions & { readonly ttl?: TtlInput | undefined }) | undefined,
  now: number
): Either.Either<ReadonlyArray<TouchCommand>, ArgumentError> =>
  Either.gen(function* () {
    const op = "touchMulti"
    const o = yield* validateOptions(op, options)
    const quiet = yield* validateFlag(op, "quiet", o.quiet)
    if (isKeyList(keys)) {
      const list = yield* validateKeyList(op, keys)
      const expiry = yield* requiredTtl(op, o.ttl, now)
      return list.map((key) => ({ key, expiry, quiet }))
    }
    const entries = yield* validateEntries<unknown>(op, keys)
    if (o.ttl !== undefined) {
      return yield* Either.left(
        argumentError(op, "a ttl is given both per key and for all keys; give one or the other")
      )
    }
    return yield* traverse(entries, ([key, ttl]) =>
      Either.map(requiredTtl(op, ttl, now, key), (expiry) => ({ key, expiry, quiet }))
    )
  })

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
  private readonly expiry: number
  private readonly noFormat: boolean
  private readonly transcoder: OpContext["transcoder"]

  constructor(
    command: GetCommand,
    keyBytes: Uint8Array,
    quiet: boolean,
    transcoder: OpContext["transcoder"],
    name = "get"
  ) {
    super(command.key, keyBytes, quiet, command.route)
    const replica = command.route._tag !== "Master"
    this.name = name
    this.opcode = replica ? Opcode.GetReplica : command.expiry === 0 ? Opcode.Get : Opcode.Gat
    this.spec = replica ? getReplicaSpec : getSpec
    // GET_REPLICA has no quiet twin.
    this.hasQuietForm = !replica
    this.expiry = command.expiry
    this.noFormat = command.noFormat
    this.transcoder = transcoder
  }

  request(vbucket: number, opaque: number): FrameInit {
    const a = { key: this.keyBytes, vbucket, opaque }
    if (this.opcode === Opcode.GetReplica) return Request.getReplica(a)
    return this.expiry === 0 ? Request.get(a) : Request.getAndTouch(a, this.expiry)
  }

  override quietRequest(vbucket: number, opaque: number): FrameInit {
    if (!this.hasQuietForm) return this.request(vbucket, opaque)
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
): Either.Either<GetOp, PrepareError> =>
  Either.map(
    encodeKey(name, command.key, ctx.transcoder),
    (bytes) => new GetOp(command, bytes, command.quiet ?? ctx.quiet, ctx.transcoder, name)
  )

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
export const prepareGet = (key: unknown, options: GetOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateGet(key, options, ctx.now()), (c) => prepareGetCommand(c, ctx))

/** `getMulti(keys, options)`, checked and prepared. */
export const prepareGetMulti = (keys: unknown, options: GetOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateGetMulti(keys, options, ctx.now()), (cs) =>
    traverse(cs, (c) => prepareGetCommand(c, ctx, "getMulti"))
  )

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
