/**
 * A bucket of the embedded cluster and where its items live.
 *
 * - A **couchbase** bucket is split into vBuckets. Each vBucket has a chain
 *   `[master, replica1, …]` of node ids and one {@link ItemStore} per node of the chain.
 *   Writes are applied to the master's copy and replicated synchronously to the
 *   replicas' copies; every copy keeps its own persisted flag, so the control API can
 *   make copies diverge and OBSERVE reports each node's view.
 * - A **memcached** bucket has no vBuckets: clients spread keys with ketama, and every
 *   node keeps its own independent store and accepts any key.
 *
 * The bucket also implements the view engine's `ViewSource`: {@link ServerBucket.documents}
 * iterates the live items of the active copies.
 *
 * @internal
 */

import { randomBytes, randomUUID } from "node:crypto"
import { vbucketOf } from "../internal/hashing/vbucket.js"
import { type AdminSettings, defaultAdminSettings } from "./BucketAdmin.js"
import { CollectionsManifest, isNamedKey, namedKeyPrefix } from "./Collections.js"
import { copyItem, expiryToMillis, type Item } from "./Item.js"
import { ItemStore, keyString } from "./ItemStore.js"
import { balancedMap, failoverChain } from "./VBucketMap.js"

/** The two bucket types of the embedded cluster. */
export type BucketType = "couchbase" | "memcached"

/** One vBucket: its chain of nodes and each node's copy. */
export class VBucket {
  /** The vBucket UUID (changes when a new master takes over, as the failover log does). */
  uuid: bigint = randomBytes(8).readBigUInt64BE(0)
  /** Sequence number of the last mutation. */
  highSeqno = 0
  /** `[master, replica1, …]` node ids, -1 for a missing copy. */
  chain: Array<number>
  /** Each node's copy of the vBucket's items. */
  readonly copies = new Map<number, ItemStore>()
  /** The UUIDs this vBucket had before, with the last seqno of each (newest last). */
  readonly failoverLog: Array<{ readonly uuid: bigint; readonly seqno: number }> = []

  constructor(
    readonly id: number,
    chain: Array<number>
  ) {
    this.chain = chain
    for (const node of chain) if (node >= 0) this.copies.set(node, new ItemStore())
  }

  /** A new master took over: a new UUID, the old one logged with its last seqno. */
  newFailoverEntry(): void {
    this.failoverLog.push({ uuid: this.uuid, seqno: this.highSeqno })
    this.uuid = randomBytes(8).readBigUInt64BE(0)
  }

  /**
   * The seqno up to which `nodeId`'s copy is persisted: the vBucket's high seqno, or
   * just before the oldest version that copy holds unpersisted (the control API's
   * `cache`/`unpersist` make those).
   */
  persistedSeqno(nodeId: number): number {
    const store = this.copies.get(nodeId)
    let oldest = Number.POSITIVE_INFINITY
    if (store !== undefined)
      for (const item of store.items.values()) if (!item.persisted && item.seqno < oldest) oldest = item.seqno
    return oldest === Number.POSITIVE_INFINITY ? this.highSeqno : Math.max(0, oldest - 1)
  }

  /** The master node id, -1 when none. */
  get master(): number {
    return this.chain[0]!
  }

  /** The copy held by `nodeId`, created when it is in the chain but has none yet. */
  copyOn(nodeId: number): ItemStore {
    let store = this.copies.get(nodeId)
    if (store === undefined) {
      store = new ItemStore()
      this.copies.set(nodeId, store)
    }
    return store
  }
}

/** Where an operation on a node reads and writes. */
export interface StoreRef {
  readonly store: ItemStore
  /** The vBucket (couchbase buckets only). */
  readonly vb: VBucket | undefined
}

/** A document as the view engine and `documents()` see it. */
export interface BucketDocument {
  /** The document ID (the key, decoded as UTF-8). */
  readonly id: string
  readonly value: Buffer
  readonly flags: number
  readonly cas: bigint
  /** Absolute expiry in Unix seconds, 0 for none. */
  readonly expiry: number
  readonly datatype: number
  readonly revSeqno: number
}

