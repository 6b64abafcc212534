/**
 * OBSERVE, and durability built on it: `observe` (each node's view of a key),
 * `endure` (wait until a requirement holds), and the persistTo/replicateTo of
 * mutations, which is `endure` run after the mutation succeeded.
 *
 * OBSERVE is per node, not per key: one request carries every key the node holds a
 * copy of (`requests.observe`), and one response answers them all
 * ({@link decodeObserveResponse}). The pipeline sends it to the master and, unless
 * `masterOnly`, to each replica of the keys' vBuckets, then gathers the answers per
 * key ({@link observeResult}). For durability it polls every `interval` and asks
 * {@link evaluateDurability} whether the requirement holds.
 *
 * Key states (libcouchbase `lcb_observe_t`): 0x00 in memory, not yet persisted; 0x01
 * persisted; 0x80 not found; 0x81 deleted in memory (the tombstone is not yet
 * persisted).
 *
 * @internal
 */
import type { Duration } from "effect"
import { Either } from "effect"
import type { EndureMultiOptions, EndureOptions, ObserveOptions } from "../../Connection.js"
import {
  type ArgumentError,
  KeyExistsError,
  NotFoundError,
  ProtocolError,
  type ValueFormatError
} from "../../Errors.js"
import type { ObserveInfo, ObserveResult, OperationResult } from "../../Result.js"
import { Opcode, Status } from "../protocol/constants.js"
import type { Frame } from "../protocol/Frame.js"
import {
  argumentError,
  fail,
  traverse,
  validateDurability,
  validateFlag,
  validateKey,
  validateKeyList,
  validateKeysWithCas,
  validateOptions,
  validateRequiredCas
} from "./args.js"
import { type DurabilityRequirement, encodeKey, type OpContext } from "./PreparedOp.js"
import { type CommonStatusError, plainSpec, statusError } from "./status.js"
import { toDuration } from "./ttl.js"

/** Key state: in memory, not yet on disk. */
export const KEY_FOUND = 0x00
/** Key state: on disk. */
export const KEY_PERSISTED = 0x01
/** Key state: unknown to the node. */
export const KEY_NOT_FOUND = 0x80
/** Key state: deleted in memory, the deletion not yet on disk. */
export const KEY_DELETED = 0x81

// ---------------------------------------------------------------------------
// observe
// ---------------------------------------------------------------------------

/** A validated observe of one key. */
export interface ObserveCommand {
  readonly key: string
  readonly masterOnly: boolean
}

/** An observe, ready to be grouped per node. */
export interface PreparedObserve extends ObserveCommand {
  readonly keyBytes: Uint8Array
}

/** Checks `observe(key, options)`. */
export const validateObserve = (
  key: unknown,
  options: ObserveOptions | undefined
): Either.Either<ObserveCommand, ArgumentError> => {
  const k = validateKey("observe", key)
  if (Either.isLeft(k)) return fail(k)
  const o = validateOptions("observe", options)
  if (Either.isLeft(o)) return fail(o)
  const masterOnly = validateFlag("observe", "masterOnly", o.right.masterOnly, k.right)
  if (Either.isLeft(masterOnly)) return fail(masterOnly)
  return Either.right({ key: k.right, masterOnly: masterOnly.right === true })
}

/** Checks `observeMulti(keys, options)`. */
export const validateObserveMulti = (
  keys: unknown,
  options: ObserveOptions | undefined
): Either.Either<ReadonlyArray<ObserveCommand>, ArgumentError> => {
  const list = validateKeyList("observeMulti", keys)
  if (Either.isLeft(list)) return fail(list)
  const o = validateOptions("observeMulti", options)
  if (Either.isLeft(o)) return fail(o)
  const flag = validateFlag("observeMulti", "masterOnly", o.right.masterOnly)
  if (Either.isLeft(flag)) return fail(flag)
  const masterOnly = flag.right === true
  return Either.right(list.right.map((key) => ({ key, masterOnly })))
}

/** An observe command with its key encoded. */
export const prepareObserveCommand = (
  command: ObserveCommand,
  ctx: OpContext,
  name = "observe"
): Either.Either<PreparedObserve, ArgumentError | ValueFormatError> =>
  Either.map(encodeKey(name, command.key, ctx.transcoder), (keyBytes) => ({ ...command, keyBytes }))

/** `observe(key, options)`, checked and prepared. */
export const prepareObserve = (key: unknown, options: ObserveOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateObserve(key, options), (c) => prepareObserveCommand(c, ctx))

/** `observeMulti(keys, options)`, checked and prepared. */
export const prepareObserveMulti = (keys: unknown, options: ObserveOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateObserveMulti(keys, options), (cs) =>
    traverse(cs, (c) => prepareObserveCommand(c, ctx, "observeMulti"))
  )

/** One key's entry in an OBSERVE response. */
export interface ObserveEntry {
  readonly vbucket: number
  /** The key bytes as sent (a view of the response). */
  readonly key: Buffer
  readonly keyState: number
  readonly cas: bigint
}

