/**
 * One binary-protocol packet, and its encoder.
 *
 * A decoded {@link Frame} never owns a copy of its bytes: `framingExtras`, `extras`,
 * `key` and `value` are `subarray` views into the buffer the decoder read from, so a
 * 20 MiB value costs nothing to slice. Whoever keeps a view alive keeps that buffer.
 *
 * The encoder sizes the packet first and writes it into one allocation (or into a
 * caller's buffer at an offset, which is how the pipeline coalesces a tick's worth of
 * requests into a single socket write).
 *
 * @internal
 */
import { get16, get32, put16, put32 } from "./bigEndian.js"
import { HEADER_LENGTH, isAltMagic, isResponseMagic, Magic } from "./constants.js"

const EMPTY = Buffer.alloc(0)

/** A decoded packet. Views share memory with the decoder's input. */
export interface Frame {
  readonly magic: number
  readonly opcode: number
  readonly datatype: number
  /** The vBucket id of a request (0 on responses). */
  readonly vbucket: number
  /** The status of a response (0 on requests). */
  readonly status: number
  readonly opaque: number
  readonly cas: bigint
  readonly framingExtras: Buffer
  readonly extras: Buffer
  readonly key: Buffer
  readonly value: Buffer
}

/** What the encoder needs; absent parts are empty. */
export interface FrameInit {
  /** Defaults to a plain client request; a flexible magic is chosen when framing extras are present. */
  readonly magic?: number | undefined
  readonly opcode: number
  readonly datatype?: number | undefined
  readonly vbucket?: number | undefined
  readonly status?: number | undefined
  readonly opaque?: number | undefined
  readonly cas?: bigint | undefined
  readonly framingExtras?: Uint8Array | undefined
  readonly extras?: Uint8Array | undefined
  readonly key?: Uint8Array | undefined
  readonly value?: Uint8Array | undefined
}

/**
 * Something that writes its own frame, without a {@link FrameInit} to describe it: a
 * request whose frame is simple enough (a key-only GET) encodes itself straight into
 * the batch buffer when it is flushed.
 */
export interface SelfEncoding {
  /** Writes the frame at `offset` of `target` and returns the offset just past it. */
  encodeInto(target: Buffer, offset: number): number
}

const len = (b: Uint8Array | undefined): number => (b === undefined ? 0 : b.length)

/**
 * The magic actually written: a request or response that carries framing extras must
 * use the flexible ("alt") magic, whose header has room for their length.
 */
export const effectiveMagic = (init: FrameInit): number => {
  const magic = init.magic ?? Magic.ClientRequest
  if (len(init.framingExtras) === 0) return magic
  if (magic === Magic.ClientRequest) return Magic.AltClientRequest
  if (magic === Magic.ClientResponse) return Magic.AltClientResponse
  return magic
}

/** Bytes the frame occupies on the wire. */
export const encodedLength = (init: FrameInit): number =>
  HEADER_LENGTH + len(init.framingExtras) + len(init.extras) + len(init.key) + len(init.value)

/**
 * Writes `init` into `target` at `offset` and returns the offset just past it.
 * Lengths that do not fit the header are programming errors (keys are validated long
 * before they reach the codec), so they throw a RangeError rather than fail.
 */
export const writeFrame = (target: Buffer, offset: number, init: FrameInit): number => {
  const magic = effectiveMagic(init)
  const fe = len(init.framingExtras)
  const ex = len(init.extras)
  const kl = len(init.key)
  const vl = len(init.value)
  const alt = isAltMagic(magic)
  if (alt ? fe > 0xff || kl > 0xff : kl > 0xffff) throw new RangeError(`key of ${kl} bytes does not fit the header`)
  if (ex > 0xff) throw new RangeError(`extras of ${ex} bytes do not fit the header`)
  target[offset] = magic
  target[offset + 1] = init.opcode
  if (alt) {
    target[offset + 2] = fe
    target[offset + 3] = kl
  } else {
    put16(target, offset + 2, kl)
  }
  target[offset + 4] = ex
  target[offset + 5] = init.datatype ?? 0
  put16(target, offset + 6, isResponseMagic(magic) ? (init.status ?? 0) : (init.vbucket ?? 0))
  put32(target, offset + 8, fe + ex + kl + vl)
  put32(target, offset + 12, init.opaque ?? 0)
  const cas = init.cas
  // Most requests carry no CAS: zeroing is much cheaper than a 64-bit BigInt write.
  if (cas === undefined || cas === 0n) {
    put32(target, offset + 16, 0)
    put32(target, offset + 20, 0)
  } else target.writeBigUInt64BE(cas, offset + 16)
  let at = offset + HEADER_LENGTH
  if (fe > 0) target.set(init.framingExtras!, at)
  at += fe
  if (ex > 0) target.set(init.extras!, at)
  at += ex
  if (kl > 0) target.set(init.key!, at)
  at += kl
  if (vl > 0) target.set(init.value!, at)
  return at + vl
}

