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
    target.writeUInt16BE(kl, offset + 2)
  }
  target[offset + 4] = ex
  target[offset + 5] = init.datatype ?? 0
  target.writeUInt16BE(isResponseMagic(magic) ? (init.status ?? 0) : (init.vbucket ?? 0), offset + 6)
  target.writeUInt32BE(fe + ex + kl + vl, offset + 8)
  target.writeUInt32BE((init.opaque ?? 0) >>> 0, offset + 12)
  const cas = init.cas
  // Most requests carry no CAS: zeroing is much cheaper than a 64-bit BigInt write.
  if (cas === undefined || cas === 0n) {
    target.writeUInt32BE(0, offset + 16)
    target.writeUInt32BE(0, offset + 20)
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

/** Encodes one frame into a fresh buffer of exactly its size. */
export const encodeFrame = (init: FrameInit): Buffer => {
  const buf = Buffer.allocUnsafe(encodedLength(init))
  writeFrame(buf, 0, init)
  return buf
}

/**
 * Reads the frame whose header starts at `offset` of `buf`, assuming the caller has
 * checked that the whole frame (header + body) is present and its lengths are sane.
 */
export const readFrameAt = (buf: Buffer, offset: number): Frame => {
  const magic = buf[offset]!
  const alt = isAltMagic(magic)
  const fe = alt ? buf[offset + 2]! : 0
  const kl = alt ? buf[offset + 3]! : buf.readUInt16BE(offset + 2)
  const ex = buf[offset + 4]!
  const specific = buf.readUInt16BE(offset + 6)
  const body = buf.readUInt32BE(offset + 8)
  const response = isResponseMagic(magic)
  const start = offset + HEADER_LENGTH
  const exStart = start + fe
  const keyStart = exStart + ex
  const valueStart = keyStart + kl
  return {
    magic,
    opcode: buf[offset + 1]!,
    datatype: buf[offset + 5]!,
    vbucket: response ? 0 : specific,
    status: response ? specific : 0,
    opaque: buf.readUInt32BE(offset + 12),
    cas: buf.readBigUInt64BE(offset + 16),
    framingExtras: fe === 0 ? EMPTY : buf.subarray(start, exStart),
    extras: ex === 0 ? EMPTY : buf.subarray(exStart, keyStart),
    key: kl === 0 ? EMPTY : buf.subarray(keyStart, valueStart),
    value: valueStart === start + body ? EMPTY : buf.subarray(valueStart, start + body)
  }
}
