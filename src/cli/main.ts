#!/usr/bin/env node
/**
 * The `effect-couchbase` command line (the package's bin). Subcommands:
 * - `server`: run an embedded cluster in the foreground;
 * - `quickstart`: a tour of the client on an embedded cluster, with timings.
 *
 * Arguments are parsed with Node's `util.parseArgs`: the command needs nothing beyond
 * the library's own peer dependencies. A usage error prints one line and exits with
 * status 2; a cluster that cannot start (a port in use, invalid options) prints one
 * line and exits with status 1. SIGINT / SIGTERM close every port and exit with 0.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { Cause, Console, Effect, Either } from "effect"
import { findPackageFile } from "../internal/packageFiles.js"
import { quickstart, quickstartUsage } from "./quickstart.js"
import { runMain } from "./runMain.js"
import { parseServerArgs, runServer, serverUsage } from "./server.js"
import { UsageError } from "./usage.js"

const usage = `Usage: effect-couchbase <command> [options]

A Couchbase client on Effect, with an embedded Couchbase-compatible cluster.

Commands:
  server       run an embedded cluster in the foreground (effect-couchbase server --help)
  quickstart   a tour of the client on an embedded 3-node cluster, with timings

Options:
  -h, --help       show this help
  -v, --version    print the version
`

/** The package's version, from its package.json (not the `"type"` marker of the CommonJS build). */
const version = (): string => {
  const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as { name?: string; version?: string }
  const file = findPackageFile("package.json", (path) => read(path).name === "effect-couchbase")
  return (file === undefined ? undefined : read(file).version) ?? "unknown"
}

/** What the arguments ask for, before anything runs. */
const program = (argv: ReadonlyArray<string>): Effect.Effect<void, UsageError | { readonly message: string }> => {
  const [command, ...rest] = argv
  switch (command) {
    case undefined:
    case "-h":
    case "--help":
    case "help":
      return Console.log(usage)
    case "-v":
    case "--version":
      return Console.log(version())
    case "server": {
      const parsed = parseServerArgs(rest)
      if (Either.isLeft(parsed)) return Effect.fail(parsed.left)
      return parsed.right === "help" ? Console.log(serverUsage) : runServer(parsed.right)
    }
    case "quickstart": {
      if (rest.includes("--help") || rest.includes("-h")) return Console.log(quickstartUsage)
      if (rest.length > 0) {
        return Effect.fail(new UsageError({ message: `quickstart takes no arguments, got ${rest.join(" ")}` }))
      }
      return quickstart.pipe(
        Effect.catchAllCause((cause) =>
          Console.error(`The quickstart failed:\n${Cause.pretty(cause)}`).pipe(
            Effect.zipRight(
              Effect.sync(() => {
                process.exitCode = 1
              })
            )
          )
        )
      )
    }
    default:
      return Effect.fail(
        new UsageError({
          message: `unknown command ${JSON.stringify(command)}; the commands are: server, quickstart (see --help)`
        })
      )
  }
}

program(process.argv.slice(2)).pipe(
  // One clear line and a status, not a stack trace: 2 for what was typed, 1 for what failed.
  Effect.catchAll((error) =>
    Console.error(`effect-couchbase: ${error.message}`).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = error instanceof UsageError ? 2 : 1
        })
      )
    )
  ),
  runMain
)
