/**
 * The error classes of effect-couchbase, one per condition, named as in the Python
 * SDK's `couchbase.exceptions`. Each is a tagged error (`_tag` = class name) with the
 * libcouchbase code in `rc`, the category getters of the Python SDK, and, where they
 * are known, the `key`, the failed `result` and the `allResults` of a multi operation.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Connection } from "effect-couchbase"
 *
 * const settings = Effect.gen(function* () {
 *   const cb = yield* Connection.Connection
 *   return (yield* cb.get("settings::global")).value
 * }).pipe(
 *   // Busy, temporary failure, timeout…: the categories say when a retry may help.
 *   Effect.retry({ while: (error) => error.isTransient, schedule: Schedule.exponential("50 millis"), times: 3 }),
 *   // Each class is a tag, so one condition can be handled and the others kept.
 *   Effect.catchTag("NotFoundError", () => Effect.succeed({ theme: "light" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import { MultiResult, type OperationResult } from "./Result.js"

/**
 * Error categories of the Python SDK's `CouchbaseError`.
 *
 * @since 0.1.0
 * @category models
 */
export type Category = "transient" | "network" | "data" | "input" | "fatal"

/**
 * Fields every error accepts. `message` defaults to a description of the class.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorFields {
  readonly message?: string | undefined
  readonly key?: string | undefined
  /** The server status that produced the error, when it came from the wire. */
  readonly status?: number | undefined
  readonly result?: OperationResult | undefined
  readonly allResults?: MultiResult | undefined
  readonly cause?: unknown
}

/**
 * The shared base of every error class. Each subclass fixes its `_tag`, its `rc`, its
 * categories and a default message through statics, so that `instanceof`,
 * `Effect.catchTag` and the category getters all work on one code path.
 *
 * @since 0.1.0
 * @category errors
 */
export abstract class CouchbaseErrorBase extends Data.Error<ErrorFields & { readonly message: string }> {
  /**
   * The class name, as the discriminant for `Effect.catchTag`.
   *
   * @since 0.1.0
   */
  abstract readonly _tag: string
  /** The libcouchbase code of this class. */
  static readonly rc: number = 0
  /** The categories of this class. */
  static readonly categories: ReadonlySet<Category> = new Set()
  /** The message used when none is given. */
  static readonly defaultMessage: string = "couchbase error"

  constructor(fields: ErrorFields = {}) {
    const base = fields.message ?? (new.target as unknown as typeof CouchbaseErrorBase).defaultMessage
    super({ ...fields, message: fields.key === undefined ? base : `${base} (key: ${JSON.stringify(fields.key)})` })
  }

  /**
   * The class's tag, so that logs and stack traces read `NotFoundError: …` rather than
   * `Error: …`. (A getter: the tag is set by the subclass after this constructor runs,
   * and V8 formats the stack lazily, when it is first read.)
   */
  override get name(): string {
    return this._tag
  }

  private get statics(): typeof CouchbaseErrorBase {
    return this.constructor as typeof CouchbaseErrorBase
  }
  /** The libcouchbase error code (the Python SDK's `rc`). */
  get rc(): number {
    return this.statics.rc
  }
  /** The categories of this error. */
  get categories(): ReadonlySet<Category> {
    return this.statics.categories
  }
  /** A retry later may succeed. */
  get isTransient(): boolean {
    return this.categories.has("transient")
  }
  /** The network or a node's connection is at fault. */
  get isNetwork(): boolean {
    return this.categories.has("network")
  }
  /** The state of the data (existence, CAS, type) is at fault. */
  get isData(): boolean {
    return this.categories.has("data")
  }
  /** The caller's input is at fault. */
  get isInput(): boolean {
    return this.categories.has("input")
  }
  /** Retrying cannot help; the configuration must change. */
  get isFatal(): boolean {
    return this.categories.has("fatal")
  }
  /**
   * `[succeeded, failed]` of the multi operation this error ended, or two empty results.
   *
   * @since 0.1.0
   */
  splitResults(): readonly [MultiResult, MultiResult] {
    return this.allResults?.splitResults() ?? [new MultiResult(), new MultiResult()]
  }
}

