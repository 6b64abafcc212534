/**
 * Debug logs through Effect's logger: connection losses and reconnects, cluster map
 * changes (a failover names the node that left), and retries, with the connection's
 * logger for its own fibers and the caller's for an operation's retries.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"

describe("debug logs", () => {
  it.live("a reconnect, a failover and a retry each leave a log line", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message, logLevel }) => {
          lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
        })
      )
      const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(Effect.provide(capture), Logger.withMinimumLogLevel(LogLevel.Debug))
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const kv = cluster.nodes.map((n) => `127.0.0.1:${n.kv}`)
      const cb = yield* logged(
        Connection.make({
          connectionString: cluster.connectionString,
          username: cluster.username,
          password: cluster.password,
          configPollInterval: "100 millis"
        }).pipe(Effect.provide(Iops.layerNode()))
      )
      yield* cb.waitUntilReady("5 seconds")
      const has = (pattern: RegExp) => lines.some((line) => pattern.test(line))
      expect(has(/^DEBUG cluster map revision \d+ applied: 2 node\(s\)$/)).toBe(true)

      // A restart drops the node's connection; the client reconnects.
      yield* cluster.control.restart(1)
      yield* cb.waitUntilReady("5 seconds")
      expect(has(new RegExp(`^DEBUG the connection to ${kv[1]} was lost.*; reconnecting$`))).toBe(true)
      expect(has(new RegExp(`^DEBUG connected to ${kv[1]}$`))).toBe(true)

      // A failover: the new map says which node left.
      yield* cluster.control.failover(1)
      for (let i = 0; i < 100 && !has(/left the map/); i++) yield* Effect.sleep("50 millis")
      expect(
        has(
          new RegExp(
            `^DEBUG cluster map revision \\d+ applied: 1 node\\(s\\); ${kv[1]} left the map \\(failed over or removed\\)$`
          )
        )
      ).toBe(true)

      // A retry, in the operation's fiber (its logger).
      yield* cluster.control.injectStatus("busy-key", 0x86, { times: 2 })
      yield* logged(cb.upsert("busy-key", 1))
      expect(
        lines.filter((line) => /^DEBUG retrying upsert of "busy-key" \(attempt \d\) in \d+ ms after/.test(line))
      ).toHaveLength(2)
    }).pipe(Effect.scoped)
  )
})
