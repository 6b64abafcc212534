/**
 * Key/value operations with Schema-typed documents, on an embedded cluster.
 *
 * A connection reads and writes plain JSON; `withTranscoder(schemaTranscoder(User))`
 * gives the same connection typed as `User` documents: values are encoded with the
 * schema and validated when read, so a stored document of another shape fails with a
 * `ValueFormatError` instead of flowing on as `unknown`.
 *
 * Run: npx tsx examples/kv-schema.ts
 */
import assert from "node:assert/strict"
import { Console, Effect, Schema } from "effect"
import { Connection, EmbeddedCluster, Iops, Transcoder } from "effect-couchbase"

class User extends Schema.Class<User>("User")({
  name: Schema.String,
  email: Schema.String,
  visits: Schema.Int
}) {}

const program = Effect.gen(function* () {
  // Two nodes, one replica: a real cluster would be its connection string instead.
  const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  })
  const users = cb.withTranscoder(Transcoder.schemaTranscoder(User))

  const stored = yield* users.upsert("user::ada", new User({ name: "Ada", email: "ada@example.com", visits: 1 }))
  const ada = yield* users.get("user::ada")
  assert.ok(ada.value instanceof User)
  assert.equal(ada.value.name, "Ada")
  assert.equal(ada.cas, stored.cas)
  yield* Console.log(`read ${ada.value.name} <${ada.value.email}>, cas ${ada.cas}`)

  // Optimistic locking: a replace with the CAS read succeeds, a stale one fails.
  yield* users.replace("user::ada", new User({ ...ada.value, visits: ada.value.visits + 1 }), { cas: ada.cas })
  const stale = yield* Effect.flip(users.replace("user::ada", ada.value, { cas: ada.cas }))
  assert.equal(stale._tag, "KeyExistsError")
  yield* Console.log(`a stale CAS fails with ${stale._tag}`)

  // A document written without the schema does not pass for a User.
  yield* cb.upsert("user::broken", { name: 42 })
  const broken = yield* Effect.flip(users.get("user::broken"))
  assert.equal(broken._tag, "ValueFormatError")
  yield* Console.log(`a document of another shape fails with ${broken._tag}`)

  // quiet: a missing key is a value (success false), not a NotFoundError.
  const missing = yield* users.get("user::nobody", { quiet: true })
  assert.equal(missing.success, false)
  yield* Console.log(`quiet get of a missing key: success ${missing.success}`)
})

program.pipe(Effect.scoped, Effect.provide(Iops.layerNode()), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
