/**
 * The loop's lifetime: the core calls `stopWatching()` once the last connection using
 * an Iops has closed, so that a hand-rolled loop that runs until then lets the
 * process exit; a later connection starts it again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { Iops } from "../../src/Iops.js"
import { SelectLoop } from "./SelectLoop.js"

/** A select loop whose stopWatching calls are counted. */
const countingStops = () => {
  const loop = new SelectLoop()
  const stops = { count: 0 }
  const iops: Iops.Service = Object.assign(Object.create(loop), {
    stopWatching: () => {
      stops.count++
      loop.stopWatching()
    }
  })
  return { loop, iops, stops }
}

describe("stopWatching", () => {
  it.live("is called when the last connection on the Iops closes, not before", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 2 })
        const { loop, iops, stops } = countingStops()
        const open = Effect.gen(function* () {
          const scope = yield* Scope.make()
          const cb = yield* Connection.make({
            connectionString: cluster.connectionString,
            username: cluster.username,
            password: cluster.password
          }).pipe(Effect.provideService(Iops, iops), Scope.extend(scope))
          return { cb, scope }
        })
        const first = yield* open
        const second = yield* open
        yield* first.cb.upsert("loop", "alive")
        expect(loop.isRunning).toBe(true)

        yield* Scope.close(first.scope, Exit.void)
        expect(stops.count).toBe(0)
        expect(loop.isRunning).toBe(true)
        expect((yield* second.cb.get("loop")).value).toBe("alive")

        yield* Scope.close(second.scope, Exit.void)
        expect(stops.count).toBe(1)
        expect(loop.isRunning).toBe(false)

        // A new connection starts the loop again, and stops it again when it closes.
        const third = yield* open
        expect(loop.isRunning).toBe(true)
        expect((yield* third.cb.get("loop")).value).toBe("alive")
        yield* Scope.close(third.scope, Exit.void)
        expect(stops.count).toBe(2)
        expect(loop.isRunning).toBe(false)
      })
    )
  )

  it.live("also when the connection never opened (a failed bootstrap)", () =>
    Effect.gen(function* () {
      const { iops, stops } = countingStops()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Connection.make({ connectionString: "couchbase://127.0.0.1:1", bootstrapTimeout: "2 seconds" }).pipe(
            Effect.provideService(Iops, iops)
          )
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(stops.count).toBe(1)
    })
  )
})
