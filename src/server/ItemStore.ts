/**
 * The items one node holds for one vBucket (or, for a memcached bucket, for the whole
 * node): a map from key to {@link Item}, with expiry applied lazily on access and
 * memcached's delayed `FLUSH` (items modified before the flush time vanish once the
 * clock reaches it).
 *
 * Keys are the raw key bytes as a latin1 string: lossless for any byte sequence and
 * cheaper than hex, and the same bytes always give the same string.
 *
 * @internal
 */
import { type Item, isExpired } from "./Item.js"

/** Raw key bytes → the map key. */
export const keyString = (key: Uint8Array): string =>
  Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1")

/** The map key → the raw key bytes. */
export const keyBytes = (key: string): Buffer => Buffer.from(key, "latin1")

/** The items of one node for one vBucket. */
export class ItemStore {
  readonly items = new Map<string, Item>()
  /** A delayed flush: items modified before this time vanish once the clock reaches it (0 = none). */
  private flushAt = 0

  /**
   * The item under `key` (live or a tombstone), or undefined. Expired items are
   * dropped here, as memcached does on access.
   */
  get(key: string, nowMs: number): Item | undefined {
    if (this.flushAt !== 0) this.applyDueFlush(nowMs)
    const item = this.items.get(key)
    if (item === undefined) return undefined
    if (isExpired(item, nowMs)) {
      this.items.delete(key)
      return undefined
    }
    return item
  }

  /** Once a delayed flush's time has come, drops the items last modified before it. */
  private applyDueFlush(nowMs: number): void {
    if (nowMs < this.flushAt) return
    for (const [key, item] of this.items) if (item.mtime < this.flushAt) this.items.delete(key)
    this.flushAt = 0
  }

  /** The live (not deleted) item under `key`, or undefined. */
  getLive(key: string, nowMs: number): Item | undefined {
    const item = this.get(key, nowMs)
    return item === undefined || item.deleted ? undefined : item
  }

  /** Stores (or replaces) the copy under `key`. */
  set(key: string, item: Item): void {
    this.items.set(key, item)
  }

  /** Forgets `key` entirely (no tombstone). */
  delete(key: string): boolean {
    return this.items.delete(key)
  }

  /** Drops every item now, or (memcached's `flush_all <delay>`) once `atMs` is reached. */
  flush(nowMs: number, atMs = nowMs): void {
    if (atMs <= nowMs) {
      this.items.clear()
      this.flushAt = 0
    } else {
      this.flushAt = atMs
    }
  }

  /** Live items at `nowMs` (skips tombstones and expired items). */
  *live(nowMs: number): IterableIterator<[string, Item]> {
    if (this.flushAt !== 0) this.applyDueFlush(nowMs)
    for (const entry of this.items) {
      const item = entry[1]
      if (!item.deleted && !isExpired(item, nowMs)) yield entry
    }
  }

  /** Number of live items at `nowMs`. */
  countLive(nowMs: number): number {
    let n = 0
    for (const _ of this.live(nowMs)) n++
    return n
  }
}
