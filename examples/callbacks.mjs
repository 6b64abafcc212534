// The callback and Promise API, from plain JavaScript (no TypeScript, no Effect code
// beyond opening and closing).
//
// AsyncResult.make wraps a connection as the Python SDK's couchbase.async did: each
// method returns an AsyncResult at once; set callback/errback before returning to the
// event loop. toPromiseConnection wraps that again so every method returns a Promise.
//
// Run: node examples/callbacks.mjs
import assert from "node:assert/strict"
import { Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { AsyncResult, Connection, EmbeddedCluster, Iops } from "effect-couchbase"

// An embedded cluster to talk to; a real program would use its cluster's address.
const clusterScope = Effect.runSync(Scope.make())
const cluster = await Effect.runPromise(Scope.extend(EmbeddedCluster.make({ nodes: 1 }), clusterScope))

// The connection, opened once; its runtime runs every operation.
const runtime = ManagedRuntime.make(
  Connection.layer({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  }).pipe(Layer.provide(Iops.layerNode()))
)
const connection = await runtime.runPromise(Connection.Connection)
const cb = AsyncResult.make(connection, await runtime.runtime())

// Callbacks.
const stored = await new Promise((resolve, reject) => {
  cb.upsert("greeting", { text: "hello" }).setCallbacks(resolve, (_asyncResult, error) => reject(error))
})
console.log(`upsert: cas ${stored.cas}`)
await new Promise((resolve) => {
  cb.get("no-such-key").setCallbacks(
    () => assert.fail("a missing key is not found"),
    (asyncResult, error) => {
      console.log(`get ${asyncResult.operation}: ${error.name}: ${error.message}`)
      assert.equal(error._tag, "NotFoundError")
      resolve(undefined)
    }
  )
})

// Argument errors are thrown by the call itself.
assert.throws(() => cb.get(""), { name: "ArgumentError" })

// Promises.
const promises = AsyncResult.toPromiseConnection(cb)
const got = await promises.get("greeting")
assert.deepEqual(got.value, { text: "hello" })
assert.equal(got.cas, stored.cas)
const many = await promises.getMulti(["greeting", "no-such-key"], { quiet: true })
assert.equal(many.allOk, false)
console.log(`getMulti: allOk ${many.allOk}, ${many.size} results`)

await runtime.dispose()
await Effect.runPromise(Scope.close(clusterScope, Exit.void))
console.log("done")