/**
 * The entries of one node's OBSERVE response: `vbucket(2) keylen(2) key state(1)
 * cas(8)` repeated. `about` names the request's key(s) in errors.
 */
export const decodeObserveResponse = (
  frame: Frame,
  about: string
): Either.Either<ReadonlyArray<ObserveEntry>, CommonStatusError> => {
  if (frame.opcode !== Opcode.Observe) {
    return Either.left(
      new ProtocolError({
        key: about,
        message: `the response to observe carries opcode 0x${frame.opcode.toString(16)}`
      })
    )
  }
  if (frame.status !== Status.Success) return Either.left(statusError(plainSpec("observe"), frame.status, about))
  const body = frame.value
  const out: Array<ObserveEntry> = []
  let at = 0
  while (at < body.length) {
    if (at + 4 > body.length) break
    const keyLength = body.readUInt16BE(at + 2)
    const end = at + 4 + keyLength + 9
    if (end > body.length) break
    out.push({
      vbucket: body.readUInt16BE(at),
      key: body.subarray(at + 4, at + 4 + keyLength),
      keyState: body[at + 4 + keyLength]!,
      cas: body.readBigUInt64BE(at + 5 + keyLength)
    })
    at = end
  }
  if (at !== body.length) {
    return Either.left(
      new ProtocolError({
        key: about,
        message: `the OBSERVE response body is truncated after ${at} of ${body.length} bytes`
      })
    )
  }
  return Either.right(out)
}

/** One node's answer about a key, as the results carry it. */
export const observeInfo = (entry: ObserveEntry, fromMaster: boolean): ObserveInfo => ({
  flags: entry.keyState,
  cas: entry.cas,
  fromMaster
})

/**
 * The result of `observe` for a key: every node's answer (the master's first), and
 * the master's CAS (0 when the master does not have the key or did not answer).
 */
export const observeResult = (key: string, infos: ReadonlyArray<ObserveInfo>): ObserveResult => {
  const ordered = [...infos].sort((a, b) => Number(b.fromMaster) - Number(a.fromMaster))
  const master = ordered.find((i) => i.fromMaster)
  const present = master !== undefined && (master.flags === KEY_FOUND || master.flags === KEY_PERSISTED)
  return { key, cas: present ? master.cas : 0n, rc: 0, success: true, value: ordered }
}

// ---------------------------------------------------------------------------
// endure and durability
// ---------------------------------------------------------------------------

/** A validated endure of one key. */
export interface EndureCommand {
  readonly key: string
  /** 0: any version counts. */
  readonly cas: bigint
  readonly requirement: DurabilityRequirement
  /** `undefined`: the connection's durability timeout. */
  readonly timeout: Duration.Duration | undefined
  /** `undefined`: the connection's durability interval. */
  readonly interval: Duration.Duration | undefined
}

/** The fields of an endure command that come from the options. */
interface EndureFields {
  readonly requirement: DurabilityRequirement
  readonly timeout: Duration.Duration | undefined
  readonly interval: Duration.Duration | undefined
}

