/**
 * A view's index: every `emit` of its map function over the bucket's live items,
 * sorted by (key collation, document ID), and the range scans queries make on it.
 * It is built in batches that yield to the event loop, so that indexing a large
 * bucket never stalls the node's other traffic.
 *
 * @internal
 */
import { collate, compareDocIds } from "./collation.js"
import { isSandboxFailure, type MapInput, type MapMeta } from "./Sandbox.js"
import type { ViewSourceItem } from "./ViewSource.js"
import type { WorkerSandbox } from "./WorkerSandbox.js"

/** One emitted row. */
export interface IndexRow {
  readonly key: unknown
  readonly id: string
  readonly value: unknown
  /** The item that emitted it, for `include_docs`. */
  readonly item: ViewSourceItem
  readonly json: boolean
  /**
   * The row as the response writes it without its document, kept from its first
   * query: an index does not change once built, and writing the JSON of every key and
   * value again on every query was most of a query's cost to the server.
   */
  text: string | undefined
}

/** A map function that failed on a document (the document contributes no rows). */
export interface MapError {
  readonly id: string
  readonly reason: string
}

/** A built index. */
export interface ViewIndex {
  readonly rows: ReadonlyArray<IndexRow>
  /** How many items were mapped. */
  readonly documents: number
  /** The first map failures (at most 100), and how many there were in all. */
  readonly mapErrors: ReadonlyArray<MapError>
  readonly mapErrorCount: number
  /** The earliest expiry (Unix seconds) among the items, 0 when none expires. */
  readonly earliestExpiry: number
}

/** Options of {@link buildIndex}. */
export interface BuildOptions {
  /** Items per sandbox call. */
  readonly batchSize: number
  /** The time limit of one sandbox call, in milliseconds. */
  readonly timeoutMs: number
  /** Rows the index may hold (default {@link MAX_INDEX_ROWS}). */
  readonly maxRows?: number | undefined
}

const MAX_KEPT_ERRORS = 100
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Couchbase's `meta.rev`: `<revSeqno>-<cas:16 hex><expiry:8 hex><flags:8 hex>`. */
export const metaRev = (item: ViewSourceItem): string =>
  `${item.revSeqno ?? 1}-${item.cas.toString(16).padStart(16, "0")}${(item.expiry >>> 0)
    .toString(16)
    .padStart(8, "0")}${(item.flags >>> 0).toString(16).padStart(8, "0")}`

const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** The JSON text of an item's value, or `undefined` when the value is not JSON. */
export const jsonText = (item: ViewSourceItem): string | undefined => {
  let text: string
  try {
    text = utf8.decode(item.value)
  } catch {
    return undefined
  }
  if (item.datatype & 0x01) return text
  // Without the JSON datatype bit, the value is JSON when it parses (as a node decides on store).
  try {
    JSON.parse(text)
    return text
  } catch {
    return undefined
  }
}

const meta = (item: ViewSourceItem, type: "json" | "base64"): MapMeta => ({
  id: item.id,
  rev: metaRev(item),
  flags: item.flags >>> 0,
  expiration: item.expiry,
  type
})

const toInput = (item: ViewSourceItem): MapInput => {
  const text = jsonText(item)
  return text !== undefined ? [0, text, meta(item, "json")] : [1, base64(item.value), meta(item, "base64")]
}

/**
 * Rows one index may hold. The rows live in the host's memory, and the per-document
 * cap of the sandbox (10 000) times a bucket's documents is no bound at all: past this
 * the build stops mapping and the remaining documents get an error.
 */
export const MAX_INDEX_ROWS = 5_000_000

/** Documents of one index build allowed to hit the map function's time limit. */
export const MAX_TIMEOUTS_PER_BUILD = 3

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** Orders rows by key collation, then document ID. */
export const compareRows = (a: IndexRow, b: IndexRow): number => collate(a.key, b.key) || compareDocIds(a.id, b.id)

