/**
 * A streaming decoder: bytes go in with any split, complete frames come out.
 *
 * Frames that lie wholly inside one input chunk are sliced out of it without copying.
 * Only a frame that straddles chunks is copied, once, when its last byte arrives (the
 * pieces are kept in a list until then, so a large frame split into many small reads
 * costs one copy, not one per read).
 *
 * Garbage is rejected as soon as a header shows it: an unknown magic, a body longer
 * than the configured cap, or section lengths that overrun the body. The decoder then
 * stays failed (the stream has lost its framing; the connection must be closed), and
 * memory never grows past one header plus one capped body plus the chunk being read.
 *
 * @internal
 */
import { Data } from "effect"
import { get16, get32 } from "./bigEndian.js"
import { HEADER_LENGTH, isAltMagic, isKnownMagic } from "./constants.js"
import { type Frame, readFrameAt } from "./Frame.js"

/** Why the byte stream could not be framed. */
export class FrameDecodeError extends Data.TaggedError("FrameDecodeError")<{
  readonly reason: "BadMagic" | "BodyTooLarge" | "BadLengths"
  readonly message: string
}> {}

/** Default cap on a frame body: the 20 MiB item limit plus room for key, extras and framing. */
export const DEFAULT_MAX_BODY_LENGTH = 20 * 1024 * 1024 + 64 * 1024

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest body accepted; longer frames fail with `BodyTooLarge`. */
  readonly maxBodyLength?: number | undefined
}

/**
 * Checks the header at `offset` and returns the total frame length, or an error.
 * Exposed for the tests and for peers that want to validate without decoding.
 */
export const checkHeader = (buf: Buffer, offset: number, maxBodyLength: number): number | FrameDecodeError => {
  const magic = buf[offset]!
  if (!isKnownMagic(magic)) {
    return new FrameDecodeError({
      reason: "BadMagic",
      message: `unknown magic 0x${magic.toString(16).padStart(2, "0")}: the peer does not speak the binary protocol`
    })
  }
  const body = get32(buf, offset + 8)
  if (body > maxBodyLength) {
    return new FrameDecodeError({
      reason: "BodyTooLarge",
      message: `frame body of ${body} bytes exceeds the ${maxBodyLength}-byte limit`
    })
  }
  const alt = isAltMagic(magic)
  const sections = (alt ? buf[offset + 2]! + buf[offset + 3]! : get16(buf, offset + 2)) + buf[offset + 4]!
  if (sections > body) {
    return new FrameDecodeError({
      reason: "BadLengths",
      message: `frame header declares ${sections} bytes of framing extras, extras and key in a ${body}-byte body`
    })
  }
  return HEADER_LENGTH + body
}

/** Incremental decoder of a byte stream into frames. Not thread-safe; one per connection. */
export class FrameDecoder {
  private readonly maxBodyLength: number
  /** Pieces of the frame at the head of the stream, when it did not fit the chunks read so far. */
  private pending: Array<Buffer> = []
  private pendingLength = 0
  /** Total length of the pending frame once its header is complete, 0 before. */
  private pendingTotal = 0
  private failure: FrameDecodeError | undefined
  /** Body bytes of an oversized frame still to be read past (see {@link feed}'s `onOversized`). */
  private skipping = 0

  constructor(options: FrameDecoderOptions = {}) {
    this.maxBodyLength = options.maxBodyLength ?? DEFAULT_MAX_BODY_LENGTH
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.pendingLength
  }

  /** The error that stopped the decoder, if any. */
  get failed(): FrameDecodeError | undefined {
    return this.failure
  }

