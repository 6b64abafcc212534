/**
 * The official Couchbase Node.js SDK (npm `couchbase`, C++ core) against the embedded
 * cluster: bootstrap (HELLO, SCRAM-SHA512, error map, SELECT_BUCKET, CCCP), the KV
 * operations with their values and errors, replica reads, and the same again after a
 * failover and after adding a node and rebalancing (the SDK follows the new map).
 */
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect, Schedule } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"

const connect = (connectionString: string) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      couchbase.connect(connectionString, {
        username: "Administrator",
        password: "password",
        timeouts: { kvTimeout: 10_000, connectTimeout: 20_000, bootstrapTimeout: 20_000 }
      })
    ),
    (cluster) => Effect.promise(() => cluster.close())
  )

/**
 * Waits until the SDK's bucket connections are exactly to `ports` (it learns a new map
 * asynchronously; operations in flight on a connection it drops fail with
 * RequestCanceledError, as they would against a real cluster). The SDK also keeps one
 * cluster-level connection, to the bootstrap node.
 */
const awaitBucketEndpoints = (sdk: couchbase.Cluster, bootstrapPort: number, ports: ReadonlyArray<number>) =>
  Effect.promise(() => sdk.diagnostics()).pipe(
    Effect.map((report) => {
      const connected = (report.toJSON().services.kv ?? []).map((e) =>
        Number(e.remote.slice(e.remote.lastIndexOf(":") + 1))
      )
      connected.splice(connected.indexOf(bootstrapPort), 1)
      return connected.sort()
    }),
    Effect.filterOrFail(
      (connected) => JSON.stringify(connected) === JSON.stringify([...ports].sort()),
      (connected) => new Error(`connected to ${connected.join(",")}, expected ${ports.join(",")}`)
    ),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))),
    Effect.orDie
  )

/** The name of the error class a promise rejects with, or "resolved". */
const failureOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise
    return "resolved"
  } catch (error) {
    return (error as Error).constructor.name
  }
}

/** Runs every KV operation of the scenario on keys prefixed by `phase` and checks the values. */
const scenario = async (
  collection: couchbase.Collection,
  phase: string,
  server: EmbeddedCluster.EmbeddedCluster.Service
): Promise<void> => {
  const key = `${phase}::doc`
  const first = await collection.upsert(key, { phase, n: 1 })
  expect(BigInt(first.cas.toString())).toBeGreaterThan(0n)
  const read = await collection.get(key)
  expect(read.content).toEqual({ phase, n: 1 })
  expect(read.cas.toString()).toBe(first.cas.toString())

  expect(await failureOf(collection.insert(key, { phase, n: 2 }))).toBe("DocumentExistsError")

  const second = await collection.upsert(key, { phase, n: 3 })
  expect(second.cas.toString()).not.toBe(first.cas.toString())
  expect(await failureOf(collection.replace(key, { phase, n: 4 }, { cas: first.cas }))).toBe("CasMismatchError")
  expect((await collection.get(key)).content).toEqual({ phase, n: 3 })
  const replaced = await collection.replace(key, { phase, n: 5 }, { cas: second.cas })
  expect((await collection.get(key)).cas.toString()).toBe(replaced.cas.toString())

  const anyReplica = await collection.getAnyReplica(key)
  expect(anyReplica.content).toEqual({ phase, n: 5 })

  await collection.remove(key)
  expect(await failureOf(collection.get(key))).toBe("DocumentNotFoundError")
  expect(await failureOf(collection.remove(key))).toBe("DocumentNotFoundError")

  const touched = `${phase}::touched`
  await collection.upsert(touched, "short-lived")
  expect(server.bucket("default")!.getDocument(touched)!.expiry).toBe(0)
  await collection.touch(touched, 3600)
  const doc = server.bucket("default")!.getDocument(touched)!
  expect(doc.expiry).toBeGreaterThan(0)
  expect((await collection.get(touched)).content).toBe("short-lived")

  const locked = `${phase}::locked`
  await collection.upsert(locked, { v: "before" })
  const lock = await collection.getAndLock(locked, 10)
  expect(lock.content).toEqual({ v: "before" })
  // The server answers LOCKED, which the error map marks "retry-now": the SDK retries until its timeout.
  expect(await failureOf(collection.upsert(locked, { v: "intruder" }, { timeout: 300 }))).toBe("AmbiguousTimeoutError")
  expect(server.bucket("default")!.getDocument(locked)!.value.toString()).toBe('{"v":"before"}')
  await collection.unlock(locked, lock.cas)
  await collection.upsert(locked, { v: "after" })
  expect((await collection.get(locked)).content).toEqual({ v: "after" })

  const counter = `${phase}::counter`
  const binary = collection.binary()
  expect((await binary.increment(counter, 5, { initial: 10 })).value).toBe(10)
  expect((await binary.increment(counter, 5)).value).toBe(15)
  expect((await binary.decrement(counter, 3)).value).toBe(12)
  expect((await binary.decrement(counter, 100)).value).toBe(0)
  expect((await binary.increment(counter, 7)).value).toBe(7)
  expect((await collection.get(counter)).content).toBe(7)
}

describe("the official Couchbase Node.js SDK", () => {
  it.scopedLive(
    "runs its KV operations on 3 nodes with 1 replica, after a failover and after a rebalance",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 })
        const sdk = yield* connect(`couchbase://127.0.0.1:${server.nodes[0]!.kv}`)
        const collection = sdk.bucket("default").defaultCollection()

        yield* Effect.promise(() => scenario(collection, "initial", server))

        // Replica reads: every replica copy of a key written on the initial map answers with its value.
        const replicas = yield* Effect.promise(() => collection.getAllReplicas("initial::counter"))
        expect(replicas.filter((r) => r.isReplica).map((r) => r.content)).toEqual([7])
        expect(replicas.filter((r) => !r.isReplica).map((r) => r.content)).toEqual([7])

        const before = server.revision()
        yield* server.control.failover(1)
        expect(server.revision()).toBeGreaterThan(before)
        yield* awaitBucketEndpoints(sdk, server.nodes[0]!.kv, [server.nodes[0]!.kv, server.nodes[2]!.kv])
        yield* Effect.promise(() => scenario(collection, "failover", server))
        // Data written before the failover survived on the promoted replicas.
        expect(yield* Effect.promise(async () => (await collection.get("initial::counter")).content)).toBe(7)

        const added = yield* server.control.addNode()
        yield* server.control.rebalance()
        expect(server.nodes[added.index]!.membership).toBe("active")
        expect(server.nodes[1]!.membership).toBe("removed")
        yield* awaitBucketEndpoints(sdk, server.nodes[0]!.kv, [
          server.nodes[0]!.kv,
          server.nodes[2]!.kv,
          server.nodes[added.index]!.kv
        ])
        yield* Effect.promise(() => scenario(collection, "rebalance", server))
        for (const phase of ["initial", "failover"]) {
          expect(yield* Effect.promise(async () => (await collection.get(`${phase}::counter`)).content)).toBe(7)
          expect(yield* Effect.promise(async () => (await collection.get(`${phase}::locked`)).content)).toEqual({
            v: "after"
          })
        }
        // After the rebalance every vBucket has its replica again, on the new map.
        const rebalanced = yield* Effect.promise(() => collection.getAllReplicas("failover::counter"))
        expect(rebalanced.map((r) => [r.isReplica, r.content]).sort()).toEqual([
          [false, 7],
          [true, 7]
        ])
      }),
    120_000
  )
})
