/**
 * Ketama consistent hashing for memcached servers and Couchbase memcached buckets,
 * built exactly as libmemcached builds its weighted ketama continuum
 * (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`), so that this client and libmemcached-based
 * clients (PHP, pylibmc, the libmemcached tools) sharing a server list put every key
 * on the same server.
 *
 * - Each server gets 40 labels `host:port-i` (i = 0…39); libmemcached writes `host-i`
 *   when the port is memcached's default 11211. The MD5 digest of a label gives four
 *   points, one per little-endian 32-bit word, so a server owns 160 points (scaled by
 *   its share of the total weight).
 * - A key hashes to the first little-endian word of its MD5 digest and belongs to the
 *   server owning the first point at or after that hash, wrapping to the first point.
 *
 * Couchbase's own SDKs (SDK RFC 26) always write `host:port-i`; they agree with
 * libmemcached for every port but 11211, and `omitDefaultPort: false` selects theirs.
 *
 * Building a continuum is not on the hot path; a lookup is one MD5 and a binary search.
 *
 * @internal
 */
import { hash } from "node:crypto"

/** A server of the ring. `weight` (a positive integer, default 1) scales its share of keys. */
export interface KetamaServer {
  readonly host: string
  readonly port: number
  readonly weight?: number | undefined
}

/** How labels are written. */
export interface KetamaOptions {
  /**
   * Write `host-i` instead of `host:port-i` for port 11211, as libmemcached does.
   * Defaults to true; Couchbase SDKs (RFC 26) use false.
   */
  readonly omitDefaultPort?: boolean | undefined
}

/** A sorted continuum: `points[i]` is owned by server index `owners[i]`. */
export interface Continuum {
  readonly points: Uint32Array
  readonly owners: Uint32Array
  /** Number of servers the continuum was built from. */
  readonly serverCount: number
}

/** memcached's default port, the one libmemcached leaves out of the labels. */
export const MEMCACHED_DEFAULT_PORT = 11211

/** Points per server when all weights are equal (libmemcached's `MEMCACHED_POINTS_PER_SERVER_KETAMA`). */
export const POINTS_PER_SERVER = 160

const POINTS_PER_HASH = 4

const md5 = (data: Uint8Array | string): Buffer => hash("md5", data, "buffer")

/** The hash of a key on the ring: the first little-endian 32-bit word of its MD5 digest. */
export const ketamaHash = (key: Uint8Array | string): number => md5(key).readUInt32LE(0)

/** The label whose MD5 digest gives the points of repetition `i` of `server`. */
export const pointLabel = (server: KetamaServer, i: number, options: KetamaOptions = {}): string =>
  server.port === MEMCACHED_DEFAULT_PORT && (options.omitDefaultPort ?? true)
    ? `${server.host}-${i}`
    : `${server.host}:${server.port}-${i}`

/**
 * The number of points of a server, computed in single precision exactly as
 * libmemcached does (`floorf`-like rounding of `pct * 160 / 4 * servers`, times 4), so
 * that weighted rings match too. With equal weights every server gets 160.
 */
export const pointsFor = (weight: number, totalWeight: number, serverCount: number): number => {
  const f = Math.fround
  const pct = f(f(weight) / f(totalWeight))
  const scaled = f(f(f(pct * POINTS_PER_SERVER) / 4) * f(serverCount))
  return Math.floor(f(scaled + f(1e-10))) * POINTS_PER_HASH
}

/**
 * Builds the continuum of `servers`; a server's index in the result is its position
 * in the array. Throws a RangeError for a weight that is not a positive integer (a
 * configuration bug, validated when the server list is parsed).
 */
export const makeContinuum = (servers: ReadonlyArray<KetamaServer>, options: KetamaOptions = {}): Continuum => {
  let totalWeight = 0
  for (const s of servers) {
    const w = s.weight ?? 1
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`server ${s.host}:${s.port} has invalid weight ${w}`)
    totalWeight += w
  }
  const values: Array<number> = []
  const owners: Array<number> = []
  servers.forEach((server, index) => {
    const count = pointsFor(server.weight ?? 1, totalWeight, servers.length)
    for (let i = 0; i < count / POINTS_PER_HASH; i++) {
      const digest = md5(pointLabel(server, i, options))
      for (let word = 0; word < POINTS_PER_HASH; word++) {
        values.push(digest.readUInt32LE(word * 4))
        owners.push(index)
      }
    }
  })
  // Ties (two labels sharing a 32-bit word) are broken by server index, as libmemcached's comparator does.
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]! || owners[a]! - owners[b]!)
  return {
    points: Uint32Array.from(order, (i) => values[i]!),
    owners: Uint32Array.from(order, (i) => owners[i]!),
    serverCount: servers.length
  }
}

/** The server index owning `keyHash`: the first point at or after it, wrapping around. -1 for an empty ring. */
export const serverForHash = (continuum: Continuum, keyHash: number): number => {
  const { points, owners } = continuum
  if (points.length === 0) return -1
  let lo = 0
  let hi = points.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (points[mid]! < keyHash) lo = mid + 1
    else hi = mid
  }
  return owners[lo === points.length ? 0 : lo]!
}

/** The server index that stores `key` (a string is hashed as UTF-8). -1 for an empty ring. */
export const serverOf = (continuum: Continuum, key: Uint8Array | string): number =>
  continuum.serverCount === 1 ? 0 : serverForHash(continuum, ketamaHash(key))
