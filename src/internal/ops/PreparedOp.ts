/**
 * A prepared key/value operation: what the pipeline needs to send one key's request
 * and to turn its response into a result or an error, with every argument already
 * checked and the key already encoded.
 *
 * The pipeline's part, for each {@link PreparedOp}:
 * 1. pick the node by {@link PreparedOp.route} and the key's vBucket (computed from
 *    {@link PreparedOp.keyBytes}),
 * 2. send {@link PreparedOp.request}(vbucket, opaque, node features) — or, for a
 *    pipelined multi get, {@link PreparedOp.quietRequest} followed by one NOOP,
 * 3. hand the response to {@link PreparedOp.decode}; a quiet request left unanswered
 *    when the NOOP's response arrives gets {@link PreparedOp.notFound},
 * 4. re-route and resend on `NotMyVbucketError`, back off and resend on
 *    `TemporaryFailError`/`BusyError` while the deadline allows,
 * 5. when {@link PreparedOp.durability} is set and the operation succeeded, poll
 *    OBSERVE (see `observe.ts`) until the requirement holds or the deadline passes.
 *
 * Operations are small classes so that the hot path allocates one object per key and
 * no closures.
 *
 * @internal
 */
import { Either } from "effect"
import { type ArgumentError, ProtocolError, ValueFormatError } from "../../Errors.js"
import type { MissingResult, OperationResult, ValueResult } from "../../Result.js"
import { missing } from "../../Result.js"
import type * as Transcoder from "../../Transcoder.js"
import { defaultTranscoder, kindOfFlags } from "../../Transcoder.js"
import { defaultValueIn } from "../defaultDecoding.js"
import { Datatype, loudOpcode, Status } from "../protocol/constants.js"
import { extrasUInt32, type Frame, type FrameInit, valueEnd, valueSource, valueStart } from "../protocol/Frame.js"
import { decodeFailure, malformedKey, toValueFormatError } from "../valueFormatError.js"
import { isWellFormed } from "../wellFormed.js"
import { type Durability, encodedKeyProblem } from "./args.js"
import { type CommonStatusError, type StatusSpec, statusError } from "./status.js"

/** Which copy of a key an operation reads or writes. */
export type Route =
  | { readonly _tag: "Master" }
  /** A given replica: `vBucketMap[vb][index + 1]`. */
  | { readonly _tag: "Replica"; readonly index: number }
  /** The replicas in turn until one answers with the value (libcouchbase's "first"). */
  | { readonly _tag: "AnyReplica" }

/** The master copy. */
export const MASTER: Route = { _tag: "Master" }

/** What a node acknowledged in HELLO that changes how requests are written. */
export interface NodeFeatures {
  /** HELLO JSON: JSON documents are sent with the JSON datatype bit. */
  readonly json: boolean
}

/** What preparing an operation needs from the connection. */
export interface OpContext {
  readonly transcoder: Transcoder.Transcoder<any>
  /** The format used when an operation names none. */
  readonly defaultFormat: number
  /** The connection-level quiet default. */
  readonly quiet: boolean
  /** Wall-clock milliseconds, for expiry times longer than 30 days. */
  readonly now: () => number
  /** The largest encoded value a store may send (see `Options.maxValueSize`). */
  readonly maxValueSize: number
  /** The bucket's replica count when known (after bootstrap); checks durability and replica indexes. */
  readonly replicas?: number | undefined
}

/** A durability requirement of a mutation: polled with OBSERVE after it succeeded. */
export interface DurabilityRequirement extends Durability {
  /** True for removals: wait until the key is gone rather than present. */
  readonly checkRemoved: boolean
}

