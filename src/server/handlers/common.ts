/**
 * What the KV command handlers share: request-shape validation, resolution of the
 * copy a command works on (bucket selected, vBucket owned by this node), the mapping
 * of lock conditions to statuses (which depends on XERROR, as in kv_engine), and the
 * bookkeeping of a stored mutation.
 *
 * @internal
 */

import { Datatype, Status } from "../../internal/protocol/constants.js"
import { extrasLength, type Frame, keyLatin1, keyLength, valueLength } from "../../internal/protocol/Frame.js"
import type { ServerBucket, StoreRef } from "../Bucket.js"
import { readLeb128, storeKey } from "../Collections.js"
import { type Item, MAX_KEY_LENGTH } from "../Item.js"
import type { BucketCounters } from "../NodeStats.js"
import type { Session } from "../Session.js"

/** The allowed shape of a request. */
export interface Shape {
  /** Allowed extras lengths. */
  readonly extras: ReadonlyArray<number>
  readonly key: "required" | "none" | "optional"
  readonly value: "required" | "none" | "optional"
}

/** Status kv_engine calls `NotLocked` (UNLOCK of an item that is not locked, with XERROR). */
export const STATUS_NOT_LOCKED = 0x0e

/** Checks the request against `shape`; sends EINVAL and returns false when it does not fit. */
export const checkShape = (s: Session, f: Frame, shape: Shape): boolean => {
  let problem: string | undefined
  // Lengths from the header: a section's view is made only when its bytes are used.
  const extras = extrasLength(f)
  const key = keyLength(f)
  const value = valueLength(f)
  if (!shape.extras.includes(extras)) {
    problem = `invalid extras length ${extras} (expected ${shape.extras.join(" or ")})`
  } else if (shape.key === "required" && key === 0) {
    problem = "the request must have a key"
  } else if (shape.key === "none" && key > 0) {
    problem = "the request must not have a key"
  } else if (shape.value === "none" && value > 0) {
    problem = "the request must not have a value"
  } else if (shape.value === "required" && value === 0) {
    problem = "the request must have a value"
  } else if ((f.datatype & ~(s.features.json ? Datatype.Json : 0)) !== 0) {
    problem = `datatype 0x${f.datatype.toString(16)} was not negotiated with HELLO`
  } else if (key > MAX_KEY_LENGTH) {
    problem = `the key is longer than ${MAX_KEY_LENGTH} bytes`
  }
  if (problem === undefined) return true
  s.fail(f, Status.Invalid, problem)
  return false
}

/** Where a data command works. */
export interface Target {
  readonly bucket: ServerBucket
  readonly ref: StoreRef
  /** The key as the store's map key. */
  readonly key: string
  readonly counters: BucketCounters
  /** The server clock in ms when the command started. */
  readonly now: number
}

/** The selected bucket, or undefined after sending NO_BUCKET. */
export const selectedBucket = (s: Session, f: Frame): ServerBucket | undefined => {
  const bucket = s.bucket
  if (bucket === undefined) {
    s.fail(f, Status.NoBucket, "no bucket is selected: authenticate and SELECT_BUCKET first")
    return undefined
  }
  return bucket
}

/** Sends NOT_MY_VBUCKET with the current cluster map in the body. */
export const notMyVbucket = (s: Session, f: Frame, bucket: ServerBucket): void => {
  s.node.stats.bucket(bucket.name).ep_num_not_my_vbuckets++
  s.reply(f, Status.NotMyVbucket, {
    value: s.cluster.configJson(bucket, s.node),
    datatype: s.features.json ? Datatype.Json : 0
  })
}

/**
 * Resolves the copy a data command reads or writes: validates the request, checks
 * that a bucket is selected and, for a couchbase bucket, that this node is the
 * vBucket's master (or replica, for `mode: "replica"`). On failure the error response
 * is already queued and undefined is returned.
 */
export const resolveTarget = (
  s: Session,
  f: Frame,
  shape: Shape,
  mode: "active" | "replica" = "active"
): Target | undefined => {
  if (!checkShape(s, f, shape)) return undefined
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return undefined
  if (bucket.type === "couchbase" && f.vbucket >= bucket.numVBuckets) {
    notMyVbucket(s, f, bucket)
    return undefined
  }
  const ref = mode === "active" ? bucket.active(s.node.id, f.vbucket) : bucket.replica(s.node.id, f.vbucket)
  if (ref === undefined) {
    notMyVbucket(s, f, bucket)
    return undefined
  }
  if (s.durabilityLevel !== 0 && !durabilityPossible(s, f, bucket, ref)) return undefined
  let key: string
  if (s.features.collections) {
    // The collection id leads the key (unsigned LEB128).
    const keyBytes = f.key
    const cid = readLeb128(keyBytes)
    if (cid === undefined || cid.length >= keyBytes.length) {
      s.fail(f, Status.Invalid, "the key does not start with a valid collection id")
      return undefined
    }
    if (cid.value !== 0 && (bucket.type === "memcached" || bucket.collections.byId(cid.value) === undefined)) {
      unknownCollection(s, f, bucket)
      return undefined
    }
    key = storeKey(cid.value, keyBytes.toString("latin1", cid.length))
  } else key = keyLatin1(f)
  const injected = bucket.takeInjectedStatus(key)
  if (injected !== undefined) {
    if (injected === Status.NotMyVbucket && bucket.type === "couchbase") {
      // As a cluster in flux answers: with a newer map each time (same placement).
      s.cluster.configFlux()
      notMyVbucket(s, f, bucket)
    } else s.fail(f, injected, "injected by the cluster control (injectStatus)")
    return undefined
  }
  return {
    bucket,
    ref,
    key,
    counters: s.node.stats.bucket(bucket.name),
    now: s.now()
  }
}