/** Builds the index of map number `mapIndex` of `sandbox` over `items`. */
export const buildIndex = async (
  sandbox: WorkerSandbox,
  mapIndex: number,
  items: Iterable<ViewSourceItem>,
  options: BuildOptions
): Promise<ViewIndex> => {
  const maxRows = options.maxRows ?? MAX_INDEX_ROWS
  const rows: Array<IndexRow> = []
  const mapErrors: Array<MapError> = []
  let mapErrorCount = 0
  let documents = 0
  let earliestExpiry = 0
  const recordError = (id: string, reason: string) => {
    mapErrorCount++
    if (mapErrors.length < MAX_KEPT_ERRORS) mapErrors.push({ id, reason })
  }

  // Documents whose map call hit the time limit in this build. A culprit is found by
  // running its batch document by document; past MAX_TIMEOUTS_PER_BUILD of them the
  // rest is not mapped, so that a map function that loops on every document costs a
  // few time limits, not one per document (5 s × 7303 for beer-sample).
  let timeouts = 0
  const run = async (batch: ReadonlyArray<ViewSourceItem>, inputs: ReadonlyArray<MapInput>): Promise<void> => {
    if (timeouts >= MAX_TIMEOUTS_PER_BUILD || rows.length >= maxRows) {
      const why =
        timeouts >= MAX_TIMEOUTS_PER_BUILD
          ? `the map function hit its time limit on ${timeouts} documents`
          : `the index reached its limit of ${maxRows} rows`
      for (const item of batch) recordError(item.id, `not mapped: ${why}`)
      return
    }
    const result = await sandbox.map(mapIndex, inputs, options.timeoutMs)
    if (isSandboxFailure(result)) {
      if (batch.length === 1) {
        if (result.timeout) timeouts++
        recordError(batch[0]!.id, result.reason)
        return
      }
      // Find the culprit: each document on its own, under its own time limit.
      for (let i = 0; i < batch.length; i++) await run([batch[i]!], [inputs[i]!])
      return
    }
    for (const [i, reason] of result.errors) recordError(batch[i]!.id, reason)
    const invalid = new Set(result.invalid)
    for (let i = 0; i < batch.length; i++) {
      if (invalid.has(i)) continue
      const item = batch[i]!
      const json = inputs[i]![0] === 0
      for (const [key, value] of result.emits[i]!) rows.push({ key, id: item.id, value, item, json, text: undefined })
    }
    if (invalid.size > 0) {
      // Flagged JSON by its datatype but not JSON after all: map it as binary, as a node would.
      const again = [...invalid].map((i) => batch[i]!)
      await run(
        again,
        again.map((item): MapInput => [1, base64(item.value), meta(item, "base64")])
      )
    }
  }

  let batch: Array<ViewSourceItem> = []
  const flush = async () => {
    const full = batch
    batch = []
    await run(full, full.map(toInput))
  }
  for (const item of items) {
    documents++
    if (item.expiry > 0 && (earliestExpiry === 0 || item.expiry < earliestExpiry)) earliestExpiry = item.expiry
    batch.push(item)
    if (batch.length >= options.batchSize) {
      await flush()
      await yieldToLoop()
    }
  }
  if (batch.length > 0) await flush()
  rows.sort(compareRows)
  return { rows, documents, mapErrors, mapErrorCount, earliestExpiry }
}

/** A bound on document IDs that is above every ID (the server's `<<255>>`). */
export const MAX_DOCID: unique symbol = Symbol("max docid")

/** A document-ID bound: an ID, `""` (below every ID) or {@link MAX_DOCID}. */
export type DocIdBound = string | typeof MAX_DOCID

/** Swaps the two default bounds (the server's `reverse_key_default`). */
export const reverseDefault = (d: DocIdBound): DocIdBound => (d === "" ? MAX_DOCID : d === MAX_DOCID ? "" : d)

const compareTo = (row: IndexRow, key: unknown, docid: DocIdBound): number =>
  collate(row.key, key) || (docid === MAX_DOCID ? -1 : compareDocIds(row.id, docid))

/** The first position whose row is at or after (key, docid). */
export const lowerBound = (rows: ReadonlyArray<IndexRow>, key: unknown, docid: DocIdBound): number => {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareTo(rows[mid]!, key, docid) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The first position whose row is after (key, docid). */
export const upperBound = (rows: ReadonlyArray<IndexRow>, key: unknown, docid: DocIdBound): number => {
  let lo = 0
  let hi = rows.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareTo(rows[mid]!, key, docid) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A key range, in the server's terms. `undefined` keys are open ends. */
export interface KeyRange {
  readonly descending: boolean
  readonly startKey: unknown
  readonly hasStartKey: boolean
  readonly endKey: unknown
  readonly hasEndKey: boolean
  readonly startDocid: DocIdBound
  readonly endDocid: DocIdBound
  readonly inclusiveEnd: boolean
}

/** The rows of a range, in query order. */
export function* scanRange(rows: ReadonlyArray<IndexRow>, range: KeyRange): Generator<IndexRow> {
  if (!range.descending) {
    const from = range.hasStartKey ? lowerBound(rows, range.startKey, range.startDocid) : 0
    const to = !range.hasEndKey
      ? rows.length
      : range.inclusiveEnd
        ? upperBound(rows, range.endKey, range.endDocid)
        : lowerBound(rows, range.endKey, reverseDefault(range.endDocid))
    for (let i = from; i < to; i++) yield rows[i]!
  } else {
    const from = range.hasStartKey ? upperBound(rows, range.startKey, range.startDocid) - 1 : rows.length - 1
    const to = !range.hasEndKey
      ? 0
      : range.inclusiveEnd
        ? lowerBound(rows, range.endKey, range.endDocid)
        : upperBound(rows, range.endKey, reverseDefault(range.endDocid))
    for (let i = from; i >= to; i--) yield rows[i]!
  }
}
