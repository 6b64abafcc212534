/**
 * The sub-document commands SDKs use for `lookupIn` and `mutateIn` (and through them
 * `get({ project })`, `get({ withExpiry })`, the data structures): SUBDOC_MULTI_LOOKUP
 * (0xd0) and SUBDOC_MULTI_MUTATION (0xd1), up to 16 specs each, on the document body
 * or its extended attributes (XATTRs, kept beside the value), with the virtual
 * `$document` attribute (CAS, seqno, expiry, size, flags, deletion) for lookups.
 *
 * A lookup answers every spec with its own status (the command's status is
 * MULTI_PATH_FAILURE when any failed); a mutation applies all of its specs or none,
 * and reports the first that failed. Document flags: MKDOC (create, upsert semantics),
 * ADD (create only) and ACCESS_DELETED (a tombstone's XATTRs). Macros in XATTR values
 * are not expanded (XATTR_UNKNOWN_MACRO).
 *
 * @internal
 */
import { Datatype, Status } from "../../internal/protocol/constants.js"
import { extrasLength, type Frame } from "../../internal/protocol/Frame.js"
import { expiryToMillis, type Item, MAX_ITEM_SIZE } from "../Item.js"
import type { Session } from "../Session.js"
import {
  addUnique,
  type Component,
  count,
  counter,
  insert,
  lookup,
  parsePath,
  parseValue,
  push,
  remove,
  SubdocFailure,
  SubdocStatus,
  setKey
} from "../subdoc/path.js"
import { commitItem, couchbaseOnly, newItem, resolveTarget, type Shape, type Target } from "./common.js"
import { mayWrite } from "./mutation.js"

const LOOKUP: Shape = { extras: [0, 1], key: "required", value: "required" }
const MUTATION: Shape = { extras: [0, 1, 4, 5], key: "required", value: "required" }

/** Spec opcodes inside the multi commands. */
const Spec = {
  GetDoc: 0x00,
  SetDoc: 0x01,
  DeleteDoc: 0x04,
  Get: 0xc5,
  Exists: 0xc6,
  DictAdd: 0xc7,
  DictUpsert: 0xc8,
  Delete: 0xc9,
  Replace: 0xca,
  ArrayPushLast: 0xcb,
  ArrayPushFirst: 0xcc,
  ArrayInsert: 0xcd,
  ArrayAddUnique: 0xce,
  Counter: 0xcf,
  GetCount: 0xd2
} as const

const PATH_MKDIR_P = 0x01
const PATH_XATTR = 0x04
const PATH_EXPAND_MACROS = 0x10
const DOC_MKDOC = 0x01
const DOC_ADD = 0x02
const DOC_ACCESS_DELETED = 0x04
const MAX_SPECS = 16

interface ParsedSpec {
  readonly opcode: number
  readonly flags: number
  readonly path: string
  readonly value: string
}

/** The specs of a request body, or undefined when it is malformed. */
const parseSpecs = (body: Buffer, withValues: boolean): Array<ParsedSpec> | undefined => {
  const specs: Array<ParsedSpec> = []
  let at = 0
  const header = withValues ? 8 : 4
  while (at < body.length) {
    if (body.length - at < header) return undefined
    const opcode = body[at]!
    const flags = body[at + 1]!
    const pathLength = body.readUInt16BE(at + 2)
    const valueLength = withValues ? body.readUInt32BE(at + 4) : 0
    if (body.length - at - header < pathLength + valueLength) return undefined
    const path = body.toString("utf8", at + header, at + header + pathLength)
    const value = body.toString("utf8", at + header + pathLength, at + header + pathLength + valueLength)
    specs.push({ opcode, flags, path, value })
    at += header + pathLength + valueLength
  }
  return specs
}

/** XATTR specs come before body specs, as kv_engine requires. */
const xattrsFirst = (specs: ReadonlyArray<ParsedSpec>): boolean => {
  let body = false
  for (const spec of specs) {
    if ((spec.flags & PATH_XATTR) === 0) body = true
    else if (body) return false
  }
  return true
}

/**
 * The specs of a multi command, checked: well formed, 1 to 16 of them, XATTR specs
 * first; otherwise the error is queued and undefined returned.
 */
