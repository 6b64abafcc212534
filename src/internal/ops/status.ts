/**
 * Which error a response status means, per operation.
 *
 * `fromStatus` (Errors.ts) gives the general table: each status to the error class the
 * Python SDK raises for it. An operation narrows it: it names the data statuses it
 * expects (GET expects KEY_ENOENT, ADD expects KEY_EEXISTS, …), re-reads a few that
 * older servers use differently (a counter or touch on a locked key answers
 * KEY_EEXISTS on servers before 7.0, which means "locked", not "CAS mismatch"), and
 * turns every status it does not expect into a `ProtocolError` that names it. That
 * keeps each operation's error union exact.
 *
 * @internal
 */
import {
  type AuthError,
  type BucketNotFoundError,
  type BusyError,
  DeltaBadvalError,
  fromStatus,
  type InvalidError,
  KeyExistsError,
  type NoMemoryError,
  NotFoundError,
  type NotMyVbucketError,
  NotStoredError,
  type NotSupportedError,
  ProtocolError,
  TemporaryFailError,
  TooBigError,
  type UnknownCommandError
} from "../../Errors.js"
import { Status } from "../protocol/constants.js"

/** The errors any operation's response may carry, whatever the operation. */
export type CommonStatusError =
  | InvalidError
  | NotMyVbucketError
  | BucketNotFoundError
  | TemporaryFailError
  | AuthError
  | UnknownCommandError
  | NoMemoryError
  | NotSupportedError
  | BusyError
  | ProtocolError

const COMMON: ReadonlySet<number> = new Set([
  Status.Invalid,
  Status.NotMyVbucket,
  Status.NoBucket,
  Status.Locked,
  Status.AuthError,
  Status.NoAccess,
  Status.UnknownCommand,
  Status.NoMemory,
  Status.NotSupported,
  Status.Busy,
  Status.TemporaryFailure
])

/** How one operation reads the data statuses it expects. */
export interface StatusSpec<E> {
  /** The operation's name, for messages. */
  readonly name: string
  /** Status → error for the statuses that are about the data. */
  readonly data: Readonly<Record<number, (key: string, status: number) => E>>
}

/**
 * The error for a non-success `status` of operation `spec` on `key`: the spec's own
 * reading, the common table, or a `ProtocolError` for a status the operation never
 * expects.
 */
export const statusError = <E>(spec: StatusSpec<E>, status: number, key: string): E | CommonStatusError => {
  const own = spec.data[status]
  if (own !== undefined) return own(key, status)
  if (COMMON.has(status)) return fromStatus(status, { key }) as CommonStatusError
  return new ProtocolError({
    key,
    status,
    message: `the server answered ${spec.name} with status 0x${status.toString(16).padStart(2, "0")}, which this operation never expects`
  })
}

const notFound = (key: string, status: number) => new NotFoundError({ key, status })
const keyExists = (key: string, status: number) => new KeyExistsError({ key, status })
const tooBig = (key: string, status: number) => new TooBigError({ key, status })
const notStored = (key: string, status: number) =>
  new NotStoredError({ key, status, message: "the item was not stored: append and prepend need an existing key" })
/**
 * A write to a locked key without its lock CAS (LOCKED with XERROR): a CAS mismatch,
 * `KeyExistsError`, as the Python SDK reports an upsert to a locked key.
 */
const lockedWrite = (key: string, status: number) =>
  new KeyExistsError({
    key,
    status,
    message: "the key is locked: write it with the CAS returned by lock, or unlock it first"
  })
const lockedOld = (key: string, status: number) =>
  new TemporaryFailError({
    key,
    status,
    message: "the key is locked; retry after the lock expires or unlock it with its CAS"
  })

/** GET and GAT (a GAT on a locked key answers KEY_EEXISTS on older servers: locked). */
export const getSpec: StatusSpec<NotFoundError | TemporaryFailError> = {
  name: "get",
  data: { [Status.KeyNotFound]: notFound, [Status.KeyExists]: lockedOld }
}

/** GET_REPLICA. */
export const getReplicaSpec: StatusSpec<NotFoundError> = {
  name: "getReplica",
  data: { [Status.KeyNotFound]: notFound }
}

