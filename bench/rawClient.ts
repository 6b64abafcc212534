/**
 * The physical reference of the benchmarks: a minimal pipelined memcached binary-protocol
 * client over one `net.Socket`, with plain callbacks. No validation, no timeouts,
 * no Effect: what a get costs in Node when nothing but the wire is paid for, so that
 * every other client's rate can be given as a fraction of it.
 *
 * - `get`: one GET; the callback gets the status and the value.
 * - `getMulti`: a GETQ per key and one NOOP (the classic multi-get pipeline: misses
 *   are silent, the NOOP's answer ends the batch); the callback gets the hits' values
 *   in the order they came.
 * - `set`: one SET (flags 0, no expiry).
 * - `login`: SASL PLAIN and SELECT_BUCKET, for a Couchbase node (every request goes
 *   to vBucket 0, which a one-node cluster owns, so sets and gets meet).
 *
 * Requests written in one tick go out in one write (cork until the next tick), except
 * that while fewer than 16 requests are at the server, a quarter of the pipeline's depth
 * (what was in flight at the last tick's write) is written as soon as it is queued: the
 * same rule as the client under test, without which a pipeline of 16 runs in lock-step
 * rounds and this reference would be slower than that client. memcached answers in
 * order, so the pending requests are a FIFO.
 */
import * as net from "node:net"

const HEADER = 24
const MAGIC_REQUEST = 0x80
const OPCODE_GET = 0x00
const OPCODE_GETQ = 0x09
const OPCODE_NOOP = 0x0a
const OPCODE_SET = 0x01
const OPCODE_SASL_AUTH = 0x21
const OPCODE_SELECT_BUCKET = 0x89

/** A get's outcome: the status and, on success, the value (without the 4-byte flags). */
export type RawCallback = (status: number, value: Buffer | undefined) => void

/** A multi-get's outcome: the values of the keys that exist. */
export type RawMultiCallback = (values: ReadonlyArray<Buffer>) => void

/** See the module documentation. */
export interface RawClient {
  readonly get: (key: Buffer, callback: RawCallback) => void
  readonly getMulti: (keys: ReadonlyArray<Buffer>, callback: RawMultiCallback) => void
  readonly set: (key: Buffer, value: Buffer, callback: RawCallback) => void
  readonly login: (username: string, password: string, bucket: string) => Promise<void>
  readonly close: () => void
}

/** A request waiting for its answer: a single get, or a multi-get collecting hits until its NOOP. */
type Pending =
  | { readonly multi: false; readonly callback: RawCallback }
  | { readonly multi: true; readonly callback: RawMultiCallback; readonly values: Array<Buffer> }

const header = (frame: Buffer, at: number, opcode: number, keyLength: number, extras = 0, value = 0): void => {
  frame[at] = MAGIC_REQUEST
  frame[at + 1] = opcode
  frame.writeUInt16BE(keyLength, at + 2)
  frame.writeUInt32BE(extras << 24, at + 4) // extras length, datatype 0, vbucket 0
  frame.writeUInt32BE(extras + keyLength + value, at + 8)
  frame.writeUInt32BE(0, at + 12) // opaque: unused, the answers come in order
  frame.writeUInt32BE(0, at + 16)
  frame.writeUInt32BE(0, at + 20)
}

/** Connects to a memcached server at `host:port`. */
export const connectRaw = (host: string, port: number): Promise<RawClient> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true })
    const pending: Array<Pending> = []
    let head = 0
    let buffered: Buffer = Buffer.alloc(0)
    let corked = false
    // Requests corked, written and unanswered (as far as the bytes read tell), and in
    // flight at the last tick's write.
    let unsent = 0
    let atServer = 0
    let depth = 0

    const send = (frame: Buffer, request: Pending) => {
      pending.push(request)
      if (!corked) {
        corked = true
        socket.cork()
        process.nextTick(() => {
          corked = false
          socket.uncork()
          atServer += unsent
          unsent = 0
          depth = atServer
        })
      }
      socket.write(frame)
      unsent++
      if (unsent >= Math.max(1, depth >> 2) && atServer < 16) {
        socket.uncork()
        socket.cork()
        atServer += unsent
        unsent = 0
      }
    }

    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      // Count the answered requests before any callback sends more.
      for (let at = 0; buffered.length - at >= HEADER; ) {
        const length = HEADER + buffered.readUInt32BE(at + 8)
        if (buffered.length - at < length) break
        if (buffered[at + 1] !== OPCODE_GETQ) atServer--
        at += length
      }
      let offset = 0
      while (buffered.length - offset >= HEADER) {
        const bodyLength = buffered.readUInt32BE(offset + 8)
        if (buffered.length - offset < HEADER + bodyLength) break
        const opcode = buffered[offset + 1]!
        const status = buffered.readUInt16BE(offset + 6)
        const extrasLength = buffered[offset + 4]!
        const keyLength = buffered.readUInt16BE(offset + 2)
        const valueStart = offset + HEADER + extrasLength + keyLength
        const value = status === 0 ? buffered.subarray(valueStart, offset + HEADER + bodyLength) : undefined
        offset += HEADER + bodyLength
        const request = pending[head]!
        if (request.multi && opcode === OPCODE_GETQ) {
          if (value !== undefined) request.values.push(value)
          continue
        }
        pending[head++] = undefined as never
        if (head === pending.length) {
          pending.length = 0
          head = 0
        }
        if (request.multi) request.callback(request.values)
        else request.callback(status, value)
      }
      buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset)
    })
    socket.once("error", reject)
    socket.once("connect", () =>
      resolve({
        get: (key, callback) => {
          const frame = Buffer.allocUnsafe(HEADER + key.length)
          header(frame, 0, OPCODE_GET, key.length)
          key.copy(frame, HEADER)
          send(frame, { multi: false, callback })
        },
        getMulti: (keys, callback) => {
          let size = HEADER
          for (const key of keys) size += HEADER + key.length
          const frame = Buffer.allocUnsafe(size)
          let at = 0
          for (const key of keys) {
            header(frame, at, OPCODE_GETQ, key.length)
            key.copy(frame, at + HEADER)
            at += HEADER + key.length
          }
          header(frame, at, OPCODE_NOOP, 0)
          send(frame, { multi: true, callback, values: [] })
        },
        set: (key, value, callback) => {
          const frame = Buffer.alloc(HEADER + 8 + key.length + value.length)
          header(frame, 0, OPCODE_SET, key.length, 8, value.length)
          key.copy(frame, HEADER + 8)
          value.copy(frame, HEADER + 8 + key.length)
          send(frame, { multi: false, callback })
        },
        login: (username, password, bucket) => {
          const exchange = (opcode: number, key: Buffer, value: Buffer) =>
            new Promise<void>((resolve, reject) => {
              const frame = Buffer.alloc(HEADER + key.length + value.length)
              header(frame, 0, opcode, key.length, 0, value.length)
              key.copy(frame, HEADER)
              value.copy(frame, HEADER + key.length)
              send(frame, {
                multi: false,
                callback: (status) => (status === 0 ? resolve() : reject(new Error(`status 0x${status.toString(16)}`)))
              })
            })
          return exchange(OPCODE_SASL_AUTH, Buffer.from("PLAIN"), Buffer.from(`\0${username}\0${password}`)).then(() =>
            exchange(OPCODE_SELECT_BUCKET, Buffer.from(bucket), Buffer.alloc(0))
          )
        },
        close: () => socket.destroy()
      })
    )
  })