const checkedSpecs = (s: Session, f: Frame, withValues: boolean): Array<ParsedSpec> | undefined => {
  const specs = parseSpecs(f.value, withValues)
  if (specs === undefined || specs.length === 0 || specs.length > MAX_SPECS) {
    s.fail(f, specs !== undefined && specs.length > MAX_SPECS ? SubdocStatus.InvalidCombo : Status.Invalid)
    return undefined
  }
  if (!xattrsFirst(specs)) {
    s.fail(f, SubdocStatus.InvalidXattrOrder, "XATTR specs must come before the document's")
    return undefined
  }
  return specs
}

const hex = (n: bigint): string => `0x${n.toString(16).padStart(16, "0")}`

/** The virtual `$document` attribute of an item. */
const documentVattr = (t: Target, item: Item): Record<string, unknown> => ({
  CAS: hex(item.cas),
  vbucket_uuid: hex(t.ref.vb?.uuid ?? 0n),
  seqno: hex(BigInt(item.seqno)),
  revid: String(item.revSeqno),
  exptime: item.expiry === 0 ? 0 : Math.ceil(item.expiry / 1000),
  value_bytes: item.value.length,
  deleted: item.deleted,
  flags: item.flags >>> 0,
  datatype: (item.datatype & Datatype.Json) !== 0 ? ["json"] : ["raw"],
  last_modified: String(Math.floor(item.mtime / 1000))
})

/** The root and the components a spec addresses: the body, or one XATTR (its key first). */
const splitXattrPath = (spec: ParsedSpec): { readonly key: string; readonly rest: ReadonlyArray<Component> } => {
  const components = parsePath(spec.path)
  const key = components[0]
  if (typeof key !== "string" || key === "") throw new SubdocFailure(SubdocStatus.PathInvalid)
  return { key, rest: components.slice(1) }
}

/** Parses a document body as JSON, or fails with DOC_NOT_JSON. */
const parseDocument = (value: Buffer): unknown => {
  try {
    return JSON.parse(value.toString("utf8"))
  } catch {
    throw new SubdocFailure(SubdocStatus.DocNotJson)
  }
}

/** SUBDOC_MULTI_LOOKUP. */
export const multiLookup = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, LOOKUP)
  if (t === undefined) return
  if (!couchbaseOnly(s, f, t.bucket, "memcached buckets have no sub-document API")) return
  const docFlags = extrasLength(f) === 1 ? f.extras[0]! : 0
  if ((docFlags & ~DOC_ACCESS_DELETED) !== 0) {
    s.fail(f, Status.Invalid, "a lookup takes only the ACCESS_DELETED document flag")
    return
  }
  const specs = checkedSpecs(s, f, false)
  if (specs === undefined) return
  t.counters.cmd_get++
  const item = t.ref.store.get(t.key, t.now)
  if (item === undefined || (item.deleted && (docFlags & DOC_ACCESS_DELETED) === 0)) {
    t.counters.get_misses++
    s.fail(f, Status.KeyNotFound)
    return
  }
  t.counters.get_hits++
  let body: unknown
  let parsed = false
  const parts: Array<Buffer> = []
  let failed = false
  for (const spec of specs) {
    let status: number = Status.Success
    let value = ""
    try {
      if ((spec.flags & PATH_XATTR) !== 0) {
        const { key, rest } = splitXattrPath(spec)
        let root: unknown
        if (key.startsWith("$")) {
          if (key !== "$document") throw new SubdocFailure(SubdocStatus.XattrUnknownVattr)
          root = documentVattr(t, item)
        } else {
          if (item.xattrs === undefined || !Object.hasOwn(item.xattrs, key)) {
            throw new SubdocFailure(SubdocStatus.PathNotFound)
          }
          root = item.xattrs[key]
        }
        value = lookupResult(spec.opcode, root, rest)
      } else if (spec.opcode === Spec.GetDoc) {
        if (spec.path !== "") throw new SubdocFailure(SubdocStatus.PathInvalid)
        value = item.value.toString("utf8")
      } else {
        if (!parsed) {
          body = parseDocument(item.value)
          parsed = true
        }
        value = lookupResult(spec.opcode, body, parsePath(spec.path))
      }
    } catch (error) {
      if (!(error instanceof SubdocFailure)) throw error
      status = error.status
      value = ""
      failed = true
    }
    const head = Buffer.allocUnsafe(6)
    head.writeUInt16BE(status, 0)
    const bytes = Buffer.from(value, "utf8")
    head.writeUInt32BE(bytes.length, 2)
    parts.push(head, bytes)
  }
  const status = item.deleted
    ? failed
      ? SubdocStatus.MultiPathFailureDeleted
      : SubdocStatus.SuccessDeleted
    : failed
      ? SubdocStatus.MultiPathFailure
      : Status.Success
  s.reply(f, status, { value: Buffer.concat(parts), cas: item.cas })
}

