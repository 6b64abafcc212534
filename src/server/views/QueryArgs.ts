/**
 * The query parameters of a view request, parsed and validated as a Couchbase node
 * does (CouchDB's `parse_view_params` as kept by Couchbase, plus the view merger's
 * `keys`, `on_error` and `connection_timeout`), with the same 400 answers and
 * messages. Parameters are read in query-string order; a later one overrides an
 * earlier one; names the server does not know are ignored.
 *
 * @internal
 */
import { collate } from "./collation.js"
import { badRequest, erlangString, queryParseError, type ViewHttpError } from "./ViewHttpError.js"
import { type DocIdBound, MAX_DOCID, reverseDefault } from "./ViewIndex.js"

/** How the view is queried: a map view, a reduce view without reduction, or a reduce view. */
export type ViewType = "map" | "red_map" | "reduce"

/** Validated query arguments. */
export interface QueryArgs {
  readonly viewType: ViewType
  readonly descending: boolean
  readonly startKey: unknown
  readonly hasStartKey: boolean
  readonly endKey: unknown
  readonly hasEndKey: boolean
  readonly startDocid: DocIdBound
  readonly endDocid: DocIdBound
  readonly inclusiveEnd: boolean
  readonly limit: number
  readonly skip: number
  /** 0 = one group; `"exact"` = by the whole key; N = by the first N array elements. */
  readonly groupLevel: number | "exact"
  readonly stale: "false" | "ok" | "update_after"
  readonly includeDocs: boolean
  readonly debug: boolean
  readonly fullSet: boolean
  readonly onError: "continue" | "stop"
  /** Multi-get keys (`keys`), in order. */
  readonly keys: ReadonlyArray<unknown> | undefined
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const parseJson = (value: string): { ok: true; value: unknown } | { ok: false; error: ViewHttpError } => {
  try {
    return { ok: true, value: JSON.parse(value) }
  } catch {
    return { ok: false, error: badRequest(`invalid UTF-8 JSON: ${erlangString(value)}`) }
  }
}

const parseBool = (value: string): boolean | ViewHttpError => {
  const v = value.toLowerCase()
  if (v === "true") return true
  if (v === "false") return false
  return queryParseError(`Invalid boolean parameter: ${erlangString(value)}`)
}

// Erlang's list_to_integer: an optional sign and decimal digits, nothing else.
const parsePositiveInt = (value: string): number | ViewHttpError => {
  if (!/^[+-]?[0-9]+$/.test(value))
    return queryParseError(`Invalid value for integer parameter: ${erlangString(value)}`)
  const n = BigInt(value)
  if (n < 0n) return queryParseError(`Invalid value for positive integer parameter: ${erlangString(value)}`)
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n)
}

type Parsed =
  | { readonly k: "start_key" | "end_key"; readonly v: unknown }
  | { readonly k: "start_docid" | "end_docid"; readonly v: string }
  | { readonly k: "limit" | "skip"; readonly v: number }
  | { readonly k: "group_level"; readonly v: number | "exact" }
  | { readonly k: "stale"; readonly v: "false" | "ok" | "update_after" }
  | {
      readonly k: "descending" | "inclusive_end" | "reduce" | "include_docs" | "debug" | "conflicts" | "full_set"
      readonly v: boolean
    }

