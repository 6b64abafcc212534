/**
 * Sub-document paths and the JSON operations on them, as kv_engine defines them:
 * components separated by `.`, array indexes in brackets right after a component
 * (`-1` for the last element), backticks to quote a component (two for a literal
 * backtick). Lookups and mutations work on parsed JSON and answer the sub-document
 * statuses (path not found, mismatch, invalid, exists, cannot insert, number range).
 *
 * @internal
 */

/** The sub-document statuses these operations produce. */
export const SubdocStatus = {
  PathNotFound: 0xc0,
  PathMismatch: 0xc1,
  PathInvalid: 0xc2,
  PathTooBig: 0xc3,
  DocTooDeep: 0xc4,
  ValueCantInsert: 0xc5,
  DocNotJson: 0xc6,
  NumRange: 0xc7,
  DeltaInvalid: 0xc8,
  PathExists: 0xc9,
  ValueTooDeep: 0xca,
  InvalidCombo: 0xcb,
  MultiPathFailure: 0xcc,
  SuccessDeleted: 0xcd,
  XattrInvalidFlagCombo: 0xce,
  XattrInvalidKeyCombo: 0xcf,
  XattrUnknownMacro: 0xd0,
  XattrUnknownVattr: 0xd1,
  XattrCantModifyVattr: 0xd2,
  MultiPathFailureDeleted: 0xd3,
  InvalidXattrOrder: 0xd4
} as const

/** A path component: an object key, or an array index (-1: the last element). */
export type Component = string | number

/** kv_engine's limits: 1024 bytes of path, 32 levels. */
const MAX_PATH_BYTES = 1024
const MAX_DEPTH = 32

/** A failed operation's sub-document status. */
export class SubdocFailure {
  constructor(readonly status: number) {}
}

const fail = (status: number): never => {
  throw new SubdocFailure(status)
}

/** Parses a path; an empty path is the document's root. */
export const parsePath = (path: string): ReadonlyArray<Component> => {
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) fail(SubdocStatus.PathTooBig)
  const out: Array<Component> = []
  if (path === "") return out
  let i = 0
  for (;;) {
    // A key: plain or backtick-quoted.
    let key = ""
    if (path[i] === "`") {
      i++
      for (;;) {
        if (i >= path.length) fail(SubdocStatus.PathInvalid)
        if (path[i] === "`") {
          if (path[i + 1] === "`") {
            key += "`"
            i += 2
            continue
          }
          i++
          break
        }
        key += path[i++]
      }
      out.push(key)
    } else if (path[i] !== "[") {
      while (i < path.length && path[i] !== "." && path[i] !== "[") {
        if (path[i] === "]" || path[i] === "`") fail(SubdocStatus.PathInvalid)
        key += path[i++]
      }
      if (key === "") fail(SubdocStatus.PathInvalid)
      out.push(key)
    } else if (out.length === 0 && i !== 0) fail(SubdocStatus.PathInvalid)
    // Indexes right after.
    while (path[i] === "[") {
      const close = path.indexOf("]", i)
      if (close < 0) fail(SubdocStatus.PathInvalid)
      const text = path.slice(i + 1, close)
      if (!/^(-1|\d+)$/.test(text)) fail(SubdocStatus.PathInvalid)
      out.push(Number(text))
      i = close + 1
    }
    if (out.length > MAX_DEPTH) fail(SubdocStatus.PathTooBig)
    if (i >= path.length) return out
    if (path[i] !== ".") fail(SubdocStatus.PathInvalid)
    i++
    if (i >= path.length) fail(SubdocStatus.PathInvalid)
  }
}

type Json = unknown
const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v)

/** The index `c` means in `array` (-1: the last), or -1 when there is no such element. */
const indexIn = (array: ReadonlyArray<Json>, c: number): number => {
  const at = c === -1 ? array.length - 1 : c
  return at >= 0 && at < array.length ? at : -1
}

/** Where a path component sits in its container: a key of an object, or an element of an array. */
interface Slot {
  readonly exists: boolean
  get(): Json
  set(value: Json): void
  remove(): void
}

/**
 * The slot component `c` names in `container`: PATH_MISMATCH when the container is not
 * of that kind (a key of an array, an index of an object or a scalar), PATH_NOT_FOUND
 * for an array element past the end. A missing key is a slot that does not exist yet.
 */
const slotOf = (container: Json, c: Component): Slot => {
  if (typeof c === "string") {
    if (!isObject(container)) fail(SubdocStatus.PathMismatch)
    const object = container as Record<string, Json>
    return {
      exists: Object.hasOwn(object, c),
      get: () => object[c],
      set: (value) => {
        object[c] = value
      },
      remove: () => {
        delete object[c]
      }
    }
  }
  if (!Array.isArray(container)) fail(SubdocStatus.PathMismatch)
  const array = container as Array<Json>
  const at = indexIn(array, c)
  if (at < 0) fail(SubdocStatus.PathNotFound)
  return {
    exists: true,
    get: () => array[at],
    set: (value) => {
      array[at] = value
    },
    remove: () => {
      array.splice(at, 1)
    }
  }
}

/** The existing value component `c` names in `container`. */
const existing = (container: Json, c: Component): Slot => {
  const slot = slotOf(container, c)
  if (!slot.exists) fail(SubdocStatus.PathNotFound)
  return slot
}

/** The value at `path` in `doc`. */
export const lookup = (doc: Json, path: ReadonlyArray<Component>): Json =>
  path.reduce((current: Json, c) => existing(current, c).get(), doc)

/**
 * The container holding the last component of `path`, walking from `doc`; with
 * `create`, missing intermediate object keys are made (never array elements).
 */
