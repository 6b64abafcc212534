/**
 * Health checks: `ping` (KV NOOP and a views request per node, with state and latency
 * per endpoint), `diagnostics` (each node's connection as it is) and `waitUntilReady`,
 * on a healthy cluster, with a hung node and with a failed-over node, in the Effect API
 * and through the Promise wrapper.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AsyncResult from "../../src/AsyncResult.js"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"

const setup = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
  const cb: Connection.Connection.Service = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password,
    configPollInterval: "100 millis"
  }).pipe(Effect.provide(Iops.layerNode()))
  const kv = cluster.nodes.map((n) => `127.0.0.1:${n.kv}`)
  const capi = cluster.nodes.map((n) => `127.0.0.1:${n.capi}`)
  return { cluster, cb, kv, capi }
})

describe("ping, diagnostics, waitUntilReady", () => {
  it.live("on a healthy cluster: every endpoint ok with its latency; every node connected", () =>
    Effect.gen(function* () {
      const { cb, kv, capi } = yield* setup
      yield* cb.upsert("warm", 1)
      const report = yield* cb.ping()
      expect(report.ok).toBe(true)
      expect(report.bucket).toBe("default")
      expect(report.configRevision).toBeGreaterThan(0)
      expect(
        report.endpoints
          .filter((e) => e.service === "kv")
          .map((e) => e.remote)
          .sort()
      ).toEqual([...kv].sort())
      expect(
        report.endpoints
          .filter((e) => e.service === "views")
          .map((e) => e.remote)
          .sort()
      ).toEqual([...capi].sort())
      for (const e of report.endpoints) {
        expect(e.state).toBe("ok")
        expect(e.latencyMs).toBeGreaterThanOrEqual(0)
        expect(e.latencyMs).toBeLessThan(5000)
        expect(e.error).toBeUndefined()
      }
      expect((yield* cb.ping({ services: ["kv"] })).endpoints).toHaveLength(2)

      const diagnostics = yield* cb.diagnostics()
      expect(diagnostics.configRevision).toBe(report.configRevision)
      expect(diagnostics.nodes.map((n) => n.remote).sort()).toEqual([...kv].sort())
      for (const n of diagnostics.nodes) {
        expect(n.state).toBe("connected")
        expect(n.lastActivityMs).toBeGreaterThanOrEqual(0)
        expect([n.inFlight, n.waiting]).toEqual([0, 0])
      }
      expect((yield* cb.waitUntilReady("5 seconds")).ok).toBe(true)

      // The same through the Promise wrapper.
      const promises = AsyncResult.toPromiseConnection(AsyncResult.make(cb))
      expect((yield* Effect.promise(() => promises.ping({ services: ["kv"] }))).ok).toBe(true)
      expect((yield* Effect.promise(() => promises.diagnostics())).nodes).toHaveLength(2)
      expect((yield* Effect.promise(() => promises.waitUntilReady(1000))).ok).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("with a hung node: its endpoints time out, the others answer; waitUntilReady says which", () =>
    Effect.gen(function* () {
      const { cluster, cb, kv } = yield* setup
      yield* cluster.control.hang(1)
      const report = yield* cb.ping({ timeout: "300 millis", services: ["kv"] })
      expect(report.ok).toBe(false)
      const byRemote = new Map(report.endpoints.map((e) => [e.remote, e]))
      expect(byRemote.get(kv[0]!)).toMatchObject({ state: "ok", error: undefined })
      // Its connection was dropped and the new one is never answered: not connected, or no answer in time.
      const hung = byRemote.get(kv[1]!)!
      expect(hung.state).not.toBe("ok")
      expect(hung.latencyMs).toBeUndefined()
      expect(hung.error).toMatch(/^(no answer within 300 ms|not connected \(connecting\))$/)
      const error = yield* Effect.flip(cb.waitUntilReady("600 millis", { services: ["kv"] }))
      expect(error._tag).toBe("TimeoutError")
      expect(error.message).toContain("the cluster was not ready within 600 ms")
      expect(error.message).toMatch(new RegExp(`kv ${kv[1]}: (timeout|error)`))
      expect(error.message).not.toContain(`kv ${kv[0]}`)
      // Back on its feet: ready again (the client reconnects to the restarted node).
      yield* cluster.control.restart(1)
      expect((yield* cb.waitUntilReady("10 seconds")).ok).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.live("with a failed-over node: the map no longer has it, and what is left is ready", () =>
    Effect.gen(function* () {
      const { cluster, cb, kv } = yield* setup
      const before = yield* cb.ping()
      yield* cluster.control.failover(1)
      // The poller (every 100 ms) brings the new map; until then the old one is reported.
      const hasNode1 = (r: typeof before) => r.endpoints.some((e) => e.remote === kv[1])
      let report = yield* cb.waitUntilReady("5 seconds")
      for (let i = 0; i < 100 && hasNode1(report); i++) {
        yield* Effect.sleep("50 millis")
        report = yield* cb.waitUntilReady("5 seconds")
      }
      expect(report.configRevision).toBeGreaterThan(before.configRevision!)
      expect(report.endpoints.map((e) => e.remote)).not.toContain(kv[1])
      expect(report.endpoints.filter((e) => e.service === "kv").map((e) => e.remote)).toEqual([kv[0]])
      expect(report.ok).toBe(true)
      expect((yield* cb.diagnostics()).nodes.map((n) => n.remote)).toEqual([kv[0]])
    }).pipe(Effect.scoped)
  )

  it.effect("bad options are ArgumentErrors", () =>
    Effect.gen(function* () {
      const { cb } = yield* setup
      expect((yield* Effect.flip(cb.ping({ timeout: 0 }))).message).toBe(
        "ping: timeout must be a positive, finite duration, got 0"
      )
      expect((yield* Effect.flip(cb.ping({ services: ["n1ql" as any] }))).message).toContain("services must be")
      expect((yield* Effect.flip(cb.waitUntilReady(-5))).message).toContain("timeout must be a positive")
    }).pipe(Effect.scoped, Effect.provide(Iops.layerNode()))
  )
})