/** A document to preload with {@link ServerBucket.load}. */
export interface LoadDocument {
  readonly id: string
  /** Bytes are stored as they are; any other value is stored as JSON. */
  readonly value: Uint8Array | unknown
  /** Defaults to the JSON common flags (0x02000000) for JSON values, 0 for bytes that are not JSON. */
  readonly flags?: number | undefined
  /** TTL as on the wire (0 never, ≤ 30 days relative, else absolute Unix seconds). */
  readonly expiry?: number | undefined
}

/** The JSON common flags (`FMT_JSON`). */
const JSON_FLAGS = 0x02000000

const looksLikeJson = (value: Buffer): boolean => {
  if (value.length === 0 || value.length > 1024 * 1024) return false
  try {
    JSON.parse(value.toString("utf8"))
    return true
  } catch {
    return false
  }
}

/** Settings of a bucket. */
export interface BucketSettings {
  readonly name: string
  readonly type: BucketType
  readonly numReplicas: number
  readonly numVBuckets: number
}

/** A bucket: settings, placement and data. */
export class ServerBucket {
  readonly name: string
  readonly type: BucketType
  readonly numReplicas: number
  readonly numVBuckets: number
  readonly uuid = randomUUID().replace(/-/g, "")
  /** The settings bucket managers read and write (see `BucketAdmin`). */
  admin: AdminSettings
  /** Scopes and collections (a memcached bucket has the default ones only). */
  readonly collections = new CollectionsManifest()
  /** vBuckets of a couchbase bucket (empty for memcached buckets). */
  readonly vbuckets: Array<VBucket> = []
  /** Per-node stores of a memcached bucket. */
  readonly nodeStores = new Map<number, ItemStore>()
  /** The millisecond the clock part of {@link nextCas} was last computed for. */
  private casMillis = -1
  private lastCas = 0n
  private mutations = 0
  /** Statuses to answer instead of running the next requests on a key (see {@link injectStatus}). */
  private readonly injected = new Map<string, { readonly status: number; remaining: number }>()

  constructor(
    settings: BucketSettings,
    nodeIds: ReadonlyArray<number>,
    /** The server clock in ms (Effect's Clock, so TestClock drives TTLs). */
    readonly now: () => number
  ) {
    this.name = settings.name
    this.type = settings.type
    this.numReplicas = settings.type === "memcached" ? 0 : settings.numReplicas
    this.numVBuckets = settings.type === "memcached" ? 0 : settings.numVBuckets
    this.admin = defaultAdminSettings(settings.type)
    this.place(nodeIds)
  }

  /**
   * Makes the next `times` data requests on `key` (latin1 key string) fail with
   * `status` before they touch the data: a fault for testing how clients react to
   * statuses, known or not (the error map describes the test codes 0xff00–0xffff).
   */
  injectStatus(key: string, status: number, times: number): void {
    if (times <= 0) this.injected.delete(key)
    else this.injected.set(key, { status, remaining: times })
  }

  /** The injected status the next request on `key` gets, if any (consumes one). */
  takeInjectedStatus(key: string): number | undefined {
    if (this.injected.size === 0) return undefined
    const entry = this.injected.get(key)
    if (entry === undefined) return undefined
    if (--entry.remaining === 0) this.injected.delete(key)
    return entry.status
  }

  /** A mutation counter (the view engine reuses an index until it changes). */
  readonly changeCounter = (): number => this.mutations

  /** The server clock in Unix seconds. */
  readonly nowSeconds = (): number => Math.floor(this.now() / 1000)

  /** Records a change of the data (for `changeCounter`). */
  touchData(): void {
    this.mutations++
  }