// parse_view_param: one query parameter to zero or more arguments.
const parseParam = (name: string, value: string): ReadonlyArray<Parsed> | ViewHttpError => {
  const bool = (k: Extract<Parsed, { v: boolean }>["k"]): ReadonlyArray<Parsed> | ViewHttpError => {
    const b = parseBool(value)
    return typeof b === "boolean" ? [{ k, v: b }] : b
  }
  const json = (...ks: ReadonlyArray<"start_key" | "end_key">): ReadonlyArray<Parsed> | ViewHttpError => {
    const r = parseJson(value)
    return r.ok ? ks.map((k) => ({ k, v: r.value })) : r.error
  }
  switch (name) {
    case "key":
      return json("start_key", "end_key")
    case "startkey":
    case "start_key":
      return json("start_key")
    case "endkey":
    case "end_key":
      return json("end_key")
    case "startkey_docid":
    case "start_key_doc_id":
      return [{ k: "start_docid", v: value }]
    case "endkey_docid":
    case "end_key_doc_id":
      return [{ k: "end_docid", v: value }]
    case "limit":
    case "skip": {
      const n = parsePositiveInt(value)
      return typeof n === "number" ? [{ k: name, v: n }] : n
    }
    case "group_level": {
      const n = parsePositiveInt(value)
      return typeof n === "number" ? [{ k: "group_level", v: n }] : n
    }
    case "group": {
      const b = parseBool(value)
      return typeof b === "boolean" ? [{ k: "group_level", v: b ? "exact" : 0 }] : b
    }
    case "count":
      return queryParseError("Query parameter 'count' is now 'limit'.")
    case "stale": {
      const v = value.toLowerCase()
      if (v === "false" || v === "ok" || v === "update_after") return [{ k: "stale", v }]
      return queryParseError("stale only available as stale=ok, stale=update_after or stale=false")
    }
    case "descending":
    case "inclusive_end":
    case "reduce":
    case "include_docs":
    case "conflicts":
    case "debug":
    case "full_set":
      return bool(name)
    case "_type": {
      const v = value.toLowerCase()
      return v === "main" || v === "replica"
        ? []
        : queryParseError("_type only available as _type=main or _type=replica")
    }
    default:
      // Everything else (list, callback, on_error, keys, connection_timeout, unknown names)
      // is not a view argument, or is read elsewhere.
      return []
  }
}

/** The request's merger-level parameters: `keys`, `on_error`, `connection_timeout`. */
export interface RequestParams {
  /** The query string, in order. */
  readonly query: ReadonlyArray<readonly [string, string]>
  /** The parsed POST body, when the request is a POST. */
  readonly body?: Readonly<Record<string, unknown>> | undefined
}

const first = (query: ReadonlyArray<readonly [string, string]>, name: string): string | undefined =>
  query.find(([k]) => k === name)?.[1]

/**
 * Validates `keys`, `on_error` and `connection_timeout`, which a node checks before it
 * looks the view up.
 */
export const parseMergeParams = (
  req: RequestParams
): { readonly keys: ReadonlyArray<unknown> | undefined; readonly onError: "continue" | "stop" } | ViewHttpError => {
  let keys: unknown
  if (req.body !== undefined) {
    keys = req.body.keys
  } else {
    const raw = first(req.query, "keys")
    if (raw !== undefined) {
      const r = parseJson(raw)
      if (!r.ok) return r.error
      keys = r.value
    }
  }
  if (keys !== undefined && !Array.isArray(keys)) return badRequest("`keys` parameter is not an array.")
  const rawTimeout = first(req.query, "connection_timeout")
  let timeout: unknown = req.body?.connection_timeout
  if (timeout === undefined && rawTimeout !== undefined) {
    const r = parseJson(rawTimeout)
    if (!r.ok) return r.error
    timeout = r.value
  }
  if (timeout !== undefined && timeout !== null && !Number.isInteger(timeout)) {
    return badRequest("Query parameter `connection_timeout` must be an integer")
  }
  const onError =
    typeof req.body?.on_error === "string" ? req.body.on_error : (first(req.query, "on_error") ?? "continue")
  if (onError !== "continue" && onError !== "stop") {
    return badRequest(
      `Invalid value (\`${onError}\`) for the parameter \`on_error\`. It must be \`continue\` (default) or \`stop\`.`
    )
  }
  return { keys: keys as ReadonlyArray<unknown> | undefined, onError }
}

/**
 * Parses and validates the view arguments of a request to a view that has (or has
 * not) a reduce function, with the multi-get keys and `on_error` already validated.
 */
