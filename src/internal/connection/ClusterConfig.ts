/**
 * The client's reading of a Couchbase "terse" cluster config: the JSON that
 * GET_CLUSTER_CONFIG returns and that NOT_MY_VBUCKET responses carry in their body.
 *
 * What matters to the key/value path:
 * - the revision `(revEpoch, rev)`: configs are ordered by it, and an older or equal
 *   one is never applied over a newer one (servers send configs in any order);
 * - the servers: a vBucket map entry `n` names `vBucketServerMap.serverList[n]`; each
 *   server's other ports (TLS KV, views, management) come from the `nodesExt` entry of
 *   the same host and KV port. Without a server list (memcached buckets, global
 *   configs) the servers are the `nodesExt` entries that run KV, in order;
 * - `$HOST`, or no `hostname` at all, stands for the host the config was read from
 *   (a single-node cluster does not know its own address);
 * - the vBucket map `[master, replica1, …]` per vBucket, -1 for a missing copy.
 *
 * Parsing is total: a config that is not what it should be is a {@link ProtocolError}
 * naming the field, never a throw, and it checks every index of the map so that
 * routing later needs no bounds checks.
 *
 * @internal
 */
import { Either } from "effect"
import { ProtocolError } from "../../Errors.js"

/** Ports of one node's services; absent when the node does not run that service. */
export interface NodeServices {
  /** Plain key/value (memcached binary protocol). */
  readonly kv?: number | undefined
  /** Key/value over TLS. */
  readonly kvSSL?: number | undefined
  /** Views (CAPI) over HTTP. */
  readonly capi?: number | undefined
  /** Views over HTTPS. */
  readonly capiSSL?: number | undefined
  /** Cluster management REST API. */
  readonly mgmt?: number | undefined
  /** Management over HTTPS. */
  readonly mgmtSSL?: number | undefined
}

/** One server of the config, at its server index. */
export interface ConfigServer {
  /** The host (an IPv6 address without brackets), `$HOST` already substituted. */
  readonly host: string
  readonly services: NodeServices
  /** True when this is the node the config was read from. */
  readonly thisNode: boolean
}

/** The vBucket map of a couchbase bucket. */
export interface VBucketMap {
  readonly numReplicas: number
  /** `map[vb][0]` is the master's server index, `map[vb][i + 1]` replica i's; -1: none. */
  readonly map: ReadonlyArray<Int16Array>
}

/** A parsed config. */
export interface ClusterConfig {
  readonly rev: number
  /** 0 when the server does not send one (before Couchbase 7.1). */
  readonly revEpoch: number
  /** The bucket's name; undefined for a global config. */
  readonly bucket: string | undefined
  /** How keys are placed: by vBucket (couchbase buckets) or by ketama (memcached buckets). */
  readonly locator: "vbucket" | "ketama"
  /** Servers by server index. */
  readonly servers: ReadonlyArray<ConfigServer>
  /** Present for `vbucket` configs that carry a map. */
  readonly vbuckets: VBucketMap | undefined
  /** The server index of the node the config was read from, when it says so. */
  readonly thisNode: number | undefined
}

/** True when `a` is strictly newer than `b` (by `revEpoch`, then `rev`). */
export const isNewer = (a: ClusterConfig, b: ClusterConfig | undefined): boolean =>
  b === undefined || a.revEpoch > b.revEpoch || (a.revEpoch === b.revEpoch && a.rev > b.rev)

/** `host:port` with IPv6 addresses in brackets. */
export const hostPort = (host: string, port: number): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

/** The KV port of a server for a plain or TLS connection. */
export const kvPort = (server: ConfigServer, tls: boolean): number | undefined =>
  tls ? server.services.kvSSL : server.services.kv

type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const isPort = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535

const bad = (message: string): Either.Either<never, ProtocolError> =>
  Either.left(new ProtocolError({ message: `invalid cluster config: ${message}` }))

/** Replaces `$HOST` / an empty host by `source` and strips IPv6 brackets. */
const resolveHost = (raw: unknown, source: string): string => {
  if (typeof raw !== "string" || raw === "") return source
  const replaced = raw.includes("$HOST") ? raw.replace("$HOST", source) : raw
  return replaced.startsWith("[") && replaced.endsWith("]") ? replaced.slice(1, -1) : replaced
}

/** Splits `host:port` (`[v6]:port` too); undefined when it is not that shape. */
const splitHostPort = (text: string, source: string): { readonly host: string; readonly port: number } | undefined => {
  const colon = text.lastIndexOf(":")
  if (colon <= 0) return undefined
  const port = Number(text.slice(colon + 1))
  if (!isPort(port)) return undefined
  return { host: resolveHost(text.slice(0, colon), source), port }
}

const SERVICE_NAMES = ["kv", "kvSSL", "capi", "capiSSL", "mgmt", "mgmtSSL"] as const

const parseServices = (raw: unknown): NodeServices => {
  const out: { -readonly [K in keyof NodeServices]: NodeServices[K] } = {}
  if (!isObject(raw)) return out
  for (const name of SERVICE_NAMES) {
    const port = raw[name]
    if (isPort(port)) out[name] = port
  }
  return out
}

