// Type-checked in a consumer project (ES module side): the public API as users write it.
import { Effect, Layer, Redacted, Stream } from "effect"
import { Connection, EmbeddedCluster, Errors, Iops, View } from "effect-couchbase"
import * as ConnectionModule from "effect-couchbase/Connection"
import type { NotFoundError } from "effect-couchbase/Errors"

export const program = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: "Administrator",
    password: Redacted.make("password")
  })
  const hit = yield* cb.get("k")
  const maybe = yield* cb.get("k", { quiet: true })
  const view = yield* View.makeFromConnection(cb)
  const rows = yield* view.query("beer", "brewery_beers", { limit: 1 }).pipe(Stream.runCollect)
  return { hit, maybe, rows }
})

// quiet is in the types: a loud get may fail with NotFoundError, a quiet one may not.
const loud = (cb: Connection.Connection.Service) => cb.get("k")
const quiet = (cb: Connection.Connection.Service) => cb.get("k", { quiet: true })
export const loudMayMiss: NotFoundError extends Effect.Effect.Error<ReturnType<typeof loud>> ? true : false = true
export const quietNeverMisses: NotFoundError extends Effect.Effect.Error<ReturnType<typeof quiet>> ? true : false =
  false
export const errorName: string = new Errors.NotFoundError({ key: "k" }).name
export const fromEnv = ConnectionModule.layerConfig(ConnectionModule.config).pipe(Layer.provide(Iops.layerNode()))
