/**
 * `IopsDuplex`: an Iops socket as the Node `Duplex` an HTTP client runs over, on the
 * simulated network under TestClock: bytes both ways with back-pressure, end of
 * stream, resets as errors, and the idle timeout on the Iops's timers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import * as Iops from "../../src/Iops.js"
import { IopsDuplex } from "../../src/internal/iops/IopsDuplex.js"
import type { ServerSocket } from "../../src/internal/iops/serverSocket.js"

/** A simulated network with a server on 127.0.0.1:7000, and a duplex connected to it. */
const connected = (onConnection: (socket: ServerSocket) => void) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(Iops.layerSimulated({ seed: 3 }))
    const network = Context.get(context, Iops.SimulatedNetwork)
    const iops = Context.get(context, Iops.Iops)
    yield* network.listen("127.0.0.1", 7000, onConnection)
    const socket = yield* iops.connect({ host: "127.0.0.1", port: 7000 })
    return { network, duplex: new IopsDuplex(iops, socket) }
  })

/** Lets the simulated network deliver what is due now. */
const deliver = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* TestClock.adjust(0)
  yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
  for (let i = 0; i < 20; i++) yield* TestClock.adjust(0)
})

const echo = (socket: ServerSocket) => {
  socket.onDrain(() => socket.resume())
  socket.onData((chunk) => {
    if (!socket.write(chunk)) socket.pause()
  })
}

describe("IopsDuplex", () => {
  it.scoped("carries bytes both ways, a megabyte through the network's 64 KiB window, and ends", () =>
    Effect.gen(function* () {
      const { duplex } = yield* connected(echo)
      expect(duplex.remoteAddress).toBe("127.0.0.1")
      expect(duplex.remotePort).toBe(7000)
      const sent = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 31) & 0xff
      const received: Array<Buffer> = []
      let ended = false
      duplex.on("data", (chunk: Buffer) => received.push(chunk))
      duplex.on("end", () => {
        ended = true
      })
      let written = false
      duplex.write(sent, () => {
        written = true
      })
      for (let i = 0; i < 200 && Buffer.concat(received).length < sent.length; i++) yield* deliver
      expect(written).toBe(true)
      expect(Buffer.concat(received).equals(sent)).toBe(true)
      duplex.end()
      for (let i = 0; i < 5 && !ended; i++) yield* deliver
      expect(ended).toBe(true)
    })
  )

  it.scoped("a reset reaches the stream as its error, a NetworkError", () =>
    Effect.gen(function* () {
      const { network, duplex } = yield* connected(echo)
      const errors: Array<Error> = []
      duplex.on("error", (e) => errors.push(e))
      duplex.resume()
      network.faults.reset("127.0.0.1:7000")
      yield* deliver
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({ _tag: "NetworkError" })
      expect(duplex.destroyed).toBe(true)
    })
  )

  it.scoped("emits 'timeout' after the idle time on the TestClock, counting from the last read or write", () =>
    Effect.gen(function* () {
      const { duplex } = yield* connected(echo)
      duplex.resume()
      let timeouts = 0
      const onTimeout = () => {
        timeouts++
      }
      duplex.setTimeout(1000, onTimeout)
      expect(duplex.timeout).toBe(1000)
      yield* TestClock.adjust("600 millis")
      duplex.write(Buffer.from("activity"))
      yield* deliver
      yield* TestClock.adjust("600 millis")
      expect(timeouts).toBe(0)
      yield* TestClock.adjust("500 millis")
      expect(timeouts).toBe(1)
      // Like net.Socket: 0 disarms and removes the listener given with it.
      duplex.setTimeout(1000, onTimeout)
      expect(duplex.listenerCount("timeout")).toBe(1)
      duplex.setTimeout(0, onTimeout)
      expect(duplex.listenerCount("timeout")).toBe(0)
      yield* TestClock.adjust("5 seconds")
      expect(timeouts).toBe(1)
      duplex.destroy()
    })
  )
})
