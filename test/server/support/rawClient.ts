/**
 * A minimal binary-protocol client for the server tests: one TCP connection, frames
 * encoded with the project's codec, responses matched by opaque. It does only what a
 * test asks (no retries, no routing), so the server's answers are seen as they are.
 */
import * as net from "node:net"
import { Effect } from "effect"
import { Magic, Opcode, Status } from "../../../src/internal/protocol/constants.js"
import { encodeFrame, type Frame, type FrameInit } from "../../../src/internal/protocol/Frame.js"
import { FrameDecoder } from "../../../src/internal/protocol/FrameDecoder.js"
import { encodePlain } from "../../../src/internal/sasl/plain.js"
import type { ScramMechanism } from "../../../src/internal/sasl/scram.js"
import { scramClient } from "../../../src/internal/sasl/scramClient.js"

/** A connected test client. */
export class RawClient {
  private readonly decoder = new FrameDecoder()
  private readonly waiting = new Map<number, Array<(frame: Frame) => void>>()
  private readonly buffered = new Map<number, Array<Frame>>()
  private readonly unsolicited: Array<Frame> = []
  /** Every response received, in arrival order. */
  readonly received: Array<Frame> = []
  private nextOpaque = 1
  /** Resolves when the server closes the connection (with true when it was a reset). */
  readonly closed: Promise<boolean>
  private closedFlag = false

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => {
      let reset = false
      socket.on("error", () => {
        reset = true
      })
      socket.on("close", () => {
        this.closedFlag = true
        resolve(reset)
      })
    })
    socket.on("data", (chunk) => {
      this.decoder.feed(chunk, (frame) => {
        if (frame.magic === Magic.ServerRequest) {
          this.unsolicited.push(frame)
          return
        }
        this.received.push(frame)
        const resolve = this.waiting.get(frame.opaque)?.shift()
        if (resolve !== undefined) return resolve(frame)
        const queue = this.buffered.get(frame.opaque) ?? []
        queue.push(frame)
        this.buffered.set(frame.opaque, queue)
      })
    })
  }

  /** Connects to `host:port`. */
  static connect(port: number, host = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => resolve(new RawClient(socket)))
      socket.once("error", reject)
    })
  }

  /** True once the connection is closed. */
  get isClosed(): boolean {
    return this.closedFlag
  }

  /** Server-initiated requests received so far (clustermap notifications). */
  get pushed(): ReadonlyArray<Frame> {
    return this.unsolicited
  }

  /** Sends raw bytes. */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Sends a request without waiting; returns its opaque. */
  send(init: FrameInit): number {
    const opaque = init.opaque ?? this.nextOpaque++
    this.socket.write(encodeFrame({ magic: Magic.ClientRequest, ...init, opaque }))
    return opaque
  }

  /** Waits for the next `count` responses carrying `opaque`. */
  responses(opaque: number, count = 1): Promise<Array<Frame>> {
    const out: Array<Frame> = []
    const early = this.buffered.get(opaque)
    while (early !== undefined && early.length > 0 && out.length < count) out.push(early.shift()!)
    if (out.length === count) return Promise.resolve(out)
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(opaque) ?? []
      this.waiting.set(opaque, queue)
      const take = (frame: Frame): void => {
        out.push(frame)
        if (out.length === count) resolve(out)
        else queue.push(take)
      }
      queue.push(take)
      void this.closed.then(() => reject(new Error(`connection closed while waiting for opaque ${opaque}`)))
    })
  }

  /** Sends a request and waits for its response. */
  async request(init: FrameInit): Promise<Frame> {
    const opaque = this.send(init)
    const [frame] = await this.responses(opaque)
    return frame!
  }

  /** Sends a STAT and collects the stats until the closing empty packet. */
  async stats(group = ""): Promise<Map<string, string>> {
    const opaque = this.send({ opcode: Opcode.Stat, key: Buffer.from(group) })
    const out = new Map<string, string>()
    for (;;) {
      const [frame] = await this.responses(opaque)
      if (frame!.status !== Status.Success) throw new Error(`STAT failed with status ${frame!.status}`)
      if (frame!.key.length === 0) return out
      out.set(frame!.key.toString(), frame!.value.toString())
    }
  }

  /** HELLO with `features`; returns the acknowledged ones. */
  async hello(features: ReadonlyArray<number>, agent = "raw-test-client"): Promise<Array<number>> {
    const value = Buffer.alloc(features.length * 2)
    features.forEach((f, i) => {
      value.writeUInt16BE(f, i * 2)
    })
    const frame = await this.request({ opcode: Opcode.Hello, key: Buffer.from(agent), value })
    const acked: Array<number> = []
    for (let i = 0; i < frame.value.length; i += 2) acked.push(frame.value.readUInt16BE(i))
    return acked
  }

  /** SASL PLAIN; returns the AUTH status. */
  async authPlain(username: string, password: string): Promise<number> {
    const frame = await this.request({
      opcode: Opcode.SaslAuth,
      key: Buffer.from("PLAIN"),
      value: encodePlain(username, password)
    })
    return frame.status
  }

  /** A SCRAM exchange; returns the final status (and checks the server signature on success). */
  async authScram(username: string, password: string, mechanism: ScramMechanism = "SCRAM-SHA512"): Promise<number> {
    const client = scramClient({ mechanism, username, password })
    const first = await this.request({
      opcode: Opcode.SaslAuth,
      key: Buffer.from(mechanism),
      value: Buffer.from(client.clientFirst)
    })
    if (first.status !== Status.AuthContinue) return first.status
    const final = client.respond(first.value.toString())
    if (typeof final !== "string") throw final
    const last = await this.request({ opcode: Opcode.SaslStep, key: Buffer.from(mechanism), value: Buffer.from(final) })
    if (last.status === Status.Success) {
      const verified = client.verify(last.value.toString())
      if (verified !== true) throw verified
    }
    return last.status
  }

  /** SELECT_BUCKET; returns the status. */
  async selectBucket(name: string): Promise<number> {
    return (await this.request({ opcode: Opcode.SelectBucket, key: Buffer.from(name) })).status
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy()
  }
}

