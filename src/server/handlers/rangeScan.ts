/**
 * KV range scans, as SDKs' `scan` runs them: RANGE_SCAN_CREATE (0xda) takes a JSON
 * configuration (collection id in hex, `key_only`, an inclusive `range` of base64 keys
 * or a `sampling` of `samples` keys with a `seed`, optional `snapshot_requirements`)
 * for one active vBucket and answers a 16-byte scan id; RANGE_SCAN_CONTINUE (0xdb)
 * returns the next keys or documents (item and byte limits honoured) with
 * RANGE_SCAN_MORE or RANGE_SCAN_COMPLETE; RANGE_SCAN_CANCEL (0xdc) drops the scan.
 *
 * A scan sees the vBucket as it was when created (its keys are listed then, in byte
 * order); documents are read when continued, so one deleted since is skipped. Scans
 * belong to the connection that created them and end with it.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import { Status } from "../../internal/protocol/constants.js"
import type { Frame } from "../../internal/protocol/Frame.js"
import type { ServerBucket, StoreRef } from "../Bucket.js"
import { leb128, storeKey, userKeyIn } from "../Collections.js"
import type { Session } from "../Session.js"
import { checkShape, couchbaseOnly, notMyVbucket, selectedBucket } from "./common.js"

/** Scans one connection may hold open: each keeps its key list until finished or cancelled. */
export const MAX_OPEN_SCANS = 128

const RANGE_SCAN_MORE = 0xa6
const RANGE_SCAN_COMPLETE = 0xa7

/** A scan in progress. */
interface Scan {
  readonly bucket: ServerBucket
  readonly ref: StoreRef
  readonly cid: number
  readonly keyOnly: boolean
  /** The user keys still to return, in order. */
  readonly keys: ReadonlyArray<Buffer>
  position: number
}

/** The scans of each connection: they end with it. */
const scans = new WeakMap<Session, Map<string, Scan>>()
const scansOf = (s: Session): Map<string, Scan> => {
  let map = scans.get(s)
  if (map === undefined) scans.set(s, (map = new Map()))
  return map
}

interface ScanConfig {
  readonly collection?: unknown
  readonly key_only?: unknown
  readonly range?: { readonly start?: unknown; readonly end?: unknown }
  readonly sampling?: { readonly samples?: unknown; readonly seed?: unknown }
  readonly snapshot_requirements?: { readonly vb_uuid?: unknown; readonly seqno?: unknown }
}