/** A lookup spec's value: the JSON at the path, nothing (exists), or the element count. */
const lookupResult = (opcode: number, root: unknown, path: ReadonlyArray<Component>): string => {
  switch (opcode) {
    case Spec.Get:
      if (path.length === 0 && root === undefined) throw new SubdocFailure(SubdocStatus.PathInvalid)
      return JSON.stringify(lookup(root, path))
    case Spec.Exists:
      lookup(root, path)
      return ""
    case Spec.GetCount:
      return String(count(root, path))
    default:
      throw new SubdocFailure(SubdocStatus.InvalidCombo)
  }
}

/** A failed mutation: the index of the first failing spec and its status. */
const mutationFailure = (s: Session, f: Frame, index: number, status: number): void => {
  const value = Buffer.allocUnsafe(3)
  value[0] = index
  value.writeUInt16BE(status, 1)
  s.reply(f, SubdocStatus.MultiPathFailure, { value })
}

/** SUBDOC_MULTI_MUTATION. */
export const multiMutation = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, MUTATION)
  if (t === undefined) return
  if (!couchbaseOnly(s, f, t.bucket, "memcached buckets have no sub-document API")) return
  const extras = f.extras
  const expiryGiven = extras.length >= 4
  const expiry = expiryGiven ? extras.readUInt32BE(0) : 0
  const docFlags = extras.length === 1 ? extras[0]! : extras.length === 5 ? extras[4]! : 0
  if (
    (docFlags & ~(DOC_MKDOC | DOC_ADD | DOC_ACCESS_DELETED)) !== 0 ||
    (docFlags & (DOC_MKDOC | DOC_ADD)) === (DOC_MKDOC | DOC_ADD)
  ) {
    s.fail(f, Status.Invalid, "unsupported or conflicting document flags")
    return
  }
  const specs = checkedSpecs(s, f, true)
  if (specs === undefined) return
  t.counters.cmd_set++
  const stored = t.ref.store.get(t.key, t.now)
  const live = stored !== undefined && !stored.deleted ? stored : undefined
  const creating = live === undefined && (docFlags & (DOC_MKDOC | DOC_ADD)) !== 0
  if ((docFlags & DOC_ADD) !== 0) {
    if (f.cas !== 0n) {
      s.fail(f, Status.Invalid, "ADD does not take a CAS")
      return
    }
    if (live !== undefined) {
      s.fail(f, Status.KeyExists)
      return
    }
  }
  if (live === undefined && !creating) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (!mayWrite(s, f, t, live)) return
  const mkdir = (docFlags & (DOC_MKDOC | DOC_ADD)) !== 0
  // A new document's root: an array when the first body spec pushes onto the root.
  const firstBody = specs.find((spec) => (spec.flags & PATH_XATTR) === 0)
  const arrayRoot =
    firstBody !== undefined &&
    firstBody.path === "" &&
    (firstBody.opcode === Spec.ArrayPushFirst ||
      firstBody.opcode === Spec.ArrayPushLast ||
      firstBody.opcode === Spec.ArrayAddUnique)
  let body: unknown
  let bodyLoaded = false
  const loadBody = () => {
    if (!bodyLoaded) {
      body = live === undefined ? (arrayRoot ? [] : {}) : parseDocument(live.value)
      bodyLoaded = true
    }
    return body
  }
  let replacedBody: Buffer | undefined
  let deleteDoc = false
  const xattrs: Record<string, unknown> = structuredClone({ ...(live?.xattrs ?? {}) })
  const results: Array<Buffer> = []
  for (const [index, spec] of specs.entries()) {
    try {
      const create = mkdir || (spec.flags & PATH_MKDIR_P) !== 0
      if ((spec.flags & PATH_EXPAND_MACROS) !== 0) throw new SubdocFailure(SubdocStatus.XattrUnknownMacro)
      if ((spec.flags & PATH_XATTR) !== 0) {
        const { key, rest } = splitXattrPath(spec)
        if (key.startsWith("$")) throw new SubdocFailure(SubdocStatus.XattrCantModifyVattr)
        // The attribute itself is a key of the XATTR object: the same operations apply.
        const result = mutate(xattrs, [key, ...rest], spec, create)
        if (result !== undefined) results.push(resultEntry(index, result))
        continue
      }
      switch (spec.opcode) {
        case Spec.SetDoc:
          replacedBody = Buffer.from(spec.value, "utf8")
          body = undefined
          bodyLoaded = false
          break
        case Spec.DeleteDoc:
          deleteDoc = true
          break
        default: {
          const root = replacedBody !== undefined ? (body = parseDocument(replacedBody)) : loadBody()
          replacedBody = undefined
          bodyLoaded = true
          const result = mutate(root, parsePath(spec.path), spec, create)
          if (result !== undefined) results.push(resultEntry(index, result))
        }
      }
    } catch (error) {
      if (!(error instanceof SubdocFailure)) throw error
      mutationFailure(s, f, index, error.status)
      return
    }
  }
  const value =
    replacedBody ?? (bodyLoaded ? Buffer.from(JSON.stringify(body), "utf8") : (live?.value ?? Buffer.from("{}")))
  if (value.length > MAX_ITEM_SIZE) {
    s.fail(f, Status.TooBig, `the document would be ${value.length} bytes, over the ${MAX_ITEM_SIZE}-byte limit`)
    return
  }
  const item = newItem(t, stored, {
    value: deleteDoc ? Buffer.alloc(0) : value,
    flags: live?.flags ?? 0,
    datatype: deleteDoc ? 0 : datatypeOf(value, replacedBody !== undefined, bodyLoaded, live),
    expiry: s.preserveTtl && live !== undefined && !expiryGiven ? live.expiry : expiryToMillis(expiry, t.now)
  })
  item.deleted = deleteDoc
  item.xattrs = Object.keys(xattrs).length === 0 ? undefined : xattrs
  const mutationExtras = commitItem(s, t, item)
  s.reply(f, Status.Success, { cas: item.cas, extras: mutationExtras, value: Buffer.concat(results) })
}

