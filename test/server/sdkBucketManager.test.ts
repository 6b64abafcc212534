/**
 * The official SDK's bucket manager reading the embedded cluster's buckets. Its C++
 * core aborts the whole process when a setting it expects is missing from
 * `/pools/default/buckets/<b>`, so this file runs on its own: a regression fails this
 * file, not the run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"

describe("the official SDK's bucket manager", () => {
  it.live("getBucket and getAllBuckets read every bucket's settings; an unknown bucket is BucketNotFoundError", () =>
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
        flushEnabled: false,
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
