/**
 * Reads and read-modify commands: GET (GETQ, GETK, GETKQ), GAT (GATQ), TOUCH,
 * GET_LOCKED, UNLOCK_KEY and GET_REPLICA.
 *
 * @internal
 */

import { Opcode, Status } from "../../internal/protocol/constants.js"
import { extrasLength, extrasUInt32, type Frame } from "../../internal/protocol/Frame.js"
import { DEFAULT_LOCK_SECONDS, expiryToMillis, isLocked, LOCKED_CAS, MAX_LOCK_SECONDS } from "../Item.js"
import type { Session } from "../Session.js"
import {
  checkShape,
  commitItem,
  couchbaseOnly,
  flagsExtras,
  lockedStatus,
  lockedTmpfailStatus,
  notLockedStatus,
  resolveTarget,
  responseDatatype,
  type Shape,
  selectedBucket
} from "./common.js"

const KEY_ONLY: Shape = { extras: [0], key: "required", value: "none" }
const KEY_AND_EXPIRY: Shape = { extras: [4], key: "required", value: "none" }
const KEY_AND_OPTIONAL_TIME: Shape = { extras: [0, 4], key: "required", value: "none" }

/** GET, GETQ, GETK, GETKQ. */
export const get = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, KEY_ONLY)
  if (t === undefined) return
  const withKey = f.opcode === Opcode.GetK || f.opcode === Opcode.GetKQ
  const quiet = f.opcode === Opcode.GetQ || f.opcode === Opcode.GetKQ
  t.counters.cmd_get++
  const item = t.ref.store.getLive(t.key, t.now)
  if (item === undefined) {
    t.counters.get_misses++
    if (!quiet) s.fail(f, Status.KeyNotFound, undefined, withKey ? f.key : undefined)
    return
  }
  t.counters.get_hits++
  s.reply(f, Status.Success, {
    extras: flagsExtras(item.flags),
    key: withKey ? f.key : undefined,
    value: item.value,
    cas: isLocked(item, t.now) ? LOCKED_CAS : item.cas,
    datatype: responseDatatype(s, item)
  })
}

/** TOUCH, GAT, GATQ: set a new expiry (GAT also returns the value). */
export const touch = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, KEY_AND_EXPIRY)
  if (t === undefined) return
  const isTouch = f.opcode === Opcode.Touch
  const quiet = f.opcode === Opcode.GatQ
  t.counters.cmd_touch++
  if (!isTouch) t.counters.cmd_get++
  const item = t.ref.store.getLive(t.key, t.now)
  if (item === undefined) {
    t.counters.touch_misses++
    if (!isTouch) t.counters.get_misses++
    if (!quiet) s.fail(f, Status.KeyNotFound)
    return
  }
  if (isLocked(item, t.now)) {
    s.fail(f, lockedStatus(s), "the document is locked")
    return
  }
  t.counters.touch_hits++
  if (!isTouch) t.counters.get_hits++
  const updated = {
    ...item,
    expiry: expiryToMillis(extrasUInt32(f, 0, 0), t.now),
    cas: t.bucket.nextCas(t.now),
    lockedUntil: 0,
    persisted: true,
    revSeqno: item.revSeqno + 1,
    mtime: t.now
  }
  const extras = commitItem(s, t, updated)
  if (isTouch) {
    s.reply(f, Status.Success, { cas: updated.cas, extras })
  } else {
    s.reply(f, Status.Success, {
      extras: flagsExtras(updated.flags),
      value: updated.value,
      cas: updated.cas,
      datatype: responseDatatype(s, updated)
    })
  }
}

/** GET_LOCKED: returns the value and locks the item; the new CAS is the key to the lock. */
export const getLocked = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, KEY_AND_OPTIONAL_TIME)) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "memcached buckets do not support locking")) return
  const t = resolveTarget(s, f, KEY_AND_OPTIONAL_TIME)
  if (t === undefined) return
  t.counters.cmd_lock++
  const item = t.ref.store.getLive(t.key, t.now)
  if (item === undefined) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (isLocked(item, t.now)) {
    t.counters.lock_errors++
    s.fail(f, lockedTmpfailStatus(s), "the document is already locked")
    return
  }
  const requested = extrasUInt32(f, 0, 0)
  const seconds = requested === 0 || requested > MAX_LOCK_SECONDS ? DEFAULT_LOCK_SECONDS : requested
  // The lock is not a mutation: it changes only the master's CAS and is not replicated.
  item.cas = t.bucket.nextCas(t.now)
  item.lockedUntil = t.now + seconds * 1000
  s.reply(f, Status.Success, {
    extras: flagsExtras(item.flags),
    value: item.value,
    cas: item.cas,
    datatype: responseDatatype(s, item)
  })
}

/** UNLOCK_KEY: releases a lock given its CAS. */
export const unlock = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, KEY_ONLY)) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "memcached buckets do not support locking")) return
  if (f.cas === 0n) {
    s.fail(f, Status.Invalid, "UNLOCK_KEY needs the CAS returned by GET_LOCKED")
    return
  }
  const t = resolveTarget(s, f, KEY_ONLY)
  if (t === undefined) return
  const item = t.ref.store.getLive(t.key, t.now)
  if (item === undefined) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (!isLocked(item, t.now)) {
    s.fail(f, notLockedStatus(s), "the document is not locked")
    return
  }
  if (item.cas !== f.cas) {
    s.fail(f, lockedTmpfailStatus(s), "the CAS does not match the lock")
    return
  }
  item.lockedUntil = 0
  s.reply(f, Status.Success, { cas: item.cas })
}

/** GET_REPLICA: reads this node's replica copy. */
export const getReplica = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, KEY_ONLY)) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "memcached buckets have no replicas")) return
  const t = resolveTarget(s, f, KEY_ONLY, "replica")
  if (t === undefined) return
  const item = t.ref.store.getLive(t.key, t.now)
  if (item === undefined) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  s.reply(f, Status.Success, {
    extras: flagsExtras(item.flags),
    value: item.value,
    cas: item.cas,
    datatype: responseDatatype(s, item)
  })
}

const KEY_AND_OPTIONAL_VERSION: Shape = { extras: [0, 1], key: "required", value: "none" }

/**
 * GET_META (0xa0): a document's metadata without its value — deleted flag, flags,
 * expiry (Unix seconds, 0 for none), revision seqno, and with extras version 2 its
 * datatype — also for a deletion while its tombstone lives (deleted = 1). What SDKs'
 * `exists` asks.
 */
export const getMeta = (s: Session, f: Frame): void => {
  const t = resolveTarget(s, f, KEY_AND_OPTIONAL_VERSION)
  if (t === undefined) return
  if (!couchbaseOnly(s, f, t.bucket, "memcached buckets keep no document metadata")) return
  const item = t.ref.store.get(t.key, t.now)
  if (item === undefined) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  const withDatatype = extrasLength(f) === 1 && f.extras[0] === 2
  const extras = Buffer.alloc(withDatatype ? 21 : 20)
  extras.writeUInt32BE(item.deleted ? 1 : 0, 0)
  extras.writeUInt32BE(item.flags >>> 0, 4)
  extras.writeUInt32BE(item.expiry === 0 ? 0 : Math.ceil(item.expiry / 1000), 8)
  extras.writeBigUInt64BE(BigInt(item.revSeqno), 12)
  if (withDatatype) extras[20] = item.datatype
  s.reply(f, Status.Success, { extras, cas: item.cas })
}