/** One key's operation, ready to send. */
export interface PreparedOp<R extends OperationResult = OperationResult, E = unknown> {
  /** The operation's name (`get`, `upsert`, …), for spans and messages. */
  readonly name: string
  readonly key: string
  /** The key as the transcoder encoded it: hashed for routing, written in the request. */
  readonly keyBytes: Uint8Array
  /**
   * What routing hashes: {@link keyBytes}, or the key itself while its bytes are its
   * UTF-8 and not yet encoded (vBucket and ketama hashing read a string as UTF-8).
   */
  readonly routingKey: Uint8Array | string
  /** The length of {@link keyBytes}, known without encoding them. */
  readonly keyLength: number
  readonly route: Route
  /** The request frame for `vbucket`, correlated by `opaque`. */
  request(vbucket: number, opaque: number, node: NodeFeatures): FrameInit
  /** Whether {@link quietRequest} exists (GETQ/GATQ for multi gets). */
  readonly hasQuietForm: boolean
  /**
   * The quiet-opcode form of the request: the server answers only hits (and errors
   * other than KEY_ENOENT), so a batch ends with one NOOP and the keys left
   * unanswered get {@link notFound}.
   */
  quietRequest(vbucket: number, opaque: number, node: NodeFeatures): FrameInit
  /**
   * The opcode of {@link request} when it is a request with nothing but the key (GET
   * of a plain get), so that the request can be written straight into the batch
   * buffer; undefined otherwise.
   */
  readonly keyOpcode?: number | undefined
  /**
   * The opcode of the quiet form when it is a request with nothing but the key (GETQ
   * of a plain get), so that a batch can write it straight into its buffer; undefined
   * otherwise.
   */
  readonly quietKeyOpcode?: number | undefined
  /** The result or the error a response means. */
  decode(frame: Frame): Either.Either<R, E>
  /** The outcome of "not found" without a response frame (a silent quiet request). */
  notFound(): Either.Either<R, E>
  /** Durability to await after success; undefined when none was asked. */
  readonly durability: DurabilityRequirement | undefined
}

/** The success shape of a mutation. */
export const succeeded = (key: string, cas: bigint): OperationResult => ({ key, cas, rc: 0, success: true })

/** Encodes a validated key with the transcoder and checks the encoded length. */
export const encodeKey = (
  name: string,
  key: string,
  transcoder: Transcoder.Transcoder<any>
): Either.Either<Uint8Array, ArgumentError | ValueFormatError> => {
  const bytes = encodeKeyOrError(name, key, transcoder)
  return bytes instanceof Uint8Array ? Either.right(bytes) : Either.left(bytes)
}

/**
 * {@link encodeKey} without the `Either`, for loops over many keys: the bytes, or the
 * error (a transcoder that threw or returned something else, or a length the server
 * refuses).
 */
export const encodeKeyOrError = (
  name: string,
  key: string,
  transcoder: Transcoder.Transcoder<any>
): Uint8Array | ArgumentError | ValueFormatError => {
  let bytes: unknown
  try {
    bytes = transcoder.encodeKey(key)
  } catch (cause) {
    return toValueFormatError(cause, key, "encode the key")
  }
  if (!(bytes instanceof Uint8Array)) return malformedKey(key)
  return encodedKeyProblem(name, key, bytes) ?? bytes
}

/**
 * {@link encodeKeyOrError}, except that under the default transcoder a key that is
 * well-formed UTF-16 is left as it is (`undefined`): its bytes are its UTF-8, written
 * straight into the request batch and hashed as a string, so no Buffer is made per
 * key (a `Buffer.from` of a short key measured 110 ns; gets on fibers went from
 * 410–430k/s to 434–438k/s, through the Promise wrapper from 770–813k/s to 855–888k/s).
 */
export const deferredKeyOrError = (
  name: string,
  key: string,
  transcoder: Transcoder.Transcoder<any>
): Uint8Array | undefined | ArgumentError | ValueFormatError =>
  // A key with a lone surrogate goes through the transcoder, which refuses it.
  transcoder === defaultTranscoder && isWellFormed(key) ? undefined : encodeKeyOrError(name, key, transcoder)

/**
 * The shared skeleton: opcode check, success or status, and quiet misses.
 * Subclasses say what the request is and what success carries.
 */
