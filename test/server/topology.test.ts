/**
 * Topology and run-state control (failover, remove/add + rebalance, stop, hang,
 * restart), clustermap notifications, the management REST API with its streaming
 * config, the capi port's hook, option validation and preloading.
 */
import * as http from "node:http"
import * as net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Redacted, TestClock } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { makeNetwork } from "../../src/Iops/Simulated.js"
import { vbucketOf } from "../../src/internal/hashing/vbucket.js"
import { HelloFeature, Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { type RawClient, rawClient, sessionClient, setExtras } from "./support/rawClient.js"

const vb = (key: string) => vbucketOf(key, 1024)
const call = (client: RawClient, init: Parameters<RawClient["request"]>[0]) =>
  Effect.promise(() => client.request(init))
const set = (client: RawClient, key: string, value: string) =>
  call(client, {
    opcode: Opcode.Set,
    key: Buffer.from(key),
    vbucket: vb(key),
    value: Buffer.from(value),
    extras: setExtras(0, 0)
  })
const get = (client: RawClient, key: string) =>
  call(client, { opcode: Opcode.Get, key: Buffer.from(key), vbucket: vb(key) })

interface TerseConfig {
  readonly rev: number
  readonly nodesExt: ReadonlyArray<{ readonly services: { readonly kv: number }; readonly thisNode?: boolean }>
  readonly vBucketServerMap: { readonly vBucketMap: ReadonlyArray<ReadonlyArray<number>> }
}

/** A client per node, routing each key to its master by the map a node last returned. */
const router = (server: EmbeddedCluster.EmbeddedCluster.Service) =>
  Effect.gen(function* () {
    const clients = new Map<number, RawClient>()
    const clientFor = (port: number) =>
      Effect.gen(function* () {
        let c = clients.get(port)
        if (c === undefined) {
          c = yield* sessionClient(port)
          clients.set(port, c)
        }
        return c
      })
    const config = (port: number) =>
      Effect.flatMap(clientFor(port), (c) => call(c, { opcode: Opcode.GetClusterConfig })).pipe(
        Effect.map((f) => JSON.parse(f.value.toString()) as TerseConfig)
      )
    const masterPort = (cfg: TerseConfig, key: string) =>
      cfg.nodesExt[cfg.vBucketServerMap.vBucketMap[vb(key)]![0]!]!.services.kv
    return {
      clientFor,
      config,
      /** The value of `key` read from its current master. */
      read: (key: string) =>
        Effect.gen(function* () {
          const cfg = yield* config(server.nodes.find((n) => n.membership === "active")!.kv)
          const frame = yield* get(yield* clientFor(masterPort(cfg, key)), key)
          return frame.status === Status.Success ? frame.value.toString() : `status ${frame.status}`
        }),
      write: (key: string, value: string) =>
        Effect.gen(function* () {
          const cfg = yield* config(server.nodes.find((n) => n.membership === "active")!.kv)
          return (yield* set(yield* clientFor(masterPort(cfg, key)), key, value)).status
        })
    }
  })

const keys = Array.from({ length: 60 }, (_, i) => `topo-${i}`)

describe("topology control", () => {
  it.scoped("failover promotes replicas: data survives, the failed node answers NOT_MY_VBUCKET with the new map", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
      const r = yield* router(server)
      for (const key of keys) expect(yield* r.write(key, `v-${key}`)).toBe(Status.Success)
      const onNode1 = keys.find((key) => vb(key) % 3 === 1)!
      const failed = yield* sessionClient(server.nodes[1]!.kv)
      yield* server.control.failover(1)
      expect(server.nodes.map((n) => n.membership)).toEqual(["active", "failed", "active"])
      const refused = yield* get(failed, onNode1)
      expect(refused.status).toBe(Status.NotMyVbucket)
      const map = JSON.parse(refused.value.toString()) as TerseConfig
      expect(map.rev).toBe(2)
      expect(map.nodesExt.map((n) => n.services.kv)).toEqual([server.nodes[0]!.kv, server.nodes[2]!.kv])
      expect(map.nodesExt.some((n) => n.thisNode)).toBe(false)
      for (const key of keys) expect(yield* r.read(key)).toBe(`v-${key}`)
      // With one copy lost, the promoted vBuckets have no replica until a rebalance.
      const chain = map.vBucketServerMap.vBucketMap[vb(onNode1)]!
      expect(chain[1]).toBe(-1)
      expect(Either.isLeft(yield* Effect.either(server.control.failover(1)))).toBe(true)
      yield* server.control.failover(0)
      const last = yield* Effect.either(server.control.failover(2))
      expect(Either.isLeft(last) && last.left.message).toContain("last node")
    })
  )

  it.scoped("remove and add nodes with rebalance: vBuckets move with their data and the revision grows", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
      const r = yield* router(server)
      for (const key of keys) yield* r.write(key, `v-${key}`)
      yield* server.control.removeNode(2)
      expect(server.revision()).toBe(1)
      yield* server.control.rebalance()
      expect(server.revision()).toBe(2)
      expect(server.nodes[2]!.membership).toBe("removed")
      const two = yield* r.config(server.nodes[0]!.kv)
      expect(two.nodesExt.length).toBe(2)
      expect(new Set(two.vBucketServerMap.vBucketMap.flat())).toEqual(new Set([0, 1]))
      for (const key of keys) expect(yield* r.read(key)).toBe(`v-${key}`)

      const added = yield* server.control.addNode()
      expect(added.membership).toBe("pending")
      expect((yield* r.config(server.nodes[0]!.kv)).nodesExt.length).toBe(2)
      yield* server.control.rebalance()
      const three = yield* r.config(added.kv)
      expect(three.rev).toBe(3)
      expect(three.nodesExt.map((n) => n.services.kv)).toEqual([server.nodes[0]!.kv, server.nodes[1]!.kv, added.kv])
      expect(three.nodesExt[2]!.thisNode).toBe(true)
      const masters = three.vBucketServerMap.vBucketMap.map((chain) => chain[0])
      expect(masters.filter((m) => m === 2).length).toBeGreaterThan(300)
      for (const key of keys) expect(yield* r.read(key)).toBe(`v-${key}`)
      // The new node really holds the data of the vBuckets it masters, replicated.
      const movedKey = keys.find((key) => masters[vb(key)] === 2)!
      const info = yield* server.control.keyInfo(movedKey)
      expect(info.map((c) => [c.node, c.role, c.exists])).toEqual([
        [added.index, "master", true],
        [three.vBucketServerMap.vBucketMap[vb(movedKey)]![1] === 0 ? 0 : 1, "replica", true]
      ])
      const removedAgain = yield* Effect.either(server.control.removeNode(2))
      expect(Either.isLeft(removedAgain)).toBe(true)
    })
  )

  it.scoped("a rebalance in steps: each batch of vBuckets is a map revision, and the data stays readable", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const r = yield* router(server)
      for (const key of keys) yield* r.write(key, `v-${key}`)
      const added = yield* server.control.addNode()
      const rebalance = yield* Effect.fork(server.control.rebalance({ steps: 4, interval: "1 second" }))
      yield* TestClock.adjust(0)
      const onNewNode: Array<number> = []
      for (let step = 0; step < 3; step++) {
        // Revision 2 put the new node in the map; each batch after that is one more.
        expect(server.revision()).toBe(3 + step)
        const config = yield* r.config(server.nodes[0]!.kv)
        expect(config.rev).toBe(3 + step)
        expect(config.nodesExt.map((n) => n.services.kv)).toContain(added.kv)
        onNewNode.push(config.vBucketServerMap.vBucketMap.filter((chain) => chain[0] === added.index).length)
        for (const key of keys) expect(yield* r.read(key)).toBe(`v-${key}`)
        const pool = yield* fetchJson(
          `http://127.0.0.1:${server.nodes[0]!.mgmt}/pools/default`,
          "Administrator:password"
        )
        expect(pool.body.rebalanceStatus).toBe("running")
        yield* TestClock.adjust("1 second")
      }
      yield* Fiber.join(rebalance)
      expect(server.revision()).toBe(6)
      const final = yield* r.config(server.nodes[0]!.kv)
      onNewNode.push(final.vBucketServerMap.vBucketMap.filter((chain) => chain[0] === added.index).length)
      // The new node's share grows batch by batch to about a third of 1024.
      for (let i = 1; i < onNewNode.length; i++) expect(onNewNode[i]!).toBeGreaterThan(onNewNode[i - 1]!)
      expect(onNewNode[3]).toBeGreaterThan(300)
      for (const key of keys) expect(yield* r.read(key)).toBe(`v-${key}`)
      const done = yield* fetchJson(`http://127.0.0.1:${server.nodes[0]!.mgmt}/pools/default`, "Administrator:password")
      expect(done.body.rebalanceStatus).toBe("none")
    })
  )

  it.scoped("clients that asked for clustermap notifications get the new map pushed", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const subscribed = yield* sessionClient(server.nodes[0]!.kv, {
        features: [HelloFeature.Json, HelloFeature.Duplex, HelloFeature.ClustermapChangeNotification]
      })
      const plain = yield* sessionClient(server.nodes[0]!.kv)
      yield* server.control.failover(1)
      // A round trip after the failover: the notification was written before its answer.
      yield* call(subscribed, { opcode: Opcode.Noop })
      yield* call(plain, { opcode: Opcode.Noop })
      expect(subscribed.pushed.length).toBe(1)
      const push = subscribed.pushed[0]!
      expect([push.magic, push.opcode, push.key.toString()]).toEqual([Magic.ServerRequest, 0x01, "default"])
      expect([push.extras.readBigInt64BE(0), push.extras.readBigInt64BE(8)]).toEqual([1n, 2n])
      expect((JSON.parse(push.value.toString()) as TerseConfig).nodesExt.length).toBe(1)
      expect(plain.pushed.length).toBe(0)
    })
  )
})

