/**
 * What the view engine needs from a bucket of the embedded cluster: its live items.
 * The server's bucket implements this interface; the engine keeps everything else
 * (design documents, indexes) itself, per `ViewSource` object.
 *
 * @since 0.1.0
 */

/** One live item of a bucket, as the view engine sees it. */
export interface ViewSourceItem {
  /** The document ID (the KV key). */
  readonly id: string
  /** The stored bytes, uncompressed and without extended attributes. */
  readonly value: Uint8Array
  /** The item's 32-bit flags (`meta.flags`). */
  readonly flags: number
  /** The item's CAS (part of `meta.rev`). */
  readonly cas: bigint
  /** Absolute expiry in Unix seconds, 0 for none (`meta.expiration`). */
  readonly expiry: number
  /** The memcached datatype; bit 0x01 says the value is JSON (others are parsed to find out). */
  readonly datatype: number
  /** The item's revision sequence number (the first part of `meta.rev`); 1 when absent. */
  readonly revSeqno?: number | bigint | undefined
}

/**
 * A bucket as seen by the view engine. The same object must be passed for the same
 * bucket on every node: design documents and indexes are kept per object.
 */
export interface ViewSource {
  /**
   * The live (not deleted, not expired) items of the active copies of every vBucket,
   * in any order. Called once per index build; iterating it must not block for long
   * (the engine yields to the event loop between batches).
   */
  documents(): Iterable<ViewSourceItem>
  /**
   * A number that changes whenever the items change (a mutation counter). When given,
   * an index is reused until it changes; when absent, every query reads the items again.
   */
  readonly changeCounter?: (() => number | bigint) | undefined
  /** The current time in Unix seconds (the server's clock), used to notice expired items in a cached index. */
  readonly nowSeconds?: (() => number) | undefined
}

/**
 * Per-request context a node can give: the items of its own active vBuckets, which
 * development views query when `full_set` is not set (as on a real cluster, where such
 * a query is answered by the receiving node alone).
 */
export interface ViewRequestContext {
  readonly localDocuments?: (() => Iterable<ViewSourceItem>) | undefined
}
