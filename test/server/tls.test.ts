/**
 * The embedded cluster serving TLS: each node's `kvSSL`, `capiSSL` and `mgmtSSL`
 * ports (real TLS over TCP with the test certificate of `test/fixtures/tls`, secure
 * listeners on the simulated network), advertised in the cluster map under Couchbase
 * Server's names, kept across restart, given to added nodes; and a bad certificate
 * refused when the cluster is built.
 */
import { readFileSync } from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect, Exit } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Simulated from "../../src/Iops/Simulated.js"
import { makeNetwork } from "../../src/Iops/Simulated.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import { Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { detachFrame, encodeFrame, type Frame, type FrameInit } from "../../src/internal/protocol/Frame.js"
import { FrameDecoder } from "../../src/internal/protocol/FrameDecoder.js"
import { encodePlain } from "../../src/internal/sasl/plain.js"

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url))
const CA_PATH = fixture("ca.pem")
const CA = readFileSync(CA_PATH)
const SERVER_TLS = { key: readFileSync(fixture("server-key.pem")), cert: readFileSync(fixture("server-cert.pem")) }
const AUTH = `Basic ${Buffer.from("Administrator:password").toString("base64")}`

/** GETs `path` over HTTPS (verifying the certificate with the test CA) or HTTP; resolves status and body. */
const get = (scheme: "http" | "https", port: number, path: string) =>
  Effect.async<{ readonly status: number; readonly body: string }, Error>((resume) => {
    const options = { host: "127.0.0.1", port, path, headers: { Authorization: AUTH }, agent: false as const }
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resume(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }))
      )
    }
    const req = scheme === "https" ? https.get({ ...options, ca: CA }, onResponse) : http.get(options, onResponse)
    req.once("error", (error) => resume(Effect.fail(error)))
  })

const json = (scheme: "http" | "https", port: number, path: string) =>
  Effect.map(get(scheme, port, path), ({ status, body }) => {
    expect(status).toBe(200)
    return JSON.parse(body) as Record<string, any>
  })

/** Opens a TLS KV connection trusting the test CA, sends `requests` pipelined and returns the responses in order. */
const kvOverTls = (port: number, requests: ReadonlyArray<FrameInit>) =>
  Effect.async<{ readonly frames: ReadonlyArray<Frame>; readonly authorized: boolean }, Error>((resume) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca: CA }, () => {
      for (const [i, init] of requests.entries()) {
        socket.write(encodeFrame({ magic: Magic.ClientRequest, ...init, opaque: i + 1 }))
      }
    })
    const decoder = new FrameDecoder()
    const frames: Array<Frame> = []
    socket.on("data", (chunk: Buffer) => {
      decoder.feed(chunk, (frame) => {
        // Frames are views into the chunk: keep copies.
        frames.push(detachFrame(frame))
        if (frames.length === requests.length) {
          resume(Effect.succeed({ frames, authorized: socket.authorized }))
          socket.end()
        }
      })
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
    if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string }
  })

