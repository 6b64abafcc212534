/**
 * `stats` (server statistics of every node) and `ping` (a KV NOOP and a views request
 * per node, with latency; exit status 1 when an endpoint does not answer).
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { connect, connectionFlags } from "./connect.js"
import { json, wholeNumber } from "./flags.js"
import { emit } from "./output.js"
import { Reported } from "./report.js"

const statsCommand = Command.make(
  "stats",
  {
    ...connectionFlags,
    json,
    groups: Args.text({ name: "group" }).pipe(
      Args.withDescription("stat groups (e.g. memory, vbucket); none: the default group"),
      Args.repeated
    )
  },
  (args) =>
    Effect.scoped(
      Effect.gen(function* () {
        const cb = yield* connect(args)
        const stats = yield* cb.stats(args.groups.length === 0 ? undefined : args.groups)
        // The library keys statistics by name, then node; a node's report reads better whole.
        const byNode = new Map<string, Record<string, number | string>>()
        for (const [name, values] of Object.entries(stats)) {
          for (const [node, value] of Object.entries(values)) {
            let entries = byNode.get(node)
            if (entries === undefined) byNode.set(node, (entries = {}))
            entries[name] = value
          }
        }
        for (const [node, values] of byNode) {
          if (args.json) yield* emit(true, { node, stats: values }, "")
          else for (const [name, value] of Object.entries(values)) yield* emit(false, {}, `${node}\t${name}\t${value}`)
        }
      })
    )
).pipe(Command.withDescription("print server statistics: node, name and value per line"))

const pingCommand = Command.make(
  "ping",
  {
    ...connectionFlags,
    json,
    service: Options.choice("service", ["kv", "views"]).pipe(
      Options.withDescription("only this service; repeatable (default: both)"),
      Options.repeated
    ),
    timeout: wholeNumber("timeout-ms").pipe(
      Options.withDescription("how long an endpoint may take to answer"),
      Options.withDefault(2500)
    )
  },
  (args) =>
    Effect.scoped(
      Effect.gen(function* () {
        const cb = yield* connect(args)
        const options = { timeout: args.timeout, services: args.service.length === 0 ? undefined : args.service }
        // Nodes connect in the background after bootstrap: give them the timeout to come
        // up, then report each endpoint as it is (the one that never did, as an error).
        const report = yield* cb
          .waitUntilReady(args.timeout, { services: options.services })
          .pipe(Effect.catchTag("TimeoutError", () => cb.ping(options)))
        if (args.json) yield* emit(true, report, "")
        else {
          for (const e of report.endpoints) {
            const latency = e.latencyMs === undefined ? "" : `${e.latencyMs.toFixed(2)} ms`
            yield* emit(
              false,
              {},
              [e.service.padEnd(6), e.remote.padEnd(22), e.state.padEnd(8), latency, e.error ?? ""].join(" ").trimEnd()
            )
          }
        }
        if (!report.ok) return yield* new Reported({ status: 1, message: "ping: an endpoint did not answer" })
      })
    )
).pipe(Command.withDescription("check every node's KV and views endpoints, with latency"))

/**
 * `stats` and `ping`.
 *
 * @since 0.1.0
 */
export const clusterCommands = [statsCommand, pingCommand] as const
