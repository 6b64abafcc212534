#!/usr/bin/env node
/**
 * The `effect-couchbase` command line (the package's bin): key/value commands (`get`,
 * `upsert`, `rm`, `counter`, `touch`, `lock`, `unlock`), views (`view`, `ddoc`),
 * `stats`, `ping`, the `pillowfight` load generator, and the embedded cluster
 * (`server`, `quickstart`). `effect-couchbase --help` lists them; every command has
 * `--help`.
 *
 * Exit status: 0 done, 1 an operation failed, 2 what was typed cannot be run; errors
 * are one line on stderr. SIGINT / SIGTERM stop a running command (the server closes
 * its ports, pillowfight prints its summary) with status 0.
 *
 * The parser, `@effect/cli` (with `@effect/printer` and `@effect/printer-ansi`), is an
 * optional peer of the package: a library user does not install it. Without it the
 * command says, in one line, what to install.
 *
 * @since 0.1.0
 */

// A reader that goes away (`| head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

const cliPeers = ["@effect/cli", "@effect/printer", "@effect/printer-ansi"]

/** Whether `error` is the command line's optional peers not being installed. */
const missingPeer = (error: unknown): boolean => {
  const { code, message } = error as { code?: unknown; message?: unknown }
  return (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" &&
    cliPeers.some((name) => message.includes(`'${name}`))
  )
}

Promise.all([
  import("effect"),
  import("./internal/app.js"),
  import("./internal/Io.js"),
  import("./internal/runMain.js")
])
  .then(([{ Effect }, { runCli }, { processIo }, { runMain }]) =>
    runCli(process.argv.slice(2), processIo()).pipe(
      Effect.flatMap((status) =>
        Effect.sync(() => {
          process.exitCode = status
        })
      ),
      runMain
    )
  )
  .catch((error: unknown) => {
    if (!missingPeer(error)) throw error
    process.stderr.write(
      `effect-couchbase: the command line needs its optional peers: npm install ${cliPeers.join(" ")}\n`
    )
    process.exitCode = 1
  })
