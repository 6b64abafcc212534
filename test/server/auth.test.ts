/**
 * Authentication and connection hygiene over real TCP: SCRAM (SHA512/256/1) and
 * PLAIN, wrong passwords, bucket access, and garbage on a socket closing that
 * connection only.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { HelloFeature, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { rawClient, setExtras } from "./support/rawClient.js"

const cluster = EmbeddedCluster.make({
  nodes: 1,
  buckets: [
    { name: "default", users: [{ username: "app", password: "app-secret" }] },
    { name: "other" },
    { name: "legacy", password: "legacy-pw" }
  ]
})

const setRequest = (key: string, value: string) => ({
  opcode: Opcode.Set,
  key: Buffer.from(key),
  value: Buffer.from(value),
  extras: setExtras(0, 0),
  vbucket: vbucketOf(key, 1024)
})

describe("SASL authentication", () => {
  for (const mechanism of ["SCRAM-SHA512", "SCRAM-SHA256", "SCRAM-SHA1"] as const) {
    it.scoped(`${mechanism} succeeds with the right password (and the server proves it knows it)`, () =>
      Effect.gen(function* () {
        const server = yield* cluster
        const client = yield* rawClient(server.nodes[0]!.kv)
        expect(yield* Effect.promise(() => client.authScram("Administrator", "password", mechanism))).toBe(
          Status.Success
        )
        expect(yield* Effect.promise(() => client.selectBucket("default"))).toBe(Status.Success)
        const stored = yield* Effect.promise(() => client.request(setRequest("scram-key", "v")))
        expect(stored.status).toBe(Status.Success)
        expect(server.bucket("default")!.getDocument("scram-key")!.value.toString()).toBe("v")
      })
    )
  }

  it.scoped("lists its mechanisms, strongest first", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const client = yield* rawClient(server.nodes[0]!.kv)
      const frame = yield* Effect.promise(() => client.request({ opcode: Opcode.SaslListMechs }))
      expect(frame.value.toString()).toBe("SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN")
    })
  )

  it.scoped("PLAIN succeeds for a bucket user, who may select only that bucket", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const client = yield* rawClient(server.nodes[0]!.kv)
      expect(yield* Effect.promise(() => client.authPlain("app", "app-secret"))).toBe(Status.Success)
      expect(yield* Effect.promise(() => client.selectBucket("other"))).toBe(Status.NoAccess)
      expect(yield* Effect.promise(() => client.selectBucket("missing"))).toBe(Status.NoAccess)
      expect(yield* Effect.promise(() => client.selectBucket("default"))).toBe(Status.Success)
      expect((yield* Effect.promise(() => client.request(setRequest("plain-key", "p")))).status).toBe(Status.Success)
      expect(server.bucket("default")!.getDocument("plain-key")!.value.toString()).toBe("p")
    })
  )

  it.scoped("a user named like a bucket lands in it without SELECT_BUCKET (pre-RBAC clients)", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const client = yield* rawClient(server.nodes[0]!.kv)
      expect(yield* Effect.promise(() => client.authScram("legacy", "legacy-pw", "SCRAM-SHA1"))).toBe(Status.Success)
      expect((yield* Effect.promise(() => client.request(setRequest("legacy-key", "l")))).status).toBe(Status.Success)
      expect(server.bucket("legacy")!.getDocument("legacy-key")!.value.toString()).toBe("l")
    })
  )

  for (const method of ["SCRAM-SHA512", "PLAIN"] as const) {
    it.scoped(`${method} with a wrong password is refused with AUTH_ERROR and nothing can be stored`, () =>
      Effect.gen(function* () {
        const server = yield* cluster
        const client = yield* rawClient(server.nodes[0]!.kv)
        yield* Effect.promise(() => client.hello([HelloFeature.Xerror, HelloFeature.SelectBucket]))
        const status = yield* Effect.promise(() =>
          method === "PLAIN" ? client.authPlain("Administrator", "wrong") : client.authScram("Administrator", "wrong")
        )
        expect(status).toBe(Status.AuthError)
        expect(yield* Effect.promise(() => client.selectBucket("default"))).toBe(Status.NoAccess)
        const key = `refused-${method}`
        const set = yield* Effect.promise(() => client.request(setRequest(key, "x")))
        expect(set.status).toBe(Status.NoBucket)
        expect(server.bucket("default")!.getDocument(key)).toBeUndefined()
        // The connection is still usable: authenticating properly works afterwards.
        expect(yield* Effect.promise(() => client.authScram("Administrator", "password"))).toBe(Status.Success)
      })
    )
  }

  it.scoped("refuses unknown users, unknown mechanisms and a SASL_STEP out of the blue", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const client = yield* rawClient(server.nodes[0]!.kv)
      expect(yield* Effect.promise(() => client.authScram("nobody", "password"))).toBe(Status.AuthError)
      expect(yield* Effect.promise(() => client.authPlain("nobody", "password"))).toBe(Status.AuthError)
      const cram = yield* Effect.promise(() =>
        client.request({ opcode: Opcode.SaslAuth, key: Buffer.from("CRAM-MD5"), value: Buffer.from("x") })
      )
      expect(cram.status).toBe(Status.AuthError)
      const step = yield* Effect.promise(() =>
        client.request({ opcode: Opcode.SaslStep, key: Buffer.from("SCRAM-SHA512"), value: Buffer.from("c=biws") })
      )
      expect(step.status).toBe(Status.AuthError)
      // STAT is for authenticated connections: counters, pid and version are not public.
      const early = yield* Effect.promise(() => client.request({ opcode: Opcode.Stat }))
      expect(early.status).toBe(Status.NoAccess)
      expect(yield* Effect.promise(() => client.authPlain("Administrator", "password"))).toBe(Status.Success)
      const stats = yield* Effect.promise(() => client.stats())
      expect(Number(stats.get("auth_errors"))).toBeGreaterThanOrEqual(4)
    })
  )

  it.scoped("a wrong password fails alike whatever its length, for known and unknown users", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      for (const [user, password] of [
        ["Administrator", "passwor"],
        ["Administrator", "password!"],
        ["Administrator", ""],
        ["Administrator", "x".repeat(1000)],
        ["nobody", "password"],
        ["", "password"]
      ] as const) {
        const client = yield* rawClient(server.nodes[0]!.kv)
        expect(yield* Effect.promise(() => client.authPlain(user, password))).toBe(Status.AuthError)
      }
    })
  )
})

describe("connection hygiene", () => {
  it.scoped("garbage bytes close that connection only", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const victim = yield* rawClient(server.nodes[0]!.kv)
      const bystander = yield* rawClient(server.nodes[0]!.kv)
      expect(yield* Effect.promise(() => bystander.authScram("Administrator", "password"))).toBe(Status.Success)
      expect(yield* Effect.promise(() => bystander.selectBucket("default"))).toBe(Status.Success)
      victim.write(Buffer.from("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
      yield* Effect.promise(() => victim.closed)
      expect(victim.isClosed).toBe(true)
      const set = yield* Effect.promise(() => bystander.request(setRequest("after-garbage", "still here")))
      expect(set.status).toBe(Status.Success)
      const get = yield* Effect.promise(() =>
        bystander.request({
          opcode: Opcode.Get,
          key: Buffer.from("after-garbage"),
          vbucket: vbucketOf("after-garbage", 1024)
        })
      )
      expect(get.value.toString()).toBe("still here")
      // A fresh connection is served too.
      const fresh = yield* rawClient(server.nodes[0]!.kv)
      expect((yield* Effect.promise(() => fresh.request({ opcode: Opcode.Noop }))).status).toBe(Status.Success)
    })
  )

  it.scoped("a frame with impossible lengths or a response magic closes the connection", () =>
    Effect.gen(function* () {
      const server = yield* cluster
      const badLengths = yield* rawClient(server.nodes[0]!.kv)
      const header = Buffer.alloc(24)
      header[0] = 0x80
      header.writeUInt16BE(100, 2) // key length 100 …
      header.writeUInt32BE(10, 8) // … in a 10-byte body
      badLengths.write(header)
      yield* Effect.promise(() => badLengths.closed)
      const responseMagic = yield* rawClient(server.nodes[0]!.kv)
      const response = Buffer.alloc(24)
      response[0] = 0x81
      responseMagic.write(response)
      yield* Effect.promise(() => responseMagic.closed)
      expect(badLengths.isClosed && responseMagic.isClosed).toBe(true)
    })
  )
})
