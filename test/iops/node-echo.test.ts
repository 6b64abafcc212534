/**
 * The Node Iops moves 100 MB through a loopback echo server with bounded buffering:
 * the client writes only on write readiness and stops when `write` says so, the
 * server pauses its input while its output is full.
 */
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as zlib from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { listen } from "../../src/Iops/Node.js"
import { destroyEvent, EOF, LCB_READ_EVENT, LCB_WRITE_EVENT, makeIOEvent, watchEvent } from "../../src/Iops.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"

const TOTAL = 100 * 1024 * 1024
const CHUNK = 64 * 1024
/** Node's default socket high-water mark. */
const HIGH_WATER_MARK = 16 * 1024

/** `gc()` without `--expose-gc` on the command line. */
const gc = (): void => {
  v8.setFlagsFromString("--expose-gc")
  ;(vm.runInNewContext("gc") as () => void)()
}

const memory = (): number => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

describe("Node Iops, 100 MB echo", () => {
  it.scopedLive(
    "every byte comes back (CRC-32 equal) and the socket never buffers more than one chunk past its mark",
    () =>
      Effect.gen(function* () {
        const server = yield* listen("127.0.0.1", 0, (socket) => {
          socket.onDrain(() => socket.resume())
          socket.onData((chunk) => {
            if (!socket.write(chunk)) socket.pause()
          })
        })
        const iops = makeNodeIops()
        const socket = yield* iops.connect({ host: "127.0.0.1", port: server.port })
        yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))

        // One 1 MiB source; chunks are views at varying offsets, so nothing is
        // allocated per write and the stream is not periodic.
        const source = Buffer.allocUnsafe(1024 * 1024)
        for (let i = 0; i < source.length; i++) source[i] = (i * 2654435761) >>> 24
        gc()
        const baseline = memory()

        let sent = 0
        let received = 0
        let crcSent = 0
        let crcReceived = 0
        let maxWritable = 0
        let writeStalls = 0
        let peakMemory = 0
        let nextSample = 0
        const done = yield* Deferred.make<void, unknown>()
        const event = makeIOEvent(iops)
        event.socket = socket
        event.onReady = (flags) => {
          if ((flags & LCB_READ_EVENT) !== 0) {
            for (;;) {
              const r = socket.read()
              if (r === null) break
              if (!Buffer.isBuffer(r)) {
                Deferred.unsafeDone(done, Effect.fail(r === EOF ? "unexpected EOF" : r))
                return
              }
              crcReceived = zlib.crc32(r, crcReceived)
              received += r.length
            }
            if (received >= nextSample) {
              peakMemory = Math.max(peakMemory, memory() - baseline)
              nextSample += 8 * 1024 * 1024
            }
            if (received === TOTAL) {
              Deferred.unsafeDone(done, Effect.void)
              return
            }
          }
          if ((flags & LCB_WRITE_EVENT) !== 0) {
            while (sent < TOTAL) {
              const offset = ((sent / CHUNK) * 7919) % (source.length - CHUNK)
              const chunk = source.subarray(offset, offset + Math.min(CHUNK, TOTAL - sent))
              crcSent = zlib.crc32(chunk, crcSent)
              sent += chunk.length
              const more = socket.write(chunk)
              maxWritable = Math.max(maxWritable, socket.writableLength)
              if (!more) {
                writeStalls++
                break
              }
            }
          }
          watchEvent(iops, event, sent < TOTAL ? LCB_READ_EVENT | LCB_WRITE_EVENT : LCB_READ_EVENT)
        }
        watchEvent(iops, event, LCB_READ_EVENT | LCB_WRITE_EVENT)
        iops.startWatching()
        yield* Deferred.await(done)
        destroyEvent(iops, event)

        expect(sent).toBe(TOTAL)
        expect(received).toBe(TOTAL)
        expect(crcReceived).toBe(crcSent)
        // Back-pressure was exercised (the kernel cannot take 100 MB at once)…
        expect(writeStalls).toBeGreaterThan(0)
        // …and honoured: a write is only made below the mark, so at most one chunk lies above it.
        expect(maxWritable).toBeLessThanOrEqual(HIGH_WATER_MARK + CHUNK)
        // Nothing close to the payload was ever held, and nothing is retained.
        expect(peakMemory).toBeLessThan(TOTAL / 2)
        gc()
        expect(memory() - baseline).toBeLessThan(16 * 1024 * 1024)
      }),
    120_000
  )
})
