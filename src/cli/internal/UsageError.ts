/**
 * What the user typed cannot be run: printed as one line, exit status 2.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/**
 * A command line that cannot be run as typed (beyond what the parser checks: options
 * that go together, a file that cannot be read), with the message to print.
 *
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}