const connectRefused = (port: number) =>
  Effect.async<string>((resume) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("connected"))
    })
    socket.once("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? "error")))
  })

describe("run-state control", () => {
  it.scoped("stop closes the node's ports and connections; restart brings it back on the same ports", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 1 })
      const c = yield* sessionClient(server.nodes[0]!.kv)
      yield* set(c, "survivor", "kept")
      const ports = { ...server.nodes[0]! }
      yield* server.control.stop(0)
      yield* Effect.promise(() => c.closed)
      expect(server.nodes[0]!.state).toBe("stopped")
      expect(yield* connectRefused(ports.kv)).toBe("ECONNREFUSED")
      expect(yield* connectRefused(ports.mgmt)).toBe("ECONNREFUSED")
      yield* server.control.restart(0)
      expect(server.nodes[0]).toMatchObject({ kv: ports.kv, capi: ports.capi, mgmt: ports.mgmt, state: "running" })
      const again = yield* sessionClient(ports.kv)
      expect((yield* get(again, "survivor")).value.toString()).toBe("kept")
    })
  )

  it.scoped("a hung node accepts requests and never answers, until it is restarted", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 1 })
      const before = yield* sessionClient(server.nodes[0]!.kv)
      yield* server.control.hang(0)
      expect(server.nodes[0]!.state).toBe("hung")
      const pending = before.send({ opcode: Opcode.Noop })
      const after = yield* rawClient(server.nodes[0]!.kv)
      after.send({ opcode: Opcode.Noop })
      const httpStatus = Effect.promise(
        () =>
          new Promise<string>((resolve) => {
            http
              .get(`http://127.0.0.1:${server.nodes[0]!.mgmt}/pools`, (res) => resolve(`status ${res.statusCode}`))
              .once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"))
          })
      )
      const httpFiber = yield* Effect.fork(httpStatus)
      // Restarting drops the hung connections: they end without a single response.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      yield* server.control.restart(0)
      yield* Effect.promise(() => Promise.all([before.closed, after.closed]))
      expect([before.received.filter((f) => f.opaque === pending).length, after.received.length]).toEqual([0, 0])
      expect(yield* httpFiber.await.pipe(Effect.flatten)).toBe("ECONNRESET")
      const fresh = yield* sessionClient(server.nodes[0]!.kv)
      expect((yield* call(fresh, { opcode: Opcode.Noop })).status).toBe(Status.Success)
    })
  )

  it.scoped("control commands name unknown nodes and buckets clearly", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({
        nodes: 1,
        buckets: [{ name: "default" }, { name: "m", type: "memcached" }]
      })
      const unknown = yield* Effect.flip(server.control.stop(7))
      expect(unknown).toBeInstanceOf(EmbeddedCluster.ClusterControlError)
      expect(unknown.message).toContain("no node 7")
      expect((yield* Effect.flip(server.control.persist("k", { bucket: "m" }))).message).toContain("memcached")
      expect((yield* Effect.flip(server.control.purge("k", { bucket: "nope" }))).message).toContain("no bucket")
    })
  )
})