export abstract class KeyOp<R extends OperationResult, E>
  implements PreparedOp<R | MissingResult, E | CommonStatusError>
{
  abstract readonly name: string
  /** The loud opcode the response must carry. */
  protected abstract readonly opcode: number
  protected abstract readonly spec: StatusSpec<E>
  readonly hasQuietForm: boolean = false
  readonly durability: DurabilityRequirement | undefined = undefined

  readonly keyLength: number
  private encodedKey: Uint8Array | undefined

  constructor(
    readonly key: string,
    /** The encoded key; undefined when it is the key's UTF-8, encoded only if asked for. */
    keyBytes: Uint8Array | undefined,
    /** Under quiet, KEY_ENOENT is a {@link MissingResult} instead of a `NotFoundError`. */
    protected readonly quiet: boolean,
    readonly route: Route = MASTER
  ) {
    this.encodedKey = keyBytes
    this.keyLength = keyBytes === undefined ? Buffer.byteLength(key, "utf8") : keyBytes.length
  }

  get keyBytes(): Uint8Array {
    if (this.encodedKey === undefined) this.encodedKey = Buffer.from(this.key, "utf8")
    return this.encodedKey
  }

  get routingKey(): Uint8Array | string {
    return this.encodedKey ?? this.key
  }

  abstract request(vbucket: number, opaque: number, node: NodeFeatures): FrameInit
  protected abstract success(frame: Frame): Either.Either<R, E | CommonStatusError>

  quietRequest(vbucket: number, opaque: number, node: NodeFeatures): FrameInit {
    return this.request(vbucket, opaque, node)
  }

  decode(frame: Frame): Either.Either<R | MissingResult, E | CommonStatusError> {
    if (loudOpcode(frame.opcode) !== this.opcode) {
      return Either.left(
        new ProtocolError({
          key: this.key,
          message: `the response to ${this.name} carries opcode 0x${frame.opcode.toString(16)}; expected 0x${this.opcode.toString(16)}`
        })
      )
    }
    if (frame.status === Status.Success) return this.success(frame)
    if (frame.status === Status.KeyNotFound) return this.notFound()
    return Either.left(statusError(this.spec, frame.status, this.key))
  }

  notFound(): Either.Either<R | MissingResult, E | CommonStatusError> {
    return this.quiet
      ? Either.right(missing(this.key))
      : Either.left(statusError(this.spec, Status.KeyNotFound, this.key))
  }
}

/** The flags a value response carries in its extras (0 when absent). */
export const flagsOf = (frame: Frame): number => extrasUInt32(frame, 0, 0)

/**
 * The {@link ValueResult} of a GET-like response: flags from the extras, the value
 * through the transcoder (or the raw bytes under `noFormat`).
 */
export const valueResult = (
  frame: Frame,
  key: string,
  transcoder: Transcoder.Transcoder<any>,
  noFormat: boolean
): Either.Either<ValueResult<unknown>, ValueFormatError> => {
  const flags = flagsOf(frame)
  // This client never negotiates Snappy, so a compressed value is a server fault.
  if ((frame.datatype & Datatype.Snappy) !== 0) {
    return Either.left(
      new ValueFormatError({
        key,
        message: "the server sent a Snappy-compressed value although compression was not negotiated"
      })
    )
  }
  // The transcoder is called directly (Transcoder.decodeValueEither would add an
  // Either and an options object per value: a multi-get decodes thousands), and the
  // default one reads the value where it lies in the input, without a view.
  let value: unknown
  if (noFormat) value = frame.value
  else {
    try {
      value =
        transcoder === defaultTranscoder
          ? defaultValueIn(valueSource(frame), valueStart(frame), valueEnd(frame), kindOfFlags(flags), flags)
          : transcoder.decodeValue(frame.value, flags)
    } catch (cause) {
      return Either.left(decodeFailure(cause, key, flags))
    }
  }
  return Either.right({ key, cas: frame.cas, rc: 0, success: true, value, flags })
}
