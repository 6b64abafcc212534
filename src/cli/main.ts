/**
 * The `effect-couchbase` command line (the package's bin). Subcommands:
 * - `server`: run an embedded cluster in the foreground (see `server.ts`).
 *
 * SIGINT / SIGTERM interrupt the program: scopes close (ports, connections) and the
 * process exits with status 0.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { serverCommand } from "./server.js"

/** The root command. */
export const rootCommand = Command.make("effect-couchbase").pipe(
  Command.withDescription("Couchbase client on Effect, with an embedded Couchbase-compatible cluster"),
  Command.withSubcommands([serverCommand])
)

/** Parses `argv` and runs the chosen subcommand. */
export const cli = Command.run(rootCommand, { name: "effect-couchbase", version: "0.1.0" })

cli(process.argv).pipe(
  // Bad options or a port in use: one clear line and status 1, not a stack trace.
  Effect.catchTag("EmbeddedClusterError", (error) =>
    Console.error(`effect-couchbase: ${error.message}`).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = 1
        })
      )
    )
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
