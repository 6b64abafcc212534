/**
 * Request builders: one function per key/value command, each returning the
 * {@link FrameInit} to encode, with the extras laid out as kv_engine's
 * `docs/BinaryProtocol.md` specifies (all integers big-endian):
 *
 * | command                 | extras                                         | key | value    | cas      |
 * |-------------------------|------------------------------------------------|-----|----------|----------|
 * | GET / GETQ / GET_REPLICA| —                                              | yes | —        | —        |
 * | GAT / GATQ / TOUCH      | expiry (4)                                     | yes | —        | —        |
 * | GET_LOCKED              | lock time (4)                                  | yes | —        | —        |
 * | UNLOCK_KEY              | —                                              | yes | —        | required |
 * | SET / ADD / REPLACE     | flags (4), expiry (4)                          | yes | document | optional |
 * | APPEND / PREPEND        | —                                              | yes | fragment | optional |
 * | DELETE                  | —                                              | yes | —        | optional |
 * | INCREMENT / DECREMENT   | delta (8), initial (8), expiry (4)             | yes | —        | —        |
 * | OBSERVE                 | —                                              | —   | (vb(2) keylen(2) key)* | — |
 * | STAT                    | —                                              | group, optional | — | — |
 * | NOOP                    | —                                              | —   | —        | —        |
 *
 * A counter's expiry of `0xffffffff` tells the server not to create a missing item
 * (the operation then fails KEY_ENOENT); any other expiry creates it with `initial`.
 *
 * These are plain functions: they run once per operation on the hot path and
 * allocate only the extras they need.
 *
 * @internal
 */

import { Datatype, Opcode } from "../protocol/constants.js"
import type { FrameInit } from "../protocol/Frame.js"

/** The counter expiry meaning "fail rather than create a missing item". */
export const COUNTER_NO_CREATE = 0xffffffff

/** Where a keyed request goes. */
export interface Addressing {
  readonly key: Uint8Array
  readonly vbucket: number
  readonly opaque: number
}

const u32 = (n: number): Buffer => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n >>> 0, 0)
  return b
}

/** GET, or GETQ (no response on a miss) when `quiet`. */
export const get = (a: Addressing, quiet = false): FrameInit => ({
  opcode: quiet ? Opcode.GetQ : Opcode.Get,
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque
})

/** GAT (get and touch), or GATQ when `quiet`. */
export const getAndTouch = (a: Addressing, expiry: number, quiet = false): FrameInit => ({
  opcode: quiet ? Opcode.GatQ : Opcode.Gat,
  extras: u32(expiry),
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque
})

/** GET_LOCKED with the lock time in seconds. */
export const getLocked = (a: Addressing, lockTime: number): FrameInit => ({
  opcode: Opcode.GetLocked,
  extras: u32(lockTime),
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque
})

/** UNLOCK_KEY with the CAS the lock returned. */
export const unlock = (a: Addressing, cas: bigint): FrameInit => ({
  opcode: Opcode.UnlockKey,
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque,
  cas
})

/** TOUCH: set a new expiry without reading the value. */
export const touch = (a: Addressing, expiry: number): FrameInit => ({
  opcode: Opcode.Touch,
  extras: u32(expiry),
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque
})

/** GET_REPLICA, sent to the node holding the replica. */
export const getReplica = (a: Addressing): FrameInit => ({
  opcode: Opcode.GetReplica,
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque
})

/** The storage commands with flags and expiry extras. */
export type StoreOpcode = typeof Opcode.Set | typeof Opcode.Add | typeof Opcode.Replace

/** What a store writes. */
export interface StoreFields {
  readonly value: Uint8Array
  readonly flags: number
  readonly expiry: number
  readonly cas: bigint
  /** Sets the JSON datatype bit (only when the node acknowledged HELLO JSON). */
  readonly json: boolean
}

/** SET, ADD or REPLACE. */
export const store = (opcode: StoreOpcode, a: Addressing, f: StoreFields): FrameInit => {
  const extras = Buffer.allocUnsafe(8)
  extras.writeUInt32BE(f.flags >>> 0, 0)
  extras.writeUInt32BE(f.expiry >>> 0, 4)
  return {
    opcode,
    datatype: f.json ? Datatype.Json : Datatype.Raw,
    extras,
    key: a.key,
    value: f.value,
    vbucket: a.vbucket,
    opaque: a.opaque,
    cas: f.cas
  }
}

/** APPEND or PREPEND: no extras, the stored item keeps its flags and expiry. */
export const concat = (
  opcode: typeof Opcode.Append | typeof Opcode.Prepend,
  a: Addressing,
  value: Uint8Array,
  cas: bigint
): FrameInit => ({
  opcode,
  key: a.key,
  value,
  vbucket: a.vbucket,
  opaque: a.opaque,
  cas
})

/** DELETE, optionally guarded by a CAS. */
export const remove = (a: Addressing, cas: bigint): FrameInit => ({
  opcode: Opcode.Delete,
  key: a.key,
  vbucket: a.vbucket,
  opaque: a.opaque,
  cas
})

/**
 * INCREMENT (delta ≥ 0) or DECREMENT (delta < 0, by its magnitude). Without `initial`
 * the expiry is {@link COUNTER_NO_CREATE}, so a missing key fails instead of being
 * created.
 */
export const counter = (a: Addressing, delta: bigint, initial: bigint | undefined, expiry: number): FrameInit => {
  const extras = Buffer.allocUnsafe(20)
  extras.writeBigUInt64BE(delta < 0n ? -delta : delta, 0)
  extras.writeBigUInt64BE(initial ?? 0n, 8)
  extras.writeUInt32BE(initial === undefined ? COUNTER_NO_CREATE : expiry >>> 0, 16)
  return {
    opcode: delta < 0n ? Opcode.Decrement : Opcode.Increment,
    extras,
    key: a.key,
    vbucket: a.vbucket,
    opaque: a.opaque
  }
}

/** One key of an OBSERVE request. */
export interface ObserveEntry {
  readonly vbucket: number
  readonly key: Uint8Array
}

/**
 * OBSERVE for any number of keys held by one node. The header's vBucket is 0: each
 * entry of the body names its own.
 */
export const observe = (opaque: number, entries: ReadonlyArray<ObserveEntry>): FrameInit => {
  let length = 0
  for (const e of entries) length += 4 + e.key.length
  const value = Buffer.allocUnsafe(length)
  let at = 0
  for (const e of entries) {
    value.writeUInt16BE(e.vbucket, at)
    value.writeUInt16BE(e.key.length, at + 2)
    value.set(e.key, at + 4)
    at += 4 + e.key.length
  }
  return { opcode: Opcode.Observe, value, opaque }
}

/** STAT for one group (`undefined` or empty: the default group). */
export const stat = (opaque: number, group?: string | undefined): FrameInit =>
  group === undefined || group === ""
    ? { opcode: Opcode.Stat, opaque }
    : { opcode: Opcode.Stat, key: Buffer.from(group, "utf8"), opaque }

/** NOOP: its response proves every earlier quiet request on the socket was answered. */
export const noop = (opaque: number): FrameInit => ({ opcode: Opcode.Noop, opaque })
