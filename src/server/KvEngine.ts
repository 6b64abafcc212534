/**
 * The KV command dispatcher: validates flexible framing extras, then routes each
 * request to its handler. Unknown opcodes get UNKNOWN_COMMAND (the decoder has already
 * consumed the whole body, so the stream stays in step).
 *
 * @internal
 */

import { Opcode, Status } from "../internal/protocol/constants.js"
import { type Frame, framingExtrasLength } from "../internal/protocol/Frame.js"
import { getCollectionId, getCollectionsManifest, getScopeId } from "./handlers/collections.js"
import {
  getClusterConfig,
  getErrorMap,
  hello,
  listMechanisms,
  noop,
  quit,
  saslAuth,
  saslStep,
  selectBucket,
  verbosity,
  version
} from "./handlers/handshake.js"
import { arithmetic, concat, flush, remove, store } from "./handlers/mutation.js"
import { observe, observeSeqno } from "./handlers/observe.js"
import { rangeScanCancel, rangeScanContinue, rangeScanCreate } from "./handlers/rangeScan.js"
import { get, getLocked, getMeta, getReplica, touch, unlock } from "./handlers/retrieval.js"
import { stat } from "./handlers/stats.js"
import { multiLookup, multiMutation } from "./handlers/subdoc.js"
import type { Session } from "./Session.js"

type Handler = (s: Session, f: Frame) => void

const HANDLERS: Array<Handler | undefined> = new Array(256)
const on = (handler: Handler, ...opcodes: Array<number>): void => {
  for (const opcode of opcodes) HANDLERS[opcode] = handler
}
on(get, Opcode.Get, Opcode.GetQ, Opcode.GetK, Opcode.GetKQ)
on(store, Opcode.Set, Opcode.SetQ, Opcode.Add, Opcode.AddQ, Opcode.Replace, Opcode.ReplaceQ)
on(remove, Opcode.Delete, Opcode.DeleteQ)
on(arithmetic, Opcode.Increment, Opcode.IncrementQ, Opcode.Decrement, Opcode.DecrementQ)
on(concat, Opcode.Append, Opcode.AppendQ, Opcode.Prepend, Opcode.PrependQ)
on(quit, Opcode.Quit, Opcode.QuitQ)
on(flush, Opcode.Flush, Opcode.FlushQ)
on(noop, Opcode.Noop)
on(version, Opcode.Version)
on(stat, Opcode.Stat)
on(verbosity, Opcode.Verbosity)
on(touch, Opcode.Touch, Opcode.Gat, Opcode.GatQ)
on(hello, Opcode.Hello)
on(listMechanisms, Opcode.SaslListMechs)
on(saslAuth, Opcode.SaslAuth)
on(saslStep, Opcode.SaslStep)
on(getReplica, Opcode.GetReplica)
on(selectBucket, Opcode.SelectBucket)
on(observe, Opcode.Observe)
on(observeSeqno, Opcode.ObserveSeqno)
on(getLocked, Opcode.GetLocked)
on(getMeta, Opcode.GetMeta)
on(rangeScanCreate, Opcode.RangeScanCreate)
on(rangeScanContinue, Opcode.RangeScanContinue)
on(rangeScanCancel, Opcode.RangeScanCancel)
on(getCollectionsManifest, Opcode.GetCollectionsManifest)
on(getCollectionId, Opcode.GetCollectionId)
on(getScopeId, Opcode.GetScopeId)
on(multiLookup, Opcode.SubdocMultiLookup)
on(multiMutation, Opcode.SubdocMultiMutation)
on(unlock, Opcode.UnlockKey)
on(getClusterConfig, Opcode.GetClusterConfig)
on(getErrorMap, Opcode.GetErrorMap)

/**
 * Checks the flexible framing extras of a request: only the barrier (ID 0, which
 * in-order execution satisfies anyway) is understood; any other frame info asks for
 * a feature this server did not acknowledge.
 */
/** The mutations that take a synchronous durability requirement. */
const DURABLE_OPCODES = new Set<number>([
  Opcode.Set,
  Opcode.SetQ,
  Opcode.Add,
  Opcode.AddQ,
  Opcode.Replace,
  Opcode.ReplaceQ,
  Opcode.Delete,
  Opcode.DeleteQ,
  Opcode.Increment,
  Opcode.IncrementQ,
  Opcode.Decrement,
  Opcode.DecrementQ,
  Opcode.Append,
  Opcode.AppendQ,
  Opcode.Prepend,
  Opcode.PrependQ,
  Opcode.SubdocMultiMutation
])

/** Frame info ids of the alternative request encoding that this server honours. */
const FRAME_DURABILITY = 1
const FRAME_PRESERVE_TTL = 5

const checkFramingExtras = (s: Session, f: Frame): boolean => {
  const fe = f.framingExtras
  let at = 0
  while (at < fe.length) {
    const head = fe[at++]!
    let id = head >> 4
    let length = head & 0x0f
    if (id === 15) id += at < fe.length ? fe[at++]! : Number.NaN
    if (length === 15) length += at < fe.length ? fe[at++]! : Number.NaN
    if (Number.isNaN(id) || Number.isNaN(length) || at + length > fe.length) {
      s.fail(f, Status.Invalid, "malformed flexible framing extras")
      return false
    }
    const start = at
    at += length
    if (id === FRAME_DURABILITY && (length === 1 || length === 3)) {
      // The level, then optionally a timeout: writes here reach their copies at once.
      if (!DURABLE_OPCODES.has(f.opcode)) {
        s.fail(f, Status.Invalid, "a durability requirement is only valid on a mutation")
        return false
      }
      s.durabilityLevel = fe[start]!
      continue
    }
    if (id === FRAME_PRESERVE_TTL && length === 0) {
      s.preserveTtl = true
      continue
    }
    if (id !== 0) {
      s.fail(f, Status.UnknownFrameInfo, `frame info ${id} is not supported by this server`)
      return false
    }
  }
  return true
}

/** Executes one request of `s`, queueing its response(s). */
export const execute = (s: Session, f: Frame): void => {
  s.durabilityLevel = 0
  s.preserveTtl = false
  if (framingExtrasLength(f) > 0 && !checkFramingExtras(s, f)) return
  const handler = HANDLERS[f.opcode]
  if (handler === undefined) {
    s.fail(f, Status.UnknownCommand, `unknown command 0x${f.opcode.toString(16).padStart(2, "0")}`)
    return
  }
  handler(s, f)
}
