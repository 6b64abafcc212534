/**
 * The embedded cluster as a test server for users of the official SDK: the calls such
 * a user's tests make, beyond plain KV (which `officialSdk.test.ts` covers). The SDK's
 * C++ core aborts the whole process on some malformed answers (a bucket setting
 * missing from `/pools/default/buckets/<b>`), so these run in a file of their own: a
 * regression fails this file, not the run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"

/** The official SDK connected to `cluster`, closed with the scope. */
const connect = (cluster: { readonly connectionString: string }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      couchbase.connect(cluster.connectionString, { username: "Administrator", password: "password" })
    ),
    (sdk) => Effect.promise(() => sdk.close())
  )

/** How a call of the SDK settles: "resolved", or the name of its error class. */
const outcome = (promise: Promise<unknown>) =>
  Effect.promise(() =>
    promise.then(
      () => "resolved",
      (error: Error) => error.constructor.name
    )
  )

describe("the official SDK against the embedded cluster", () => {
  it.live("exists: a present document, a missing one, a deleted one (its tombstone), with its CAS", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
      const stored = yield* Effect.promise(() => collection.upsert("here", { a: 1 }))
      const here = yield* Effect.promise(() => collection.exists("here"))
      expect([here.exists, here.cas?.toString()]).toEqual([true, stored.cas.toString()])
      expect((yield* Effect.promise(() => collection.exists("never"))).exists).toBe(false)
      yield* Effect.promise(() => collection.upsert("gone", "x"))
      yield* Effect.promise(() => collection.remove("gone"))
      expect((yield* Effect.promise(() => collection.exists("gone"))).exists).toBe(false)
      // What the server answered from is the tombstone: the key is still held, deleted.
      const tombstone = (yield* cluster.control.keyInfo("gone")).find((c) => c.role === "master")!
      expect(tombstone.deleted).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("flushBucket empties a bucket; getAllScopes lists the default scope and collection; /pools/nodes", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const sdk = yield* connect(cluster)
      const collection = sdk.bucket("default").defaultCollection()
      for (let i = 0; i < 20; i++) yield* Effect.promise(() => collection.upsert(`f${i}`, { i }))
      yield* Effect.promise(() => sdk.buckets().flushBucket("default"))
      const after = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 20 }, (_, i) => collection.exists(`f${i}`).then((r) => r.exists)))
      )
      expect(after.filter((e) => e)).toEqual([])
      const missing = yield* Effect.promise(() =>
        sdk
          .buckets()
          .flushBucket("nope")
          .then(
            () => "resolved",
            (error: Error) => error.constructor.name
          )
      )
      expect(missing).toBe("BucketNotFoundError")

      const scopes = yield* Effect.promise(() => sdk.bucket("default").collections().getAllScopes())
      expect(scopes.map((s) => [s.name, s.collections.map((c) => c.name)])).toEqual([["_default", ["_default"]]])

      const nodes = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${cluster.nodes[0]!.mgmt}/pools/nodes`, {
          headers: { Authorization: `Basic ${Buffer.from("Administrator:password").toString("base64")}` }
        }).then(
          (r) => r.json() as Promise<{ clusterName: string; nodes: ReadonlyArray<{ configuredHostname: string }> }>
        )
      )
      expect(nodes.clusterName).toBe("effect-couchbase")
      const anonymous = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${cluster.nodes[0]!.mgmt}/pools/default/buckets/default/controller/doFlush`, {
          method: "POST"
        }).then((r) => r.status)
      )
      expect(anonymous).toBe(401)
      expect(nodes.nodes.map((n) => n.configuredHostname).sort()).toEqual(
        cluster.nodes.map((n) => `127.0.0.1:${n.mgmt}`).sort()
      )
    }).pipe(Effect.scoped)
  )

  it.live("synchronous durability: every level met with the copies up, impossible without them; an invalid level", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
      const levels = [
        couchbase.DurabilityLevel.Majority,
        couchbase.DurabilityLevel.MajorityAndPersistOnMaster,
        couchbase.DurabilityLevel.PersistToMajority
      ]
      for (const [i, durabilityLevel] of levels.entries()) {
        const stored = yield* Effect.promise(() => collection.upsert(`d${i}`, { i }, { durabilityLevel }))
        expect(stored.cas).toBeDefined()
        // Both copies hold it when the write returns.
        const copies = yield* cluster.control.keyInfo(`d${i}`)
        expect(copies.map((c) => [c.role, c.exists])).toEqual([
          ["master", true],
          ["replica", true]
        ])
      }
      yield* Effect.promise(() => collection.remove("d0", { durabilityLevel: couchbase.DurabilityLevel.Majority }))
      expect((yield* Effect.promise(() => collection.exists("d0"))).exists).toBe(false)

      // One node with one replica configured: a majority (2 of 2) cannot be reached.
      const lonely = yield* EmbeddedCluster.make({ nodes: 1, replicas: 1 })
      const alone = (yield* connect(lonely)).bucket("default").defaultCollection()
      const started = Date.now()
      expect(yield* outcome(alone.upsert("x", 1, { durabilityLevel: couchbase.DurabilityLevel.Majority }))).toBe(
        "DurabilityImpossibleError"
      )
      expect(Date.now() - started).toBeLessThan(1000)
      expect((yield* Effect.promise(() => alone.exists("x"))).exists).toBe(false)
      // Without a requirement the same write succeeds.
      yield* Effect.promise(() => alone.upsert("x", 1))
    }).pipe(Effect.scoped)
  )

  it.live(
    "replicateTo/persistTo (OBSERVE_SEQNO): met with the copies up; beyond the copies, or a replica hung, they fail",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
        const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
        expect(yield* outcome(collection.upsert("r", 1, { durabilityReplicateTo: 1 }))).toBe("resolved")
        expect(yield* outcome(collection.upsert("p", 1, { durabilityPersistTo: 2, durabilityReplicateTo: 1 }))).toBe(
          "resolved"
        )
        expect(yield* outcome(collection.remove("p", { durabilityPersistTo: 1, durabilityReplicateTo: 1 }))).toBe(
          "resolved"
        )
        expect(yield* outcome(collection.upsert("q", 1, { durabilityPersistTo: 3 }))).toBe("DurabilityImpossibleError")

        // A key whose master is node 0, then node 1 (its replica) hangs: the write is
        // applied, its replication cannot be observed, and the SDK says so when it gives up.
        let key = ""
        for (let i = 0; key === ""; i++) {
          const copies = yield* cluster.control.keyInfo(`h${i}`)
          if (copies.find((c) => c.role === "master")?.node === 0) key = `h${i}`
        }
        yield* cluster.control.hang(1)
        const started = Date.now()
        expect(yield* outcome(collection.upsert(key, "v", { durabilityReplicateTo: 1, timeout: 1500 }))).toBe(
          "AmbiguousTimeoutError"
        )
        // (The SDK's own limit for legacy durability polling, about 5 s, applies here.)
        expect(Date.now() - started).toBeLessThan(10_000)
        const master = (yield* cluster.control.keyInfo(key)).find((c) => c.role === "master")!
        expect([master.exists, master.value?.toString()]).toEqual([true, "v"])
      }).pipe(Effect.scoped)
  )

  it.live(
    "sub-document: lookupIn with per-path errors, get({ withExpiry }) and get({ project }), the $document XATTR",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
        const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
        const { LookupInSpec: L } = couchbase
        const doc = { name: "Ada", tags: ["a", "b"], addr: { city: "London" }, n: 1 }
        const stored = yield* Effect.promise(() => collection.upsert("sd", doc, { expiry: 3600 }))
        const looked = yield* Effect.promise(() =>
          collection.lookupIn("sd", [
            L.get("$document", { xattr: true }),
            L.get("name"),
            L.exists("addr.city"),
            L.exists("addr.zip"),
            L.count("tags"),
            L.get("tags[-1]"),
            L.get("name.first"),
            L.get("")
          ])
        )
        const [vattr, ...rest] = looked.content
        const $document = vattr!.value as { CAS: string; exptime: number; value_bytes: number; deleted: boolean }
        expect(BigInt($document.CAS)).toBe(BigInt(stored.cas.toString()))
        expect([$document.value_bytes, $document.deleted]).toEqual([JSON.stringify(doc).length, false])
        expect(rest.map((r) => [r.value, r.error?.constructor.name])).toEqual([
          ["Ada", undefined],
          [true, undefined],
          [false, undefined],
          [2, undefined],
          ["b", undefined],
          [undefined, "PathMismatchError"],
          [doc, undefined]
        ])
        const withExpiry = yield* Effect.promise(() => collection.get("sd", { withExpiry: true }))
        expect(withExpiry.content).toEqual(doc)
        expect(Math.abs(withExpiry.expiryTime! - (Date.now() / 1000 + 3600))).toBeLessThan(5)
        expect($document.exptime).toBe(withExpiry.expiryTime)
        const projected = yield* Effect.promise(() => collection.get("sd", { project: ["name", "addr.city"] }))
        expect(projected.content).toEqual({ name: "Ada", addr: { city: "London" } })
        expect(yield* outcome(collection.lookupIn("sd-none", [L.get("a")]))).toBe("DocumentNotFoundError")
        yield* Effect.promise(() => collection.upsert("sd-text", "plain words"))
        const notJson = yield* Effect.promise(() => collection.lookupIn("sd-text", [L.get("a")]))
        expect(notJson.content[0]!.error?.constructor.name).toBe("DocumentNotJsonError")
      }).pipe(Effect.scoped)
  )

  it.live("sub-document: mutateIn specs, all or nothing; store semantics; XATTRs; CAS; the data structures", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
      const { LookupInSpec: L, MutateInSpec: M } = couchbase
      const before = yield* Effect.promise(() =>
        collection.upsert("m", { name: "Ada", tags: ["b"], n: 10, addr: { city: "London" }, nums: [1, 3] })
      )
      const mutated = yield* Effect.promise(() =>
        collection.mutateIn("m", [
          M.upsert("audit.by", "test", { xattr: true, createPath: true }),
          M.upsert("age", 36),
          M.insert("addr.zip", "N1"),
          M.replace("name", "Grace"),
          M.remove("addr.city"),
          M.arrayAppend("tags", "c"),
          M.arrayPrepend("tags", "a"),
          M.arrayInsert("nums[1]", 2),
          M.arrayAddUnique("tags", "d"),
          M.increment("n", 5),
          M.decrement("n", 2),
          M.upsert("deep.er.path", true, { createPath: true })
        ])
      )
      expect(mutated.content.map((r) => r.value)).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        15,
        13,
        undefined
      ])
      expect(mutated.cas.toString()).not.toBe(before.cas.toString())
      expect((yield* Effect.promise(() => collection.get("m"))).content).toEqual({
        name: "Grace",
        tags: ["a", "b", "c", "d"],
        n: 13,
        addr: { zip: "N1" },
        nums: [1, 2, 3],
        age: 36,
        deep: { er: { path: true } }
      })
      const xattr = yield* Effect.promise(() => collection.lookupIn("m", [L.get("audit", { xattr: true })]))
      expect(xattr.content[0]!.value).toEqual({ by: "test" })

      // All or nothing: the failing spec is named, and nothing before it was applied.
      const failures: ReadonlyArray<readonly [Array<couchbase.MutateInSpec>, string]> = [
        [[M.upsert("x", 1), M.insert("age", 1)], "PathExistsError"],
        [[M.upsert("x", 1), M.replace("missing", 1)], "PathNotFoundError"],
        [[M.upsert("x", 1), M.arrayAppend("addr", 1)], "PathMismatchError"],
        [[M.upsert("x", 1), M.arrayAddUnique("tags", "a")], "PathExistsError"],
        [[M.upsert("x", 1), M.upsert("a.b.c", 1)], "PathNotFoundError"],
        [[M.upsert("x", 1), M.arrayAddUnique("tags", { not: "a primitive" })], "ValueInvalidError"]
      ]
      for (const [specs, error] of failures) expect(yield* outcome(collection.mutateIn("m", specs))).toBe(error)
      expect((yield* Effect.promise(() => collection.lookupIn("m", [L.exists("x")]))).content[0]!.value).toBe(false)

      // CAS and store semantics.
      expect(yield* outcome(collection.mutateIn("m", [M.upsert("x", 1)], { cas: before.cas }))).toBe("CasMismatchError")
      expect(yield* outcome(collection.mutateIn("absent", [M.upsert("x", 1)]))).toBe("DocumentNotFoundError")
      yield* Effect.promise(() =>
        collection.mutateIn("made", [M.upsert("a.b", 1, { createPath: true })], {
          storeSemantics: couchbase.StoreSemantics.Upsert
        })
      )
      expect((yield* Effect.promise(() => collection.get("made"))).content).toEqual({ a: { b: 1 } })
      expect(
        yield* outcome(
          collection.mutateIn("made", [M.upsert("c", 1)], { storeSemantics: couchbase.StoreSemantics.Insert })
        )
      ).toBe("DocumentExistsError")

      // The SDK's data structures are built on these.
      const list = collection.list("ds-list")
      yield* Effect.promise(async () => {
        await list.push(1)
        await list.push(2)
        await list.unshift(0)
      })
      expect(yield* Effect.promise(() => list.getAll())).toEqual([0, 1, 2])
      expect(yield* Effect.promise(() => list.getAt(1))).toBe(1)
      const map = collection.map("ds-map")
      yield* Effect.promise(() => map.set("a", 1))
      expect([yield* Effect.promise(() => map.get("a")), yield* Effect.promise(() => map.size())]).toEqual([1, 1])
      const set = collection.set("ds-set")
      yield* Effect.promise(async () => {
        await set.add(1)
        await set.add(1)
        await set.add(2)
      })
      expect(yield* Effect.promise(() => set.values())).toEqual([1, 2])
      const queue = collection.queue("ds-queue")
      yield* Effect.promise(async () => {
        await queue.push("x")
        await queue.push("y")
      })
      expect([yield* Effect.promise(() => queue.pop()), yield* Effect.promise(() => queue.size())]).toEqual(["x", 1])
    }).pipe(Effect.scoped)
  )

  it.live(
    "every management and service call settles within a second: a result, or a clean error for what is not served",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
        const sdk = yield* connect(cluster)
        const bucket = sdk.bucket("default")
        const collection = bucket.defaultCollection()
        yield* Effect.promise(() => collection.upsert("walk", { a: 1 }))
        const calls: ReadonlyArray<readonly [string, () => Promise<unknown>, string]> = [
          ["query", () => sdk.query("SELECT 1"), "ServiceNotAvailableError"],
          ["analyticsQuery", () => sdk.analyticsQuery("SELECT 1"), "ServiceNotAvailableError"],
          ["searchQuery", () => sdk.searchQuery("i", couchbase.SearchQuery.match("x")), "ServiceNotAvailableError"],
          ["scope.query", () => bucket.defaultScope().query("SELECT 1"), "ServiceNotAvailableError"],
          ["queryIndexes.getAllIndexes", () => sdk.queryIndexes().getAllIndexes("default"), "ServiceNotAvailableError"],
          ["searchIndexes.getAllIndexes", () => sdk.searchIndexes().getAllIndexes(), "ServiceNotAvailableError"],
          [
            "analyticsIndexes.getAllDatasets",
            () => sdk.analyticsIndexes().getAllDatasets(),
            "ServiceNotAvailableError"
          ],
          [
            "eventingFunctions.getAllFunctions",
            () => sdk.eventingFunctions().getAllFunctions(),
            "ServiceNotAvailableError"
          ],
          ["users.getAllUsers", () => sdk.users().getAllUsers(), "InternalServerFailureError"],
          ["users.getUser", () => sdk.users().getUser("nobody"), "UserNotFoundError"],
          ["collections.createScope", () => bucket.collections().createScope("s1"), "resolved"],
          ["collections.getAllScopes", () => bucket.collections().getAllScopes(), "resolved"],
          ["collections.createCollection", () => bucket.collections().createCollection("c1", "s1"), "resolved"],
          ["named collection", () => bucket.scope("s1").collection("c1").upsert("k", 1), "resolved"],
          [
            "viewIndexes.getAllDesignDocuments",
            () => bucket.viewIndexes().getAllDesignDocuments(couchbase.DesignDocumentNamespace.Production),
            "resolved"
          ],
          ["buckets.getAllBuckets", () => sdk.buckets().getAllBuckets(), "resolved"],
          ["ping", () => sdk.ping(), "resolved"],
          ["diagnostics", () => sdk.diagnostics(), "resolved"],
          ["getAnyReplica", () => collection.getAnyReplica("walk"), "resolved"],
          ["getAllReplicas", () => collection.getAllReplicas("walk"), "resolved"],
          ["exists", () => collection.exists("walk"), "resolved"],
          ["lookupIn", () => collection.lookupIn("walk", [couchbase.LookupInSpec.get("a")]), "resolved"],
          ["binary.increment", () => collection.binary().increment("walk-n", 1, { initial: 1 }), "resolved"]
        ]
        const settled: Array<readonly [string, string]> = []
        for (const [name, call, expected] of calls) {
          const started = Date.now()
          const outcome = yield* Effect.promise(() =>
            call().then(
              () => "resolved",
              (error: Error) => error.constructor.name
            )
          )
          expect([name, Date.now() - started < 1000]).toEqual([name, true])
          settled.push([name, outcome])
          expect([name, outcome]).toEqual([name, expected])
        }
        expect(settled).toHaveLength(calls.length)
      }).pipe(Effect.scoped)
  )

  it.live("collections: scope and collection management, CRUD in a named collection, its data gone when dropped", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const bucket = (yield* connect(cluster)).bucket("default")
      const manager = bucket.collections()
      yield* Effect.promise(() => manager.createScope("inventory"))
      expect(yield* outcome(manager.createScope("inventory"))).toBe("ScopeExistsError")
      yield* Effect.promise(() => manager.createCollection("items", "inventory"))
      expect(yield* outcome(manager.createCollection("items", "inventory"))).toBe("CollectionExistsError")
      expect(yield* outcome(manager.createCollection("x", "nope"))).toBe("ScopeNotFoundError")
      const scopes = yield* Effect.promise(() => manager.getAllScopes())
      expect(scopes.map((s) => [s.name, s.collections.map((c) => c.name)]).sort()).toEqual([
        ["_default", ["_default"]],
        ["inventory", ["items"]]
      ])

      const items = bucket.scope("inventory").collection("items")
      const fallback = bucket.defaultCollection()
      yield* Effect.promise(() => items.insert("sku", { qty: 3 }))
      yield* Effect.promise(() => fallback.upsert("sku", "the default collection's"))
      expect((yield* Effect.promise(() => items.get("sku"))).content).toEqual({ qty: 3 })
      expect((yield* Effect.promise(() => fallback.get("sku"))).content).toBe("the default collection's")
      yield* Effect.promise(() => items.replace("sku", { qty: 4 }))
      yield* Effect.promise(() => items.mutateIn("sku", [couchbase.MutateInSpec.increment("qty", 1)]))
      expect((yield* Effect.promise(() => items.get("sku"))).content).toEqual({ qty: 5 })
      expect((yield* Effect.promise(() => items.exists("sku"))).exists).toBe(true)
      yield* Effect.promise(() => items.remove("sku"))
      expect(yield* outcome(items.get("sku"))).toBe("DocumentNotFoundError")
      yield* Effect.promise(() => items.upsert("kept-until-drop", 1))

      yield* Effect.promise(() => manager.dropCollection("items", "inventory"))
      expect(yield* outcome(manager.dropCollection("items", "inventory"))).toBe("CollectionNotFoundError")
      // Created again, the collection is a new one: the old data went with the drop.
      yield* Effect.promise(() => manager.createCollection("items", "inventory"))
      expect(yield* outcome(items.get("kept-until-drop", { timeout: 3000 }))).toBe("DocumentNotFoundError")
      yield* Effect.promise(() => manager.dropScope("inventory"))
      expect(yield* outcome(manager.dropScope("inventory"))).toBe("ScopeNotFoundError")
      expect((yield* Effect.promise(() => fallback.get("sku"))).content).toBe("the default collection's")
    }).pipe(Effect.scoped)
  )

  it.live("collections given at start: created in the bucket; a bad name or a memcached bucket is refused", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({
        nodes: 1,
        buckets: [{ name: "app", collections: ["inventory.items", "inventory.orders", "audit"] }]
      })
      const scopes = yield* Effect.promise(() =>
        connect(cluster).pipe(
          Effect.flatMap((sdk) => Effect.promise(() => sdk.bucket("app").collections().getAllScopes())),
          Effect.scoped,
          Effect.runPromise
        )
      )
      expect(scopes.map((s) => [s.name, s.collections.map((c) => c.name).sort()]).sort()).toEqual([
        ["_default", ["_default"]],
        ["audit", []],
        ["inventory", ["items", "orders"]]
      ])
      const refused = (buckets: ReadonlyArray<EmbeddedCluster.BucketOptions>) =>
        Effect.map(Effect.flip(EmbeddedCluster.make({ nodes: 1, buckets })), (e) => e.message)
      expect(yield* refused([{ name: "app", collections: ["_system.x"] }])).toBe(
        'bucket app: invalid collection "_system.x": use scope or scope.collection'
      )
      expect(yield* refused([{ name: "cache", type: "memcached", collections: ["s.c"] }])).toBe(
        "bucket cache: collections need a couchbase bucket"
      )
    }).pipe(Effect.scoped)
  )

  it.live("preserveExpiry: a replace keeps the document's expiry; without it the expiry is reset", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const collection = (yield* connect(cluster)).bucket("default").defaultCollection()
      yield* Effect.promise(() => collection.upsert("kept", "v1", { expiry: 2 }))
      yield* Effect.promise(() => collection.upsert("reset", "v1", { expiry: 2 }))
      yield* Effect.promise(() => collection.upsert("kept", "v2", { preserveExpiry: true }))
      yield* Effect.promise(() => collection.upsert("reset", "v2"))
      expect((yield* Effect.promise(() => collection.get("kept"))).content).toBe("v2")
      // The server counts expiry in whole seconds: by 3.2 s, 2 have passed.
      yield* Effect.sleep("3200 millis")
      expect((yield* Effect.promise(() => collection.exists("kept"))).exists).toBe(false)
      expect((yield* Effect.promise(() => collection.get("reset"))).content).toBe("v2")
    }).pipe(Effect.scoped)
  )

  it.live(
    "bucket manager: create, use, update, flush only when enabled, drop; an existing name, a missing bucket",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
        const sdk = yield* connect(cluster)
        const manager = sdk.buckets()
        yield* Effect.promise(() =>
          manager.createBucket({ name: "fresh", ramQuotaMB: 128, numReplicas: 1, flushEnabled: false, maxExpiry: 60 })
        )
        expect(yield* Effect.promise(() => manager.getBucket("fresh"))).toMatchObject({
          name: "fresh",
          ramQuotaMB: 128,
          numReplicas: 1,
          flushEnabled: false,
          maxExpiry: 60,
          bucketType: couchbase.BucketType.Couchbase
        })
        expect(yield* outcome(manager.createBucket({ name: "fresh", ramQuotaMB: 128 }))).toBe("BucketExistsError")

        const fresh = sdk.bucket("fresh").defaultCollection()
        yield* Effect.promise(() => fresh.upsert("k", { v: 1 }))
        expect((yield* Effect.promise(() => fresh.get("k"))).content).toEqual({ v: 1 })
        expect(yield* outcome(manager.flushBucket("fresh"))).toBe("BucketNotFlushableError")

        // As applications do: read the settings, change some, write them back.
        const current = yield* Effect.promise(() => manager.getBucket("fresh"))
        current.ramQuotaMB = 256
        current.flushEnabled = true
        yield* Effect.promise(() => manager.updateBucket(current))
        expect(yield* Effect.promise(() => manager.getBucket("fresh"))).toMatchObject({
          ramQuotaMB: 256,
          flushEnabled: true
        })
        yield* Effect.promise(() => manager.flushBucket("fresh"))
        expect((yield* Effect.promise(() => fresh.exists("k"))).exists).toBe(false)

        yield* Effect.promise(() => manager.dropBucket("fresh"))
        expect(yield* outcome(manager.getBucket("fresh"))).toBe("BucketNotFoundError")
        expect(yield* outcome(manager.dropBucket("fresh"))).toBe("BucketNotFoundError")
        expect((yield* Effect.promise(() => manager.getAllBuckets())).map((b) => b.name)).toEqual(["default"])
      }).pipe(Effect.scoped)
  )

  it.live("bucket REST writes: ns_server's errors for bad forms, non-administrators and unknown buckets", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({
        nodes: 1,
        buckets: [{ name: "default", users: [{ username: "app", password: "app-secret" }] }]
      })
      const request = (method: string, path: string, form: Record<string, string>, user = "Administrator:password") =>
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${cluster.nodes[0]!.mgmt}${path}`, {
            method,
            headers: {
              Authorization: `Basic ${Buffer.from(user).toString("base64")}`,
              "Content-Type": "application/x-www-form-urlencoded"
            },
            ...(method === "DELETE" ? {} : { body: new URLSearchParams(form).toString() })
          }).then(async (r) => [r.status, await r.text()] as const)
        )
      const errors = (body: string) => (JSON.parse(body) as { errors: Record<string, string> }).errors
      const badName = yield* request("POST", "/pools/default/buckets", { name: ".hidden", ramQuotaMB: "100" })
      expect([badName[0], Object.keys(errors(badName[1]))]).toEqual([400, ["name"]])
      const ephemeral = yield* request("POST", "/pools/default/buckets", { name: "e", bucketType: "ephemeral" })
      expect([ephemeral[0], errors(ephemeral[1]).bucketType]).toEqual([400, expect.stringContaining("ephemeral")])
      const tooSmall = yield* request("POST", "/pools/default/buckets", { name: "s", ramQuotaMB: "10" })
      expect([tooSmall[0], errors(tooSmall[1]).ramQuotaMB]).toEqual([
        400,
        "ramQuotaMB must be an integer from 100 to 1048576"
      ])
      const app = yield* request("POST", "/pools/default/buckets", { name: "mine" }, "app:app-secret")
      expect(app[0]).toBe(403)
      const replicas = yield* request("POST", "/pools/default/buckets/default", { replicaNumber: "3" })
      expect([replicas[0], Object.keys(errors(replicas[1]))]).toEqual([400, ["replicaNumber"]])
      expect((yield* request("DELETE", "/pools/default/buckets/nope", {}))[0]).toBe(404)
      const memcached = yield* request("POST", "/pools/default/buckets", { name: "cache", bucketType: "memcached" })
      expect(memcached[0]).toBe(202)
      expect((yield* request("DELETE", "/pools/default/buckets/cache", {}))[0]).toBe(200)
    }).pipe(Effect.scoped)
  )

  it.live(
    "bucket manager: getBucket and getAllBuckets read every bucket's settings; an unknown bucket is BucketNotFoundError",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({
          nodes: 2,
          replicas: 1,
          buckets: [{ name: "default" }, { name: "cache", type: "memcached" }]
        })
        const sdk = yield* Effect.acquireRelease(
          Effect.promise(() =>
            couchbase.connect(cluster.connectionString, { username: "Administrator", password: "password" })
          ),
          (sdk) => Effect.promise(() => sdk.close())
        )
        const manager = sdk.buckets()
        const expected = {
          name: "default",
          bucketType: couchbase.BucketType.Couchbase,
          numReplicas: 1,
          ramQuotaMB: 100,
          flushEnabled: true,
          evictionPolicy: couchbase.EvictionPolicy.ValueOnly,
          maxExpiry: 0,
          compressionMode: couchbase.CompressionMode.Passive,
          storageBackend: couchbase.StorageBackend.Couchstore
        }
        expect(yield* Effect.promise(() => manager.getBucket("default"))).toMatchObject(expected)
        const all = yield* Effect.promise(() => manager.getAllBuckets())
        expect(all.map((b) => [b.name, b.bucketType, b.numReplicas]).sort()).toEqual([
          ["cache", couchbase.BucketType.Memcached, 0],
          ["default", couchbase.BucketType.Couchbase, 1]
        ])
        const missing = yield* Effect.promise(() =>
          manager.getBucket("nope").then(
            () => "resolved",
            (error: Error) => error.constructor.name
          )
        )
        expect(missing).toBe("BucketNotFoundError")
      }).pipe(Effect.scoped)
  )
})
