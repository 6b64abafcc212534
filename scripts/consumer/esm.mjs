// The installed package from a plain ES module: start the embedded cluster, write and
// read a document over it, and stop. Exits non-zero on any mismatch.
import assert from "node:assert/strict"
import { Effect } from "effect"
import { Connection, EmbeddedCluster, Iops } from "effect-couchbase"
import * as Errors from "effect-couchbase/Errors"

const program = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  })
  const stored = yield* cb.upsert("esm::doc", { from: "esm" })
  const read = yield* cb.get("esm::doc")
  assert.deepEqual(read.value, { from: "esm" })
  assert.equal(read.cas, stored.cas)
  const missing = yield* Effect.flip(cb.get("esm::missing"))
  assert.ok(missing instanceof Errors.NotFoundError)
  assert.equal(String(missing).split(":")[0], "NotFoundError")
  return read
})

const read = await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Iops.layerNode())))
console.log(`esm: upsert/get round trip ok (cas ${read.cas})`)
