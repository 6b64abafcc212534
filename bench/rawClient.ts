/**
 * The physical reference of the benchmarks: a minimal pipelined memcached binary-protocol
 * GET client over one `net.Socket`, with plain callbacks. No validation, no timeouts,
 * no Effect: what a get costs in Node when nothing but the wire is paid for, so that
 * every other client's rate can be given as a fraction of it.
 *
 * Requests written in one tick go out in one write (cork until the next tick);
 * memcached answers non-quiet GETs in order, so the callbacks are a FIFO.
 */
import * as net from "node:net"

const HEADER = 24
const MAGIC_REQUEST = 0x80
const OPCODE_GET = 0x00

/** A get's outcome: the status and, on success, the value (without the 4-byte flags). */
export type RawCallback = (status: number, value: Buffer | undefined) => void

/** See the module documentation. */
export interface RawClient {
  readonly get: (key: Buffer, callback: RawCallback) => void
  readonly close: () => void
}

/** Connects to a memcached server at `host:port`. */
export const connectRaw = (host: string, port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true })
    const callbacks: Array<RawCallback> = []
    let head = 0
    let buffered: Buffer = Buffer.alloc(0)
    let corked = false

    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      let offset = 0
      while (buffered.length - offset >= HEADER) {
        const bodyLength = buffered.readUInt32BE(offset + 8)
        if (buffered.length - offset < HEADER + bodyLength) break
        const status = buffered.readUInt16BE(offset + 6)
        const extrasLength = buffered[offset + 4]!
        const keyLength = buffered.readUInt16BE(offset + 2)
        const valueStart = offset + HEADER + extrasLength + keyLength
        const value = status === 0 ? buffered.subarray(valueStart, offset + HEADER + bodyLength) : undefined
        const callback = callbacks[head]!
        callbacks[head++] = undefined as never
        if (head === callbacks.length) {
          callbacks.length = 0
          head = 0
        }
        offset += HEADER + bodyLength
        callback(status, value)
      }
      buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset)
    })
    socket.once("error", reject)
    socket.once("connect", () =>
      resolve({
        get: (key, callback) => {
          const frame = Buffer.allocUnsafe(HEADER + key.length)
          frame[0] = MAGIC_REQUEST
          frame[1] = OPCODE_GET
          frame.writeUInt16BE(key.length, 2)
          frame.writeUInt32BE(0, 4) // extras length, datatype, vbucket
          frame.writeUInt32BE(key.length, 8)
          frame.writeUInt32BE(0, 12) // opaque: unused, the answers come in order
          frame.writeUInt32BE(0, 16)
          frame.writeUInt32BE(0, 20)
          key.copy(frame, HEADER)
          callbacks.push(callback)
          if (!corked) {
            corked = true
            socket.cork()
            process.nextTick(() => {
              corked = false
              socket.uncork()
            })
          }
          socket.write(frame)
        },
        close: () => socket.destroy()
      })
    )
  })