  /**
   * A fresh CAS: hybrid-logical-clock style (time in the high bits), strictly
   * increasing. `now` is the server clock in ms when the caller has already read it.
   */
  nextCas(now: number = this.now()): bigint {
    // Within one millisecond the clock part cannot move: skip its BigInt arithmetic.
    const ms = Math.max(0, Math.floor(now))
    if (ms !== this.casMillis) {
      this.casMillis = ms
      const physical = (BigInt(ms) * 1_000_000n) & ~0xffffn
      if (physical > this.lastCas) {
        this.lastCas = physical
        return physical
      }
    }
    this.lastCas = this.lastCas + 1n
    return this.lastCas
  }

  /** The master's store for `vbid` on `nodeId`, or undefined when that node is not its master (NOT_MY_VBUCKET). */
  active(nodeId: number, vbid: number): StoreRef | undefined {
    if (this.type === "memcached") return { store: this.nodeStore(nodeId), vb: undefined }
    const vb = this.vbuckets[vbid]
    if (vb === undefined || vb.master !== nodeId) return undefined
    return { store: vb.copyOn(nodeId), vb }
  }

  /** The replica copy of `vbid` on `nodeId`, or undefined when the node holds no replica of it. */
  replica(nodeId: number, vbid: number): StoreRef | undefined {
    if (this.type === "memcached") return undefined
    const vb = this.vbuckets[vbid]
    if (vb === undefined || vb.chain.indexOf(nodeId) < 1) return undefined
    return { store: vb.copyOn(nodeId), vb }
  }

  /** The copy of `vbid` on `nodeId` whether master or replica (OBSERVE), with which it is. */
  held(nodeId: number, vbid: number): (StoreRef & { readonly master: boolean }) | undefined {
    if (this.type === "memcached") return { store: this.nodeStore(nodeId), vb: undefined, master: true }
    const vb = this.vbuckets[vbid]
    const at = vb === undefined ? -1 : vb.chain.indexOf(nodeId)
    if (at < 0) return undefined
    return { store: vb!.copyOn(nodeId), vb, master: at === 0 }
  }

  /** The store of a memcached bucket on `nodeId`. */
  nodeStore(nodeId: number): ItemStore {
    let store = this.nodeStores.get(nodeId)
    if (store === undefined) {
      store = new ItemStore()
      this.nodeStores.set(nodeId, store)
    }
    return store
  }

  /**
   * Completes a mutation of `key` already applied to the master copy: assigns the
   * vBucket sequence number and copies the item to every replica.
   */
  commit(ref: StoreRef, key: string, item: Item): number {
    this.mutations++
    const vb = ref.vb
    if (vb === undefined) return 0
    const seqno = ++vb.highSeqno
    item.seqno = seqno
    for (let i = 1; i < vb.chain.length; i++) {
      const node = vb.chain[i]!
      if (node >= 0) vb.copyOn(node).set(key, copyItem(item))
    }
    return seqno
  }

  /** Drops every item (FLUSH): of the whole bucket, or of one node's store for a memcached bucket. */
  flush(nodeId: number, atMs: number): void {
    const now = this.now()
    this.mutations++
    if (this.type === "memcached") {
      this.nodeStore(nodeId).flush(now, atMs)
      return
    }
    for (const vb of this.vbuckets) for (const store of vb.copies.values()) store.flush(now, atMs)
  }

  /** The vBucket of a key (UTF-8 for strings). */
  vbucketOf(key: Uint8Array | string): number {
    return this.type === "memcached" ? 0 : vbucketOf(key, this.numVBuckets)
  }

  // ---- placement -------------------------------------------------------------------

  /** Lays the bucket out over `nodeIds` from scratch (a new bucket). */
  private place(nodeIds: ReadonlyArray<number>): void {
    if (this.type === "memcached") {
      for (const id of nodeIds) this.nodeStore(id)
      return
    }
    balancedMap(this.numVBuckets, nodeIds, this.numReplicas).forEach((chain, vb) => {
      this.vbuckets.push(new VBucket(vb, chain))
    })
  }

