/**
 * A stored document copy and the time rules it lives by.
 *
 * Every node keeps its own copy of each item it is master or replica for, so the
 * copies can diverge on purpose (the control API unpersists or uncaches one of them)
 * and OBSERVE can report each node's view. Values are never mutated in place: an
 * append builds a new buffer, so copies may share one.
 *
 * @internal
 */

/** One copy of a document (or of its deletion, `deleted: true`) on one node. */
export interface Item {
  value: Buffer
  flags: number
  /** Datatype bits as the writer declared them (only JSON is kept). */
  datatype: number
  cas: bigint
  /** Absolute expiry in milliseconds since the epoch (server clock); 0 = never. */
  expiry: number
  /** The lock is held until this time (ms); 0 = not locked. */
  lockedUntil: number
  /** A tombstone: the document was deleted (OBSERVE reports 0x81 / 0x80). */
  deleted: boolean
  /** Whether this copy has reached "disk" (OBSERVE 0x01 / 0x80 rather than 0x00 / 0x81). */
  persisted: boolean
  /** Revision sequence number (bumped on every mutation; `meta.rev` of views). */
  revSeqno: number
  /** The vBucket sequence number of the mutation that wrote this version (by-seqno). */
  seqno: number
  /** Extended attributes (sub-document XATTRs), kept beside the value; none when undefined. */
  xattrs?: Readonly<Record<string, unknown>> | undefined
  /** Last-modification time in ms, for memcached's delayed flush. */
  mtime: number
}

/** Relative TTLs are at most 30 days; larger values are absolute Unix times (memcached rule). */
export const RELATIVE_TTL_LIMIT = 30 * 24 * 60 * 60

/** Default lock time of GET_LOCKED, in seconds. */
export const DEFAULT_LOCK_SECONDS = 15

/** Longest lock GET_LOCKED grants, in seconds; longer requests get the default. */
export const MAX_LOCK_SECONDS = 30

/** Largest value stored (bytes). */
export const MAX_ITEM_SIZE = 20 * 1024 * 1024

/** Largest key (bytes). */
export const MAX_KEY_LENGTH = 250

/** The CAS a GET returns for a locked item, so that only the lock holder can write. */
export const LOCKED_CAS = 0xffffffffffffffffn

/**
 * Converts a wire expiry (seconds: 0 never, ≤ 30 days relative, else absolute Unix
 * time) into an absolute time in ms. An absolute time in the past expires at once.
 */
export const expiryToMillis = (exptime: number, nowMs: number): number => {
  if (exptime === 0) return 0
  if (exptime <= RELATIVE_TTL_LIMIT) return nowMs + exptime * 1000
  const absolute = exptime * 1000
  // Keep "already expired" distinct from "never" (0).
  return absolute <= nowMs ? Math.max(1, nowMs) : absolute
}

/** True when the item's TTL has run out at `nowMs`. */
export const isExpired = (item: Item, nowMs: number): boolean => item.expiry !== 0 && nowMs >= item.expiry

/** True when the item is locked at `nowMs`. */
export const isLocked = (item: Item, nowMs: number): boolean => item.lockedUntil !== 0 && nowMs < item.lockedUntil

/** A shallow copy for another node (the value buffer is shared: it is never mutated). */
export const copyItem = (item: Item): Item => ({ ...item })
