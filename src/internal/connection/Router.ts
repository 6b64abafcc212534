/**
 * Where a key goes: the server index of the copy an operation reads or writes.
 *
 * - **vBucket** (couchbase buckets): the key's vBucket is
 *   `((crc32(key) >> 16) & 0x7fff) % numVBuckets`; its master is `map[vb][0]` and
 *   replica i is `map[vb][i + 1]`; -1 means the copy does not exist right now.
 * - **ketama** (memcached buckets and plain memcached servers): consistent hashing
 *   over the servers; there are no replicas and no vBuckets (the request's vBucket is 0).
 *
 * A router is immutable and built once per config, so the hot path reads plain arrays.
 *
 * @internal
 */
import { type Continuum, makeContinuum, serverOf } from "../hashing/ketama.js"
import { vbucketOf } from "../hashing/vbucket.js"
import type { ClusterConfig } from "./ClusterConfig.js"

/** A key's placement. */
export interface Router {
  readonly kind: "vbucket" | "ketama"
  /** Servers by index (the config's server list, or the memcached servers). */
  readonly serverCount: number
  /** vBuckets in the map (0 for ketama). */
  readonly numVBuckets: number
  /** Replicas per vBucket (0 for ketama). */
  readonly numReplicas: number
  /** The vBucket of a key (0 for ketama). */
  vbucket(key: Uint8Array | string): number
  /**
   * The server index holding copy `copy` of `key` (0 = master, i + 1 = replica i), or
   * -1 when there is no such copy.
   */
  server(key: Uint8Array | string, vbucket: number, copy: number): number
}

class VBucketRouter implements Router {
  readonly kind = "vbucket" as const
  readonly numVBuckets: number
  readonly numReplicas: number

  constructor(
    readonly serverCount: number,
    private readonly map: ReadonlyArray<Int16Array>,
    numReplicas: number
  ) {
    this.numVBuckets = map.length
    this.numReplicas = numReplicas
  }

  vbucket(key: Uint8Array | string): number {
    return vbucketOf(key, this.numVBuckets)
  }

  server(_key: Uint8Array | string, vbucket: number, copy: number): number {
    const chain = this.map[vbucket]
    return chain === undefined || copy >= chain.length ? -1 : chain[copy]!
  }
}

class KetamaRouter implements Router {
  readonly kind = "ketama" as const
  readonly numVBuckets = 0
  readonly numReplicas = 0

  constructor(
    readonly serverCount: number,
    private readonly continuum: Continuum
  ) {}

  vbucket(): number {
    return 0
  }

  server(key: Uint8Array | string, _vbucket: number, copy: number): number {
    return copy === 0 ? serverOf(this.continuum, key) : -1
  }
}

/** Routing over a vBucket map. */
export const vbucketRouter = (serverCount: number, map: ReadonlyArray<Int16Array>, numReplicas: number): Router =>
  new VBucketRouter(serverCount, map, numReplicas)

/**
 * Ketama over `servers` (index = position). `libmemcached` labels (`host-i` for port
 * 11211) suit plain memcached servers shared with libmemcached clients; Couchbase
 * memcached buckets use `host:port-i` always (SDK RFC 26).
 */
export const ketamaRouter = (
  servers: ReadonlyArray<{ readonly host: string; readonly port: number }>,
  labels: "libmemcached" | "couchbase"
): Router => new KetamaRouter(servers.length, makeContinuum(servers, { omitDefaultPort: labels === "libmemcached" }))

/**
 * The router of a config. `tls` picks the KV port the ketama labels are made of.
 * A vBucket config without a map routes nothing (every server is -1).
 */
export const fromConfig = (config: ClusterConfig, tls: boolean): Router => {
  if (config.locator === "ketama") {
    const servers = config.servers.map((s) => ({
      host: s.host,
      port: (tls ? s.services.kvSSL : s.services.kv) ?? s.services.kv ?? 0
    }))
    return ketamaRouter(servers, "couchbase")
  }
  const vb = config.vbuckets
  return vb === undefined
    ? vbucketRouter(config.servers.length, [], 0)
    : vbucketRouter(config.servers.length, vb.map, vb.numReplicas)
}
