/**
 * How a command's end is shown: one line on stderr for anything that went wrong, and
 * the exit status: 0 done, 1 an operation failed, 2 what was typed cannot be run.
 *
 * @since 0.1.0
 */
import { stripVTControlCharacters } from "node:util"
import { HelpDoc, ValidationError } from "@effect/cli"
import { Cause, Data, Effect } from "effect"
import { EmbeddedClusterError } from "../../EmbeddedCluster.js"
import { ArgumentError } from "../../Errors.js"
import { CliIo } from "./Io.js"
import { UsageError } from "./UsageError.js"

/**
 * A failure the command has already printed (per-key errors of a multi-key `get`, a
 * failed `ping`): only its exit status is left to give.
 *
 * @since 0.1.0
 */
export class Reported extends Data.TaggedError("Reported")<{ readonly status: number; readonly message: string }> {}

/** `text` on one line: the parser's help documents span several. */
const oneLine = (text: string): string => stripVTControlCharacters(text).replace(/\s+/g, " ").trim()

/**
 * The line and status for an error: what was typed (2), an operation's typed error or
 * a cluster that cannot start (1, with its name and message).
 *
 * @since 0.1.0
 */
export const describeError = (error: unknown): { readonly text: string; readonly status: number } => {
  if (ValidationError.isValidationError(error)) {
    const doc = "error" in error ? error.error : HelpDoc.empty
    return { text: `${oneLine(HelpDoc.toAnsiText(doc))} (see --help)`, status: 2 }
  }
  if (error instanceof UsageError) return { text: error.message, status: 2 }
  // The library's invalid-argument error is about what was typed too (a malformed
  // connection string, a map function that does not compile).
  if (error instanceof ArgumentError) return { text: oneLine(`${error.name}: ${error.message}`), status: 2 }
  if (error instanceof EmbeddedClusterError) return { text: error.message, status: 1 }
  if (error instanceof Error) return { text: oneLine(`${error.name}: ${error.message}`), status: 1 }
  return { text: oneLine(String(error)), status: 1 }
}

/**
 * Prints `effect-couchbase: <text>` for one failure, as every error line reads.
 *
 * @since 0.1.0
 */
export const printError = (text: string): Effect.Effect<void, never, CliIo> =>
  Effect.flatMap(CliIo, (io) => Effect.sync(() => io.err(`effect-couchbase: ${text}\n`)))

/**
 * The exit status of a run that ended in `cause`, its line printed. A defect (a bug)
 * prints its whole trace.
 *
 * @since 0.1.0
 */
export const reportCause = (cause: Cause.Cause<unknown>): Effect.Effect<number, never, CliIo> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.succeed(0)
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    if (failure.value instanceof Reported) return Effect.succeed(failure.value.status)
    const { status, text } = describeError(failure.value)
    return Effect.as(printError(text), status)
  }
  return Effect.as(printError(`unexpected error (please report it):\n${Cause.pretty(cause)}`), 1)
}
