/**
 * Out-of-band manipulation of one key's copies, in the manner of CouchbaseMock's
 * control commands, so that durability (OBSERVE polling) and replica reads can be
 * tested against states a healthy cluster reaches only briefly or by accident:
 *
 * - `persist` / `unpersist`: mark existing copies as on disk or only in memory;
 * - `cache`: place an in-memory (unpersisted) copy on the chosen nodes;
 * - `endure`: place a persisted copy on the chosen nodes;
 * - `purge`: remove the copies from the chosen nodes (memory and disk).
 *
 * The chosen nodes are the master (`onMaster`, default true) and replicas
 * (`onReplicas`: the first N replicas, or replica indexes 0…R-1; default all).
 *
 * @internal
 */
import type { ServerBucket, VBucket } from "./Bucket.js"
import { copyItem, type Item } from "./Item.js"
import { keyString } from "./ItemStore.js"

/** Which copies of a key a command touches. */
export interface KeyTargets {
  /** The master's copy (default true). */
  readonly onMaster?: boolean | undefined
  /** The first N replicas, or these replica indexes (0 = first replica); default all. */
  readonly onReplicas?: number | ReadonlyArray<number> | undefined
}

/** What `cache` and `endure` store when given (else the master's current copy). */
export interface KeyValueSpec {
  readonly value?: Uint8Array | string | undefined
  readonly flags?: number | undefined
  readonly cas?: bigint | undefined
}

/** The state of one node's copy of a key. */
export interface CopyInfo {
  readonly node: number
  readonly role: "master" | "replica"
  /** Replica index (0 = first replica), undefined for the master. */
  readonly replicaIndex: number | undefined
  readonly exists: boolean
  readonly deleted: boolean
  readonly persisted: boolean
  readonly cas: bigint
  readonly value: Buffer | undefined
}

/** The vBucket of `key` and the node ids a command targets (in chain order, no -1). */
export const targetNodes = (
  bucket: ServerBucket,
  key: string,
  targets: KeyTargets
): { readonly vb: VBucket; readonly nodes: ReadonlyArray<number> } => {
  const vb = bucket.vbuckets[bucket.vbucketOf(Buffer.from(key, "utf8"))]!
  const nodes: Array<number> = []
  if ((targets.onMaster ?? true) && vb.master >= 0) nodes.push(vb.master)
  const replicas = vb.chain.slice(1)
  const chosen =
    targets.onReplicas === undefined
      ? replicas.map((_, i) => i)
      : typeof targets.onReplicas === "number"
        ? replicas.map((_, i) => i).slice(0, targets.onReplicas)
        : targets.onReplicas
  for (const index of chosen) {
    const node = replicas[index]
    if (node !== undefined && node >= 0 && !nodes.includes(node)) nodes.push(node)
  }
  return { vb, nodes }
}

/** Marks the targeted copies persisted (or not). Returns how many copies changed. */
export const setPersisted = (bucket: ServerBucket, key: string, targets: KeyTargets, persisted: boolean): number => {
  const { vb, nodes } = targetNodes(bucket, key, targets)
  const k = keyString(Buffer.from(key, "utf8"))
  const now = bucket.now()
  let changed = 0
  for (const node of nodes) {
    const item = vb.copies.get(node)?.get(k, now)
    if (item !== undefined) {
      item.persisted = persisted
      changed++
    }
  }
  return changed
}

/**
 * Stores a copy on the targeted nodes: the given value, or the master's current copy.
 * Returns how many copies were written (0 when there is nothing to copy).
 */
export const placeCopies = (
  bucket: ServerBucket,
  key: string,
  targets: KeyTargets,
  spec: KeyValueSpec,
  persisted: boolean
): number => {
  const { vb, nodes } = targetNodes(bucket, key, targets)
  const k = keyString(Buffer.from(key, "utf8"))
  const now = bucket.now()
  const master = vb.master >= 0 ? vb.copies.get(vb.master)?.getLive(k, now) : undefined
  let source: Item | undefined
  if (spec.value !== undefined) {
    source = {
      value: typeof spec.value === "string" ? Buffer.from(spec.value, "utf8") : Buffer.from(spec.value),
      flags: spec.flags ?? master?.flags ?? 0,
      datatype: 0,
      cas: spec.cas ?? bucket.nextCas(),
      expiry: 0,
      lockedUntil: 0,
      deleted: false,
      persisted,
      revSeqno: (master?.revSeqno ?? 0) + 1,
      seqno: master?.seqno ?? 0,
      mtime: now
    }
  } else if (master !== undefined) {
    source = { ...master, lockedUntil: 0, persisted, ...(spec.cas !== undefined ? { cas: spec.cas } : {}) }
  }
  if (source === undefined) return 0
  for (const node of nodes) vb.copyOn(node).set(k, copyItem(source))
  bucket.touchData()
  return nodes.length
}

/** Removes the targeted copies entirely. Returns how many existed. */
export const purgeCopies = (bucket: ServerBucket, key: string, targets: KeyTargets): number => {
  const { vb, nodes } = targetNodes(bucket, key, targets)
  const k = keyString(Buffer.from(key, "utf8"))
  let removed = 0
  for (const node of nodes) if (vb.copies.get(node)?.delete(k)) removed++
  bucket.touchData()
  return removed
}

/** The state of every copy of `key` in its vBucket's chain. */
export const keyInfo = (bucket: ServerBucket, key: string): ReadonlyArray<CopyInfo> => {
  const vb = bucket.vbuckets[bucket.vbucketOf(Buffer.from(key, "utf8"))]!
  const k = keyString(Buffer.from(key, "utf8"))
  const now = bucket.now()
  const out: Array<CopyInfo> = []
  vb.chain.forEach((node, position) => {
    if (node < 0) return
    const item = vb.copies.get(node)?.get(k, now)
    out.push({
      node,
      role: position === 0 ? "master" : "replica",
      replicaIndex: position === 0 ? undefined : position - 1,
      exists: item !== undefined && !item.deleted,
      deleted: item?.deleted ?? false,
      persisted: item?.persisted ?? false,
      cas: item?.cas ?? 0n,
      value: item === undefined || item.deleted ? undefined : item.value
    })
  })
  return out
}
