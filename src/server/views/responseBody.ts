/**
 * The body of a view query response, produced piece by piece in the layout of a
 * Couchbase node's view merger:
 *
 * ```
 * {"total_rows":7303,"rows":[\r\n{"id":…,"key":…,"value":…},\r\n…\r\n]\r\n}
 * ```
 *
 * (`debug_info` first when asked for, no `total_rows` on reduce queries, `errors`
 * after the rows when a reduction failed.) A generator, so that rows are computed only
 * as fast as the client takes them.
 *
 * @internal
 */
import { collate } from "./collation.js"
import type { CompiledView } from "./DesignDocument.js"
import type { QueryArgs } from "./QueryArgs.js"
import { reduceRows } from "./reduce.js"
import { type IndexRow, jsonText, type KeyRange, metaRev, scanRange, type ViewIndex } from "./ViewIndex.js"
import type { WorkerSandbox } from "./WorkerSandbox.js"

/** Where a query's rows come from. */
export interface QuerySource {
  readonly index: ViewIndex
  readonly view: CompiledView
  readonly sandbox: WorkerSandbox
  /** The `debug_info` member, when the query asked for debugging. */
  readonly debugInfo?: unknown
}

const ranges = (args: QueryArgs): ReadonlyArray<KeyRange> => {
  const base: Pick<KeyRange, "descending" | "startDocid" | "endDocid" | "inclusiveEnd"> = {
    descending: args.descending,
    startDocid: args.startDocid,
    endDocid: args.endDocid,
    inclusiveEnd: args.inclusiveEnd
  }
  if (args.keys === undefined) {
    return [
      {
        ...base,
        startKey: args.startKey,
        hasStartKey: args.hasStartKey,
        endKey: args.endKey,
        hasEndKey: args.hasEndKey
      }
    ]
  }
  return args.keys.map((key) => ({ ...base, startKey: key, hasStartKey: true, endKey: key, hasEndKey: true }))
}

const docJson = (row: IndexRow): string => {
  const { item } = row
  const meta = { id: item.id, rev: metaRev(item), expiration: item.expiry, flags: item.flags >>> 0 }
  const text = row.json ? jsonText(item) : undefined
  if (text !== undefined) return `{"meta":${JSON.stringify(meta)},"json":${text}}`
  const base64 = Buffer.from(item.value.buffer, item.value.byteOffset, item.value.byteLength).toString("base64")
  return `{"meta":${JSON.stringify({ ...meta, att_reason: "non-JSON mode" })},"base64":"${base64}"}`
}

const rowText = (row: IndexRow): string => {
  if (row.text === undefined) {
    row.text = `{"id":${JSON.stringify(row.id)},"key":${JSON.stringify(row.key)},"value":${JSON.stringify(row.value)}}`
  }
  return row.text
}

const mapRowJson = (row: IndexRow, includeDocs: boolean): string => {
  const text = rowText(row)
  return includeDocs ? `${text.slice(0, -1)},"doc":${docJson(row)}}` : text
}

const opening = (source: QuerySource, totalRows: boolean): string =>
  `{${source.debugInfo !== undefined ? `"debug_info":${JSON.stringify(source.debugInfo)},` : ""}${
    totalRows ? `"total_rows":${source.index.rows.length},` : ""
  }"rows":[`

const closing = (errors: ReadonlyArray<string>): string =>
  errors.length === 0 ? "\r\n]\r\n}" : `\r\n],\r\n"errors":[\r\n${errors.join(",\r\n")}\r\n]\r\n}`

function* mapBody(source: QuerySource, args: QueryArgs): Generator<string> {
  yield opening(source, true)
  let separator = "\r\n"
  let skip = args.skip
  let limit = args.limit
  scan: for (const range of ranges(args)) {
    for (const row of scanRange(source.index.rows, range)) {
      if (limit === 0) break scan
      if (skip > 0) {
        skip--
        continue
      }
      yield separator + mapRowJson(row, args.includeDocs)
      separator = ",\r\n"
      limit--
    }
  }
  yield closing([])
}

const groupKey = (key: unknown, level: number | "exact"): unknown =>
  level === "exact" ? key : level === 0 ? null : Array.isArray(key) ? key.slice(0, level) : key

// Asynchronous: a JavaScript reduce runs in the design document's worker.
async function* reduceBody(source: QuerySource, args: QueryArgs): AsyncGenerator<string> {
  const spec = source.view.reduce!
  yield opening(source, false)
  let separator = "\r\n"
  let skip = args.skip
  let limit = args.limit
  const errors: Array<string> = []
  // Returns false when the output must stop.
  const emit = async function* (key: unknown, rows: ReadonlyArray<IndexRow>): AsyncGenerator<string, boolean> {
    if (limit === 0) return false
    if (skip > 0) {
      skip--
      return true
    }
    const outcome = await reduceRows(spec, source.sandbox, rows)
    if (!outcome.ok) {
      errors.push(JSON.stringify({ from: "local", reason: outcome.reason }))
      return args.onError === "continue"
    }
    yield `${separator}{"key":${JSON.stringify(key)},"value":${outcome.json}}`
    separator = ",\r\n"
    limit--
    return true
  }
  scan: for (const range of ranges(args)) {
    let current: Array<IndexRow> = []
    let currentKey: unknown
    for (const row of scanRange(source.index.rows, range)) {
      const key = groupKey(row.key, args.groupLevel)
      if (current.length > 0 && collate(key, currentKey) !== 0) {
        if (!(yield* emit(currentKey, current))) break scan
        current = []
      }
      if (current.length === 0) currentKey = key
      current.push(row)
    }
    if (current.length > 0 && !(yield* emit(currentKey, current))) break
  }
  yield closing(errors)
}

/** The response body of a query, in pieces. */
export const responseBody = (source: QuerySource, args: QueryArgs): Iterable<string> | AsyncIterable<string> =>
  args.viewType === "reduce" ? reduceBody(source, args) : mapBody(source, args)
