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
import { EmbeddedClusterError } from "../EmbeddedCluster.js"
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
const program = (argv: ReadonlyArray<string>): Effect.Effect<void, unknown> => {
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
      return quickstart
    }
    default:
      return Effect.fail(
        new UsageError({
          message: `unknown command ${JSON.stringify(command)}; the commands are: server, quickstart (see --help)`
        })
      )
  }
}

/**
 * What goes to stderr when the program ends in `cause`, and the exit status: one line
 * for what was typed (2) or what failed (1: the cluster's own message, or an error's
 * name and message); a defect, which is a bug, with its whole trace (1).
 */
const report = (cause: Cause.Cause<unknown>): { readonly text: string; readonly status: number } => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (error instanceof UsageError) return { text: error.message, status: 2 }
    if (error instanceof EmbeddedClusterError) return { text: error.message, status: 1 }
    if (error instanceof Error) return { text: `${error.name}: ${error.message}`, status: 1 }
    return { text: String(error), status: 1 }
  }
  return { text: `unexpected error (please report it):\n${Cause.pretty(cause)}`, status: 1 }
}

// A reader that goes away (`| head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

program(process.argv.slice(2)).pipe(
  Effect.catchAllCause((cause) => {
    // Interruption (SIGINT, SIGTERM) is how the server stops: runMain ends with status 0.
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const { text, status } = report(cause)
    return Console.error(`effect-couchbase: ${text}`).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = status
        })
      )
    )
  }),
  runMain
)