const fetchJson = (url: string, auth?: string) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      headers: auth === undefined ? {} : { authorization: `Basic ${Buffer.from(auth).toString("base64")}` }
    })
    const text = await response.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: response.status, body: body as any }
  })

/** Reads the streaming config endpoint, collecting configs as they arrive. */
const streamConfigs = (url: string, auth: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly configs: Array<TerseConfig>; readonly request: http.ClientRequest }>((resume) => {
      const configs: Array<TerseConfig> = []
      let buffer = ""
      const request = http.get(
        url,
        { headers: { authorization: `Basic ${Buffer.from(auth).toString("base64")}` } },
        (res) => {
          res.setEncoding("utf8")
          res.on("data", (chunk: string) => {
            buffer += chunk
            let at: number
            while ((at = buffer.indexOf("\n\n\n\n")) >= 0) {
              configs.push(JSON.parse(buffer.slice(0, at)) as TerseConfig)
              buffer = buffer.slice(at + 4)
            }
            if (configs.length === 1) resume(Effect.succeed({ configs, request }))
          })
        }
      )
      request.on("error", () => {})
    }),
    ({ request }) => Effect.sync(() => request.destroy())
  )

describe("management REST API", () => {
  it.scoped("serves /pools, the nodes, the bucket configs and a streamed config per topology change", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({
        nodes: 2,
        buckets: [{ name: "default" }, { name: "private", users: [{ username: "alice", password: "wonderland" }] }]
      })
      const base = `http://127.0.0.1:${server.nodes[1]!.mgmt}`
      const admin = "Administrator:password"
      const pools = yield* fetchJson(`${base}/pools`)
      expect(pools.status).toBe(200)
      expect(pools.body.implementationVersion).toBe(EmbeddedCluster.SERVER_VERSION)
      expect(pools.body.pools[0].name).toBe("default")
      expect((yield* fetchJson(`${base}/pools/default`)).status).toBe(401)
      expect((yield* fetchJson(`${base}/pools/default`, "Administrator:wrong")).status).toBe(401)
      const pool = yield* fetchJson(`${base}/pools/default`, admin)
      expect(pool.body.nodes.map((n: any) => [n.hostname, n.ports.direct, n.clusterMembership, n.thisNode])).toEqual([
        [`127.0.0.1:${server.nodes[0]!.mgmt}`, server.nodes[0]!.kv, "active", undefined],
        [`127.0.0.1:${server.nodes[1]!.mgmt}`, server.nodes[1]!.kv, "active", true]
      ])
      const verbose = yield* fetchJson(`${base}/pools/default/buckets/default`, admin)
      expect([verbose.body.name, verbose.body.bucketType, verbose.body.replicaNumber]).toEqual([
        "default",
        "membase",
        1
      ])
      expect(verbose.body.vBucketServerMap.vBucketMap.length).toBe(1024)
      const terse = yield* fetchJson(`${base}/pools/default/b/default`, admin)
      expect(terse.body.nodesExt[1].thisNode).toBe(true)
      expect(terse.body.nodesExt[0].services).toEqual({
        kv: server.nodes[0]!.kv,
        capi: server.nodes[0]!.capi,
        mgmt: server.nodes[0]!.mgmt
      })
      const services = yield* fetchJson(`${base}/pools/default/nodeServices`, admin)
      expect(services.body.nodesExt.length).toBe(2)
      expect((yield* fetchJson(`${base}/pools/default/buckets/nope`, admin)).status).toBe(404)
      // A bucket user sees only its bucket.
      const alice = "alice:wonderland"
      const list = yield* fetchJson(`${base}/pools/default/buckets`, alice)
      expect(list.body.map((b: any) => b.name)).toEqual(["private"])
      expect((yield* fetchJson(`${base}/pools/default/b/default`, alice)).status).toBe(401)
      expect((yield* fetchJson(`${base}/pools/default/b/private`, alice)).status).toBe(200)

      const stream = yield* streamConfigs(`${base}/pools/default/bs/default`, admin)
      expect(stream.configs[0]!.rev).toBe(1)
      yield* server.control.failover(0)
      yield* Effect.promise(async () => {
        while (stream.configs.length < 2) await new Promise((resolve) => setImmediate(resolve))
      })
      expect(stream.configs[1]!.rev).toBe(2)
      expect(stream.configs[1]!.nodesExt.map((n) => n.services.kv)).toEqual([server.nodes[1]!.kv])
    })
  )
})

