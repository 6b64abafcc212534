/**
 * vBucket routing of Couchbase buckets, as Couchbase Server hashes keys: a key belongs
 * to vBucket `((crc32(key) >> 16) & 0x7fff) % numVBuckets`, where crc32 is the zlib
 * CRC-32 of the key's raw bytes (UTF-8 for a string key). Every Couchbase SDK and the
 * server agree on this function, so it must match bit for bit.
 *
 * @internal
 */
import { crc32 } from "node:zlib"

/**
 * The vBucket of `key` in a map of `numVBuckets` vBuckets.
 *
 * `numVBuckets` must be a positive integer (the config parser guarantees it). A
 * string key is hashed as its UTF-8 bytes, which `zlib.crc32` does natively, so the
 * hot path does not allocate a Buffer for it.
 */
export const vbucketOf = (key: Uint8Array | string, numVBuckets: number): number =>
  ((crc32(key) >>> 16) & 0x7fff) % numVBuckets
