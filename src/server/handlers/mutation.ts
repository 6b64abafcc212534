/**
 * Writes: SET / ADD / REPLACE, DELETE, APPEND / PREPEND, INCREMENT / DECREMENT (all
 * with their quiet twins) and FLUSH.
 *
 * CAS rules: a non-zero request CAS must match the stored one (KEY_EEXISTS otherwise,
 * KEY_ENOENT when there is nothing to match). A locked item accepts only a write that
 * presents the lock's CAS, which also releases the lock.
 *
 * @internal
 */

import { Datatype, isQuietOpcode, loudOpcode, Opcode, Status } from "../../internal/protocol/constants.js"
import { extrasUInt32, type Frame, valueCopy, valueLength } from "../../internal/protocol/Frame.js"
import { expiryToMillis, type Item, isLocked, MAX_ITEM_SIZE } from "../Item.js"
import type { Session } from "../Session.js"
import {
  checkShape,
  commitItem,
  lockedStatus,
  newItem,
  resolveTarget,
  type Shape,
  selectedBucket,
  type Target
} from "./common.js"

const STORE: Shape = { extras: [8], key: "required", value: "optional" }
const KEY_ONLY: Shape = { extras: [0], key: "required", value: "none" }
const CONCAT: Shape = { extras: [0], key: "required", value: "optional" }
const ARITHMETIC: Shape = { extras: [20], key: "required", value: "none" }
const FLUSH: Shape = { extras: [0, 4], key: "none", value: "none" }

/** Exptime of INCR/DECR meaning "fail when the counter does not exist". */
const NO_CREATE = 0xffffffff

/**
 * Checks the CAS and lock conditions of a write to `current`; queues the error and
 * returns false when the write may not proceed.
 */
export const mayWrite = (s: Session, f: Frame, t: Target, current: Item | undefined): boolean => {
  if (current !== undefined && isLocked(current, t.now) && f.cas !== current.cas) {
    s.fail(f, lockedStatus(s), "the document is locked")
    return false
  }
  if (f.cas !== 0n) {
    if (current === undefined) {
      t.counters.cas_misses++
      s.fail(f, Status.KeyNotFound)
      return false
    }
    if (current.cas !== f.cas) {
      t.counters.cas_badval++
      s.fail(f, Status.KeyExists)
      return false
    }
    t.counters.cas_hits++
  }
  return true
}

const tooBig = (s: Session, f: Frame, size: number): boolean => {
  if (size <= MAX_ITEM_SIZE) return false
  s.fail(f, Status.TooBig, `the value of ${size} bytes exceeds the ${MAX_ITEM_SIZE}-byte item limit`)
  return true
}

/** Answers a successful write unless the command is quiet. */
const stored = (s: Session, f: Frame, cas: bigint, extras: Buffer | undefined): void => {
  if (!isQuietOpcode(f.opcode)) s.reply(f, Status.Success, { cas, extras })
}

/** SET, ADD, REPLACE and their quiet twins. */
export const store = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, STORE)
  if (t === undefined) return
  const op = loudOpcode(f.opcode)
  t.counters.cmd_set++
  if (tooBig(s, f, valueLength(f))) return
  const current = t.ref.store.getLive(t.key, t.now)
  if (op === Opcode.Add) {
    if (f.cas !== 0n) {
      s.fail(f, Status.Invalid, "ADD does not take a CAS")
      return
    }
    if (current !== undefined) {
      s.fail(f, Status.KeyExists)
      return
    }
  } else if (op === Opcode.Replace && current === undefined) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (!mayWrite(s, f, t, current)) return
  const item = newItem(t, current, {
    value: valueCopy(f),
    flags: extrasUInt32(f, 0, 0),
    datatype: f.datatype & Datatype.Json,
    // Preserve TTL: an existing document keeps its expiry whatever the request says.
    expiry: s.preserveTtl && current !== undefined ? current.expiry : expiryToMillis(extrasUInt32(f, 4, 0), t.now)
  })
  stored(s, f, item.cas, commitItem(s, t, item))
}

