/**
 * README's "A test server for the official SDK" example, as written there (imports
 * from the sources instead of the package): vitest hooks around an embedded cluster
 * and the official SDK.
 */
import * as couchbase from "couchbase"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, expect, test } from "vitest"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"

let scope: Scope.CloseableScope
let sdk: couchbase.Cluster

beforeAll(async () => {
  scope = Effect.runSync(Scope.make())
  const cluster = await Effect.runPromise(Scope.extend(EmbeddedCluster.make({ nodes: 2, replicas: 1 }), scope))
  sdk = await couchbase.connect(cluster.connectionString, { username: "Administrator", password: "password" })
})
afterAll(async () => {
  await sdk.close()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

test("profiles are stored and read back", async () => {
  const users = sdk.bucket("default").defaultCollection()
  await users.upsert("user::1", { name: "Ada" }, { durabilityLevel: couchbase.DurabilityLevel.Majority })
  expect((await users.get("user::1")).content).toEqual({ name: "Ada" })
})