const categories = (...cs: ReadonlyArray<Category>): ReadonlySet<Category> => new Set(cs)

/**
 * Authentication failed: wrong username or password, or the user may not use this bucket.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "AuthError" as const
  static override readonly rc: number = 0x02
  static override readonly categories = categories("fatal", "input")
  static override readonly defaultMessage =
    "authentication failed: check the username and password, and that the user has access to the bucket"
}

/**
 * A counter was applied to a value that is not a decimal integer.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeltaBadvalError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "DeltaBadvalError" as const
  static override readonly rc: number = 0x03
  static override readonly categories = categories("input", "data")
  static override readonly defaultMessage = "the stored value is not a number, so the counter cannot change it"
}

/**
 * The value (or key) is larger than the server accepts (20 MiB items, 250-byte keys).
 *
 * @since 0.1.0
 * @category errors
 */
export class TooBigError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "TooBigError" as const
  static override readonly rc: number = 0x04
  static override readonly categories = categories("input", "data")
  static override readonly defaultMessage = "the value is larger than the server's item size limit"
}

/**
 * The server is busy; retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class BusyError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "BusyError" as const
  static override readonly rc: number = 0x05
  static override readonly categories = categories("transient")
  static override readonly defaultMessage = "the server is too busy to handle the request; retry later"
}

/**
 * The server rejected the request's arguments.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "InvalidError" as const
  static override readonly rc: number = 0x07
  static override readonly categories = categories("input")
  static override readonly defaultMessage = "the server rejected the request as invalid"
}

/**
 * The server is out of memory; retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoMemoryError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NoMemoryError" as const
  static override readonly rc: number = 0x08
  static override readonly categories = categories("transient")
  static override readonly defaultMessage = "the server is out of memory; retry later"
}

/**
 * A temporary condition (a locked key, a warming node); retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class TemporaryFailError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "TemporaryFailError" as const
  static override readonly rc: number = 0x0b
  static override readonly categories = categories("transient")
  static override readonly defaultMessage = "temporary failure (the key may be locked); retry later"
}

/**
 * The key exists (insert), or its CAS differs from the one given.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyExistsError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "KeyExistsError" as const
  static override readonly rc: number = 0x0c
  static override readonly categories = categories("data")
  static override readonly defaultMessage =
    "the key already exists or its CAS does not match: read it again to get the current CAS"
}

/**
 * The key does not exist.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NotFoundError" as const
  static override readonly rc: number = 0x0d
  static override readonly categories = categories("data")
  static override readonly defaultMessage = "the key does not exist"
}

/**
 * The connection to a node failed or was lost while the operation was in flight.
 *
 * @since 0.1.0
 * @category errors
 */
export class NetworkError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NetworkError" as const
  static override readonly rc: number = 0x10
  static override readonly categories = categories("network")
  static override readonly defaultMessage =
    "the connection to the node was lost; the operation may or may not have been applied"
}

/**
 * The operation reached a node that does not own the key's vBucket.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotMyVbucketError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NotMyVbucketError" as const
  static override readonly rc: number = 0x11
  static override readonly categories = categories("network", "transient")
  static override readonly defaultMessage = "the node does not own the key's vBucket; the cluster map is changing"
}

/**
 * append/prepend on a missing key, or a conditional store that did not apply.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotStoredError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NotStoredError" as const
  static override readonly rc: number = 0x12
  static override readonly categories = categories("data")
  static override readonly defaultMessage = "the item was not stored (append/prepend need an existing key)"
}

/**
 * The server does not support this operation.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotSupportedError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "NotSupportedError" as const
  static override readonly rc: number = 0x13
  static override readonly categories = categories()
  static override readonly defaultMessage = "the server does not support this operation"
}

/**
 * The server does not know the command.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownCommandError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "UnknownCommandError" as const
  static override readonly rc: number = 0x14
  static override readonly categories = categories()
  static override readonly defaultMessage = "the server does not know this command"
}

/**
 * A host name could not be resolved.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownHostError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "UnknownHostError" as const
  static override readonly rc: number = 0x15
  static override readonly categories = categories("network", "input")
  static override readonly defaultMessage = "the host name could not be resolved: check the connection string"
}

/**
 * The peer sent bytes that do not follow the protocol.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ProtocolError" as const
  static override readonly rc: number = 0x16
  static override readonly categories = categories("network")
  static override readonly defaultMessage = "the peer broke the protocol; the connection was closed"
}

/**
 * The operation did not complete within its timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "TimeoutError" as const
  static override readonly rc: number = 0x17
  static override readonly categories = categories("network", "transient")
  static override readonly defaultMessage = "the operation timed out"
  /**
   * Whether the operation may have been applied. `true` (the default) when its request
   * had reached the network: the node may have executed it, so read the state before
   * retrying a write that is not idempotent. `false` when the deadline passed before
   * the request was sent (it was still queued, or waiting for a connection): it was not
   * applied. The Couchbase SDK 3 family calls these an ambiguous and an unambiguous
   * timeout.
   *
   * @since 0.1.0
   */
  declare readonly ambiguous: boolean

  constructor(fields: ErrorFields & { readonly ambiguous?: boolean | undefined } = {}) {
    super({ ...fields, ambiguous: fields.ambiguous ?? true } as ErrorFields)
  }
}