  /** Fails `nodeId` over: its replicas take over as masters and its copies are dropped. */
  failover(nodeId: number): void {
    this.mutations++
    if (this.type === "memcached") {
      this.nodeStores.delete(nodeId)
      return
    }
    for (const vb of this.vbuckets) {
      if (!vb.chain.includes(nodeId)) continue
      const wasMaster = vb.master === nodeId
      vb.chain = failoverChain(vb.chain, nodeId)
      vb.copies.delete(nodeId)
      if (wasMaster) vb.newFailoverEntry()
    }
  }

  /**
   * Moves the vBuckets to a fresh balanced map over `nodeIds` at once (see
   * {@link rebalancePlan} and {@link moveVBuckets}). Returns the number of vBuckets
   * whose master moved.
   */
  rebalance(nodeIds: ReadonlyArray<number>): number {
    if (this.type === "memcached") {
      this.mutations++
      for (const id of [...this.nodeStores.keys()]) if (!nodeIds.includes(id)) this.nodeStores.delete(id)
      for (const id of nodeIds) this.nodeStore(id)
      return 0
    }
    return this.moveVBuckets(this.rebalancePlan(nodeIds))
  }

  /** The vBuckets whose chain differs from a fresh balanced map over `nodeIds`, with their new chains. */
  rebalancePlan(nodeIds: ReadonlyArray<number>): Array<readonly [vbucket: number, chain: ReadonlyArray<number>]> {
    const map = balancedMap(this.numVBuckets, nodeIds, this.numReplicas)
    const plan: Array<readonly [number, ReadonlyArray<number>]> = []
    for (const vb of this.vbuckets) {
      const chain = map[vb.id]!
      if (chain.length !== vb.chain.length || chain.some((n, i) => n !== vb.chain[i])) plan.push([vb.id, chain])
    }
    return plan
  }

  /**
   * Moves vBuckets to new chains, carrying the data: a new copy starts from the current
   * master's copy (or any surviving copy), and nodes that leave a chain drop theirs.
   * Returns the number of vBuckets whose master moved.
   */
  moveVBuckets(moves: ReadonlyArray<readonly [vbucket: number, chain: ReadonlyArray<number>]>): number {
    this.mutations++
    let moved = 0
    for (const [id, chain] of moves) {
      const vb = this.vbuckets[id]!
      const source =
        (vb.master >= 0 ? vb.copies.get(vb.master) : undefined) ?? vb.chain.map((n) => vb.copies.get(n)).find(Boolean)
      for (const node of chain) {
        if (node < 0 || vb.chain.includes(node)) continue
        const store = vb.copyOn(node)
        if (source !== undefined) for (const [key, item] of source.items) store.set(key, copyItem(item))
      }
      for (const node of [...vb.copies.keys()]) if (!chain.includes(node)) vb.copies.delete(node)
      if (chain[0] !== vb.master) {
        moved++
        if (!vb.chain.includes(chain[0]!)) vb.newFailoverEntry()
      }
      vb.chain = [...chain]
    }
    return moved
  }

  // ---- the view engine's source, preloading ----------------------------------------

  /**
   * The live (not deleted, not expired) items of the active copies of every vBucket
   * (for a memcached bucket: of every node), in vBucket order. Items are read lazily,
   * so a long iteration sees concurrent writes to vBuckets it has not reached yet.
   */
  *documents(): IterableIterator<BucketDocument> {
    const now = this.now()
    const stores =
      this.type === "memcached"
        ? [...this.nodeStores.values()]
        : this.vbuckets.map((vb) => (vb.master >= 0 ? vb.copies.get(vb.master) : undefined))
    for (const store of stores) {
      if (store === undefined) continue
      for (const [key, item] of store.live(now)) if (!isNamedKey(key)) yield toDocument(key, item)
    }
  }

