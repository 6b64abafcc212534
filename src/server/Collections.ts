/**
 * A bucket's scopes and collections: the manifest (with its uid, bumped by every
 * change), the ids KV requests address collections by (unsigned LEB128 in front of
 * the key once a client negotiates collections), and how a named collection's keys
 * are kept apart from the default collection's in the item stores.
 *
 * The default scope and collection (`_default`, id 0) always exist. Ids of new scopes
 * and of new collections each count from 8, as Couchbase Server's do (0 to 7 are reserved).
 *
 * @internal
 */

/** A collection of a scope. */
export interface CollectionInfo {
  readonly name: string
  readonly uid: number
  readonly maxTTL: number
}

/** A scope and its collections. */
export interface ScopeInfo {
  readonly name: string
  readonly uid: number
  readonly collections: Map<string, CollectionInfo>
}

/** The names ns_server accepts for scopes and collections: 1 to 251 of `A-Za-z0-9_%-`, not starting with `_` or `%`. */
const VALID_NAME = /^[A-Za-z0-9-][A-Za-z0-9_%-]{0,250}$/

/** What a manifest change can refuse. */
export type ManifestError =
  | "invalid name"
  | "scope exists"
  | "scope missing"
  | "collection exists"
  | "collection missing"

/** The scopes and collections of one bucket. */
export class CollectionsManifest {
  /** Bumped by every change; clients compare it with theirs. */
  uid = 0
  private nextScopeId = 8
  private nextCollectionId = 8
  readonly scopes = new Map<string, ScopeInfo>([
    [
      "_default",
      { name: "_default", uid: 0, collections: new Map([["_default", { name: "_default", uid: 0, maxTTL: 0 }]]) }
    ]
  ])

  /** The collection with id `cid` and its scope. */
  byId(cid: number): { readonly scope: ScopeInfo; readonly collection: CollectionInfo } | undefined {
    for (const scope of this.scopes.values()) {
      for (const collection of scope.collections.values()) if (collection.uid === cid) return { scope, collection }
    }
    return undefined
  }

  createScope(name: string): ScopeInfo | ManifestError {
    if (!VALID_NAME.test(name)) return "invalid name"
    if (this.scopes.has(name)) return "scope exists"
    const scope = { name, uid: this.nextScopeId++, collections: new Map<string, CollectionInfo>() }
    this.scopes.set(name, scope)
    this.uid++
    return scope
  }

  /** Drops a scope; the ids of its collections, whose data must go too. */
  dropScope(name: string): ReadonlyArray<number> | ManifestError {
    const scope = this.scopes.get(name)
    if (scope === undefined || name === "_default") return name === "_default" ? "invalid name" : "scope missing"
    this.scopes.delete(name)
    this.uid++
    return [...scope.collections.values()].map((c) => c.uid)
  }

  createCollection(scopeName: string, name: string, maxTTL: number): CollectionInfo | ManifestError {
    const scope = this.scopes.get(scopeName)
    if (scope === undefined) return "scope missing"
    if (!VALID_NAME.test(name)) return "invalid name"
    if (scope.collections.has(name)) return "collection exists"
    const collection = { name, uid: this.nextCollectionId++, maxTTL }
    scope.collections.set(name, collection)
    this.uid++
    return collection
  }

  dropCollection(scopeName: string, name: string): number | ManifestError {
    const scope = this.scopes.get(scopeName)
    if (scope === undefined) return "scope missing"
    const collection = scope.collections.get(name)
    if (collection === undefined) return "collection missing"
    scope.collections.delete(name)
    this.uid++
    return collection.uid
  }

  /** The manifest as ns_server and GET_COLLECTIONS_MANIFEST give it (ids in hex). */
  toJson(): Record<string, unknown> {
    return {
      uid: this.uid.toString(16),
      scopes: [...this.scopes.values()].map((scope) => ({
        name: scope.name,
        uid: scope.uid.toString(16),
        collections: [...scope.collections.values()].map((c) => ({
          name: c.name,
          uid: c.uid.toString(16),
          maxTTL: c.maxTTL
        }))
      }))
    }
  }
}

/** What marks a named collection's keys in the item stores (default-collection keys have no mark). */
const NAMED_KEY_MARK = "\u0000\u0000"

/** The store key of `key` in collection `cid`. */
export const storeKey = (cid: number, key: string): string =>
  cid === 0 ? key : `${NAMED_KEY_MARK}${cid.toString(16)}\u0000${key}`

/** Whether a store key belongs to a named collection (views and samples see the default one only). */
export const isNamedKey = (key: string): boolean => key.startsWith(NAMED_KEY_MARK)

/** The store-key prefix of collection `cid` (to drop its data). */
export const namedKeyPrefix = (cid: number): string => `${NAMED_KEY_MARK}${cid.toString(16)}\u0000`

/** An unsigned LEB128 number at the start of `bytes` (at most 5 bytes, as kv_engine reads it) and its length. */
export const readLeb128 = (bytes: Uint8Array): { readonly value: number; readonly length: number } | undefined => {
  let value = 0
  for (let i = 0; i < 5 && i < bytes.length; i++) {
    const byte = bytes[i]!
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return value > 0xffffffff ? undefined : { value, length: i + 1 }
  }
  return undefined
}

/** The user key of a store key in collection `cid`, or undefined when it is another collection's. */
export const userKeyIn = (cid: number, key: string): string | undefined => {
  if (cid === 0) return isNamedKey(key) ? undefined : key
  const prefix = namedKeyPrefix(cid)
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined
}

/** `n` as unsigned LEB128. */
export const leb128 = (n: number): Buffer => {
  const bytes: Array<number> = []
  let rest = n
  do {
    let byte = rest % 128
    rest = Math.floor(rest / 128)
    if (rest > 0) byte |= 0x80
    bytes.push(byte)
  } while (rest > 0)
  return Buffer.from(bytes)
}
