// The installed package from CommonJS: the same round trip as esm.mjs through require().
const assert = require("node:assert/strict")
const { Effect } = require("effect")
const { Connection, EmbeddedCluster, Iops } = require("effect-couchbase")
const { NotFoundError } = require("effect-couchbase/Errors")

const program = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({
    nodes: 2,
    replicas: 1,
    buckets: [{ name: "beer-sample", sample: "beer-sample" }]
  })
  const cb = yield* Connection.make({
    connectionString: `${cluster.connectionString}/beer-sample`,
    username: cluster.username,
    password: cluster.password
  })
  const stored = yield* cb.upsert("cjs::doc", { from: "cjs" })
  const read = yield* cb.get("cjs::doc")
  assert.deepEqual(read.value, { from: "cjs" })
  assert.equal(read.cas, stored.cas)
  // The sample's data files ship with the package and load from the CommonJS build too.
  const brewery = yield* cb.get("21st_amendment_brewery_cafe")
  assert.equal(brewery.value.name, "21st Amendment Brewery Cafe")
  const missing = yield* Effect.flip(cb.get("cjs::missing"))
  assert.ok(missing instanceof NotFoundError)
  return read
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Iops.layerNode()))).then(
  (read) => console.log(`cjs: upsert/get round trip ok (cas ${read.cas})`),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