describe("the embedded cluster with TLS", () => {
  it.scopedLive("listens on kvSSL, capiSSL and mgmtSSL and advertises them as Couchbase Server does", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1, tls: SERVER_TLS })
      const nodes = cluster.nodes
      const ports = nodes.flatMap((n) => [n.kv, n.capi, n.mgmt, n.kvSSL!, n.capiSSL!, n.mgmtSSL!])
      expect(ports.every((p) => Number.isInteger(p) && p > 0)).toBe(true)
      expect(new Set(ports).size).toBe(ports.length)
      expect(cluster.secureConnectionString).toBe(`couchbases://${nodes.map((n) => `127.0.0.1:${n.kvSSL}`).join(",")}`)
      expect(cluster.connectionString).toBe(`couchbase://${nodes.map((n) => `127.0.0.1:${n.kv}`).join(",")}`)

      // The terse bucket config over HTTPS (certificate verified against the test CA).
      const terse = yield* json("https", nodes[1]!.mgmtSSL!, "/pools/default/b/default")
      expect(terse["nodesExt"].map((n: any) => n.services)).toEqual(
        nodes.map((n) => ({
          mgmt: n.mgmt,
          mgmtSSL: n.mgmtSSL,
          kv: n.kv,
          kvSSL: n.kvSSL,
          capi: n.capi,
          capiSSL: n.capiSSL
        }))
      )
      expect(terse["nodesExt"].map((n: any) => n.thisNode === true)).toEqual([false, true, false])
      // The same map over plain HTTP, and the global config.
      expect((yield* json("http", nodes[1]!.mgmt, "/pools/default/b/default"))["nodesExt"]).toEqual(terse["nodesExt"])
      const global = yield* json("https", nodes[0]!.mgmtSSL!, "/pools/default/nodeServices")
      expect(global["nodesExt"].map((n: any) => n.services.kvSSL)).toEqual(nodes.map((n) => n.kvSSL))

      // /pools/default lists the HTTPS ports the way ns_server does.
      const pool = yield* json("https", nodes[2]!.mgmtSSL!, "/pools/default")
      expect(pool["nodes"].map((n: any) => n.ports)).toEqual(
        nodes.map((n) => ({ direct: n.kv, httpsMgmt: n.mgmtSSL, httpsCAPI: n.capiSSL }))
      )
      expect(pool["nodes"].map((n: any) => n.couchApiBaseHTTPS)).toEqual(
        nodes.map((n) => `https://127.0.0.1:${n.capiSSL}/`)
      )
      const verbose = yield* json("https", nodes[0]!.mgmtSSL!, "/pools/default/buckets/default")
      expect(verbose["nodes"].map((n: any) => n.couchApiBaseHTTPS)).toEqual(
        nodes.map((n) => `https://127.0.0.1:${n.capiSSL}/default`)
      )

      // capiSSL serves the views port over HTTPS.
      const ddoc = yield* get("https", nodes[0]!.capiSSL!, "/default/_design/missing")
      expect(ddoc.status).toBe(404)
      expect(JSON.parse(ddoc.body)).toMatchObject({ error: "not_found" })
    })
  )

  it.scopedLive("serves KV over TLS: SASL PLAIN, bucket selection and the cluster map with the TLS ports", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tls: SERVER_TLS })
      const node = cluster.nodes[0]!
      const { frames, authorized } = yield* kvOverTls(node.kvSSL!, [
        { opcode: Opcode.SaslAuth, key: Buffer.from("PLAIN"), value: encodePlain("Administrator", "password") },
        { opcode: Opcode.SelectBucket, key: Buffer.from("default") },
        { opcode: Opcode.GetClusterConfig }
      ])
      expect(authorized).toBe(true)
      expect(frames.map((f) => f.status)).toEqual([Status.Success, Status.Success, Status.Success])
      const config = JSON.parse(frames[2]!.value.toString("utf8"))
      expect(config["nodesExt"].map((n: any) => [n.services.kvSSL, n.services.capiSSL, n.services.mgmtSSL])).toEqual(
        cluster.nodes.map((n) => [n.kvSSL, n.capiSSL, n.mgmtSSL])
      )
      expect(config["nodesExt"][0].thisNode).toBe(true)
      // The node counted the TLS connection and the PLAIN authentication.
      expect(cluster.nodes[0]!.connections).toEqual({ total: 1, tls: 1 })
      expect(cluster.nodes[0]!.saslAuthentications).toEqual({ PLAIN: 1 })
      expect(cluster.nodes[1]!.connections).toEqual({ total: 0, tls: 0 })
    })
  )

  it.scopedLive("does not advertise TLS ports when it serves no TLS", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2 })
      expect(cluster.secureConnectionString).toBeUndefined()
      for (const node of cluster.nodes) {
        expect(node.kvSSL).toBeUndefined()
        expect(node.capiSSL).toBeUndefined()
        expect(node.mgmtSSL).toBeUndefined()
      }
      const terse = yield* json("http", cluster.nodes[0]!.mgmt, "/pools/default/b/default")
      expect(terse["nodesExt"].map((n: any) => n.services)).toEqual(
        cluster.nodes.map((n) => ({ mgmt: n.mgmt, kv: n.kv, capi: n.capi }))
      )
      const pool = yield* json("http", cluster.nodes[0]!.mgmt, "/pools/default")
      expect(pool["nodes"].map((n: any) => n.ports)).toEqual(cluster.nodes.map((n) => ({ direct: n.kv })))
      expect(pool["nodes"].every((n: any) => n.couchApiBaseHTTPS === undefined)).toBe(true)
    })
  )

  it.scopedLive("keeps the TLS ports across stop and restart, and gives them to added nodes", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tls: SERVER_TLS })
      const before = cluster.nodes[1]!
      yield* cluster.control.stop(1)
      const refused = yield* Effect.flip(get("https", before.mgmtSSL!, "/pools"))
      expect((refused as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
      yield* cluster.control.restart(1)
      const after = cluster.nodes[1]!
      expect([after.kvSSL, after.capiSSL, after.mgmtSSL]).toEqual([before.kvSSL, before.capiSSL, before.mgmtSSL])
      expect((yield* get("https", after.mgmtSSL!, "/pools")).status).toBe(200)

      const added = yield* cluster.control.addNode({ kvSSL: 0 })
      expect(added.kvSSL! > 0 && added.capiSSL! > 0 && added.mgmtSSL! > 0).toBe(true)
      yield* cluster.control.rebalance()
      const terse = yield* json("https", added.mgmtSSL!, "/pools/default/b/default")
      expect(terse["nodesExt"].map((n: any) => n.services.kvSSL)).toEqual([
        cluster.nodes[0]!.kvSSL,
        after.kvSSL,
        added.kvSSL
      ])
    })
  )

  it.scopedLive("refuses plain HTTP on an HTTPS port and TLS on a plain one", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, tls: SERVER_TLS })
      const node = cluster.nodes[0]!
      const plainOnTls = yield* Effect.either(get("http", node.mgmtSSL!, "/pools"))
      // Node's HTTPS server drops a connection that does not start a TLS handshake.
      expect(plainOnTls._tag).toBe("Left")
      const tlsOnPlain = yield* Effect.flip(get("https", node.mgmt, "/pools"))
      expect(tlsOnPlain.message).toMatch(/wrong version number|ECONNRESET|socket hang up|packet length/i)
    })
  )

  it.scoped("fails with EmbeddedClusterError for a key and certificate that are not PEM", () =>
    Effect.gen(function* () {
      const error = yield* failure(
        EmbeddedCluster.make({ tls: { key: "not a key", cert: SERVER_TLS.cert }, tcp: true })
      )
      expect(error._tag).toBe("EmbeddedClusterError")
      expect(error.message).toContain("tls: the key and certificate cannot be used")
    })
  )

  it.scoped("on the simulated network: the TLS ports are secure listeners for couchbases:// clients", () =>
    Effect.gen(function* () {
      const network = yield* makeNetwork({ seed: 7 })
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1, tcp: false, network, tls: SERVER_TLS })
      const iops = Simulated.make(network)
      const cb = yield* makeClient({
        connectionString: cluster.secureConnectionString!,
        username: cluster.username,
        password: cluster.password
      }).pipe(Effect.provideService(Iops, iops))
      const stored = yield* cb.upsert("sim-tls", { ok: true })
      expect((yield* cb.get("sim-tls")).cas).toBe(stored.cas)
      for (const node of cluster.nodes) {
        expect(node.connections.tls).toBeGreaterThanOrEqual(1)
        expect(node.connections.total).toBe(node.connections.tls)
        expect(node.saslAuthentications).toEqual({ PLAIN: node.connections.tls })
      }
      // A plain client is refused on a secure port, as a real TLS port would do.
      const refused = yield* failure(
        makeClient({
          connectionString: `couchbase://127.0.0.1:${cluster.nodes[0]!.kvSSL}`,
          username: cluster.username,
          password: cluster.password
        }).pipe(Effect.provideService(Iops, iops))
      )
      expect(refused._tag).toBe("ConnectError")
      expect(refused.message).toContain(`127.0.0.1:${cluster.nodes[0]!.kvSSL}`)
    })
  )
  it.scopedLive(
    "the official SDK connects over couchbases:// trusting the CA file, and authenticates with PLAIN",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1, tls: SERVER_TLS })
        const sdk = yield* Effect.acquireRelease(
          Effect.promise(() =>
            couchbase.connect(cluster.secureConnectionString!, {
              username: cluster.username,
              password: "password",
              security: { trustStorePath: CA_PATH },
              timeouts: { kvTimeout: 10_000, connectTimeout: 20_000, bootstrapTimeout: 20_000 }
            })
          ),
          (sdk) => Effect.promise(() => sdk.close())
        )
        const collection = sdk.bucket("default").defaultCollection()
        const stored = yield* Effect.promise(() => collection.upsert("sdk::tls", { over: "tls" }))
        const read = yield* Effect.promise(() => collection.get("sdk::tls"))
        expect(read.content).toEqual({ over: "tls" })
        expect(read.cas.toString()).toBe(stored.cas.toString())
        expect(JSON.parse(cluster.bucket("default")!.getDocument("sdk::tls")!.value.toString())).toEqual({
          over: "tls"
        })
        // The SDK's KV connections are all on the TLS ports, one per node at least. It
        // opens those to nodes it has not used yet in the background: a KV ping makes it
        // finish (the diagnostics raced them and once saw one node only).
        yield* Effect.promise(() => sdk.bucket("default").ping({ serviceTypes: [couchbase.ServiceType.KeyValue] }))
        const report = yield* Effect.promise(() => sdk.diagnostics())
        const remotes = (report.toJSON().services.kv ?? []).map((e) =>
          Number(e.remote.slice(e.remote.lastIndexOf(":") + 1))
        )
        expect(new Set(remotes)).toEqual(new Set(cluster.nodes.map((n) => n.kvSSL)))
        for (const node of cluster.nodes) {
          expect(node.connections.tls).toBeGreaterThanOrEqual(1)
          expect(node.connections.total).toBe(node.connections.tls)
          expect(node.saslAuthentications).toEqual({ PLAIN: node.connections.tls })
        }
      }),
    60_000
  )
})
