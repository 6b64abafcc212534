/**
 * Option and argument builders the commands share: numbers and JSON values with one
 * clear message when they do not parse, and `--json`.
 *
 * @since 0.1.0
 */
import { Args, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Effect } from "effect"

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/**
 * A whole number `--name N` from `min` (default 0) to `max`; anything else (`1.5`,
 * `1e3`, `-1`, `two`) is refused with a message naming the option.
 *
 * @since 0.1.0
 */
export const wholeNumber = (name: string, max = 999_999_999, min = 0): Options.Options<number> =>
  Options.text(name).pipe(
    Options.mapEffect((text) => {
      const ok = /^\d{1,9}$/.test(text) && Number(text) <= max && Number(text) >= min
      const range = max < 999_999_999 || min > 0 ? ` from ${min} to ${max}` : ""
      return ok
        ? Effect.succeed(Number(text))
        : invalid(`--${name} takes a whole number${range}, got ${JSON.stringify(text)}`)
    })
  )

/** A CAS is an unsigned 64-bit number. */
const MAX_CAS = 2n ** 64n - 1n
const isCas = (text: string) => /^\d{1,20}$/.test(text) && BigInt(text) <= MAX_CAS

/**
 * A key: any text, but not something that looks like an option. A mistyped option
 * would otherwise become a key, and with it its value (`--pasword=x`) could show in an
 * error line; only the part before `=` is named.
 *
 * @since 0.1.0
 */
export const keyArg: Args.Args<string> = Args.text({ name: "key" }).pipe(
  Args.mapEffect((text) =>
    text.startsWith("-") && text.length > 1
      ? Effect.fail(HelpDoc.p(`unknown option ${optionName(text)}`))
      : Effect.succeed(text)
  )
)

/** How an unknown option is named in an error: never with the value typed after it. */
const optionName = (text: string): string =>
  text.startsWith("--") ? text.split("=")[0]! : `${text.slice(0, 2)}${text.length > 2 ? "…" : ""}`

/**
 * A signed integer `--name N` as a `bigint` (counter deltas and initial values are
 * 64-bit on the wire).
 *
 * @since 0.1.0
 */
export const bigInteger = (name: string): Options.Options<bigint> =>
  Options.text(name).pipe(
    Options.mapEffect((text) =>
      /^-?\d{1,20}$/.test(text)
        ? Effect.succeed(BigInt(text))
        : invalid(`--${name} takes an integer, got ${JSON.stringify(text)}`)
    )
  )

/** Parses `text` as JSON, or explains what a JSON value looks like. */
const parseJson = (what: string, text: string) => {
  try {
    return Effect.succeed(JSON.parse(text) as unknown)
  } catch {
    return invalid(`${what} takes a JSON value (a string is written "abc", with the quotes), got ${text}`)
  }
}

/**
 * An option whose value is JSON (`--key '["US", 2]'`), as view keys are.
 *
 * @since 0.1.0
 */
export const jsonOption = (name: string): Options.Options<unknown> =>
  Options.text(name).pipe(Options.mapEffect((text) => parseJson(`--${name}`, text)))

/**
 * A positional CAS: the decimal number that `lock` and the stores print.
 *
 * @since 0.1.0
 */
export const casArg = (name = "cas"): Args.Args<bigint> =>
  Args.text({ name }).pipe(
    Args.mapEffect((text) =>
      isCas(text)
        ? Effect.succeed(BigInt(text))
        : Effect.fail(HelpDoc.p(`<${name}> is the decimal CAS that lock printed, got ${JSON.stringify(text)}`))
    )
  )

/**
 * `--cas N`: only act on that version of the document.
 *
 * @since 0.1.0
 */
export const casOption: Options.Options<bigint> = Options.text("cas").pipe(
  Options.mapEffect((text) =>
    isCas(text) ? Effect.succeed(BigInt(text)) : invalid(`--cas takes a decimal CAS, got ${JSON.stringify(text)}`)
  ),
  Options.withDescription("only if the document is still at this CAS (the number a store or lock printed)")
)

/**
 * `--json`: one JSON object per line on stdout, for scripts.
 *
 * @since 0.1.0
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("print one JSON object per line instead of text")
)
