/**
 * A binary-protocol test client over the simulated network: the simulated Iops'
 * socket, readiness through an IOEvent, frames matched by opaque.
 */
import { Effect } from "effect"
import type { Iops } from "../../../src/Iops.js"
import { makeIOEvent, watchEvent } from "../../../src/internal/iops/core.js"
import { LCB_READ_EVENT } from "../../../src/internal/iops/events.js"
import type { SimulatedNetwork } from "../../../src/internal/iops/network.js"
import { makeSimulatedIops } from "../../../src/internal/iops/simulated.js"
import { Magic } from "../../../src/internal/protocol/constants.js"
import { encodeFrame, type Frame, type FrameInit } from "../../../src/internal/protocol/Frame.js"
import { FrameDecoder } from "../../../src/internal/protocol/FrameDecoder.js"
import { scramClient } from "../../../src/internal/sasl/scramClient.js"

/** A connected simulated client. */
export interface SimClient {
  readonly socket: Iops.Socket
  /** Sends a request and waits for its response. */
  readonly request: (init: FrameInit) => Effect.Effect<Frame>
  /** Reads until the connection ends; returns what ended it (EOF or the error). */
  readonly untilClosed: Effect.Effect<unknown>
  /** Sends raw bytes and collects the reply bytes until the connection ends (for HTTP). */
  readonly exchangeRaw: (bytes: Uint8Array) => Effect.Effect<Buffer>
  /** STAT: the statistics of a group. */
  readonly stats: (group?: string) => Effect.Effect<Map<string, string>>
  /** Reads until `count` responses have arrived (requests sent with `socket.write`). */
  readonly collect: (count: number) => Effect.Effect<Array<Frame>>
}

/** Connects to `host:port` on the simulated network (closed with the scope). */
export const simClient = (network: SimulatedNetwork.Service, host: string, port: number) =>
  Effect.gen(function* () {
    const iops = makeSimulatedIops(network)
    const socket = yield* Effect.acquireRelease(Effect.orDie(network.connect({ host, port })), (s) =>
      Effect.sync(() => s.destroy())
    )
    const event = makeIOEvent(iops)
    event.socket = socket
    const readable = Effect.async<void>((resume) => {
      event.onReady = () => resume(Effect.void)
      watchEvent(iops, event, LCB_READ_EVENT)
      iops.startWatching()
      return Effect.sync(() => watchEvent(iops, event, 0))
    })
    const decoder = new FrameDecoder()
    const frames: Array<Frame> = []
    let nextOpaque = 1
    const request = (init: FrameInit) =>
      Effect.gen(function* () {
        const opaque = nextOpaque++
        socket.write(encodeFrame({ magic: Magic.ClientRequest, ...init, opaque }))
        for (;;) {
          const at = frames.findIndex((f) => f.opaque === opaque)
          if (at >= 0) return frames.splice(at, 1)[0]!
          const chunk = socket.read()
          if (chunk === null) {
            yield* readable
            continue
          }
          if (!Buffer.isBuffer(chunk)) return yield* Effect.dieMessage(`connection ended: ${String(chunk)}`)
          decoder.feed(chunk, (f) => frames.push(f))
        }
      })
    const untilClosed = Effect.gen(function* () {
      for (;;) {
        const chunk = socket.read()
        if (chunk === null) {
          yield* readable
          continue
        }
        if (!Buffer.isBuffer(chunk)) return chunk as unknown
      }
    })
    const exchangeRaw = (bytes: Uint8Array) =>
      Effect.gen(function* () {
        socket.write(bytes)
        const parts: Array<Buffer> = []
        for (;;) {
          const chunk = socket.read()
          if (chunk === null) {
            yield* readable
            continue
          }
          if (!Buffer.isBuffer(chunk)) return Buffer.concat(parts)
          parts.push(chunk)
        }
      })
    const collect = (count: number) =>
      Effect.gen(function* () {
        while (frames.length < count) {
          const chunk = socket.read()
          if (chunk === null) {
            yield* readable
            continue
          }
          if (!Buffer.isBuffer(chunk)) return yield* Effect.dieMessage(`connection ended: ${String(chunk)}`)
          decoder.feed(chunk, (f) => frames.push(f))
        }
        return frames.splice(0, count)
      })
    const stats = (group = "") =>
      Effect.gen(function* () {
        const opaque = nextOpaque++
        socket.write(encodeFrame({ magic: Magic.ClientRequest, opcode: 0x10, key: Buffer.from(group), opaque }))
        const out = new Map<string, string>()
        for (;;) {
          const at = frames.findIndex((f) => f.opaque === opaque)
          if (at >= 0) {
            const frame = frames.splice(at, 1)[0]!
            if (frame.key.length === 0) return out
            out.set(frame.key.toString(), frame.value.toString())
            continue
          }
          const chunk = socket.read()
          if (chunk === null) {
            yield* readable
            continue
          }
          if (!Buffer.isBuffer(chunk)) return yield* Effect.dieMessage(`connection ended: ${String(chunk)}`)
          decoder.feed(chunk, (f) => frames.push(f))
        }
      })
    return { socket, request, untilClosed, exchangeRaw, collect, stats } satisfies SimClient
  })

/** SCRAM-SHA512 over a simulated client; returns the final status. */
export const simAuthenticate = (client: SimClient, username: string, password: string) =>
  Effect.gen(function* () {
    const scram = scramClient({ mechanism: "SCRAM-SHA512", username, password })
    const first = yield* client.request({
      opcode: 0x21,
      key: Buffer.from("SCRAM-SHA512"),
      value: Buffer.from(scram.clientFirst)
    })
    if (first.status !== 0x21) return first.status
    const final = scram.respond(first.value.toString())
    if (typeof final !== "string") return yield* Effect.die(final)
    const last = yield* client.request({ opcode: 0x22, key: Buffer.from("SCRAM-SHA512"), value: Buffer.from(final) })
    return last.status
  })