describe("capi port", () => {
  it.scoped("answers 404 until a view handler is registered, then hands it authenticated requests", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({ nodes: 2 })
      yield* server.bucket("default")!.load([
        { id: "doc-1", value: { type: "beer", n: 1 } },
        { id: "doc-2", value: Buffer.from("raw bytes") }
      ])
      const base = `http://127.0.0.1:${server.nodes[0]!.capi}`
      const admin = "Administrator:password"
      const missing = yield* fetchJson(`${base}/default/_design/d/_view/v`, admin)
      expect(missing).toEqual({ status: 404, body: { error: "not_found", reason: "missing" } })
      expect((yield* fetchJson(`${base}/default/_design/d/_view/v`)).status).toBe(401)
      server.setViewHandler((req, res, bucketName, bucket, context) => {
        const all = [...bucket.documents()].map((d) => d.id).sort()
        const local = [...context.localDocuments!()].map((d) => d.id)
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify({ url: req.url, bucketName, all, localCount: local.length }))
      })
      const answered = yield* fetchJson(`${base}/default%2Babc/_design/d/_view/v?limit=1`, admin)
      expect(answered.status).toBe(200)
      expect(answered.body).toMatchObject({ url: "/default%2Babc/_design/d/_view/v?limit=1", bucketName: "default" })
      expect(answered.body.all).toEqual(["doc-1", "doc-2"])
      const expectedLocal = ["doc-1", "doc-2"].filter((id) => vb(id) % 2 === 0).length
      expect(answered.body.localCount).toBe(expectedLocal)
      expect((yield* fetchJson(`${base}/nope/_design/d`, admin)).status).toBe(404)
      // Without credentials an existing and a missing bucket answer alike.
      const existing = yield* fetchJson(`${base}/default/_design/d/_view/v`)
      const absent = yield* fetchJson(`${base}/nope/_design/d/_view/v`)
      expect(existing.status).toBe(401)
      expect(absent).toEqual(existing)
    })
  )
})