/**
 * A connection to a node could not be established.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ConnectError" as const
  static override readonly rc: number = 0x18
  static override readonly categories = categories("network")
  static override readonly defaultMessage =
    "could not connect to the node: check the host, the port and that the server is running"
}

/**
 * The bucket does not exist, or the user may not select it.
 *
 * @since 0.1.0
 * @category errors
 */
export class BucketNotFoundError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "BucketNotFoundError" as const
  static override readonly rc: number = 0x19
  static override readonly categories = categories("input", "fatal")
  static override readonly defaultMessage = "the bucket does not exist or the user has no access to it"
}

/**
 * The client cannot take the operation now (shutting down, queue full); retry later.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClientTemporaryFailError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ClientTemporaryFailError" as const
  static override readonly rc: number = 0x1b
  static override readonly categories = categories("transient")
  static override readonly defaultMessage = "the client cannot accept the operation right now; retry later"
}

/**
 * An argument is invalid; nothing was sent.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArgumentError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ArgumentError" as const
  static override readonly rc: number = 0x1001
  static override readonly categories = categories("input")
  static override readonly defaultMessage = "invalid argument"
}

/**
 * A value could not be encoded or decoded with the requested format.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValueFormatError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ValueFormatError" as const
  static override readonly rc: number = 0x1002
  static override readonly categories = categories("input")
  static override readonly defaultMessage = "the value cannot be encoded or decoded with the requested format"
}

/**
 * A view query produced errors inside its (successful) response body.
 *
 * @since 0.1.0
 * @category errors
 */
export class ViewEngineError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "ViewEngineError" as const
  static override readonly rc: number = 0x1003
  static override readonly categories = categories()
  static override readonly defaultMessage = "the view engine reported errors"
}

/**
 * A one-shot query result was iterated a second time.
 *
 * @since 0.1.0
 * @category errors
 */
export class AlreadyQueriedError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "AlreadyQueriedError" as const
  static override readonly rc: number = 0x1004
  static override readonly categories = categories()
  static override readonly defaultMessage = "this query has already been run; create a new one"
}

/**
 * Fields of {@link HTTPError}.
 *
 * @since 0.1.0
 * @category models
 */
export interface HTTPErrorFields extends ErrorFields {
  readonly httpStatus: number
  readonly body: string
}

/**
 * A non-2xx HTTP response (views, management). Carries the status and the body.
 *
 * @since 0.1.0
 * @category errors
 */
export class HTTPError extends CouchbaseErrorBase {
  /** @since 0.1.0 */
  readonly _tag = "HTTPError" as const
  static override readonly rc: number = 0x3b
  static override readonly defaultMessage = "the HTTP request failed"
  /**
   * The HTTP status code.
   *
   * @since 0.1.0
   */
  readonly httpStatus: number
  /**
   * The response body, as text.
   *
   * @since 0.1.0
   */
  readonly body: string
  constructor(fields: HTTPErrorFields) {
    super({ ...fields, message: fields.message ?? `HTTP ${fields.httpStatus}: ${fields.body.slice(0, 500)}` })
    this.httpStatus = fields.httpStatus
    this.body = fields.body
  }
}

