/**
 * OBSERVE (0x92): for each `(vBucket, key)` of the request, the state of this node's
 * copy and its CAS — what clients poll to learn that a write reached replicas or disk.
 *
 * Key states: 0x00 found, not persisted; 0x01 found and persisted; 0x80 not found
 * (or its deletion is persisted); 0x81 deleted, deletion not yet persisted.
 *
 * @internal
 */

import { Status } from "../../internal/protocol/constants.js"
import type { Frame } from "../../internal/protocol/Frame.js"
import { keyString } from "../ItemStore.js"
import type { Session } from "../Session.js"
import { checkShape, couchbaseOnly, notMyVbucket, selectedBucket } from "./common.js"

/** OBSERVE key states. */
export const ObserveState = {
  FoundNotPersisted: 0x00,
  FoundPersisted: 0x01,
  NotFound: 0x80,
  LogicallyDeleted: 0x81
} as const

/** OBSERVE. */
export const observe = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "none", value: "required" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "memcached buckets do not support OBSERVE")) return
  const body = f.value
  const now = s.now()
  const parts: Array<Buffer> = []
  let at = 0
  while (at < body.length) {
    if (body.length - at < 4) {
      s.fail(f, Status.Invalid, "truncated OBSERVE entry")
      return
    }
    const vbid = body.readUInt16BE(at)
    const keyLength = body.readUInt16BE(at + 2)
    if (body.length - at - 4 < keyLength || keyLength === 0) {
      s.fail(f, Status.Invalid, "bad OBSERVE key length")
      return
    }
    const key = body.subarray(at + 4, at + 4 + keyLength)
    at += 4 + keyLength
    if (vbid >= bucket.numVBuckets) {
      notMyVbucket(s, f, bucket)
      return
    }
    const held = bucket.held(s.node.id, vbid)
    if (held === undefined) {
      notMyVbucket(s, f, bucket)
      return
    }
    const item = held.store.get(keyString(key), now)
    let state: number
    let cas = 0n
    if (item === undefined) {
      state = ObserveState.NotFound
    } else if (item.deleted) {
      state = item.persisted ? ObserveState.NotFound : ObserveState.LogicallyDeleted
      cas = item.cas
    } else {
      state = item.persisted ? ObserveState.FoundPersisted : ObserveState.FoundNotPersisted
      cas = item.cas
    }
    const entry = Buffer.allocUnsafe(4 + keyLength + 9)
    entry.writeUInt16BE(vbid, 0)
    entry.writeUInt16BE(keyLength, 2)
    key.copy(entry, 4)
    entry[4 + keyLength] = state
    entry.writeBigUInt64BE(cas, 5 + keyLength)
    parts.push(entry)
  }
  s.reply(f, Status.Success, { value: Buffer.concat(parts) })
}

/**
 * OBSERVE_SEQNO (0x91): what this node's copy of the request's vBucket has — the
 * vBucket UUID, the seqno persisted and the current seqno — for the UUID in the body
 * (8 bytes). When that UUID is no longer the vBucket's (a failover since), the answer
 * is format 1 and adds the old UUID with the last seqno it had, so a client can tell
 * whether its mutation survived. Active and replica copies both answer: SDKs poll
 * every copy to meet `replicateTo`/`persistTo`.
 */
export const observeSeqno = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "none", value: "required" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "memcached buckets do not support OBSERVE_SEQNO")) return
  if (f.value.length !== 8) {
    s.fail(f, Status.Invalid, "the OBSERVE_SEQNO body is the 8-byte vBucket UUID")
    return
  }
  const vbid = f.vbucket
  const vb = vbid < bucket.numVBuckets ? bucket.vbuckets[vbid] : undefined
  if (vb === undefined || !vb.chain.includes(s.node.id)) {
    notMyVbucket(s, f, bucket)
    return
  }
  const asked = f.value.readBigUInt64BE(0)
  const old = asked === vb.uuid ? undefined : vb.failoverLog.find((entry) => entry.uuid === asked)
  const body = Buffer.alloc(old === undefined ? 27 : 43)
  body[0] = old === undefined ? 0 : 1
  body.writeUInt16BE(vbid, 1)
  body.writeBigUInt64BE(vb.uuid, 3)
  body.writeBigUInt64BE(BigInt(vb.persistedSeqno(s.node.id)), 11)
  body.writeBigUInt64BE(BigInt(vb.highSeqno), 19)
  if (old !== undefined) {
    body.writeBigUInt64BE(old.uuid, 27)
    body.writeBigUInt64BE(BigInt(old.seqno), 35)
  }
  s.reply(f, Status.Success, { value: body })
}