/** A client connected, authenticated as the administrator, with `features` and `bucket` selected. */
export const sessionClient = (
  port: number,
  options: {
    readonly features?: ReadonlyArray<number>
    readonly bucket?: string
    readonly user?: string
    readonly password?: string
  } = {}
) =>
  Effect.gen(function* () {
    const client = yield* rawClient(port)
    yield* Effect.promise(async () => {
      if (options.features !== undefined) await client.hello(options.features)
      const status = await client.authScram(options.user ?? "Administrator", options.password ?? "password")
      if (status !== Status.Success) throw new Error(`authentication failed with status ${status}`)
      const selected = await client.selectBucket(options.bucket ?? "default")
      if (selected !== Status.Success) throw new Error(`SELECT_BUCKET failed with status ${selected}`)
    })
    return client
  })

/** Connects a client in the scope (closed with it). */
export const rawClient = (port: number, host = "127.0.0.1") =>
  Effect.acquireRelease(
    Effect.promise(() => RawClient.connect(port, host)),
    (client) => Effect.sync(() => client.close())
  )

/** SET extras: flags and expiry. */
export const setExtras = (flags: number, expiry: number): Buffer => {
  const b = Buffer.alloc(8)
  b.writeUInt32BE(flags, 0)
  b.writeUInt32BE(expiry, 4)
  return b
}

/** INCR/DECR extras. */
export const counterExtras = (delta: bigint, initial: bigint, expiry: number): Buffer => {
  const b = Buffer.alloc(20)
  b.writeBigUInt64BE(delta, 0)
  b.writeBigUInt64BE(initial, 8)
  b.writeUInt32BE(expiry, 16)
  return b
}

/** A 4-byte big-endian integer (TOUCH, GAT, GET_LOCKED extras). */
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}