const parentOf = (doc: Json, path: ReadonlyArray<Component>, create: boolean): Json => {
  let current = doc
  for (let n = 0; n < path.length - 1; n++) {
    const slot = slotOf(current, path[n]!)
    if (!slot.exists) {
      // Only objects are created: the next component must be a key.
      if (!create || typeof path[n + 1] !== "string") fail(SubdocStatus.PathNotFound)
      slot.set({})
    }
    current = slot.get()
  }
  return current
}

/** The slot of the last component of a non-empty `path`. */
const lastSlot = (doc: Json, path: ReadonlyArray<Component>, create: boolean): Slot => {
  if (path.length === 0) fail(SubdocStatus.PathInvalid)
  return slotOf(parentOf(doc, path, create), path[path.length - 1]!)
}

/** Parses a spec's value as JSON (several comma-separated values for array pushes). */
export const parseValue = (text: string, multiple = false): Array<Json> => {
  try {
    const parsed = JSON.parse(multiple ? `[${text}]` : text) as Json
    if (multiple) {
      if ((parsed as Array<Json>).length === 0) fail(SubdocStatus.ValueCantInsert)
      return parsed as Array<Json>
    }
    return [parsed]
  } catch (error) {
    if (error instanceof SubdocFailure) throw error
    return fail(SubdocStatus.ValueCantInsert)
  }
}

/** Sets a key of an object: `mode` add (must be new), upsert, or replace (must exist; also an array element). */
export const setKey = (
  doc: Json,
  path: ReadonlyArray<Component>,
  value: Json,
  mode: "add" | "upsert" | "replace",
  create: boolean
): void => {
  if (path.length === 0) fail(SubdocStatus.PathInvalid)
  const parent = parentOf(doc, path, create && mode !== "replace")
  const last = path[path.length - 1]!
  // An array element: only replace addresses one.
  if (typeof last === "number" && mode !== "replace") fail(SubdocStatus.PathInvalid)
  const slot = slotOf(parent, last)
  if (mode === "add" && slot.exists) fail(SubdocStatus.PathExists)
  if (mode === "replace" && !slot.exists) fail(SubdocStatus.PathNotFound)
  slot.set(value)
}

/** Removes a key or an array element. */
export const remove = (doc: Json, path: ReadonlyArray<Component>): void => {
  const slot = lastSlot(doc, path, false)
  if (!slot.exists) fail(SubdocStatus.PathNotFound)
  slot.remove()
}

/** The array at `path`, made (empty) when missing and `create`. */
const arrayAt = (doc: Json, path: ReadonlyArray<Component>, create: boolean): Array<Json> => {
  let target = doc
  if (path.length > 0) {
    const slot = lastSlot(doc, path, create)
    if (!slot.exists) {
      if (!create) fail(SubdocStatus.PathNotFound)
      slot.set([])
    }
    target = slot.get()
  }
  if (!Array.isArray(target)) fail(SubdocStatus.PathMismatch)
  return target as Array<Json>
}

/** ARRAY_PUSH_LAST / _FIRST: appends or prepends the values. */
export const push = (
  doc: Json,
  path: ReadonlyArray<Component>,
  values: ReadonlyArray<Json>,
  first: boolean,
  create: boolean
): void => {
  const array = arrayAt(doc, path, create)
  if (first) array.unshift(...values)
  else array.push(...values)
}

/** ARRAY_INSERT: the path ends with the index to insert at (0 to the length). */
export const insert = (doc: Json, path: ReadonlyArray<Component>, values: ReadonlyArray<Json>): void => {
  const last = path[path.length - 1]
  if (typeof last !== "number" || last < 0) fail(SubdocStatus.PathInvalid)
  const parent = parentOf(doc, path, false)
  if (!Array.isArray(parent)) fail(SubdocStatus.PathMismatch)
  const array = parent as Array<Json>
  if ((last as number) > array.length) fail(SubdocStatus.PathNotFound)
  array.splice(last as number, 0, ...values)
}

const isPrimitive = (v: Json): boolean => v === null || typeof v !== "object"

/** ARRAY_ADD_UNIQUE: adds a primitive to an array of primitives that lacks it. */
export const addUnique = (doc: Json, path: ReadonlyArray<Component>, value: Json, create: boolean): void => {
  if (!isPrimitive(value)) fail(SubdocStatus.ValueCantInsert)
  const array = arrayAt(doc, path, create)
  if (!array.every(isPrimitive)) fail(SubdocStatus.PathMismatch)
  if (array.some((v) => v === value)) fail(SubdocStatus.PathExists)
  array.push(value)
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** COUNTER: adds the delta (a non-zero integer) to the number at `path`, made 0 when missing; the new value. */
export const counter = (doc: Json, path: ReadonlyArray<Component>, deltaText: string, create: boolean): bigint => {
  if (!/^[+-]?\d+$/.test(deltaText.trim())) fail(SubdocStatus.DeltaInvalid)
  const delta = BigInt(deltaText.trim())
  if (delta === 0n || delta < INT64_MIN || delta > INT64_MAX) fail(SubdocStatus.DeltaInvalid)
  const slot = lastSlot(doc, path, create)
  const current: Json = slot.exists ? slot.get() : 0
  if (typeof current !== "number" || !Number.isInteger(current)) fail(SubdocStatus.PathMismatch)
  const next = BigInt(current as number) + delta
  if (next < INT64_MIN || next > INT64_MAX || !Number.isSafeInteger(Number(next))) fail(SubdocStatus.NumRange)
  slot.set(Number(next))
  return next
}

/** GET_COUNT: the number of elements of an array or keys of an object. */
export const count = (doc: Json, path: ReadonlyArray<Component>): number => {
  const value = lookup(doc, path)
  if (Array.isArray(value)) return value.length
  if (isObject(value)) return Object.keys(value).length
  return fail(SubdocStatus.PathMismatch)
}