/**
 * Writes a request that carries only a key (no framing extras, extras, value or CAS:
 * GET, GETQ, …) at `offset` and returns the offset just past it. {@link writeFrame}
 * for the commonest frame without building its description.
 */
export const writeKeyRequest = (
  target: Buffer,
  offset: number,
  opcode: number,
  vbucket: number,
  opaque: number,
  key: Uint8Array | string,
  /** The key's length in bytes (a string is written as UTF-8). */
  kl: number = typeof key === "string" ? Buffer.byteLength(key, "utf8") : key.length
): number => {
  if (kl > 0xffff) throw new RangeError(`key of ${kl} bytes does not fit the header`)
  target[offset] = Magic.ClientRequest
  target[offset + 1] = opcode
  put16(target, offset + 2, kl)
  put32(target, offset + 4, vbucket & 0xffff) // extras length 0, datatype 0, vBucket
  put32(target, offset + 8, kl)
  put32(target, offset + 12, opaque)
  put32(target, offset + 16, 0)
  put32(target, offset + 20, 0)
  const at = offset + HEADER_LENGTH
  if (typeof key !== "string") target.set(key, at)
  else if (kl !== key.length || kl > SHORT_KEY) target.write(key, at, kl, "utf8")
  else {
    // As many bytes as UTF-16 units: every unit is ASCII, one byte each (any other unit
    // takes more than one byte of UTF-8). A short key is copied here faster than
    // `Buffer.write` crosses into C++: 11 ns against 67 ns for 4 bytes, 84 against 100
    // for 32.
    for (let i = 0; i < kl; i++) target[at + i] = key.charCodeAt(i)
  }
  return at + kl
}

/** The longest string key {@link writeKeyRequest} copies itself rather than with `Buffer.write`. */
const SHORT_KEY = 32

/** Encodes one frame into a fresh buffer of exactly its size. */
export const encodeFrame = (init: FrameInit): Buffer => {
  const buf = Buffer.allocUnsafe(encodedLength(init))
  writeFrame(buf, 0, init)
  return buf
}

/*
 * 64-bit reads go through a DataView of the buffer the frame was read from: one BigInt
 * per CAS, where `Buffer.readBigUInt64BE` builds four. Frames are read in arrival
 * order, so one view serves a whole input chunk; only chunk-sized buffers are kept in
 * it, so the cache never holds a large value's buffer alive.
 */
const VIEW_CACHE_MAX_BYTES = 64 * 1024
let cachedView: DataView | undefined
let cachedViewOf: Buffer | undefined

const readUInt64 = (buf: Buffer, at: number): bigint => {
  if (cachedViewOf === buf) return cachedView!.getBigUint64(at)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf.byteLength <= VIEW_CACHE_MAX_BYTES) {
    cachedView = view
    cachedViewOf = buf
  }
  return view.getBigUint64(at)
}

/**
 * A frame as the decoder read it: a position in the bytes read, with every field read
 * from the header when asked for. A decoded frame is one small object: a multi-get's
 * thousand responses are a thousand frames, so each field the object carried was a
 * thousand more words to collect. Views of the sections are made per access (the
 * value's is kept: it is the one read more than once). The bytes are never written
 * after the read, so a late access sees what arrived.
 */
class WireFrame implements Frame {
  private valueView: Buffer | undefined = undefined

  constructor(
    readonly buf: Buffer,
    /** Where the header starts in `buf`. */
    readonly at: number
  ) {}

  get magic(): number {
    return this.buf[this.at]!
  }

  get opcode(): number {
    return this.buf[this.at + 1]!
  }

  get datatype(): number {
    return this.buf[this.at + 5]!
  }

  get vbucket(): number {
    return isResponseMagic(this.magic) ? 0 : get16(this.buf, this.at + 6)
  }

  get status(): number {
    return isResponseMagic(this.magic) ? get16(this.buf, this.at + 6) : 0
  }

  get opaque(): number {
    return get32(this.buf, this.at + 12)
  }

  get cas(): bigint {
    const buf = this.buf
    const at = this.at + 16
    // Most answers carry a CAS, but a zero one needs no 64-bit read.
    return get32(buf, at) === 0 && get32(buf, at + 4) === 0 ? 0n : readUInt64(buf, at)
  }

  /** Where the extras start. */
  get extrasAt(): number {
    return this.at + HEADER_LENGTH + (isAltMagic(this.magic) ? this.buf[this.at + 2]! : 0)
  }

  /** Where the key starts. */
  get keyAt(): number {
    return this.extrasAt + this.buf[this.at + 4]!
  }

