/**
 * The client over `couchbases://` against an embedded cluster serving TLS (the test
 * CA of `test/fixtures/tls`): trust through `tls.ca` and through `certpath`, every
 * socket encrypted and on the `kvSSL` ports, SASL PLAIN over TLS (seen from the
 * server), and the typed, immediate failures when the certificate is not trusted, the
 * name does not match, or the port does not speak TLS.
 */
import { readFileSync } from "node:fs"
import * as https from "node:https"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as IopsModule from "../../src/Iops.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import type { Options } from "../../src/internal/connection/options.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import * as View from "../../src/View.js"

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url))
const CA_PATH = fixture("ca.pem")
const CA = readFileSync(CA_PATH)
const SERVER_TLS = { key: readFileSync(fixture("server-key.pem")), cert: readFileSync(fixture("server-cert.pem")) }

/** The Node Iops, recording every connection the client opens (with the options it asked for). */
const recordingIops = () => {
  const base = makeNodeIops()
  const opened: Array<{ readonly options: Iops.ConnectOptions; readonly socket: Iops.Socket }> = []
  const iops: Iops.Service = {
    ...base,
    connect: (options) => base.connect(options).pipe(Effect.tap((socket) => opened.push({ options, socket })))
  }
  return { iops, opened }
}

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
    if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string }
  })

const tlsCluster = EmbeddedCluster.make({ nodes: 3, replicas: 1, tls: SERVER_TLS })

const connect = (cluster: EmbeddedCluster.EmbeddedCluster.Service, options: Options, iops = makeNodeIops()) =>
  makeClient({ username: cluster.username, password: cluster.password, ...options }).pipe(
    Effect.provideService(Iops, iops)
  )

describe("couchbases:// against the embedded cluster", () => {
  it.scopedLive("runs the KV operations over TLS to the kvSSL ports, trusting the CA given in tls.ca", () =>
    Effect.gen(function* () {
      const cluster = yield* tlsCluster
      const { iops, opened } = recordingIops()
      const cb: Connection.Connection.Service = yield* connect(
        cluster,
        { connectionString: cluster.secureConnectionString!, tls: { ca: CA } },
        iops
      )

      const stored = yield* cb.upsert("tls::1", { secure: true })
      const read = yield* cb.get("tls::1")
      expect(read.value).toEqual({ secure: true })
      expect(read.cas).toBe(stored.cas)
      const values: Record<string, number> = {}
      for (let i = 0; i < 200; i++) values[`tls::k${i}`] = i
      expect((yield* cb.upsertMulti(values)).allOk).toBe(true)
      const back = yield* cb.getMulti(Object.keys(values))
      for (let i = 0; i < 200; i++) expect(back.get(`tls::k${i}`)!.value).toBe(i)
      expect((yield* cb.getReplica("tls::1")).value).toEqual({ secure: true })
      expect(JSON.parse(cluster.bucket("default")!.getDocument("tls::k7")!.value.toString())).toBe(7)

      // Client side: every connection is TLS, to a kvSSL port, with the CA it was given.
      const tlsPorts = cluster.nodes.map((n) => n.kvSSL)
      expect(tlsPorts.every((p) => typeof p === "number" && p > 0)).toBe(true)
      expect(opened.length).toBeGreaterThanOrEqual(3)
      for (const { options, socket } of opened) {
        expect(socket.secure).toBe(true)
        expect(tlsPorts).toContain(options.port)
        expect(options.tls).toEqual({ ca: CA, rejectUnauthorized: true })
      }
      expect(new Set(opened.map((o) => o.options.port)).size).toBe(3)
      // The statistics are keyed by the addresses the client talks to: the TLS ones.
      const items = (yield* cb.stats())["curr_items"]!
      expect(Object.keys(items).sort()).toEqual(tlsPorts.map((p) => `127.0.0.1:${p}`).sort())

      // Server side: each node accepted only TLS connections from this client, which
      // authenticated with PLAIN (no SCRAM round trips under TLS).
      for (const node of cluster.nodes) {
        expect(node.connections.tls).toBeGreaterThanOrEqual(1)
        expect(node.connections.total).toBe(node.connections.tls)
        expect(node.saslAuthentications).toEqual({ PLAIN: node.connections.tls })
      }
    })
  )

  it.scopedLive("reads the CA from the connection string's certpath", () =>
    Effect.gen(function* () {
      const cluster = yield* tlsCluster
      const cb: Connection.Connection.Service = yield* connect(cluster, {
        connectionString: `${cluster.secureConnectionString}/default?certpath=${CA_PATH}`
      })
      const stored = yield* cb.upsert("certpath", "trusted")
      expect((yield* cb.get("certpath")).cas).toBe(stored.cas)
      expect((yield* cb.get("certpath")).value).toBe("trusted")
      expect(cluster.nodes.reduce((sum, n) => sum + n.connections.tls, 0)).toBeGreaterThanOrEqual(3)
    })
  )

  it.scopedLive("connects by host name: the certificate names localhost too", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, tls: SERVER_TLS })
      const cb: Connection.Connection.Service = yield* connect(cluster, {
        connectionString: `couchbases://localhost:${cluster.nodes[0]!.kvSSL}`,
        tls: { ca: CA }
      })
      yield* cb.upsert("by-name", 1)
      expect((yield* cb.get("by-name")).value).toBe(1)
    })
  )

  it.scopedLive(
    "fails bootstrap with a ConnectError naming host:port and the TLS failure when the CA is not trusted",
    () =>
      Effect.gen(function* () {
        const cluster = yield* tlsCluster
        const port = cluster.nodes[0]!.kvSSL!
        // A long bootstrap timeout: the failure must be the handshake's, not a timeout.
        const error = yield* failure(
          connect(cluster, { connectionString: `couchbases://127.0.0.1:${port}`, bootstrapTimeout: "60 seconds" })
        )
        expect(error._tag).toBe("ConnectError")
        expect(error.message).toContain(`127.0.0.1:${port}`)
        expect(error.message).toContain(`TLS handshake with 127.0.0.1:${port} failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE`)
        expect(error.message).toContain("certpath")
        // The server never saw a session: the handshake failed before any KV byte.
        expect(cluster.nodes[0]!.connections.total).toBe(0)
      })
  )

  it.scopedLive("fails with a ConnectError when the certificate does not name the server", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, tls: SERVER_TLS })
      const port = cluster.nodes[0]!.kvSSL!
      const error = yield* failure(
        connect(cluster, {
          connectionString: `couchbases://127.0.0.1:${port}`,
          tls: { ca: CA, servername: "db.example.com" },
          bootstrapTimeout: "60 seconds"
        })
      )
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toContain(`TLS handshake with 127.0.0.1:${port} failed (ERR_TLS_CERT_ALTNAME_INVALID`)
      expect(error.message).toContain("db.example.com")
    })
  )

  it.scopedLive("accepts any certificate with rejectUnauthorized: false", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tls: SERVER_TLS })
      const cb: Connection.Connection.Service = yield* connect(cluster, {
        connectionString: cluster.secureConnectionString!,
        tls: { rejectUnauthorized: false }
      })
      yield* cb.upsert("unverified", "ok")
      expect((yield* cb.get("unverified")).value).toBe("ok")
      // Keys on every node: each was reached over TLS.
      const keys = Array.from({ length: 32 }, (_, i) => `unverified-${i}`)
      expect((yield* cb.upsertMulti(Object.fromEntries(keys.map((k) => [k, k])))).allOk).toBe(true)
      expect([...(yield* cb.getMulti(keys)).values()].map((r) => r.value)).toEqual(keys)
      expect(cluster.nodes.every((n) => n.connections.tls >= 1)).toBe(true)
    })
  )

  it.scopedLive("fails with a ConnectError, not a hang, on a port that does not speak TLS", () =>
    Effect.gen(function* () {
      const cluster = yield* tlsCluster
      const port = cluster.nodes[0]!.kv
      const error = yield* failure(
        connect(cluster, {
          connectionString: `couchbases://127.0.0.1:${port}`,
          tls: { ca: CA },
          bootstrapTimeout: "60 seconds"
        })
      )
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toContain(`TLS handshake with 127.0.0.1:${port} failed (ECONNRESET)`)
      expect(error.message).toContain("serves TLS")
    })
  )

  it.scopedLive("plain couchbase:// keeps working on the plain ports of a TLS cluster, with SCRAM", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, tls: SERVER_TLS })
      const { iops, opened } = recordingIops()
      // TLS settings are ignored without couchbases://.
      const cb: Connection.Connection.Service = yield* connect(
        cluster,
        { connectionString: cluster.connectionString, tls: { ca: CA } },
        iops
      )
      yield* cb.upsert("plain", 1)
      expect((yield* cb.get("plain")).value).toBe(1)
      expect(opened.map((o) => [o.socket.secure, o.options.port, o.options.tls])).toEqual([
        [false, cluster.nodes[0]!.kv, undefined]
      ])
      const node = cluster.nodes[0]!
      expect(node.connections).toEqual({ total: 1, tls: 0 })
      expect(node.saslAuthentications).toEqual({ "SCRAM-SHA512": 1 })
    })
  )
})

