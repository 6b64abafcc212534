/**
 * Reduction of a group of rows: the built-ins `_count`, `_sum` and `_stats`, and
 * JavaScript reduce functions. A JavaScript reduce sees the rows in chunks
 * (`rereduce = false`, with `[key, id]` pairs), then its own results
 * (`rereduce = true`, keys `null`) until one value is left, as a B-tree's inner nodes
 * would make it: a reduce function that is not rereduce-safe shows it here too.
 *
 * @internal
 */
import type { ReduceSpec } from "./DesignDocument.js"
import { isSandboxFailure } from "./Sandbox.js"
import type { IndexRow } from "./ViewIndex.js"
import type { WorkerSandbox } from "./WorkerSandbox.js"

/** The JSON of a reduction, or why it failed. */
export type ReduceOutcome =
  | { readonly ok: true; readonly json: string }
  | { readonly ok: false; readonly reason: string }

/** Rows per first-pass call, and values per rereduce call. */
export const REDUCE_CHUNK = 100

const sum = (rows: ReadonlyArray<IndexRow>): ReduceOutcome => {
  let scalar = 0
  let vector: Array<number> | undefined
  for (const row of rows) {
    const v = row.value
    if (typeof v === "number") {
      scalar += v
    } else if (Array.isArray(v) && v.every((x) => typeof x === "number")) {
      vector ??= []
      for (let i = 0; i < v.length; i++) vector[i] = (vector[i] ?? 0) + (v[i] as number)
    } else {
      return { ok: false, reason: "Builtin _sum function requires map values to be numbers or lists of numbers" }
    }
  }
  if (vector === undefined) return { ok: true, json: JSON.stringify(scalar) }
  // Scalars add to the first element, as CouchDB's _sum does when both kinds appear.
  if (scalar !== 0) vector[0] = (vector[0] ?? 0) + scalar
  return { ok: true, json: JSON.stringify(vector) }
}

const stats = (rows: ReadonlyArray<IndexRow>): ReduceOutcome => {
  let total = 0
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  let sumsqr = 0
  for (const row of rows) {
    const v = row.value
    if (typeof v !== "number") return { ok: false, reason: "Builtin _stats function requires map values to be numbers" }
    total += v
    sumsqr += v * v
    if (v < min) min = v
    if (v > max) max = v
  }
  return { ok: true, json: JSON.stringify({ sum: total, count: rows.length, min, max, sumsqr }) }
}

const javascript = async (
  sandbox: WorkerSandbox,
  index: number,
  rows: ReadonlyArray<IndexRow>
): Promise<ReduceOutcome> => {
  let values: Array<unknown> = []
  for (let i = 0; i < rows.length; i += REDUCE_CHUNK) {
    const chunk = rows.slice(i, i + REDUCE_CHUNK)
    const out = await sandbox.reduce(
      index,
      chunk.map((r) => [r.key, r.id]),
      chunk.map((r) => r.value),
      false
    )
    if (isSandboxFailure(out)) return { ok: false, reason: out.reason }
    if (rows.length <= REDUCE_CHUNK) return { ok: true, json: out }
    values.push(JSON.parse(out))
  }
  while (true) {
    const next: Array<unknown> = []
    for (let i = 0; i < values.length; i += REDUCE_CHUNK) {
      const out = await sandbox.reduce(index, null, values.slice(i, i + REDUCE_CHUNK), true)
      if (isSandboxFailure(out)) return { ok: false, reason: out.reason }
      if (values.length <= REDUCE_CHUNK) return { ok: true, json: out }
      next.push(JSON.parse(out))
    }
    values = next
  }
}

/** Reduces a non-empty group of rows (a JavaScript reduce runs in the design document's worker). */
export const reduceRows = (
  spec: ReduceSpec,
  sandbox: WorkerSandbox,
  rows: ReadonlyArray<IndexRow>
): ReduceOutcome | Promise<ReduceOutcome> => {
  if (spec._tag === "js") return javascript(sandbox, spec.index, rows)
  switch (spec.name) {
    case "_count":
      return { ok: true, json: String(rows.length) }
    case "_sum":
      return sum(rows)
    case "_stats":
      return stats(rows)
  }
}