  /** Where the value starts. */
  get valueAt(): number {
    const kl = isAltMagic(this.magic) ? this.buf[this.at + 3]! : get16(this.buf, this.at + 2)
    return this.keyAt + kl
  }

  /** Where the frame ends. */
  get end(): number {
    return this.at + HEADER_LENGTH + get32(this.buf, this.at + 8)
  }

  get framingExtras(): Buffer {
    return this.section(this.at + HEADER_LENGTH, this.extrasAt)
  }

  get extras(): Buffer {
    return this.section(this.extrasAt, this.keyAt)
  }

  get key(): Buffer {
    return this.section(this.keyAt, this.valueAt)
  }

  get value(): Buffer {
    if (this.valueView === undefined) this.valueView = this.section(this.valueAt, this.end)
    return this.valueView
  }

  private section(start: number, end: number): Buffer {
    return start === end ? EMPTY : this.buf.subarray(start, end)
  }
}

/**
 * Reads the frame whose header starts at `offset` of `buf`, assuming the caller has
 * checked that the whole frame (header + body) is present and its lengths are sane.
 * The frame's sections are views into `buf`, made when first read.
 */
export const readFrameAt = (buf: Buffer, offset: number): Frame => new WireFrame(buf, offset)

/**
 * The unsigned 32-bit number at `index` of the frame's extras, or `fallback` when the
 * extras are shorter: read in place from a decoded frame, without a view.
 */
export const extrasUInt32 = (frame: Frame, index: number, fallback: number): number => {
  if (frame instanceof WireFrame) {
    const at = frame.extrasAt
    return frame.buf[frame.at + 4]! >= index + 4 ? get32(frame.buf, at + index) : fallback
  }
  const extras = frame.extras
  return extras.length >= index + 4 ? get32(extras, index) : fallback
}

/** The length of a frame's flexible framing extras (0 unless its magic is an alt one), without a view. */
export const framingExtrasLength = (frame: Frame): number =>
  frame instanceof WireFrame ? (isAltMagic(frame.magic) ? frame.buf[frame.at + 2]! : 0) : frame.framingExtras.length

/** The lengths of a frame's extras, key and value, read without making views. */
export const extrasLength = (frame: Frame): number =>
  frame instanceof WireFrame ? frame.buf[frame.at + 4]! : frame.extras.length

/** See {@link extrasLength}. */
export const keyLength = (frame: Frame): number =>
  frame instanceof WireFrame
    ? isAltMagic(frame.magic)
      ? frame.buf[frame.at + 3]!
      : get16(frame.buf, frame.at + 2)
    : frame.key.length

/** See {@link extrasLength}. */
export const valueLength = (frame: Frame): number =>
  frame instanceof WireFrame ? frame.end - frame.valueAt : frame.value.length

/**
 * Where the frame's value lies without a view of it: `source[start, end)`, the
 * decoder's input for a decoded frame.
 */
export const valueSource = (frame: Frame): Buffer => (frame instanceof WireFrame ? frame.buf : frame.value)

/** See {@link valueSource}. */
export const valueStart = (frame: Frame): number => (frame instanceof WireFrame ? frame.valueAt : 0)

/** See {@link valueSource}. */
export const valueEnd = (frame: Frame): number => (frame instanceof WireFrame ? frame.end : frame.value.length)

/**
 * A copy of the frame's value that owns its bytes (a server keeps a stored value past
 * the input chunk it came in), copied straight from the decoder's input without a view.
 */
export const valueCopy = (frame: Frame): Buffer => {
  if (!(frame instanceof WireFrame)) return Buffer.from(frame.value)
  const copy = Buffer.allocUnsafe(frame.end - frame.valueAt)
  frame.buf.copy(copy, 0, frame.valueAt, frame.end)
  return copy
}

/** The key's bytes as a latin1 string (one character per byte: a lossless map key), without a view. */
export const keyLatin1 = (frame: Frame): string =>
  frame instanceof WireFrame
    ? frame.buf.toString("latin1", frame.keyAt, frame.keyAt + keyLength(frame))
    : Buffer.from(frame.key.buffer, frame.key.byteOffset, frame.key.byteLength).toString("latin1")

/** A copy of `frame` that owns its bytes and keeps none of the decoder's input alive. */
export const detachFrame = (frame: Frame): Frame => ({
  magic: frame.magic,
  opcode: frame.opcode,
  datatype: frame.datatype,
  vbucket: frame.vbucket,
  status: frame.status,
  opaque: frame.opaque,
  cas: frame.cas,
  framingExtras: Buffer.from(frame.framingExtras),
  extras: Buffer.from(frame.extras),
  key: Buffer.from(frame.key),
  value: Buffer.from(frame.value)
})