describe("binding beyond loopback", () => {
  it.scoped("needs a password of one's own (or an explicit allowDefaultCredentials)", () =>
    Effect.gen(function* () {
      for (const host of ["0.0.0.0", "::", "192.0.2.10", "db.example.com"]) {
        const error = yield* Effect.flip(EmbeddedCluster.make({ host }))
        expect(error.message).toContain("test server")
        expect(error.message).toContain(host)
      }
      // Loopback needs nothing; another address works once the password is chosen. (On
      // the simulated network: tests listen on 127.0.0.1 only.)
      const network = yield* makeNetwork({ seed: 5 })
      for (const host of ["127.0.0.1", "localhost", "127.0.0.2", "[::1]"]) {
        const server = yield* EmbeddedCluster.make({ host, nodes: 1, tcp: false, network })
        expect(server.nodes[0]!.host).toBe(host)
      }
      const chosen = yield* EmbeddedCluster.make({
        host: "192.0.2.10",
        password: Redacted.make("a-long-secret"),
        tcp: false,
        network
      })
      expect(chosen.connectionString).toContain("192.0.2.10")
      const allowed = yield* EmbeddedCluster.make({
        host: "192.0.2.11",
        allowDefaultCredentials: true,
        tcp: false,
        network
      })
      expect(allowed.connectionString).toContain("192.0.2.11")
    })
  )
})

