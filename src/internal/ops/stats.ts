/**
 * `stats`: STAT to every node, per group. A node answers one packet per statistic
 * (key = name, value = text) and ends the group with a packet whose key is empty.
 * The result is the Python SDK's shape, `{ stat: { "host:port": value } }`, with
 * integer values as numbers (those beyond 2^53 stay strings, to stay exact).
 *
 * @internal
 */
import { Either } from "effect"
import type { Stats } from "../../Connection.js"
import { type ArgumentError, type NotFoundError, ProtocolError } from "../../Errors.js"
import { Opcode, Status } from "../protocol/constants.js"
import type { Frame } from "../protocol/Frame.js"
import { argumentError, MAX_KEY_BYTES } from "./args.js"
import { type CommonStatusError, statsSpec, statusError } from "./status.js"

/**
 * Checks `stats(groups)`: nothing (or an empty list) asks for the default group; a
 * group is a non-empty string of at most 250 bytes (e.g. `memory`, `key k 0`).
 */
export const validateStats = (groups: unknown): Either.Either<ReadonlyArray<string>, ArgumentError> => {
  if (groups === undefined) return Either.right([""])
  const list = typeof groups === "string" ? [groups] : groups
  if (!Array.isArray(list)) return Either.left(argumentError("stats", "groups must be a string or an array of strings"))
  if (list.length === 0) return Either.right([""])
  const seen = new Set<string>()
  for (const g of list) {
    if (typeof g !== "string" || g === "" || Buffer.byteLength(g, "utf8") > MAX_KEY_BYTES) {
      return Either.left(
        argumentError("stats", `a stats group must be a non-empty string of at most 250 bytes, got ${String(g)}`)
      )
    }
    if (seen.has(g)) return Either.left(argumentError("stats", `the group ${JSON.stringify(g)} is given twice`))
    seen.add(g)
  }
  return Either.right(list as ReadonlyArray<string>)
}

/** One packet of a STAT response: a statistic, or the end of the group. */
export type StatPacket =
  | { readonly _tag: "Stat"; readonly name: string; readonly value: string }
  | { readonly _tag: "End" }

const END: StatPacket = { _tag: "End" }

/** Decodes one STAT response packet; `group` names the request in errors. */
export const decodeStat = (
  frame: Frame,
  group: string
): Either.Either<StatPacket, CommonStatusError | NotFoundError> => {
  if (frame.opcode !== Opcode.Stat) {
    return Either.left(
      new ProtocolError({ message: `the response to stats carries opcode 0x${frame.opcode.toString(16)}` })
    )
  }
  if (frame.status !== Status.Success) return Either.left(statusError(statsSpec, frame.status, group || "(default)"))
  if (frame.key.length === 0) return Either.right(END)
  return Either.right({ _tag: "Stat", name: frame.key.toString("utf8"), value: frame.value.toString("utf8") })
}

/** A statistic's value: an integer as a number when exact, anything else as text. */
export const statValue = (text: string): number | string => {
  if (/^-?[0-9]+$/.test(text)) {
    const n = Number(text)
    if (Number.isSafeInteger(n)) return n
  }
  return text
}

/** Gathers statistics from several nodes into the result of `stats`. */
export class StatsCollector {
  private readonly stats: Record<string, Record<string, number | string>> = {}

  /** Records `name = value` as reported by `node` (`"host:port"`). */
  add(node: string, name: string, value: string): void {
    const row = this.stats[name] ?? (this.stats[name] = {})
    row[node] = statValue(value)
  }

  /** The result so far. */
  result(): Stats {
    return this.stats
  }
}
