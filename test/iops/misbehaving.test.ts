/**
 * An Iops that breaks the contract must not break the client: a `ready()` delivered
 * synchronously from inside `updateEvent` is still delivered (later, as the contract
 * wants), and an `updateEvent` or `updateTimer` that throws ends the affected
 * connection with a typed `NetworkError` naming it, never an exception in the loop or a
 * hang; once the Iops behaves again, the client reconnects.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import { nodeLayerWith } from "./decorate.js"

/** Node's Iops with the misbehaviours switched on and off by the test. */
const misbehaving = () => {
  const switches = { syncWriteReady: false, throwInUpdateEvent: false, throwInUpdateTimer: false, syncReadies: 0 }
  const layer = nodeLayerWith((node) => ({
    updateEvent: (event, action, flags) => {
      if (switches.throwInUpdateEvent && action === Iops.PYCBC_EVACTION_WATCH) {
        throw new Error("updateEvent is broken")
      }
      const socket = event.socket!
      if (
        switches.syncWriteReady &&
        action === Iops.PYCBC_EVACTION_WATCH &&
        (flags & Iops.LCB_WRITE_EVENT) !== 0 &&
        socket.writableLength === 0
      ) {
        // "Level-triggered, it holds now": delivered at once, against the contract,
        // and not watched any further.
        node.updateEvent(event, action, flags & ~Iops.LCB_WRITE_EVENT || Iops.LCB_READ_EVENT)
        switches.syncReadies++
        event.ready(Iops.LCB_WRITE_EVENT)
        return
      }
      node.updateEvent(event, action, flags)
    },
    updateTimer: (timer, action, usecs) => {
      if (switches.throwInUpdateTimer && action === Iops.PYCBC_EVACTION_WATCH) {
        throw new TypeError("updateTimer is broken")
      }
      node.updateTimer(timer, action, usecs)
    }
  }))
  return { switches, layer }
}

const open = (cluster: EmbeddedCluster.EmbeddedCluster.Service, layer: Layer.Layer<Iops.Iops>) =>
  Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password,
    operationTimeout: "2 seconds"
  }).pipe(Effect.provide(layer))

describe("an Iops that breaks the contract", () => {
  it.live("a ready() from inside updateEvent is delivered, not lost", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const { switches, layer } = misbehaving()
      const cb = yield* open(cluster, layer)
      switches.syncWriteReady = true
      // Bursts of 40: while the node is short of work the first requests leave at once,
      // the rest wait for write readiness, which this Iops delivers from updateEvent.
      const keys = Array.from({ length: 40 }, (_, i) => `sync-${i}`)
      for (let round = 0; round < 10; round++) {
        const stored = yield* Effect.forEach(keys, (k, i) => cb.upsert(k, round * 100 + i), {
          concurrency: "unbounded"
        })
        expect(stored.every((r) => r.success)).toBe(true)
        const read = yield* Effect.forEach(keys, (k) => cb.get(k), { concurrency: "unbounded" })
        expect(read.map((r) => r.value)).toEqual(keys.map((_, i) => round * 100 + i))
      }
      expect(switches.syncReadies).toBeGreaterThanOrEqual(20)
    }).pipe(Effect.scoped)
  )

  it.live("an updateEvent that throws fails the operations with a NetworkError naming it; then it recovers", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const { switches, layer } = misbehaving()
      const cb = yield* open(cluster, layer)
      yield* cb.upsert("k", "before")
      switches.throwInUpdateEvent = true
      // A burst of 40: the first requests leave at once while the node is short of work;
      // watching for write readiness for the rest throws.
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => `burst-${i}`),
        (k) => Effect.either(cb.upsert(k, "during")),
        { concurrency: "unbounded" }
      )
      const failures = outcomes.flatMap((o) => (o._tag === "Left" ? [o.left] : []))
      // All 40 were in flight (written or queued) when the connection ended.
      expect(failures).toHaveLength(40)
      for (const error of failures) {
        expect(error._tag).toBe("NetworkError")
        expect(error.message).toContain("the I/O layer failed: its updateEvent threw Error: updateEvent is broken")
      }
      switches.throwInUpdateEvent = false
      // The connection is re-opened in the background; the next operations succeed.
      const after = yield* cb.get("k").pipe(Effect.retry({ times: 20, while: (e) => e._tag === "NetworkError" }))
      expect(after.value).toBe("before")
    }).pipe(Effect.scoped)
  )

  it.live("an updateTimer that throws is a NetworkError too, not a defect", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const { switches, layer } = misbehaving()
      const cb = yield* open(cluster, layer)
      yield* cb.upsert("t", 1)
      // Once the deadline timer of that upsert has fired, the next operation arms it anew.
      yield* Effect.sleep("2100 millis")
      switches.throwInUpdateTimer = true
      const exit = yield* Effect.exit(cb.get("t"))
      switches.throwInUpdateTimer = false
      expect(exit._tag).toBe("Failure")
      if (exit._tag === "Failure") {
        expect(exit.cause._tag).toBe("Fail")
        expect(exit.cause).toMatchObject({ error: { _tag: "NetworkError" } })
        expect(String((exit.cause as any).error.message)).toContain(
          "its updateTimer threw TypeError: updateTimer is broken"
        )
      }
      const after = yield* cb.get("t").pipe(Effect.retry({ times: 20, while: (e) => e._tag === "NetworkError" }))
      expect(after.value).toBe(1)
    }).pipe(Effect.scoped)
  )
})