describe("options and preloading", () => {
  it.scoped("invalid options fail with EmbeddedClusterError", () =>
    Effect.gen(function* () {
      const attempts: ReadonlyArray<EmbeddedCluster.Options> = [
        { nodes: 0 },
        { replicas: 4 },
        { vBuckets: 0 },
        { buckets: [] },
        { buckets: [{ name: "a" }, { name: "a" }] },
        { buckets: [{ name: "bad name" }] },
        { tcp: false }
      ]
      for (const options of attempts) {
        const error = yield* Effect.flip(EmbeddedCluster.make(options))
        expect(error).toBeInstanceOf(EmbeddedCluster.EmbeddedClusterError)
      }
      const taken = yield* EmbeddedCluster.make({ nodes: 1 })
      const clash = yield* Effect.flip(EmbeddedCluster.make({ ports: [{ kv: taken.nodes[0]!.kv }] }))
      expect(clash.message).toContain("could not listen")
      // Ports Node's listen() would throw on are typed failures too, not defects.
      const ports = yield* Effect.forEach([{ kv: 70000 }, { capi: -1 }, { mgmt: 1.5 }], (spec) =>
        Effect.flip(EmbeddedCluster.make({ ports: [spec] })).pipe(Effect.map((e) => [e._tag, e.message]))
      )
      expect(ports).toEqual([
        [
          "EmbeddedClusterError",
          "node 0: the kv port must be an integer from 0 to 65535 (0 = any free port), got 70000"
        ],
        [
          "EmbeddedClusterError",
          "node 0: the capi port must be an integer from 0 to 65535 (0 = any free port), got -1"
        ],
        [
          "EmbeddedClusterError",
          "node 0: the mgmt port must be an integer from 0 to 65535 (0 = any free port), got 1.5"
        ]
      ])
      const added = yield* Effect.flip(taken.control.addNode({ kv: 65536 }))
      expect(added.message).toBe(
        "the new node: the kv port must be an integer from 0 to 65535 (0 = any free port), got 65536"
      )
    })
  )

  it.scoped("load writes through the store path: JSON flags, replicas, documents() and getDocument()", () =>
    Effect.gen(function* () {
      const server = yield* EmbeddedCluster.make({
        nodes: 2,
        replicas: 1,
        buckets: [{ name: "default" }, { name: "cache", type: "memcached" }]
      })
      const bucket = server.bucket("default")!
      const count = yield* bucket.load([
        { id: "obj", value: { hello: "world" } },
        { id: "bytes", value: Buffer.from([1, 2, 3]), flags: 0x03000002 },
        { id: "jsonBytes", value: Buffer.from('{"x":1}') }
      ])
      expect(count).toBe(3)
      const obj = bucket.getDocument("obj")!
      expect([obj.value.toString(), obj.flags, obj.datatype, obj.revSeqno]).toEqual([
        '{"hello":"world"}',
        0x02000000,
        1,
        1
      ])
      expect([bucket.getDocument("bytes")!.flags, bucket.getDocument("bytes")!.datatype]).toEqual([0x03000002, 0])
      expect(bucket.getDocument("jsonBytes")!.flags).toBe(0x02000000)
      expect([...bucket.documents()].map((d) => d.id).sort()).toEqual(["bytes", "jsonBytes", "obj"])
      const info = yield* server.control.keyInfo("obj")
      expect(info.every((copy) => copy.exists && copy.cas === obj.cas)).toBe(true)
      const replica = yield* sessionClient(server.nodes[(vb("obj") + 1) % 2]!.kv)
      const read = yield* call(replica, { opcode: Opcode.GetReplica, key: Buffer.from("obj"), vbucket: vb("obj") })
      expect(read.value.toString()).toBe('{"hello":"world"}')
      // A memcached bucket's documents land on the node ketama picks, like a client would.
      yield* server.bucket("cache")!.load([{ id: "m1", value: "one" }])
      const hits = yield* Effect.forEach(server.nodes, (node) =>
        Effect.flatMap(rawClient(node.bucketPorts.cache!), (c) =>
          call(c, { opcode: Opcode.Get, key: Buffer.from("m1") })
        )
      )
      expect(hits.map((f) => f.status).sort()).toEqual([Status.Success, Status.KeyNotFound])
    })
  )
})
