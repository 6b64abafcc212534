// Type-checked in a consumer project (CommonJS side): the same names through require.
import { Effect } from "effect"
import { Connection, Iops } from "effect-couchbase"
import type { ArgumentError } from "effect-couchbase/Errors"

export const program = Connection.make({ connectionString: "couchbase://127.0.0.1" }).pipe(
  Effect.flatMap((cb) => cb.upsert("k", { a: 1 })),
  Effect.catchTag("ArgumentError", (e: ArgumentError) => Effect.succeed(e.message)),
  Effect.scoped,
  Effect.provide(Iops.layerNode())
)