  /** The live items of the vBuckets `nodeId` is master of (what that node alone would index). */
  *documentsOn(nodeId: number): IterableIterator<BucketDocument> {
    const now = this.now()
    const stores =
      this.type === "memcached"
        ? [this.nodeStores.get(nodeId)]
        : this.vbuckets.map((vb) => (vb.master === nodeId ? vb.copies.get(nodeId) : undefined))
    for (const store of stores) {
      if (store === undefined) continue
      for (const [key, item] of store.live(now)) if (!isNamedKey(key)) yield toDocument(key, item)
    }
  }

  /** Drops the data of collections `cids` from every copy. */
  dropCollectionData(cids: ReadonlyArray<number>): void {
    const prefixes = cids.map(namedKeyPrefix)
    const stores =
      this.type === "memcached" ? [...this.nodeStores.values()] : this.vbuckets.flatMap((vb) => [...vb.copies.values()])
    for (const store of stores) {
      for (const key of [...store.items.keys()]) if (prefixes.some((p) => key.startsWith(p))) store.items.delete(key)
    }
    this.mutations++
  }

  /** The live document `id` of the active copy, or undefined. */
  getDocument(id: string): BucketDocument | undefined {
    const key = keyString(Buffer.from(id, "utf8"))
    const now = this.now()
    if (this.type === "memcached") {
      for (const store of this.nodeStores.values()) {
        const item = store.getLive(key, now)
        if (item !== undefined) return toDocument(key, item)
      }
      return undefined
    }
    const vb = this.vbuckets[this.vbucketOf(Buffer.from(id, "utf8"))]!
    const item = vb.master >= 0 ? vb.copies.get(vb.master)?.getLive(key, now) : undefined
    return item === undefined ? undefined : toDocument(key, item)
  }

  /**
   * Writes documents through the normal store path (new CAS, sequence number,
   * replication), as upserts. For a memcached bucket each document goes to the node
   * `pickNode` chooses (the cluster passes the ketama owner), or the first node.
   */
  load(docs: Iterable<LoadDocument>, pickNode?: (key: Buffer) => number): number {
    const now = this.now()
    let count = 0
    for (const doc of docs) {
      const rawKey = Buffer.from(doc.id, "utf8")
      let value: Buffer
      let json: boolean
      if (doc.value instanceof Uint8Array) {
        value = Buffer.from(doc.value)
        json = looksLikeJson(value)
      } else {
        value = Buffer.from(JSON.stringify(doc.value) ?? "null", "utf8")
        json = true
      }
      const key = keyString(rawKey)
      let ref: StoreRef | undefined
      if (this.type === "memcached") {
        const node = pickNode?.(rawKey) ?? [...this.nodeStores.keys()][0]
        if (node === undefined) continue
        ref = { store: this.nodeStore(node), vb: undefined }
      } else {
        const vb = this.vbuckets[this.vbucketOf(rawKey)]!
        if (vb.master < 0) continue
        ref = { store: vb.copyOn(vb.master), vb }
      }
      const previous = ref.store.get(key, now)
      const item: Item = {
        value,
        flags: doc.flags ?? (json ? JSON_FLAGS : 0),
        datatype: json ? 1 : 0,
        cas: this.nextCas(),
        expiry: expiryToMillis(doc.expiry ?? 0, now),
        lockedUntil: 0,
        deleted: false,
        persisted: true,
        revSeqno: (previous?.revSeqno ?? 0) + 1,
        seqno: 0,
        mtime: now
      }
      ref.store.set(key, item)
      this.commit(ref, key, item)
      count++
    }
    return count
  }
}

const toDocument = (key: string, item: Item): BucketDocument => ({
  id: Buffer.from(key, "latin1").toString("utf8"),
  value: item.value,
  flags: item.flags,
  cas: item.cas,
  expiry: item.expiry === 0 ? 0 : Math.ceil(item.expiry / 1000),
  datatype: item.datatype,
  revSeqno: item.revSeqno
})
