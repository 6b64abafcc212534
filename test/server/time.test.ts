/**
 * Time on the server is Effect's Clock: under TestClock, TTLs, lock timeouts and
 * delayed flushes pass when the test says so, without real waiting.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { HelloFeature, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { type RawClient, rawClient, sessionClient, setExtras, u32 } from "./support/rawClient.js"

const k = (key: string) => ({ key: Buffer.from(key), vbucket: vbucketOf(key, 1024) })
const call = (client: RawClient, init: Parameters<RawClient["request"]>[0]) =>
  Effect.promise(() => client.request(init))
const set = (client: RawClient, key: string, value: string, expiry = 0, cas = 0n) =>
  call(client, { opcode: Opcode.Set, ...k(key), value: Buffer.from(value), extras: setExtras(0, expiry), cas })
const status = (client: RawClient, key: string) =>
  call(client, { opcode: Opcode.Get, ...k(key) }).pipe(Effect.map((f) => f.status))

describe("server time under TestClock", () => {
  it.scoped("relative TTLs expire exactly when the clock passes them", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const clients = [yield* sessionClient(server.nodes[0]!.kv), yield* sessionClient(server.nodes[1]!.kv)]
      // Route by the map: vBucket v is mastered by node v % 2.
      const c = (key: string) => clients[vbucketOf(key, 1024) % 2]!
      yield* set(c("ttl"), "ttl", "short", 10)
      yield* set(c("forever"), "forever", "long", 0)
      yield* TestClock.adjust("9999 millis")
      expect(yield* status(c("ttl"), "ttl")).toBe(Status.Success)
      yield* TestClock.adjust("1 millis")
      expect(yield* status(c("ttl"), "ttl")).toBe(Status.KeyNotFound)
      expect(yield* status(c("forever"), "forever")).toBe(Status.Success)
      // The replica copy expires too.
      const replica = clients[(vbucketOf("ttl", 1024) + 1) % 2]!
      expect((yield* call(replica, { opcode: Opcode.GetReplica, ...k("ttl") })).status).toBe(Status.KeyNotFound)
      expect(server.bucket("default")!.getDocument("ttl")).toBeUndefined()
      expect([...server.bucket("default")!.documents()].map((d) => d.id)).toEqual(["forever"])
    })
  )

  it.scoped("TTLs over 30 days are absolute Unix times; touch and GAT move the deadline", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 1 })
      const c = yield* sessionClient(server.nodes[0]!.kv)
      const thirtyDays = 30 * 24 * 3600
      // TestClock starts at the epoch: an absolute expiry 40 days after it.
      yield* set(c, "absolute", "a", thirtyDays + 10 * 24 * 3600)
      yield* set(c, "relative-max", "r", thirtyDays)
      expect(server.bucket("default")!.getDocument("absolute")!.expiry).toBe(thirtyDays + 10 * 24 * 3600)
      yield* TestClock.adjust(`${thirtyDays} seconds`)
      expect(yield* status(c, "relative-max")).toBe(Status.KeyNotFound)
      expect(yield* status(c, "absolute")).toBe(Status.Success)
      yield* TestClock.adjust(`${10 * 24 * 3600} seconds`)
      expect(yield* status(c, "absolute")).toBe(Status.KeyNotFound)
      // An absolute time already past expires at once.
      yield* set(c, "past", "p", thirtyDays + 1)
      expect(yield* status(c, "past")).toBe(Status.KeyNotFound)

      yield* set(c, "touched", "t", 5)
      yield* TestClock.adjust("4 seconds")
      expect((yield* call(c, { opcode: Opcode.Touch, ...k("touched"), extras: u32(5) })).status).toBe(Status.Success)
      yield* TestClock.adjust("4 seconds")
      expect(yield* status(c, "touched")).toBe(Status.Success)
      const gat = yield* call(c, { opcode: Opcode.Gat, ...k("touched"), extras: u32(0) })
      expect(gat.value.toString()).toBe("t")
      yield* TestClock.adjust("1 days")
      expect(yield* status(c, "touched")).toBe(Status.Success)
    })
  )

  it.scoped("locks time out: the requested time, 15 s by default, 15 s for requests over 30 s", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 1 })
      const c = yield* sessionClient(server.nodes[0]!.kv, { features: [HelloFeature.Xerror] })
      const lock = (key: string, seconds: number) =>
        call(c, { opcode: Opcode.GetLocked, ...k(key), extras: u32(seconds) }).pipe(Effect.map((f) => f.status))
      for (const key of ["five", "default", "too-long"]) yield* set(c, key, "v")
      expect(yield* lock("five", 5)).toBe(Status.Success)
      expect(yield* lock("default", 0)).toBe(Status.Success)
      expect(yield* lock("too-long", 31)).toBe(Status.Success)
      const writable = (key: string) => set(c, key, "w").pipe(Effect.map((f) => f.status))
      yield* TestClock.adjust("4999 millis")
      expect(yield* writable("five")).toBe(Status.Locked)
      yield* TestClock.adjust("1 millis")
      expect(yield* writable("five")).toBe(Status.Success)
      yield* TestClock.adjust("9999 millis")
      expect([yield* writable("default"), yield* writable("too-long")]).toEqual([Status.Locked, Status.Locked])
      yield* TestClock.adjust("1 millis")
      expect([yield* writable("default"), yield* writable("too-long")]).toEqual([Status.Success, Status.Success])
      // The maximum is honoured when asked for exactly.
      expect(yield* lock("five", 30)).toBe(Status.Success)
      yield* TestClock.adjust("29 seconds")
      expect(yield* writable("five")).toBe(Status.Locked)
      yield* TestClock.adjust("1 seconds")
      expect(yield* writable("five")).toBe(Status.Success)
    })
  )

  it.scoped("a delayed FLUSH on a memcached bucket drops items once its time comes", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 1, buckets: [{ name: "cache", type: "memcached" }] })
      const c = yield* rawClient(server.nodes[0]!.bucketPorts.cache!)
      yield* set(c, "old", "o")
      expect((yield* call(c, { opcode: Opcode.Flush, extras: u32(10) })).status).toBe(Status.Success)
      yield* TestClock.adjust("5 seconds")
      yield* set(c, "newer", "n")
      expect(yield* status(c, "old")).toBe(Status.Success)
      yield* TestClock.adjust("5 seconds")
      expect([yield* status(c, "old"), yield* status(c, "newer")]).toEqual([Status.KeyNotFound, Status.KeyNotFound])
      yield* set(c, "after", "a")
      expect(yield* status(c, "after")).toBe(Status.Success)
    })
  )
})