/** A small seeded generator (mulberry32), so that a sample with the same seed is the same sample. */
const seeded = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** RANGE_SCAN_CREATE. */
export const rangeScanCreate = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [0], key: "none", value: "required" })) return
  const bucket = selectedBucket(s, f)
  if (bucket === undefined) return
  if (!couchbaseOnly(s, f, bucket, "range scans need a couchbase bucket")) return
  let config: ScanConfig
  try {
    config = JSON.parse(f.value.toString("utf8")) as ScanConfig
  } catch {
    s.fail(f, Status.Invalid, "the scan configuration is not JSON")
    return
  }
  const cid = typeof config.collection === "string" ? Number.parseInt(config.collection, 16) : 0
  if (!Number.isInteger(cid) || (cid !== 0 && bucket.collections.byId(cid) === undefined)) {
    s.fail(f, Status.UnknownCollection, "no such collection")
    return
  }
  const ref = f.vbucket < bucket.numVBuckets ? bucket.active(s.node.id, f.vbucket) : undefined
  const vb = ref?.vb
  if (ref === undefined || vb === undefined) {
    notMyVbucket(s, f, bucket)
    return
  }
  const wanted = config.snapshot_requirements?.vb_uuid
  if (wanted !== undefined && String(wanted) !== vb.uuid.toString()) {
    notMyVbucket(s, f, bucket)
    return
  }
  const now = s.now()
  let keys: Array<Buffer> = []
  for (const [key, item] of ref.store.items) {
    const user = userKeyIn(cid, key)
    if (user === undefined || item.deleted || (item.expiry !== 0 && now >= item.expiry)) continue
    keys.push(Buffer.from(user, "latin1"))
  }
  if (config.range !== undefined) {
    const { start, end } = config.range
    if (typeof start !== "string" || typeof end !== "string") {
      s.fail(f, Status.Invalid, "a range needs start and end (base64)")
      return
    }
    const from = Buffer.from(start, "base64")
    const to = Buffer.from(end, "base64")
    keys = keys.filter((k) => Buffer.compare(k, from) >= 0 && Buffer.compare(k, to) <= 0)
    keys.sort(Buffer.compare)
  } else if (config.sampling !== undefined) {
    const samples = Number(config.sampling.samples)
    if (!Number.isInteger(samples) || samples <= 0) {
      s.fail(f, Status.Invalid, "sampling needs a positive number of samples")
      return
    }
    keys.sort(Buffer.compare)
    const random = seeded(Number(config.sampling.seed ?? 0))
    // A partial Fisher-Yates shuffle: the first `samples` keys are the sample.
    for (let i = 0; i < Math.min(samples, keys.length); i++) {
      const j = i + Math.floor(random() * (keys.length - i))
      ;[keys[i], keys[j]] = [keys[j]!, keys[i]!]
    }
    keys = keys.slice(0, samples)
  } else {
    s.fail(f, Status.Invalid, "a scan needs a range or a sampling")
    return
  }
  if (keys.length === 0) {
    s.fail(f, Status.KeyNotFound)
    return
  }
  if (scansOf(s).size >= MAX_OPEN_SCANS) {
    s.fail(f, Status.TemporaryFailure, `this connection has ${MAX_OPEN_SCANS} scans open: continue or cancel one first`)
    return
  }
  const id = randomBytes(16)
  scansOf(s).set(id.toString("hex"), { bucket, ref, cid, keyOnly: config.key_only === true, keys, position: 0 })
  s.reply(f, Status.Success, { value: id })
}

/** RANGE_SCAN_CONTINUE. */
export const rangeScanContinue = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [28], key: "none", value: "none" })) return
  const extras = f.extras
  const id = extras.toString("hex", 0, 16)
  const scan = scansOf(s).get(id)
  if (scan === undefined) {
    s.fail(f, Status.KeyNotFound, "no scan with that id")
    return
  }
  const itemLimit = extras.readUInt32BE(16)
  const byteLimit = extras.readUInt32BE(24)
  const now = s.now()
  const parts: Array<Buffer> = []
  let items = 0
  let bytes = 0
  while (scan.position < scan.keys.length) {
    if ((itemLimit !== 0 && items >= itemLimit) || (byteLimit !== 0 && bytes >= byteLimit)) break
    const key = scan.keys[scan.position++]!
    let part: Buffer
    if (scan.keyOnly) part = Buffer.concat([leb128(key.length), key])
    else {
      const item = scan.ref.store.getLive(storeKey(scan.cid, key.toString("latin1")), now)
      if (item === undefined) continue
      const meta = Buffer.alloc(25)
      meta.writeUInt32BE(item.flags >>> 0, 0)
      meta.writeUInt32BE(item.expiry === 0 ? 0 : Math.ceil(item.expiry / 1000), 4)
      meta.writeBigUInt64BE(BigInt(item.seqno), 8)
      meta.writeBigUInt64BE(item.cas, 16)
      meta[24] = item.datatype
      part = Buffer.concat([meta, leb128(key.length), key, leb128(item.value.length), item.value])
    }
    parts.push(part)
    items++
    bytes += part.length
  }
  const done = scan.position >= scan.keys.length
  if (done) scansOf(s).delete(id)
  const flags = Buffer.alloc(4)
  flags.writeUInt32BE(scan.keyOnly ? 0 : 1, 0)
  s.reply(f, done ? RANGE_SCAN_COMPLETE : RANGE_SCAN_MORE, { extras: flags, value: Buffer.concat(parts) })
}

/** RANGE_SCAN_CANCEL. */
export const rangeScanCancel = (s: Session, f: Frame): void => {
  if (!checkShape(s, f, { extras: [16], key: "none", value: "none" })) return
  if (scansOf(s).delete(f.extras.toString("hex", 0, 16))) s.reply(f, Status.Success)
  else s.fail(f, Status.KeyNotFound, "no scan with that id")
}