describe("views over HTTPS (capiSSL)", () => {
  it.live(
    "a couchbases:// connection queries views on the capiSSL ports, trusting the CA of its own TLS settings",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tls: SERVER_TLS })
        const connection = yield* Connection.make({
          connectionString: cluster.secureConnectionString!,
          username: cluster.username,
          password: cluster.password,
          tls: { ca: CA }
        }).pipe(Effect.provide(IopsModule.layerNode()))
        const urls = yield* connection.cluster.capiBaseUrls
        expect([...urls].sort()).toEqual(cluster.nodes.map((n) => `https://127.0.0.1:${n.capiSSL}`).sort())

        yield* connection.upsertMulti({ "city::1": { city: "Oslo" }, "city::2": { city: "Lima" }, other: { x: 1 } })
        const status = yield* putDesignDocument(cluster.nodes[0]!.capiSSL!, "/default/_design/cities", {
          views: { by_name: { map: "function (doc, meta) { if (doc.city) emit(doc.city, null) }" } }
        })
        expect(status).toBe(201)
        const view = yield* View.makeFromConnection(connection)
        const result = yield* view.queryCollect("cities", "by_name", { stale: false })
        expect(result.rows.map((r) => [r.key, r.docid])).toEqual([
          ["Lima", "city::2"],
          ["Oslo", "city::1"]
        ])
      }).pipe(Effect.scoped)
  )
})

/** PUTs a design document over HTTPS (trusting the test CA); resolves the status code. */
const putDesignDocument = (port: number, path: string, body: unknown) =>
  Effect.async<number, Error>((resume) => {
    const text = JSON.stringify(body)
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "PUT",
        ca: CA,
        agent: false,
        headers: {
          Authorization: `Basic ${Buffer.from("Administrator:password").toString("base64")}`,
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(text)
        }
      },
      (res) => {
        res.resume()
        res.on("end", () => resume(Effect.succeed(res.statusCode ?? 0)))
      }
    )
    req.once("error", (error) => resume(Effect.fail(error)))
    req.end(text)
  })
