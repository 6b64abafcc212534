/**
 * The embedded cluster on the simulated network: the same server core as over TCP,
 * driven by TestClock, with the network's faults (split delivery, resets mid-frame).
 */
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { makeNetwork } from "../../src/Iops/Simulated.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame } from "../../src/internal/protocol/Frame.js"
import { sessionClient, setExtras } from "./support/rawClient.js"
import { type SimClient, simAuthenticate, simClient } from "./support/simClient.js"

const k = (key: string) => ({ key: Buffer.from(key), vbucket: vbucketOf(key, 1024) })

const ready = (client: SimClient) =>
  Effect.gen(function* () {
    expect(yield* simAuthenticate(client, "Administrator", "password")).toBe(Status.Success)
    expect((yield* client.request({ opcode: Opcode.SelectBucket, key: Buffer.from("default") })).status).toBe(
      Status.Success
    )
  })

describe("the embedded cluster on the simulated network", () => {
  it.scoped("serves KV under TestClock: TTLs pass without waiting, NOT_MY_VBUCKET routes", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 1 })
      const server = yield* EmbeddedCluster.make({ nodes: 2, tcp: false, network })
      expect(server.nodes.every((n) => n.kv >= 30000)).toBe(true)
      const clients = [
        yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv),
        yield* simClient(network, "127.0.0.1", server.nodes[1]!.kv)
      ]
      for (const c of clients) yield* ready(c)
      const key = "sim-ttl"
      const master = vbucketOf(key, 1024) % 2
      const wrong = yield* clients[1 - master]!.request({
        opcode: Opcode.Set,
        ...k(key),
        extras: setExtras(0, 30),
        value: Buffer.from("v")
      })
      expect(wrong.status).toBe(Status.NotMyVbucket)
      const stored = yield* clients[master]!.request({
        opcode: Opcode.Set,
        ...k(key),
        extras: setExtras(0, 30),
        value: Buffer.from("expires in 30 s")
      })
      expect(stored.status).toBe(Status.Success)
      yield* TestClock.adjust("29 seconds")
      expect((yield* clients[master]!.request({ opcode: Opcode.Get, ...k(key) })).value.toString()).toBe(
        "expires in 30 s"
      )
      yield* TestClock.adjust("1 seconds")
      expect((yield* clients[master]!.request({ opcode: Opcode.Get, ...k(key) })).status).toBe(Status.KeyNotFound)
      // Nothing listens on TCP.
      const tcp = yield* Effect.async<string>((resume) => {
        const socket = net.connect({ port: server.nodes[0]!.kv, host: "127.0.0.1" })
        socket.once("connect", () => {
          socket.destroy()
          resume(Effect.succeed("connected"))
        })
        socket.once("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code ?? "error")))
      })
      expect(tcp).not.toBe("connected")
    })
  )

  it.scoped("frames split into 1-byte pieces are served; a reset mid-frame closes that connection only", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 2 })
      const server = yield* EmbeddedCluster.make({ nodes: 1, tcp: false, network })
      const port = server.nodes[0]!.kv
      const split = yield* simClient(network, "127.0.0.1", port)
      network.faults.split(`127.0.0.1:${port}`, { minPiece: 1, maxPiece: 1 }, { direction: "both" })
      yield* ready(split)
      const big = Buffer.alloc(10_000, 7)
      expect(
        (yield* split.request({ opcode: Opcode.Set, ...k("split"), extras: setExtras(5, 0), value: big })).status
      ).toBe(Status.Success)
      const read = yield* split.request({ opcode: Opcode.Get, ...k("split") })
      expect([read.value.equals(big), read.extras.readUInt32BE(0)]).toEqual([true, 5])
      network.faults.heal()

      const victim = yield* simClient(network, "127.0.0.1", port)
      const bystander = yield* simClient(network, "127.0.0.1", port)
      yield* ready(bystander)
      const victimId = network.connections().find((c) => c.client.endsWith(`:${victim.socket.localPort}`))!.id
      network.faults.reset(victimId, { afterBytes: 30, direction: "toServer" })
      // 30 bytes reach the server: a whole header and the start of a body, then the reset.
      victim.socket.write(
        Buffer.concat([Buffer.from([0x80, Opcode.Set, 0, 4, 8, 0, 0, 0, 0, 0, 0, 40]), Buffer.alloc(48, 1)])
      )
      const ended = yield* victim.untilClosed
      expect(ended).toBeInstanceOf(Error)
      expect(network.connections().some((c) => c.id === victimId)).toBe(false)
      expect((yield* bystander.request({ opcode: Opcode.Get, ...k("split") })).status).toBe(Status.Success)
    })
  )

  it.scoped("a client that does not read its answers pauses the server, then gets them all", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 5 })
      const server = yield* EmbeddedCluster.make({ nodes: 1, tcp: false, network })
      const client = yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv)
      yield* ready(client)
      const key = "big-".padEnd(250, "x")
      const value = Buffer.alloc(64 * 1024, 9)
      yield* client.request({ opcode: Opcode.Set, ...k(key), extras: setExtras(0, 0), value })
      const get = encodeFrame({ magic: 0x80, opcode: Opcode.Get, ...k(key) })
      const count = 1000 // 64 MiB of answers for 270 KiB of requests, more than the network's 64 KiB window
      const before = network.connections()[0]!
      // One write: the server gets all requests in one chunk and must stop in the middle of it.
      client.socket.write(Buffer.concat(Array.from({ length: count }, () => get)))
      yield* TestClock.adjust("10 millis")
      const after = network.connections()[0]!
      // Every request has reached the server, but it stopped executing them once the
      // client's window was full: only a few answers were produced and queued.
      expect(after.bytesToServer - before.bytesToServer).toBe(get.length * count)
      expect(after.bytesToClient - before.bytesToClient).toBeLessThan(4 * 1024 * 1024)
      const observer = yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv)
      yield* ready(observer)
      const executed = Number((yield* observer.stats()).get("cmd_get"))
      expect(executed).toBeGreaterThan(0)
      expect(executed).toBeLessThan(64)
      const answers = yield* client.collect(count)
      expect(answers.length).toBe(count)
      expect(answers.every((f) => f.status === Status.Success && f.value.equals(value))).toBe(true)
    })
  )

  it.scoped("listens on TCP and the simulated network at once, with the same ports and data", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 3 })
      const server = yield* EmbeddedCluster.make({ nodes: 1, network })
      const sim = yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv)
      yield* ready(sim)
      yield* sim.request({ opcode: Opcode.Set, ...k("shared"), extras: setExtras(0, 0), value: Buffer.from("both") })
      const tcp = yield* sessionClient(server.nodes[0]!.kv)
      const read = yield* Effect.promise(() => tcp.request({ opcode: Opcode.Get, ...k("shared") }))
      expect(read.value.toString()).toBe("both")
    })
  )

  it.scoped("serves the management API over the simulated network", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 4 })
      const server = yield* EmbeddedCluster.make({ nodes: 1, tcp: false, network })
      const http = yield* simClient(network, "127.0.0.1", server.nodes[0]!.mgmt)
      const auth = Buffer.from("Administrator:password").toString("base64")
      const response = yield* http.exchangeRaw(
        Buffer.from(
          `GET /pools/default/b/default HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth}\r\nConnection: close\r\n\r\n`
        )
      )
      const text = response.toString()
      expect(text.startsWith("HTTP/1.1 200")).toBe(true)
      const config = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4))
      expect(config.nodesExt[0].services.kv).toBe(server.nodes[0]!.kv)
    })
  )

  it.scoped("closes a connection that does not authenticate in time; an authenticated one stays", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 7 })
      const server = yield* EmbeddedCluster.make({ nodes: 1, tcp: false, network, handshakeTimeout: "3 seconds" })
      const idle = yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv)
      const loggedIn = yield* simClient(network, "127.0.0.1", server.nodes[0]!.kv)
      yield* ready(loggedIn)
      // Talking without logging in does not count: only authentication does.
      expect((yield* idle.request({ opcode: Opcode.Noop })).status).toBe(Status.Success)
      const ended = yield* Effect.fork(idle.untilClosed)
      yield* TestClock.adjust("2999 millis")
      expect(ended.unsafePoll()).toBeNull()
      yield* TestClock.adjust("2 millis")
      expect((yield* ended.await)._tag).toBe("Success")
      yield* TestClock.adjust("1 minute")
      expect((yield* loggedIn.request({ opcode: Opcode.Noop })).status).toBe(Status.Success)
      expect(
        (yield* Effect.flip(EmbeddedCluster.make({ nodes: 1, tcp: false, network, handshakeTimeout: "-1 seconds" })))
          .message
      ).toContain("handshakeTimeout")
    })
  )
})