  /**
   * Feeds one chunk, calling `onFrame` for every frame it completes, in order. Returns
   * the decode error when the stream turns out to be garbage (frames before it were
   * still delivered); every later call returns the same error and delivers nothing.
   *
   * With `onOversized`, a frame whose body is over the cap but whose header is
   * otherwise sound is not an error: its header and body length are handed to `onOversized` (in stream
   * order with the frames) and its body is read past and discarded as it arrives,
   * without buffering it, so that the peer can be answered (E2BIG) and the stream goes
   * on. The header frame's sections must not be read; only its header fields.
   */
  feed(
    chunk: Uint8Array,
    onFrame: (frame: Frame) => void,
    onOversized?: (header: Frame, bodyLength: number) => void
  ): FrameDecodeError | undefined {
    if (this.failure !== undefined) return this.failure
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let offset = 0
    if (this.skipping > 0) {
      offset = this.skip(buf, 0)
      if (offset === buf.length) return undefined
    } else if (this.pendingLength > 0) {
      // Finish the straddling frame with only the bytes it needs, so that the frames
      // after it in this chunk are still sliced from the chunk itself.
      if (this.pendingTotal === 0) {
        const missing = HEADER_LENGTH - this.pendingLength
        if (buf.length < missing) return this.hold(buf)
        const header = Buffer.concat([...this.pending, buf.subarray(0, missing)], HEADER_LENGTH)
        const total = checkHeader(header, 0, this.maxBodyLength)
        if (typeof total !== "number") {
          if (!this.skippable(total, header, 0, onOversized)) return this.fail(total)
          this.clearPending()
          offset = this.skip(buf, missing)
        } else this.pendingTotal = total
      }
      if (this.pendingTotal > 0) {
        const needed = this.pendingTotal - this.pendingLength
        if (buf.length < needed) return this.hold(buf)
        this.pending.push(needed === buf.length ? buf : buf.subarray(0, needed))
        const frame = Buffer.concat(this.pending, this.pendingTotal)
        this.clearPending()
        onFrame(readFrameAt(frame, 0))
        offset = needed
      }
    }
    while (buf.length - offset >= HEADER_LENGTH) {
      const total = checkHeader(buf, offset, this.maxBodyLength)
      if (typeof total !== "number") {
        if (!this.skippable(total, buf, offset, onOversized)) return this.fail(total)
        offset = this.skip(buf, offset + HEADER_LENGTH)
        continue
      }
      if (buf.length - offset < total) {
        this.pendingTotal = total
        break
      }
      onFrame(readFrameAt(buf, offset))
      offset += total
    }
    if (offset < buf.length) this.hold(offset === 0 ? buf : buf.subarray(offset))
    return undefined
  }

  /**
   * Whether `error` (for the header at `offset`) is an oversized body that can be read
   * past: then its header goes to `onOversized` and its body length to `skipping`.
   */
  private skippable(
    error: FrameDecodeError,
    buf: Buffer,
    offset: number,
    onOversized: ((header: Frame, bodyLength: number) => void) | undefined
  ): boolean {
    if (error.reason !== "BodyTooLarge" || onOversized === undefined) return false
    // The sections must still fit the declared body, or the header is garbage.
    const sound = checkHeader(buf, offset, Number.MAX_SAFE_INTEGER)
    if (typeof sound !== "number") return false
    this.skipping = sound - HEADER_LENGTH
    onOversized(readFrameAt(Buffer.from(buf.subarray(offset, offset + HEADER_LENGTH)), 0), this.skipping)
    return true
  }

  /** Discards up to `skipping` bytes of `buf` from `offset`; returns the offset after them. */
  private skip(buf: Buffer, offset: number): number {
    const n = Math.min(this.skipping, buf.length - offset)
    this.skipping -= n
    return offset + n
  }

  /** Drops anything buffered and clears a failure, for reuse on a fresh connection. */
  reset(): void {
    this.clearPending()
    this.skipping = 0
    this.failure = undefined
  }

  private hold(piece: Buffer): undefined {
    this.pending.push(piece)
    this.pendingLength += piece.length
    return undefined
  }

  private clearPending(): void {
    this.pending = []
    this.pendingLength = 0
    this.pendingTotal = 0
  }

  private fail(error: FrameDecodeError): FrameDecodeError {
    this.failure = error
    this.clearPending()
    return error
  }
}