const sameHost = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The `nodesExt` entries (or the legacy `nodes` list) as servers. */
const parseNodesExt = (json: Json, source: string): Array<ConfigServer> => {
  const out: Array<ConfigServer> = []
  if (Array.isArray(json["nodesExt"])) {
    for (const entry of json["nodesExt"]) {
      if (!isObject(entry)) continue
      out.push({
        host: resolveHost(entry["hostname"], source),
        services: parseServices(entry["services"]),
        thisNode: entry["thisNode"] === true
      })
    }
    return out
  }
  // Servers before 3.0 only had `nodes`: `hostname` is host:mgmt, `ports.direct` the KV port.
  if (Array.isArray(json["nodes"])) {
    for (const entry of json["nodes"]) {
      if (!isObject(entry)) continue
      const hp = typeof entry["hostname"] === "string" ? splitHostPort(entry["hostname"], source) : undefined
      const ports = isObject(entry["ports"]) ? entry["ports"] : {}
      const kv = isPort(ports["direct"]) ? ports["direct"] : undefined
      out.push({
        host: hp?.host ?? source,
        services: { ...(kv === undefined ? {} : { kv }), ...(hp === undefined ? {} : { mgmt: hp.port }) },
        thisNode: entry["thisNode"] === true
      })
    }
  }
  return out
}

const parseVBucketMap = (raw: Json, serverCount: number): Either.Either<VBucketMap, ProtocolError> => {
  const numReplicas = raw["numReplicas"]
  if (typeof numReplicas !== "number" || !Number.isInteger(numReplicas) || numReplicas < 0 || numReplicas > 3) {
    return bad(`vBucketServerMap.numReplicas must be 0 to 3, got ${JSON.stringify(numReplicas)}`)
  }
  const rows = raw["vBucketMap"]
  if (!Array.isArray(rows) || rows.length === 0 || rows.length > 0x10000) {
    return bad("vBucketServerMap.vBucketMap must be a non-empty array of at most 65536 vBuckets")
  }
  const map: Array<Int16Array> = new Array(rows.length)
  for (let vb = 0; vb < rows.length; vb++) {
    const row = rows[vb]
    if (!Array.isArray(row) || row.length === 0) return bad(`vBucket ${vb} has no chain`)
    // A chain may be shorter than numReplicas + 1 (missing copies): pad with -1.
    const chain = new Int16Array(numReplicas + 1).fill(-1)
    for (let i = 0; i < row.length && i <= numReplicas; i++) {
      const index = row[i]
      if (typeof index !== "number" || !Number.isInteger(index) || index < -1 || index >= serverCount) {
        return bad(`vBucket ${vb} names server ${JSON.stringify(index)}, but there are ${serverCount} servers`)
      }
      chain[i] = index
    }
    map[vb] = chain
  }
  return Either.right({ numReplicas, map })
}

/**
 * Parses a terse config read from `source` (the host the client is connected to,
 * which replaces `$HOST`).
 */
export const parse = (body: string | Uint8Array, source: string): Either.Either<ClusterConfig, ProtocolError> => {
  let json: unknown
  try {
    json = JSON.parse(
      typeof body === "string" ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8")
    )
  } catch (cause) {
    return Either.left(new ProtocolError({ message: `invalid cluster config: not JSON (${String(cause)})`, cause }))
  }
  if (!isObject(json)) return bad("not a JSON object")
  const rev = json["rev"]
  if (typeof rev !== "number" || !Number.isInteger(rev) || rev < 0)
    return bad(`rev must be a non-negative integer, got ${JSON.stringify(rev)}`)
  const epochRaw = json["revEpoch"]
  if (epochRaw !== undefined && (typeof epochRaw !== "number" || !Number.isInteger(epochRaw) || epochRaw < 0)) {
    return bad(`revEpoch must be a non-negative integer, got ${JSON.stringify(epochRaw)}`)
  }
  const revEpoch = epochRaw ?? 0
  const bucket = typeof json["name"] === "string" ? json["name"] : undefined
  const nodes = parseNodesExt(json, source)
  const vbsm = json["vBucketServerMap"]
  const locator =
    json["nodeLocator"] === "ketama" || (vbsm === undefined && bucket !== undefined) ? "ketama" : "vbucket"

  let servers: Array<ConfigServer>
  let vbuckets: VBucketMap | undefined
  if (isObject(vbsm)) {
    const list = vbsm["serverList"]
    if (!Array.isArray(list)) return bad("vBucketServerMap.serverList must be an array")
    servers = []
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]
      const hp = typeof entry === "string" ? splitHostPort(entry, source) : undefined
      if (hp === undefined) return bad(`serverList[${i}] is not host:port: ${JSON.stringify(entry)}`)
      // The nodesExt entry of this host and KV port gives the other services; Couchbase
      // lists both in the same order, but matching by address does not rely on it.
      const ext = nodes.find((n) => n.services.kv === hp.port && sameHost(n.host, hp.host))
      servers.push(
        ext === undefined
          ? { host: hp.host, services: { kv: hp.port }, thisNode: false }
          : { host: ext.host, services: ext.services, thisNode: ext.thisNode }
      )
    }
    const parsed = parseVBucketMap(vbsm, servers.length)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    vbuckets = parsed.right
  } else {
    servers = nodes.filter((n) => n.services.kv !== undefined || n.services.kvSSL !== undefined)
  }
  const thisIndex = servers.findIndex((s) => s.thisNode)
  return Either.right({
    rev,
    revEpoch,
    bucket,
    locator,
    servers,
    vbuckets,
    thisNode: thisIndex < 0 ? undefined : thisIndex
  })
}