/** GET_LOCKED: an already locked key is a temporary failure. */
export const lockSpec: StatusSpec<NotFoundError | TemporaryFailError> = {
  name: "lock",
  data: { [Status.KeyNotFound]: notFound, [Status.KeyExists]: lockedOld }
}

const wrongUnlockCas = (key: string, status: number) =>
  new TemporaryFailError({
    key,
    status,
    message: "unlock refused: the key is not locked with this CAS (wrong CAS, or the lock expired); read it again"
  })

/** UNLOCK_KEY: a CAS that does not hold the lock is a temporary failure, as in the Python SDK. */
export const unlockSpec: StatusSpec<NotFoundError | TemporaryFailError> = {
  name: "unlock",
  data: {
    [Status.KeyNotFound]: notFound,
    [Status.KeyExists]: wrongUnlockCas,
    [Status.Locked]: wrongUnlockCas,
    // NOT_LOCKED (kv_engine 0x0e, with XERROR): the key is not locked (any more).
    [Status.NotLocked]: wrongUnlockCas,
    [Status.TemporaryFailure]: wrongUnlockCas
  }
}

/** TOUCH. */
export const touchSpec: StatusSpec<NotFoundError | TemporaryFailError> = {
  name: "touch",
  data: { [Status.KeyNotFound]: notFound, [Status.KeyExists]: lockedOld }
}

/** SET: KEY_ENOENT only when a CAS was given for a missing key. */
export const upsertSpec: StatusSpec<NotFoundError | KeyExistsError | TooBigError> = {
  name: "upsert",
  data: {
    [Status.KeyNotFound]: notFound,
    [Status.KeyExists]: keyExists,
    [Status.Locked]: lockedWrite,
    [Status.TooBig]: tooBig
  }
}

/** ADD: NOT_STORED (memcached) means the key exists. */
export const insertSpec: StatusSpec<KeyExistsError | TooBigError> = {
  name: "insert",
  data: { [Status.KeyExists]: keyExists, [Status.NotStored]: keyExists, [Status.TooBig]: tooBig }
}

/** REPLACE: NOT_STORED (memcached) means the key is missing. */
export const replaceSpec: StatusSpec<NotFoundError | KeyExistsError | TooBigError> = {
  name: "replace",
  data: {
    [Status.KeyNotFound]: notFound,
    [Status.NotStored]: notFound,
    [Status.KeyExists]: keyExists,
    [Status.Locked]: lockedWrite,
    [Status.TooBig]: tooBig
  }
}

/** APPEND/PREPEND: a missing key is NOT_STORED, whichever status the server uses. */
export const concatSpec = (name: string): StatusSpec<NotStoredError | KeyExistsError | TooBigError> => ({
  name,
  data: {
    [Status.NotStored]: notStored,
    [Status.KeyNotFound]: notStored,
    [Status.KeyExists]: keyExists,
    [Status.Locked]: lockedWrite,
    [Status.TooBig]: tooBig
  }
})

/** DELETE. */
export const removeSpec: StatusSpec<NotFoundError | KeyExistsError> = {
  name: "remove",
  data: { [Status.KeyNotFound]: notFound, [Status.KeyExists]: keyExists, [Status.Locked]: lockedWrite }
}

/** INCREMENT/DECREMENT: KEY_EEXISTS from older servers means locked. */
export const counterSpec: StatusSpec<NotFoundError | DeltaBadvalError | TemporaryFailError> = {
  name: "counter",
  data: {
    [Status.KeyNotFound]: notFound,
    [Status.DeltaBadval]: (key, status) => new DeltaBadvalError({ key, status }),
    [Status.KeyExists]: lockedOld
  }
}

/** STAT: KEY_ENOENT is a group the server does not know (the error's key names it). */
export const statsSpec: StatusSpec<NotFoundError> = {
  name: "stats",
  data: {
    [Status.KeyNotFound]: (group, status) =>
      new NotFoundError({ key: group, status, message: `the server has no stats group ${JSON.stringify(group)}` })
  }
}

/** Commands without data statuses (OBSERVE, NOOP). */
export const plainSpec = (name: string): StatusSpec<never> => ({ name, data: {} })
