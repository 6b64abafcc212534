/**
 * Test peers written once against `ServerSocket`, so they run on Node sockets and on
 * the simulated network alike.
 */
import { Deferred, Effect } from "effect"
import type { ServerSocket } from "../../src/Iops/Node.js"
import type { Iops } from "../../src/Iops.js"
import type { DriverError } from "../../src/internal/driver/Driver.js"
import { Driver } from "../../src/internal/driver/Driver.js"
import { Magic } from "../../src/internal/protocol/constants.js"
import { encodeFrame, type Frame } from "../../src/internal/protocol/Frame.js"
import { FrameDecoder } from "../../src/internal/protocol/FrameDecoder.js"

/**
 * A framed echo server: each request comes back as a response with the same opcode,
 * opaque, key and value. It honours back-pressure (pauses its input while its output
 * is full) and drops the connection on garbage.
 */
export const framedEcho = (socket: ServerSocket): void => {
  const decoder = new FrameDecoder()
  socket.onDrain(() => socket.resume())
  socket.onData((chunk) => {
    const error = decoder.feed(chunk, (frame) => {
      const ok = socket.write(
        encodeFrame({
          magic: Magic.ClientResponse,
          opcode: frame.opcode,
          opaque: frame.opaque,
          cas: frame.cas,
          key: frame.key,
          value: frame.value
        })
      )
      if (!ok) socket.pause()
    })
    if (error !== undefined) socket.destroy()
  })
}

/** A frame with its buffers copied (the decoder's views do not outlive the callback). */
export interface CopiedFrame {
  readonly opcode: number
  readonly opaque: number
  readonly magic: number
  readonly key: Buffer
  readonly value: Buffer
}

const copy = (frame: Frame): CopiedFrame => ({
  opcode: frame.opcode,
  opaque: frame.opaque,
  magic: frame.magic,
  key: Buffer.from(frame.key),
  value: Buffer.from(frame.value)
})

/** A driver with recording handlers. */
export const recordingDriver = (
  iops: Iops.Service,
  socket: Iops.Socket,
  options: {
    readonly onTimer?: () => void
    readonly maxBatchBytes?: number
    readonly inFlight?: (() => number) | undefined
  } = {}
) =>
  Effect.gen(function* () {
    const frames: Array<CopiedFrame> = []
    const waiters: Array<{ readonly count: number; readonly done: Deferred.Deferred<void> }> = []
    const closes: Array<DriverError | undefined> = []
    const closed = yield* Deferred.make<DriverError | undefined>()
    const driver = new Driver(
      iops,
      socket,
      {
        onFrame: (frame) => {
          frames.push(copy(frame))
          for (const w of waiters) if (frames.length >= w.count) Deferred.unsafeDone(w.done, Effect.void)
        },
        onTimer: () => options.onTimer?.(),
        onClose: (error) => {
          closes.push(error)
          Deferred.unsafeDone(closed, Effect.succeed(error))
        }
      },
      { maxBatchBytes: options.maxBatchBytes, inFlight: options.inFlight }
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => driver.close()))
    /** Waits until `count` frames have arrived. */
    const framesReceived = (count: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (frames.length >= count) return Effect.void
        return Effect.flatMap(Deferred.make<void>(), (done) => {
          waiters.push({ count, done })
          return Deferred.await(done)
        })
      })
    return { driver, frames, closes, closed, framesReceived }
  })

/** Spies on a socket's writes (sizes, and the buffered amount right after each). */
export const spyWrites = (socket: Iops.Socket) => {
  const sizes: Array<number> = []
  const bufferedAfter: Array<number> = []
  const target = socket as { write: (bytes: Uint8Array) => boolean }
  const original = target.write.bind(socket)
  target.write = (bytes) => {
    const ok = original(bytes)
    sizes.push(bytes.length)
    bufferedAfter.push(socket.writableLength)
    return ok
  }
  return { sizes, bufferedAfter }
}

/** A deterministic byte pattern of `length` bytes, distinct per `seed`. */
export const pattern = (length: number, seed: number): Buffer => {
  const out = Buffer.allocUnsafe(length)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}
