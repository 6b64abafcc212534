/**
 * The client against the embedded cluster over real TCP (the Node Iops): bootstrap,
 * the data operations, locks, replicas, durability, stats, and a rebalance that the
 * client follows through NOT_MY_VBUCKET. Also how bootstrap fails: wrong password,
 * unknown bucket, nothing listening, a host that never answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Redacted, Scope, Tracer } from "effect"
import type { Connection } from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import type { NotFoundError } from "../../src/Errors.js"
import { listen } from "../../src/Iops/Node.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import type { Options } from "../../src/internal/connection/options.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { FMT_BYTES, FMT_UTF8 } from "../../src/Transcoder.js"

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${String(exit.value)}`)
    if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string; readonly key?: string }
  })

const nodeIops = Effect.provideService(Iops, makeNodeIops())

const connect = (cluster: EmbeddedCluster.EmbeddedCluster.Service, options: Options = {}) =>
  makeClient({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password,
    ...options
  }).pipe(nodeIops)

describe("client against the embedded cluster (Node Iops)", () => {
  it.scopedLive("spans carry the database attributes: system, bucket, operation", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, replicas: 0 })
      const cb: Connection.Service = yield* connect(cluster)
      const native = yield* Effect.tracer
      const recorded: Array<readonly [string, Map<string, unknown>, string | undefined]> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          const attributes = new Map<string, unknown>()
          const set = span.attribute.bind(span)
          span.attribute = (key, value) => {
            attributes.set(key, value)
            set(key, value)
          }
          const parent = Option.getOrUndefined(args[1])
          recorded.push([args[0], attributes, parent?._tag === "Span" ? parent.name : undefined])
          return span
        },
        context: native.context
      })
      yield* Effect.withTracer(Effect.withSpan(cb.get("untraced-missing", { quiet: true }), "caller"), recording)
      // The operation's span is a child of the caller's.
      expect(recorded.map(([name, , parent]) => [name, parent])).toEqual([
        ["caller", undefined],
        ["couchbase.get", "caller"]
      ])
      recorded.splice(0, 1)
      expect(Object.fromEntries(recorded[0]![1])).toEqual({
        "db.system": "couchbase",
        "db.name": "default",
        "db.namespace": "default",
        "db.operation": "get",
        "db.operation.name": "get",
        // The node the request went to.
        "server.address": "127.0.0.1",
        "server.port": cluster.nodes[0]!.kv
      })
    })
  )

  it.scopedLive("bootstraps, stores, reads, and detects CAS conflicts", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
      const cb: Connection.Service = yield* connect(cluster)

      const first = yield* cb.upsert("user::1", { name: "Grace", langs: ["COBOL"] })
      expect(first.success).toBe(true)
      const read = yield* cb.get("user::1")
      expect(read.value).toEqual({ name: "Grace", langs: ["COBOL"] })
      expect(read.cas).toBe(first.cas)
      // The server stored exactly that document.
      expect(JSON.parse(cluster.bucket("default")!.getDocument("user::1")!.value.toString())).toEqual({
        name: "Grace",
        langs: ["COBOL"]
      })

      const second = yield* cb.replace("user::1", { name: "Grace Hopper" }, { cas: first.cas })
      const conflict = yield* failure(cb.upsert("user::1", { name: "stale" }, { cas: first.cas }))
      expect(conflict._tag).toBe("KeyExistsError")
      expect(conflict.key).toBe("user::1")
      expect((yield* cb.get("user::1")).cas).toBe(second.cas)
      expect((yield* failure(cb.insert("user::1", 0)))._tag).toBe("KeyExistsError")
      expect((yield* failure(cb.replace("nobody", 0)))._tag).toBe("NotFoundError")

      // A spread of keys lands on every node (the client routes by the vBucket map).
      const values: Record<string, number> = {}
      for (let i = 0; i < 300; i++) values[`k${i}`] = i
      expect((yield* cb.upsertMulti(values)).allOk).toBe(true)
      const back = yield* cb.getMulti(Object.keys(values))
      for (let i = 0; i < 300; i++) expect(back.get(`k${i}`)!.value).toBe(i)
      // A multi-key Effect is a description: run again, it reads again, in full (each
      // run prepares its own operations and drops them when done).
      const readAll = cb.getMulti(Object.keys(values))
      const writeAll = cb.upsertMulti(Object.fromEntries(Object.keys(values).map((k) => [k, -1])))
      expect([...(yield* readAll).values()].map((r) => r.value)).toEqual(Object.values(values))
      expect((yield* writeAll).size).toBe(300)
      expect((yield* cb.replace("k7", 7)).success).toBe(true)
      const again = yield* readAll
      expect(again.size).toBe(300)
      expect(again.get("k7")!.value).toBe(7)
      expect(again.get("k8")!.value).toBe(-1)
      expect((yield* writeAll).allOk).toBe(true)
      expect((yield* cb.get("k7")).value).toBe(-1)
      const stats = yield* cb.stats()
      const items = stats["curr_items"]!
      expect(Object.keys(items).sort()).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.kv}`).sort())
      for (const count of Object.values(items)) expect(count).toBeGreaterThan(50)

      // Python (stats_t.test_named_stats): stats("memory") answers per node, and an
      // unknown group is a NotFoundError naming it.
      const memory = yield* cb.stats("memory")
      const used = memory["mem_used"]!
      expect(Object.keys(used).sort()).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.kv}`).sort())
      for (const [node, bytes] of Object.entries(used)) {
        expect(bytes).toBeGreaterThan(0)
        expect(memory["ep_kv_size"]![node]).toBe(bytes)
      }
      const unknown = yield* Effect.flip(cb.stats("no-such-group"))
      expect(unknown._tag).toBe("NotFoundError")
      expect(unknown.message).toContain('the server has no stats group "no-such-group"')
      expect((unknown as NotFoundError).key).toBe("no-such-group")
    })
  )

  it.scopedLive(
    "an oversized value fails alone, before the wire or with the server's E2BIG, and the gets around it succeed",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 1, replicas: 0 })
        const strict: Connection.Service = yield* connect(cluster)
        // This one sends the value, so the server must answer it without dropping the connection.
        const loose: Connection.Service = yield* connect(cluster, { maxValueSize: 64 * 1024 * 1024 })
        const keys = Array.from({ length: 100 }, (_, i) => `small-${i}`)
        yield* Effect.forEach(keys, (k, i) => strict.upsert(k, i), { discard: true })
        const big = Buffer.alloc(21 * 1024 * 1024, 0x61)
        const connections = (cb: Connection.Service) =>
          Effect.map(cb.stats(), (s) => Number(Object.values(s["total_connections"]!)[0]))
        const before = yield* connections(loose)
        for (const [cb, says] of [
          [strict, "it was not sent"],
          [loose, "larger than the server's item size limit"]
        ] as const) {
          const [refused, values] = yield* Effect.all(
            [
              Effect.flip(cb.upsert("big", big, { format: FMT_BYTES })),
              Effect.forEach(keys, (k) => Effect.map(cb.get(k), (r) => r.value), { concurrency: "unbounded" })
            ],
            { concurrency: "unbounded" }
          )
          expect(refused._tag).toBe("TooBigError")
          expect(refused.key).toBe("big")
          expect(refused.message).toContain(says)
          expect(values).toEqual(keys.map((_, i) => i))
        }
        // The node answered E2BIG and kept the connection: nobody reconnected.
        expect(yield* connections(loose)).toBe(before)
        expect((yield* failure(loose.get("big")))._tag).toBe("NotFoundError")
        // The limit applies to appends and to every value of a multi store too.
        expect((yield* failure(strict.append("small-1", big.toString("latin1"))))._tag).toBe("TooBigError")
        const multi = yield* failure(strict.upsertMulti({ a: Buffer.from("1"), big }, { format: FMT_BYTES }))
        expect(multi._tag).toBe("TooBigError")
        expect(multi.key).toBe("big")
      })
  )

  it.scopedLive("counters, locks and unlock", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const cb: Connection.Service = yield* connect(cluster)

      expect((yield* failure(cb.counter("visits")))._tag).toBe("NotFoundError")
      expect((yield* cb.counter("visits", { initial: 100, delta: 7 })).value).toBe(100n)
      expect((yield* cb.counter("visits", { delta: 7 })).value).toBe(107n)
      expect((yield* cb.counter("visits", { delta: -1000 })).value).toBe(0n)
      yield* cb.upsert("text", "hello", { format: FMT_UTF8 })
      expect((yield* failure(cb.counter("text")))._tag).toBe("DeltaBadvalError")

      yield* cb.upsert("locked", { v: 1 })
      const lock = yield* cb.lock("locked", { ttl: 10 })
      expect(lock.value).toEqual({ v: 1 })
      // Writing without the lock's CAS, and locking again, are refused at once (not retried).
      expect((yield* failure(cb.upsert("locked", { v: 2 })))._tag).toBe("KeyExistsError")
      const again = yield* failure(cb.lock("locked", { ttl: 10 }))
      expect(again._tag).toBe("TemporaryFailError")
      expect((yield* failure(cb.unlock("locked", lock.cas + 1n)))._tag).toBe("TemporaryFailError")
      yield* cb.unlock("locked", lock.cas)
      yield* cb.upsert("locked", { v: 3 })
      expect((yield* cb.get("locked")).value).toEqual({ v: 3 })
      const quietLock = yield* cb.lock("no-such-key", { ttl: 5, quiet: true })
      expect(quietLock.success).toBe(false)
    })
  )

  it.scopedLive("replica reads, observe and durability", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
      const cb: Connection.Service = yield* connect(cluster)

      const stored = yield* cb.upsert("replicated", { copy: true }, { persistTo: 2, replicateTo: 1 })
      const fromReplica = yield* cb.getReplica("replicated", { replicaIndex: 0 })
      expect(fromReplica.value).toEqual({ copy: true })
      expect((yield* cb.getReplica("replicated")).value).toEqual({ copy: true })
      expect((yield* cb.get("replicated", { replica: true })).value).toEqual({ copy: true })
      expect((yield* failure(cb.getReplica("replicated", { replicaIndex: 1 })))._tag).toBe("ArgumentError")

      // The replica has its own copy: purge it and the replica read misses.
      yield* cluster.control.purge("replicated", { onMaster: false })
      expect((yield* failure(cb.getReplica("replicated", { replicaIndex: 0 })))._tag).toBe("NotFoundError")
      expect((yield* cb.getReplica("replicated", { quiet: true })).success).toBe(false)

      const absent = yield* cb.observe("never-stored")
      expect(absent.cas).toBe(0n)
      expect(absent.value.map((i) => i.flags)).toEqual([0x80, 0x80])
      yield* cb.upsert("obs", 1)
      const info = yield* cb.observe("obs")
      expect(info.value.length).toBe(2)
      expect(info.value[0]!.fromMaster).toBe(true)
      expect(info.value[0]!.flags).toBe(0x01)
      expect(info.value[1]!.fromMaster).toBe(false)
      expect(info.cas).not.toBe(0n)
      const masterOnly = yield* cb.observe("obs", { masterOnly: true })
      expect(masterOnly.value.map((i) => i.fromMaster)).toEqual([true])
      expect(stored.cas).not.toBe(0n)

      // More durability than the bucket has is an argument error, before sending.
      expect((yield* failure(cb.upsert("x", 1, { replicateTo: 2 })))._tag).toBe("ArgumentError")

      // endure waits for persistence: not reached → TimeoutError; reached once persisted.
      yield* cb.upsert("slow-disk", 1)
      yield* cluster.control.unpersist("slow-disk")
      const timedOut = yield* failure(cb.endure("slow-disk", { persistTo: 1, replicateTo: 0, timeout: 0.1 }))
      expect(timedOut._tag).toBe("TimeoutError")
      expect(timedOut.message).toMatch(/persistTo=1/)
      const waiting = yield* Effect.fork(cb.endure("slow-disk", { persistTo: 2, replicateTo: 1, timeout: 2 }))
      yield* Effect.sleep("50 millis")
      yield* cluster.control.persist("slow-disk")
      const endured = yield* waiting.await
      expect(Exit.isSuccess(endured)).toBe(true)
    })
  )

  it.scopedLive("any-replica reads move past a replica that misses", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 2 })
      const cb: Connection.Service = yield* connect(cluster)
      yield* cb.upsert("two-copies", "v", { format: FMT_UTF8, replicateTo: 2 })
      yield* cluster.control.purge("two-copies", { onMaster: false, onReplicas: [0] })
      expect((yield* cb.getReplica("two-copies", { replicaIndex: 0, quiet: true })).success).toBe(false)
      expect((yield* cb.getReplica("two-copies", { replicaIndex: 1 })).value).toBe("v")
      // Replica 0 misses, replica 1 answers: quiet or not, the value is found.
      expect((yield* cb.getReplica("two-copies")).value).toBe("v")
      expect((yield* cb.getReplica("two-copies", { quiet: true })).value).toBe("v")
      const multi = yield* cb.getReplicaMulti(["two-copies", "nowhere"], { quiet: true })
      expect(multi.get("two-copies")!.value).toBe("v")
      expect(multi.get("nowhere")!.success).toBe(false)
    })
  )

  it.scopedLive("follows a rebalance through NOT_MY_VBUCKET without polling", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      // Polling off: only NOT_MY_VBUCKET bodies can tell the client about the new map.
      const cb: Connection.Service = yield* connect(cluster, { configPollInterval: 0 })
      const values: Record<string, string> = {}
      for (let i = 0; i < 200; i++) values[`doc-${i}`] = `value-${i}`
      yield* cb.upsertMulti(values, { format: FMT_UTF8 })
      const revision = cluster.revision()

      const added = yield* cluster.control.addNode()
      yield* cluster.control.rebalance()
      expect(cluster.revision()).toBeGreaterThan(revision)

      // Every key is still readable and writable; the moved ones were re-routed.
      const back = yield* cb.getMulti(Object.keys(values))
      for (let i = 0; i < 200; i++) expect(back.get(`doc-${i}`)!.value).toBe(`value-${i}`)
      for (let i = 0; i < 200; i++) yield* cb.upsert(`doc-${i}`, `new-${i}`, { format: FMT_UTF8 })
      // The client now knows the new node: stats reach it, and it holds data.
      const stats = yield* cb.stats()
      expect(stats["curr_items"]![`127.0.0.1:${added.kv}`]).toBeGreaterThan(0)
      expect((yield* cb.get("doc-150")).value).toBe("new-150")
    })
  )
})

describe("config polling and shutdown (Node Iops)", () => {
  it.scopedLive("the poller picks up a new cluster map without any operation failing", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1, replicas: 0 })
      const cb: Connection.Service = yield* connect(cluster, { configPollInterval: "20 millis" })
      const before = yield* cb.stats()
      expect(Object.keys(before["curr_items"]!)).toEqual([`127.0.0.1:${cluster.nodes[0]!.kv}`])
      const added = yield* cluster.control.addNode()
      yield* cluster.control.rebalance()
      // No operation ran into NOT_MY_VBUCKET: only polling can have told the client.
      let nodes: Array<string> = []
      for (let i = 0; i < 100 && nodes.length < 2; i++) {
        yield* Effect.sleep("20 millis")
        nodes = Object.keys((yield* cb.stats())["curr_items"]!)
      }
      expect(nodes.sort()).toEqual([`127.0.0.1:${cluster.nodes[0]!.kv}`, `127.0.0.1:${added.kv}`].sort())
    })
  )

  it.scopedLive("closing the scope fails operations still waiting, with a NetworkError, and returns promptly", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const scope = yield* Scope.make()
      const cb: Connection.Service = yield* connect(cluster, { operationTimeout: "30 seconds" }).pipe(
        Scope.extend(scope)
      )
      yield* cb.upsert("k", 1)
      yield* cluster.control.hang(0)
      const pending = yield* Effect.fork(cb.get("k"))
      yield* Effect.sleep("20 millis")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - started).toBeLessThan(1000)
      const exit = yield* Fiber.await(pending)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("NetworkError")
      // After shutdown, operations fail at once instead of hanging.
      const late = yield* failure(cb.get("k"))
      expect(late._tag).toBe("NetworkError")
    })
  )
})

describe("bootstrap failures name the host and the step", () => {
  it.scopedLive("wrong password: AuthError from SASL", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const error = yield* failure(connect(cluster, { password: Redacted.make("wrong") }))
      expect(error._tag).toBe("AuthError")
      expect(error.message).toContain(cluster.connectionString.slice("couchbase://".length))
      expect(error.message).toMatch(/SASL/)
      expect(error.message).not.toContain("wrong")
    })
  )

  it.scopedLive("unknown bucket: BucketNotFoundError from SELECT_BUCKET", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const error = yield* failure(connect(cluster, { bucket: "nope" }))
      expect(error._tag).toBe("BucketNotFoundError")
      expect(error.message).toMatch(/SELECT_BUCKET/)
      expect(error.message).toMatch(/"nope"/)
    })
  )

  it.scopedLive("nothing listening: ConnectError at connect, well within the bootstrap timeout", () =>
    Effect.gen(function* () {
      const port = yield* Effect.scoped(Effect.map(listen("127.0.0.1", 0, () => {}).pipe(Effect.orDie), (l) => l.port))
      const started = Date.now()
      const error = yield* failure(
        makeClient({ connectionString: `couchbase://127.0.0.1:${port}`, bootstrapTimeout: "5 seconds" }).pipe(nodeIops)
      )
      expect(Date.now() - started).toBeLessThan(5000)
      expect(error._tag).toBe("ConnectError")
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toMatch(/connect/)
    })
  )

  it.scopedLive("a host that never answers: TimeoutError at HELLO after the bootstrap timeout; next seed wins", () =>
    Effect.gen(function* () {
      const silent = yield* listen("127.0.0.1", 0, (s) => s.onData(() => {})).pipe(Effect.orDie)
      const error = yield* failure(
        makeClient({ connectionString: `couchbase://127.0.0.1:${silent.port}`, bootstrapTimeout: "300 millis" }).pipe(
          nodeIops
        )
      )
      expect(error._tag).toBe("TimeoutError")
      expect(error.message).toContain(`127.0.0.1:${silent.port}`)
      expect(error.message).toMatch(/HELLO/)

      // With a refused seed first, the next seed is used.
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const closed = yield* Effect.scoped(
        Effect.map(listen("127.0.0.1", 0, () => {}).pipe(Effect.orDie), (l) => l.port)
      )
      const cb: Connection.Service = yield* makeClient({
        connectionString: `couchbase://127.0.0.1:${closed},${cluster.connectionString.slice("couchbase://".length)}`,
        username: cluster.username,
        password: cluster.password
      }).pipe(nodeIops)
      yield* cb.upsert("k", "v", { format: FMT_UTF8 })
      expect((yield* cb.get("k")).value).toBe("v")
    })
  )
})
