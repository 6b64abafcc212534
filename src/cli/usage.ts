/**
 * The command line's argument handling: Node's own `util.parseArgs` (so the command
 * needs no package beyond the library's peers and starts quickly), a typed
 * {@link UsageError} for what the user typed wrong, and the strict number parsing the
 * options share.
 *
 * @since 0.1.0
 */
import { type ParseArgsConfig, parseArgs } from "node:util"
import { Data, Either } from "effect"

/** What the user typed cannot be run: printed as one line, exit status 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** The option declarations of a command, as `util.parseArgs` takes them. */
export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>

/** The values `util.parseArgs` returns for `specs`. */
export type OptionValues = Readonly<Record<string, string | boolean | ReadonlyArray<string | boolean> | undefined>>

/**
 * Parses `args` (no positionals allowed) against `specs`. Unknown options, missing
 * values and stray arguments become a {@link UsageError} naming them.
 */
export const parseOptions = (
  command: string,
  args: ReadonlyArray<string>,
  specs: OptionSpecs
): Either.Either<OptionValues, UsageError> => {
  try {
    const { values } = parseArgs({ args: [...args], options: specs, strict: true, allowPositionals: false })
    return Either.right(values as OptionValues)
  } catch (error) {
    // Node's first sentence names the problem; the rest is advice about `--` and
    // positionals that does not apply to these commands.
    const text = error instanceof Error ? error.message.split(/\.\s/)[0]!.replace(/\.$/, "") : String(error)
    return Either.left(new UsageError({ message: `${command}: ${text}; see effect-couchbase ${command} --help` }))
  }
}

/**
 * A non-negative decimal integer option (`--nodes 3`), or `undefined` when absent.
 * Anything else (`3.5`, `1e3`, `-1`, `three`) is a {@link UsageError} naming the option.
 */
export const integerOption = (values: OptionValues, name: string): Either.Either<number | undefined, UsageError> => {
  const text = values[name]
  if (text === undefined) return Either.right(undefined)
  if (typeof text !== "string" || !/^\d{1,9}$/.test(text)) {
    return Either.left(
      new UsageError({ message: `--${name} takes a whole number, got ${JSON.stringify(String(text))}` })
    )
  }
  return Either.right(Number(text))
}

/** A string option, or `undefined` when absent. */
export const stringOption = (values: OptionValues, name: string): string | undefined => {
  const value = values[name]
  return typeof value === "string" ? value : undefined
}

/** A repeatable string option, in the order given. */
export const stringsOption = (values: OptionValues, name: string): ReadonlyArray<string> => {
  const value = values[name]
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : []
}