export const parseQueryArgs = (
  query: ReadonlyArray<readonly [string, string]>,
  hasReduce: boolean,
  merge: { readonly keys: ReadonlyArray<unknown> | undefined; readonly onError: "continue" | "stop" }
): QueryArgs | ViewHttpError => {
  const viewType: ViewType = !hasReduce
    ? "map"
    : (first(query, "reduce") ?? "true").toLowerCase() === "false"
      ? "red_map"
      : "reduce"
  if (first(query, "group") !== undefined && first(query, "group_level") !== undefined) {
    return queryParseError("Query parameter `group_level` is not compatible with `group`")
  }
  const parsed: Array<Parsed> = []
  for (const [name, value] of query) {
    const r = parseParam(name, value)
    if (!Array.isArray(r)) return r as ViewHttpError
    parsed.push(...(r as ReadonlyArray<Parsed>))
  }
  const multiGet = merge.keys !== undefined
  const args: Mutable<QueryArgs> = {
    viewType,
    descending: false,
    startKey: undefined,
    hasStartKey: false,
    endKey: undefined,
    hasEndKey: false,
    startDocid: "",
    endDocid: MAX_DOCID,
    inclusiveEnd: true,
    limit: Number.MAX_SAFE_INTEGER,
    skip: 0,
    groupLevel: 0,
    stale: "update_after",
    includeDocs: false,
    debug: false,
    fullSet: false,
    onError: merge.onError,
    keys: merge.keys
  }
  // validate_view_query, in query-string order.
  for (const p of parsed) {
    switch (p.k) {
      case "start_key":
      case "end_key":
        if (multiGet) return queryParseError(`Query parameter \`${p.k}\` is not compatible with multi-get`)
        if (p.k === "start_key") {
          args.startKey = p.v
          args.hasStartKey = true
        } else {
          args.endKey = p.v
          args.hasEndKey = true
        }
        break
      case "start_docid":
        args.startDocid = p.v
        break
      case "end_docid":
        args.endDocid = p.v
        break
      case "limit":
        args.limit = p.v
        break
      case "skip":
        args.skip = p.v
        break
      case "stale":
        args.stale = p.v
        break
      case "descending":
        if (p.v && !args.descending) {
          args.descending = true
          args.startDocid = reverseDefault(args.startDocid)
          args.endDocid = reverseDefault(args.endDocid)
        }
        break
      case "group_level":
        if (viewType !== "reduce") {
          return queryParseError("Invalid URL parameter 'group' or  'group_level' for non-reduce view.")
        }
        args.groupLevel = p.v
        break
      case "inclusive_end":
        args.inclusiveEnd = p.v
        break
      case "reduce":
        if (p.v && viewType === "map") return queryParseError("Invalid URL parameter `reduce` for map view.")
        break
      case "include_docs":
        if (p.v && viewType === "reduce") {
          return queryParseError("Query parameter `include_docs` is invalid for reduce views.")
        }
        args.includeDocs = p.v
        break
      case "conflicts":
        if (p.v && viewType === "reduce")
          return queryParseError("Query parameter `conflicts` is invalid for reduce views.")
        break
      case "debug":
        args.debug = p.v
        break
      case "full_set":
        args.fullSet = p.v
        break
    }
  }
  // warn_on_empty_key_range: a range that cannot match anything is an error.
  if (args.hasStartKey && args.hasEndKey && JSON.stringify(args.startKey) !== JSON.stringify(args.endKey)) {
    const less = collate(args.startKey, args.endKey) < 0
    if (!args.descending && !less) {
      return queryParseError(
        "No rows can match your key range, reverse your start_key and end_key or set descending=true"
      )
    }
    if (args.descending && less) {
      return queryParseError(
        "No rows can match your key range, reverse your start_key and end_key or set descending=false"
      )
    }
  }
  if (viewType === "reduce" && multiGet && args.groupLevel !== "exact") {
    return queryParseError("Multi-key fetchs for reduce view must include `group=true`")
  }
  return args
}