/**
 * The description of a result's `rc` (the Python SDK's `Result.errstr`): `"Success"`
 * for 0, otherwise the description of the error class with that code.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Connection, Errors } from "effect-couchbase"
 *
 * // Why each key of a quiet multi-get did not come back.
 * const why = Effect.gen(function* () {
 *   const cb = yield* Connection.Connection
 *   const [, failed] = (yield* cb.getMulti(["a", "b"], { quiet: true })).splitResults()
 *   return [...failed.values()].map((r) => `${r.key}: ${Errors.errstr(r)}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const errstr = (result: { readonly rc: number }): string => {
  if (result.rc === 0) return "Success"
  for (const Class of errorClasses) if (Class.rc === result.rc) return Class.defaultMessage
  return `unknown error 0x${result.rc.toString(16)}`
}

/**
 * Every error class, for exhaustive handling and for the tests.
 *
 * @since 0.1.0
 * @category constants
 */
export const errorClasses = [
  AuthError,
  DeltaBadvalError,
  TooBigError,
  BusyError,
  InvalidError,
  NoMemoryError,
  TemporaryFailError,
  KeyExistsError,
  NotFoundError,
  NetworkError,
  NotMyVbucketError,
  NotStoredError,
  NotSupportedError,
  UnknownCommandError,
  UnknownHostError,
  ProtocolError,
  TimeoutError,
  ConnectError,
  BucketNotFoundError,
  ClientTemporaryFailError,
  ArgumentError,
  ValueFormatError,
  ViewEngineError,
  AlreadyQueriedError,
  HTTPError
] as const

/**
 * Any error of this library.
 *
 * @since 0.1.0
 * @category errors
 */
export type CouchbaseError = InstanceType<(typeof errorClasses)[number]>

/**
 * The errors a server status can produce (see {@link fromStatus}).
 *
 * @since 0.1.0
 * @category errors
 */
export type StatusError =
  | NotFoundError
  | KeyExistsError
  | TooBigError
  | InvalidError
  | NotStoredError
  | DeltaBadvalError
  | NotMyVbucketError
  | TemporaryFailError
  | AuthError
  | BucketNotFoundError
  | UnknownCommandError
  | NoMemoryError
  | NotSupportedError
  | BusyError
  | ProtocolError

/**
 * Maps a non-success server status to its error class, as libcouchbase and the Python
 * SDK map them. Statuses the table does not name become a `ProtocolError` that states
 * the number.
 *
 * @example
 * ```ts
 * import { Errors } from "effect-couchbase"
 *
 * // A peer's raw status, as the class a caller can catch: KEY_ENOENT is a NotFoundError.
 * const error = Errors.fromStatus(0x01, { key: "user::1" })
 * console.log(error._tag, error.isData) // NotFoundError true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromStatus = (status: number, fields: ErrorFields = {}): StatusError => {
  const f = { ...fields, status }
  switch (status) {
    case 0x01:
      return new NotFoundError(f)
    case 0x02:
      return new KeyExistsError(f)
    case 0x03:
      return new TooBigError(f)
    case 0x04:
      return new InvalidError(f)
    case 0x05:
      return new NotStoredError(f)
    case 0x06:
      return new DeltaBadvalError(f)
    case 0x07:
      return new NotMyVbucketError(f)
    case 0x08:
      return new BucketNotFoundError({ message: "no bucket is selected on this connection", ...f })
    case 0x09:
      return new TemporaryFailError({
        message: "the key is locked; retry after the lock expires or unlock it with its CAS",
        ...f
      })
    case 0x20:
      return new AuthError(f)
    case 0x24:
      return new BucketNotFoundError({
        message: "access denied: the bucket does not exist or the user may not use it",
        ...f
      })
    case 0x81:
      return new UnknownCommandError(f)
    case 0x82:
      return new NoMemoryError(f)
    case 0x83:
      return new NotSupportedError(f)
    case 0x85:
      return new BusyError(f)
    case 0x86:
      return new TemporaryFailError(f)
    default:
      return new ProtocolError({ message: `the server answered with unexpected status 0x${status.toString(16)}`, ...f })
  }
}