/**
 * The JSON datatype bit of the new body: a body written from the parsed document is
 * JSON by construction, a whole-document replacement is JSON if it parses, and an
 * untouched body keeps its own.
 */
const datatypeOf = (value: Buffer, replaced: boolean, rewritten: boolean, live: Item | undefined): number => {
  if (replaced) {
    try {
      JSON.parse(value.toString("utf8"))
      return Datatype.Json
    } catch {
      return 0
    }
  }
  if (rewritten || live === undefined) return Datatype.Json
  return live.datatype & Datatype.Json
}

/** A value-returning spec's entry in the response: index, status, value. */
const resultEntry = (index: number, value: string): Buffer => {
  const bytes = Buffer.from(value, "utf8")
  const entry = Buffer.allocUnsafe(7 + bytes.length)
  entry[0] = index
  entry.writeUInt16BE(Status.Success, 1)
  entry.writeUInt32BE(bytes.length, 3)
  bytes.copy(entry, 7)
  return entry
}

/** Applies one mutation spec to `root`; the counter's new value, else undefined. */
const mutate = (
  root: unknown,
  path: ReadonlyArray<Component>,
  spec: ParsedSpec,
  create: boolean
): string | undefined => {
  switch (spec.opcode) {
    case Spec.DictAdd:
      setKey(root, path, parseValue(spec.value)[0], "add", create)
      return undefined
    case Spec.DictUpsert:
      setKey(root, path, parseValue(spec.value)[0], "upsert", create)
      return undefined
    case Spec.Replace:
      setKey(root, path, parseValue(spec.value)[0], "replace", false)
      return undefined
    case Spec.Delete:
      remove(root, path)
      return undefined
    case Spec.ArrayPushLast:
      push(root, path, parseValue(spec.value, true), false, create)
      return undefined
    case Spec.ArrayPushFirst:
      push(root, path, parseValue(spec.value, true), true, create)
      return undefined
    case Spec.ArrayInsert:
      insert(root, path, parseValue(spec.value, true))
      return undefined
    case Spec.ArrayAddUnique:
      addUnique(root, path, parseValue(spec.value)[0], create)
      return undefined
    case Spec.Counter:
      return String(counter(root, path, spec.value, create))
    default:
      throw new SubdocFailure(SubdocStatus.InvalidCombo)
  }
}