const endureFields = (
  op: string,
  options: EndureMultiOptions | undefined,
  key?: string
): Either.Either<EndureFields, ArgumentError> => {
  const checked = validateOptions(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const o = checked.right
  if (o.persistTo === undefined || o.replicateTo === undefined) {
    return Either.left(
      argumentError(op, "persistTo and replicateTo are required (-1 means as many as the bucket has)", key)
    )
  }
  const d = validateDurability(op, o)
  if (Either.isLeft(d)) return fail(d)
  if (d.right.persistTo === 0 && d.right.replicateTo === 0) {
    return Either.left(argumentError(op, "persistTo and replicateTo are both 0: there is nothing to wait for", key))
  }
  const checkRemoved = validateFlag(op, "checkRemoved", o.checkRemoved, key)
  if (Either.isLeft(checkRemoved)) return fail(checkRemoved)
  let timeout: Duration.Duration | undefined
  if (o.timeout !== undefined) {
    const t = toDuration(op, "timeout", o.timeout, key)
    if (Either.isLeft(t)) return fail(t)
    timeout = t.right
  }
  let interval: Duration.Duration | undefined
  if (o.interval !== undefined) {
    const i = toDuration(op, "interval", o.interval, key)
    if (Either.isLeft(i)) return fail(i)
    interval = i.right
  }
  return Either.right({ requirement: { ...d.right, checkRemoved: checkRemoved.right === true }, timeout, interval })
}

/** Checks `endure(key, options)`. */
export const validateEndure = (
  key: unknown,
  options: EndureOptions | undefined
): Either.Either<EndureCommand, ArgumentError> => {
  const k = validateKey("endure", key)
  if (Either.isLeft(k)) return fail(k)
  const f = endureFields("endure", options, k.right)
  if (Either.isLeft(f)) return fail(f)
  let cas = 0n
  if (options?.cas !== undefined) {
    const c = validateRequiredCas("endure", options.cas, k.right)
    if (Either.isLeft(c)) return fail(c)
    cas = c.right
  }
  return Either.right({ key: k.right, cas, ...f.right })
}

/** Checks `endureMulti(keys | {k: cas | result}, options)` (a `MultiResult` of a mutation works as it is). */
export const validateEndureMulti = (
  keys: unknown,
  options: EndureMultiOptions | undefined
): Either.Either<ReadonlyArray<EndureCommand>, ArgumentError> => {
  const op = "endureMulti"
  const checked = endureFields(op, options)
  if (Either.isLeft(checked)) return fail(checked)
  const f = checked.right
  return Either.map(validateKeysWithCas(op, keys, validateRequiredCas), (list) =>
    list.map(({ key, cas }) => ({ key, cas, ...f }))
  )
}

/** An endure command, with its key encoded and its requirement checked against the bucket. */
export interface PreparedEndure extends EndureCommand {
  readonly keyBytes: Uint8Array
}

/** An endure command as a prepared endure. */
export const prepareEndureCommand = (
  command: EndureCommand,
  ctx: OpContext,
  name = "endure"
): Either.Either<PreparedEndure, ArgumentError | ValueFormatError> => {
  const keyBytes = encodeKey(name, command.key, ctx.transcoder)
  if (Either.isLeft(keyBytes)) return fail(keyBytes)
  if (ctx.replicas === undefined) return Either.right({ ...command, keyBytes: keyBytes.right })
  const d = validateDurability(name, command.requirement, ctx.replicas)
  if (Either.isLeft(d)) return fail(d)
  return Either.right({
    ...command,
    keyBytes: keyBytes.right,
    requirement: { ...d.right, checkRemoved: command.requirement.checkRemoved }
  })
}

/** `endure(key, options)`, checked and prepared. */
export const prepareEndure = (key: unknown, options: EndureOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateEndure(key, options), (c) => prepareEndureCommand(c, ctx))

/** `endureMulti(keys, options)`, checked and prepared. */
export const prepareEndureMulti = (keys: unknown, options: EndureMultiOptions | undefined, ctx: OpContext) =>
  Either.flatMap(validateEndureMulti(keys, options), (cs) =>
    traverse(cs, (c) => prepareEndureCommand(c, ctx, "endureMulti"))
  )

/** Where a durability requirement stands after one round of OBSERVE. */
export type DurabilityProgress =
  | { readonly _tag: "Satisfied" }
  | { readonly _tag: "Pending"; readonly persisted: number; readonly replicated: number }
  | { readonly _tag: "Failed"; readonly error: NotFoundError | KeyExistsError }

/**
 * Whether `requirement` holds for `key` given one round of answers. `persistTo`
 * counts nodes with the item on disk and must include the master; `replicateTo`
 * counts replicas (the master excluded) with it in memory. When `cas` is given, only
 * copies with that CAS count, and a master with another CAS means the key changed
 * (`KeyExistsError`). A master without the key fails a positive check at once
 * (`NotFoundError`): waiting cannot help.
 */
export const evaluateDurability = (
  key: string,
  requirement: DurabilityRequirement,
  cas: bigint,
  infos: ReadonlyArray<ObserveInfo>
): DurabilityProgress => {
  let persisted = 0
  let replicated = 0
  let masterPersisted = false
  for (const info of infos) {
    if (info.fromMaster && cas !== 0n && info.cas !== 0n && info.cas !== cas) {
      return {
        _tag: "Failed",
        error: new KeyExistsError({
          key,
          message: "the key was changed by another writer while waiting for durability; read it again"
        })
      }
    }
    let onDisk = false
    let inMemory = false
    if (requirement.checkRemoved) {
      if (info.flags === KEY_NOT_FOUND) onDisk = inMemory = true
      else if (info.flags === KEY_DELETED) inMemory = true
    } else {
      if (info.flags === KEY_NOT_FOUND || info.flags === KEY_DELETED) {
        if (info.fromMaster) {
          return {
            _tag: "Failed",
            error: new NotFoundError({
              key,
              message: "the key disappeared from its master while waiting for durability"
            })
          }
        }
        continue
      }
      // A replica holding another version has not received this mutation yet.
      if (!info.fromMaster && cas !== 0n && info.cas !== cas) continue
      onDisk = info.flags === KEY_PERSISTED
      inMemory = info.flags === KEY_FOUND || onDisk
    }
    if (onDisk) {
      persisted++
      if (info.fromMaster) masterPersisted = true
    }
    if (inMemory && !info.fromMaster) replicated++
  }
  const persistOk = requirement.persistTo <= 0 || (masterPersisted && persisted >= requirement.persistTo)
  const replicateOk = replicated >= requirement.replicateTo
  return persistOk && replicateOk ? { _tag: "Satisfied" } : { _tag: "Pending", persisted, replicated }
}

/** The result of a successful endure: the key and the CAS it was checked for. */
export const endured = (key: string, cas: bigint): OperationResult => ({ key, cas, rc: 0, success: true })