/** Status for a mutation against a locked item: LOCKED with XERROR, else KEY_EEXISTS (kv_engine's remap). */
/** Synchronous durability levels: majority, majorityAndPersistActive, persistToMajority. */
const MAX_DURABILITY_LEVEL = 3

/**
 * Whether a write with the session's durability level can be honoured: the level is
 * known, the bucket is a couchbase bucket, and a majority of the vBucket's configured
 * copies (active and replicas) are on running nodes. The embedded cluster replicates
 * and "persists" synchronously, so a possible requirement is met when the write
 * returns; an impossible one is refused before anything is written, as kv_engine does.
 */
const durabilityPossible = (s: Session, f: Frame, bucket: ServerBucket, ref: StoreRef): boolean => {
  const level = s.durabilityLevel
  if (level < 1 || level > MAX_DURABILITY_LEVEL || bucket.type !== "couchbase") {
    s.fail(f, Status.DurabilityInvalidLevel, `durability level ${level} is not supported by this bucket`)
    return false
  }
  const chain = ref.vb?.chain ?? []
  const majority = Math.floor((bucket.numReplicas + 1) / 2) + 1
  let available = 0
  for (const node of chain) if (node >= 0 && s.cluster.nodeRunning(node)) available++
  if (available < majority) {
    s.fail(
      f,
      Status.DurabilityImpossible,
      `durability needs ${majority} of ${bucket.numReplicas + 1} copies; ${available} are available`
    )
    return false
  }
  return true
}

/** UNKNOWN_COLLECTION, with the manifest uid the client should catch up to. */
export const unknownCollection = (
  s: Session,
  f: Frame,
  bucket: ServerBucket,
  status: number = Status.UnknownCollection
): void => {
  const manifest = { manifest_uid: bucket.collections.uid.toString(16) }
  s.reply(f, status, {
    value: s.features.xerror ? Buffer.from(JSON.stringify(manifest)) : undefined,
    datatype: s.features.xerror && s.features.json ? Datatype.Json : 0
  })
}

/** Whether `bucket` is a couchbase bucket; otherwise NOT_SUPPORTED with `refusal` is queued. */
export const couchbaseOnly = (s: Session, f: Frame, bucket: ServerBucket, refusal: string): boolean => {
  if (bucket.type === "couchbase") return true
  s.fail(f, Status.NotSupported, refusal)
  return false
}

export const lockedStatus = (s: Session): number => (s.features.xerror ? Status.Locked : Status.KeyExists)

/** Status for locking an already-locked item, or unlocking with the wrong CAS: LOCKED, else ETMPFAIL. */
export const lockedTmpfailStatus = (s: Session): number => (s.features.xerror ? Status.Locked : Status.TemporaryFailure)

/** Status for unlocking an item that is not locked: NOT_LOCKED, else ETMPFAIL. */
export const notLockedStatus = (s: Session): number => (s.features.xerror ? STATUS_NOT_LOCKED : Status.TemporaryFailure)

/** Datatype of a value sent to this client: only what it negotiated. */
export const responseDatatype = (s: Session, item: Item): number =>
  s.features.json ? item.datatype & Datatype.Json : 0

/** The 4-byte flags extras of a retrieval response. */
export const flagsExtras = (flags: number): Buffer => {
  const key = flags >>> 0
  let extras = FLAGS_EXTRAS.get(key)
  if (extras === undefined) {
    extras = Buffer.allocUnsafe(4)
    extras.writeUInt32BE(key, 0)
    // Applications use a handful of flag values: keep those, never an unbounded set.
    if (FLAGS_EXTRAS.size < 256) FLAGS_EXTRAS.set(key, extras)
  }
  return extras
}

/** The extras of the flag values seen so far (responses only read them). */
const FLAGS_EXTRAS = new Map<number, Buffer>()

/**
 * Stores `item` as the new master copy of the target's key and replicates it.
 * Returns the response extras: the vBucket UUID and sequence number when the client
 * negotiated MUTATION_SEQNO on a couchbase bucket, else nothing.
 */
export const commitItem = (s: Session, t: Target, item: Item): Buffer | undefined => {
  t.ref.store.set(t.key, item)
  const seqno = t.bucket.commit(t.ref, t.key, item)
  return mutationExtras(s, t, seqno)
}

/** The MUTATION_SEQNO extras of a mutation response, when negotiated. */
export const mutationExtras = (s: Session, t: Target, seqno: number): Buffer | undefined => {
  const vb = t.ref.vb
  if (!s.features.mutationSeqno || vb === undefined) return undefined
  const extras = Buffer.allocUnsafe(16)
  extras.writeBigUInt64BE(vb.uuid, 0)
  extras.writeBigUInt64BE(BigInt(seqno), 8)
  return extras
}

/** A new item version of `previous` (or a fresh item), persisted, unlocked. */
export const newItem = (
  t: Target,
  previous: Item | undefined,
  fields: Pick<Item, "value" | "flags" | "datatype" | "expiry">
): Item => ({
  value: fields.value,
  flags: fields.flags,
  datatype: fields.datatype,
  expiry: fields.expiry,
  cas: t.bucket.nextCas(t.now),
  lockedUntil: 0,
  deleted: false,
  persisted: true,
  revSeqno: (previous?.revSeqno ?? 0) + 1,
  // Assigned when the mutation is committed.
  seqno: 0,
  mtime: t.now
})
