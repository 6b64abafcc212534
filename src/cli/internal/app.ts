/**
 * The `effect-couchbase` command line as one function of its arguments and streams:
 * `runCli(argv, io)` parses with `@effect/cli`, runs the command and returns the exit
 * status (0 done, 1 an operation failed, 2 what was typed cannot be run), every error
 * printed as one line. Help goes to stdout, without terminal escapes when stdout is not
 * a terminal; logs (`--log-level debug`) go to stderr so that output stays parseable.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { Command } from "@effect/cli"
import { Effect, Logger } from "effect"
import { findPackageFile } from "../../internal/packageFiles.js"
import { clusterCommands } from "./cluster.js"
import * as Environment from "./Environment.js"
import { CliIo, consoleOf, type Io } from "./Io.js"
import { kvCommands } from "./kv.js"
import { pillowfightCommand } from "./pillowfight.js"
import { quickstartCommand } from "./quickstart.js"
import { reportCause } from "./report.js"
import { serverCommand } from "./server.js"
import { viewCommands } from "./views.js"

/**
 * The package's version, from its package.json (not the `"type"` marker of the
 * CommonJS build).
 *
 * @since 0.1.0
 */
export const version = (): string => {
  const read = (path: string) => JSON.parse(readFileSync(path, "utf8")) as { name?: string; version?: string }
  const file = findPackageFile("package.json", (path) => read(path).name === "effect-couchbase")
  return (file === undefined ? undefined : read(file).version) ?? "unknown"
}

const subcommands = [
  ...kvCommands,
  ...viewCommands,
  ...clusterCommands,
  pillowfightCommand,
  serverCommand,
  quickstartCommand
] as const

/**
 * The command tree; without a command it shows the help (a command without a handler
 * asks `@effect/cli` for it), as `cbc` and `git` do.
 *
 * @since 0.1.0
 */
export const command = Command.make("effect-couchbase").pipe(
  Command.withDescription(
    "A Couchbase client on Effect, with an embedded Couchbase-compatible cluster. Client commands connect " +
      "with -U/-u/-P/-b or the COUCHBASE_* environment variables the library reads."
  ),
  Command.withSubcommands(subcommands)
)

/** The connection's one-letter options, which `cbc` users write with the value attached. */
const shortWithValue = /^-([UuPb])(.+)$/

/**
 * `-Psecret` as `-P secret`, as `cbc` and most tools accept it: `@effect/cli` reads
 * `-Psecret` as a bundle of flags and would pass it on as an argument, and a password
 * must not end up as a key in an error line.
 *
 * @since 0.1.0
 */
export const splitShortOptions = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  const end = argv.indexOf("--")
  return argv.flatMap((arg, i) => {
    const match = end >= 0 && i > end ? null : shortWithValue.exec(arg)
    return match === null ? [arg] : [`-${match[1]}`, match[2]!]
  })
}

/**
 * Runs the command line on `argv` (without the `node` and script entries) with the
 * streams of `io`, and returns its exit status.
 *
 * @since 0.1.0
 */
export const runCli = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> => {
  const cli = Command.run(command, { name: "effect-couchbase", version: version(), executable: "effect-couchbase" })
  // The parser prints its own multi-line error documents to Console.error before
  // failing; the failure itself is reported below as one line, so those are dropped.
  const console = consoleOf(io, () => {})
  const logger = Logger.map(Logger.logfmtLogger, (line) => io.err(`${line}\n`))
  return cli(["node", "effect-couchbase", ...splitShortOptions(argv)]).pipe(
    Effect.as(0),
    Effect.catchAllCause(reportCause),
    Effect.provide(Environment.layer),
    Effect.provideService(CliIo, io),
    Effect.withConsole(console),
    Effect.provide(Logger.replace(Logger.defaultLogger, logger))
  )
}
