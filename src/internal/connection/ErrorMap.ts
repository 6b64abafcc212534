/**
 * The node's error map (GET_ERROR_MAP, kv_engine `docs/ErrorMap.md`, SDK RFC 0013):
 * what a status this client does not know means and how to react to it.
 *
 * The client keeps its own handling of every status it knows (the RFC: "SDK settings
 * must always take precedence"); the map is read only for the others:
 * - `auto-retry` with a `retry` specification: retried on that schedule (`after`
 *   first, then `interval` constant, linear or exponential up to `ceil`), for at
 *   most `max-duration` and never past the operation's deadline;
 * - `retry-now` / `retry-later` without one: retried with the client's backoff;
 * - `fetch-config`: a newer cluster map is fetched;
 * - `conn-state-invalidated`: the connection is dropped and re-opened;
 * - and the error names the status as the map does.
 *
 * The map is per node: each pipeline carries the one its node sent.
 *
 * @internal
 */

/** How the map says a status should be retried (format version 2). */
export interface RetrySpec {
  readonly strategy: "constant" | "linear" | "exponential"
  /** Base interval (ms). */
  readonly interval: number
  /** The wait before the first retry (ms). */
  readonly after: number
  /** The longest interval (ms) of linear and exponential; none when absent. */
  readonly ceil: number | undefined
  /** How long retrying may go on in all (ms); absent or 0 = the operation's timeout. */
  readonly maxDuration: number | undefined
}

/** One status of the map. */
export interface ErrorMapEntry {
  readonly code: number
  readonly name: string
  readonly description: string
  readonly attrs: ReadonlySet<string>
  readonly retry: RetrySpec | undefined
}

/** A parsed error map. */
export interface ErrorMap {
  readonly version: number
  readonly revision: number
  readonly entries: ReadonlyMap<number, ErrorMapEntry>
}

const STRATEGIES: ReadonlySet<string> = new Set(["constant", "linear", "exponential"])

const nonNegative = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0

const parseRetry = (value: unknown): RetrySpec | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const r = value as Record<string, unknown>
  if (typeof r.strategy !== "string" || !STRATEGIES.has(r.strategy)) return undefined
  if (!nonNegative(r.interval) || !nonNegative(r.after)) return undefined
  return {
    strategy: r.strategy as RetrySpec["strategy"],
    interval: r.interval,
    after: r.after,
    ceil: nonNegative(r.ceil) ? r.ceil : undefined,
    maxDuration: nonNegative(r["max-duration"]) ? r["max-duration"] : undefined
  }
}

/**
 * Reads the JSON of GET_ERROR_MAP. Entries that are malformed are skipped (an unknown
 * status then stays a plain protocol error); a map that is not an object at all is
 * undefined.
 */
export const parse = (json: unknown): ErrorMap | undefined => {
  if (typeof json !== "object" || json === null) return undefined
  const map = json as Record<string, unknown>
  const errors = map.errors
  if (typeof errors !== "object" || errors === null) return undefined
  const entries = new Map<number, ErrorMapEntry>()
  for (const [hex, raw] of Object.entries(errors as Record<string, unknown>)) {
    const code = Number.parseInt(hex, 16)
    if (!/^[0-9a-fA-F]{1,4}$/.test(hex) || typeof raw !== "object" || raw === null) continue
    const e = raw as Record<string, unknown>
    if (typeof e.name !== "string" || !Array.isArray(e.attrs)) continue
    const attrs = new Set(e.attrs.filter((a): a is string => typeof a === "string"))
    entries.set(code, {
      code,
      name: e.name,
      description: typeof e.desc === "string" ? e.desc : "",
      attrs,
      retry: attrs.has("auto-retry") ? parseRetry(e.retry) : undefined
    })
  }
  return {
    version: typeof map.version === "number" ? map.version : 1,
    revision: typeof map.revision === "number" ? map.revision : 0,
    entries
  }
}

/** Whether the map says the status may be retried. */
export const isRetryable = (entry: ErrorMapEntry): boolean =>
  entry.retry !== undefined || entry.attrs.has("retry-now") || entry.attrs.has("retry-later")

/**
 * The wait (ms) before retry number `retry` (1, 2, …) of a status with a retry
 * specification: `after` before the first; then `interval` (constant),
 * `interval × (retry − 1)` (linear) or `interval ^ (retry − 1)` (exponential), at
 * most `ceil`.
 */
export const retryDelay = (spec: RetrySpec, retry: number): number => {
  if (retry <= 1) return spec.after
  const n = retry - 1
  const raw =
    spec.strategy === "constant" ? spec.interval : spec.strategy === "linear" ? spec.interval * n : spec.interval ** n
  return spec.ceil === undefined || spec.ceil === 0 ? raw : Math.min(raw, spec.ceil)
}

/** How the map names a status, for error messages: `NAME (description)`. */
export const describe = (entry: ErrorMapEntry): string =>
  entry.description === "" ? entry.name : `${entry.name} (${entry.description})`