/** DELETE, DELETEQ. */
export const remove = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, KEY_ONLY)
  if (t === undefined) return
  const current = t.ref.store.getLive(t.key, t.now)
  if (current === undefined) {
    t.counters.delete_misses++
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (!mayWrite(s, f, t, current)) return
  t.counters.delete_hits++
  if (t.bucket.type === "memcached") {
    // memcached keeps no tombstones and answers a delete with CAS 0.
    t.ref.store.delete(t.key)
    t.bucket.touchData()
    stored(s, f, 0n, undefined)
    return
  }
  const tombstone = newItem(t, current, { value: Buffer.alloc(0), flags: 0, datatype: 0, expiry: 0 })
  tombstone.deleted = true
  stored(s, f, tombstone.cas, commitItem(s, t, tombstone))
}

/** APPEND, PREPEND and their quiet twins. */
export const concat = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, CONCAT)
  if (t === undefined) return
  t.counters.cmd_set++
  const current = t.ref.store.getLive(t.key, t.now)
  if (current === undefined) {
    s.fail(f, Status.NotStored)
    return
  }
  if (!mayWrite(s, f, t, current)) return
  if (tooBig(s, f, current.value.length + f.value.length)) return
  const value =
    loudOpcode(f.opcode) === Opcode.Append
      ? Buffer.concat([current.value, f.value])
      : Buffer.concat([f.value, current.value])
  const item = newItem(t, current, { value, flags: current.flags, datatype: 0, expiry: current.expiry })
  stored(s, f, item.cas, commitItem(s, t, item))
}

const MAX_U64 = 0xffffffffffffffffn

/** Parses a stored counter: ASCII decimal digits fitting an unsigned 64-bit integer. */
const parseCounter = (value: Buffer): bigint | undefined => {
  const text = value.toString("latin1").trim()
  if (!/^[0-9]{1,20}$/.test(text)) return undefined
  const n = BigInt(text)
  return n > MAX_U64 ? undefined : n
}

/** INCREMENT, DECREMENT and their quiet twins. */
export const arithmetic = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, ARITHMETIC)
  if (t === undefined) return
  const increment = loudOpcode(f.opcode) === Opcode.Increment
  const delta = f.extras.readBigUInt64BE(0)
  const initial = f.extras.readBigUInt64BE(8)
  const exptime = f.extras.readUInt32BE(16)
  const current = t.ref.store.getLive(t.key, t.now)
  let result: bigint
  let item: Item
  if (current === undefined) {
    if (increment) t.counters.incr_misses++
    else t.counters.decr_misses++
    if (f.cas !== 0n) {
      s.fail(f, Status.KeyNotFound)
      return
    }
    if (exptime === NO_CREATE) {
      s.fail(f, Status.KeyNotFound)
      return
    }
    result = initial
    item = newItem(t, undefined, {
      value: Buffer.from(result.toString(), "latin1"),
      flags: 0,
      datatype: Datatype.Json,
      expiry: expiryToMillis(exptime, t.now)
    })
  } else {
    if (!mayWrite(s, f, t, current)) return
    const value = parseCounter(current.value)
    if (value === undefined) {
      s.fail(f, Status.DeltaBadval, "the stored value is not an unsigned decimal number")
      return
    }
    if (increment) t.counters.incr_hits++
    else t.counters.decr_hits++
    // Increments wrap at 2^64; decrements stop at zero.
    result = increment ? (value + delta) & MAX_U64 : value > delta ? value - delta : 0n
    item = newItem(t, current, {
      value: Buffer.from(result.toString(), "latin1"),
      flags: current.flags,
      datatype: Datatype.Json,
      expiry: current.expiry
    })
  }
  const extras = commitItem(s, t, item)
  if (isQuietOpcode(f.opcode)) return
  const body = Buffer.allocUnsafe(8)
  body.writeBigUInt64BE(result, 0)
  s.reply(f, Status.Success, { cas: item.cas, extras, value: body })
}

/** FLUSH, FLUSHQ: drop every item now, or (with a delay in the extras) at that time. */
export const flush = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, FLUSH)) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  const now = s.now()
  const delay = extrasUInt32(f, 0, 0)
  bucket.flush(s.node.id, delay === 0 ? now : expiryToMillis(delay, now))
  s.node.stats.bucket(bucket.name).cmd_flush++
  if (!isQuietOpcode(f.opcode)) s.reply(f, Status.Success)
}
