/**
 * A node's management HTTP port (ns_server's REST API, the part clients use):
 *
 * - `GET /pools` — cluster info and the pool list (no authentication);
 * - `GET /pools/default` — the nodes with their ports (`httpsMgmt`, `httpsCAPI` and
 *   `couchApiBaseHTTPS` when TLS is served) and membership;
 * - `GET /pools/default/buckets[/<b>]` — bucket configs (verbose);
 * - `GET /pools/default/b/<b>` — the terse bucket config;
 * - `GET /pools/default/bs/<b>` and `/pools/default/bucketsStreaming/<b>` — streamed
 *   configs: one now, then one per topology change, each followed by `"\n\n\n\n"`;
 * - `GET /pools/default/nodeServices` — the global config;
 * - `GET /pools/default/buckets/<b>/ddocs` — the bucket's design documents (what
 *   SDKs' view index managers list);
 * - `GET /pools/default/buckets/<b>/scopes` — the collections manifest; `POST` to it
 *   creates a scope, `POST …/scopes/<s>/collections` a collection, `DELETE` drops
 *   either (administrators);
 * - `POST /pools/default/buckets/<b>/controller/doFlush` — empties the bucket
 *   (administrators; flush is enabled on every bucket of this test server);
 * - `GET /pools/nodes` — as `/pools/default`;
 * - `POST /pools/default/buckets`, `POST` and `DELETE /pools/default/buckets/<b>` —
 *   create, update and drop buckets (administrators; see `BucketAdmin`).
 *
 * HTTP Basic authentication: administrators see everything, a bucket's users see
 * that bucket.
 *
 * @internal
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { ServerBucket } from "./Bucket.js"
import { applySettings, type NewBucket, newBucketFrom, readForm } from "./BucketAdmin.js"
import type { ManifestError } from "./Collections.js"
import { basicAuth } from "./httpAuth.js"
import type { ServerNode } from "./ServerNode.js"
import { canAccess, isAdmin, type UserDb } from "./Users.js"
import { viewEngineFor } from "./views/ViewEngine.js"

/** What the management port needs from the cluster. */
export interface MgmtCluster {
  readonly users: UserDb
  readonly uuid: string
  readonly version: string
  readonly nodes: ReadonlyArray<ServerNode>
  readonly buckets: ReadonlyMap<string, ServerBucket>
  /** True while a rebalance moves vBuckets. */
  readonly rebalancing: boolean
  bucket(name: string): ServerBucket | undefined
  /** The terse config object of a bucket (or the global one) as `node` reports it. */
  configObject(bucket: ServerBucket | undefined, node: ServerNode | undefined): Record<string, unknown>
  /** Subscribes to topology changes; returns the unsubscribe function. */
  onConfigChange(listener: () => void): () => void
  /** Creates a bucket (REST create). */
  createBucket(bucket: NewBucket): ServerBucket
  /** Drops a bucket (REST delete); false when there is none of that name. */
  dropBucket(name: string): boolean
}

const STREAM_SEPARATOR = "\n\n\n\n"

const send = (res: ServerResponse, status: number, body: unknown): void => {
  const text = typeof body === "string" ? body : JSON.stringify(body)
  res.writeHead(status, {
    "Content-Type": typeof body === "string" ? "text/plain" : "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-cache"
  })
  res.end(text)
}

const unauthorized = (res: ServerResponse): void => {
  res.writeHead(401, { "WWW-Authenticate": 'Basic realm="Couchbase Server Admin / REST"', "Content-Length": 0 })
  res.end()
}

const notFound = (res: ServerResponse): void => send(res, 404, "Requested resource not found.\r\n")

const membershipName = (node: ServerNode): string =>
  node.inMap ? "active" : node.membership === "pending" ? "inactiveAdded" : "inactiveFailed"

const nodeInfo = (cluster: MgmtCluster, node: ServerNode, self: ServerNode): Record<string, unknown> => ({
  hostname: `${node.host}:${node.mgmt}`,
  configuredHostname: `${node.host}:${node.mgmt}`,
  clusterMembership: membershipName(node),
  status: node.state === "running" ? "healthy" : "unhealthy",
  otpNode: `ns_${node.id}@${node.host}`,
  version: cluster.version,
  os: process.platform,
  services: ["kv"],
  ports: nodePorts(node),
  couchApiBase: `http://${node.host}:${node.capi}/`,
  ...(node.capiSSL === 0 ? {} : { couchApiBaseHTTPS: `https://${node.host}:${node.capiSSL}/` }),
  ...(node === self ? { thisNode: true } : {})
})

// ns_server lists the HTTPS ports next to the KV port when TLS is served.
const nodePorts = (node: ServerNode): Record<string, number> =>
  node.kvSSL === 0 ? { direct: node.kv } : { direct: node.kv, httpsMgmt: node.mgmtSSL, httpsCAPI: node.capiSSL }

const verboseBucket = (cluster: MgmtCluster, bucket: ServerBucket, self: ServerNode): Record<string, unknown> => {
  const terse = cluster.configObject(bucket, self)
  const members = cluster.nodes.filter((n) => n.inMap)
  return {
    ...terse,
    bucketType: bucket.type === "memcached" ? "memcached" : "membase",
    authType: "sasl",
    replicaNumber: bucket.numReplicas,
    numVBuckets: bucket.numVBuckets,
    // The settings Couchbase Server 7 reports, which SDKs' bucket managers read (the
    // official SDK's core aborts the process when one it expects is missing). Data
    // lives in memory without a quota: the figures are the server's defaults.
    ...bucketSettings(bucket, members.length),
    nodes: members.map((n) => ({
      ...nodeInfo(cluster, n, self),
      couchApiBase: `http://${n.host}:${n.capi}/${encodeURIComponent(bucket.name)}`,
      ...(n.capiSSL === 0
        ? {}
        : { couchApiBaseHTTPS: `https://${n.host}:${n.capiSSL}/${encodeURIComponent(bucket.name)}` })
    }))
  }
}

/**
 * The bucket settings of `/pools/default/buckets/<b>`: quota (per node and in all),
 * eviction, conflict resolution, expiry, compression, durability minimum, storage,
 * and the controllers (flush is enabled: tests empty buckets between runs).
 */
const bucketSettings = (bucket: ServerBucket, nodes: number): Record<string, unknown> => {
  const admin = bucket.admin
  const rawRAM = admin.ramQuotaMB * 1024 * 1024
  return {
    quota: { ram: rawRAM * Math.max(1, nodes), rawRAM },
    replicaIndex: false,
    threadsNumber: 3,
    evictionPolicy: admin.evictionPolicy,
    conflictResolutionType: admin.conflictResolutionType,
    maxTTL: admin.maxTTL,
    compressionMode: admin.compressionMode,
    durabilityMinLevel: admin.durabilityMinLevel,
    storageBackend: "couchstore",
    controllers: admin.flushEnabled
      ? { flush: `/pools/default/buckets/${encodeURIComponent(bucket.name)}/controller/doFlush` }
      : {}
  }
}

/**
 * Whether the request comes from an administrator; otherwise answers 401 (no or bad
 * credentials) or 403 naming the `permission` ns_server would ask for.
 */
const administrator = (
  cluster: MgmtCluster,
  req: IncomingMessage,
  res: ServerResponse,
  permission: string
): boolean => {
  const user = basicAuth(cluster.users, req)
  if (user === undefined) unauthorized(res)
  else if (!isAdmin(user))
    send(res, 403, { message: "Forbidden. User needs the following permissions", permissions: [permission] })
  else return true
  req.resume()
  return false
}

/** `/pools/default/buckets` (create) and `/pools/default/buckets/<b>` (update, drop). */
const BUCKET_WRITE = /^\/pools\/default\/buckets(\/[^/]+)?\/?$/

/**
 * Create (POST to the list), update (POST to a bucket) and drop (DELETE a bucket), by
 * an administrator, with ns_server's statuses and error bodies.
 */
const bucketWrite = (cluster: MgmtCluster, req: IncomingMessage, res: ServerResponse): void => {
  if (!administrator(cluster, req, res, "cluster.buckets!create")) return
  const match = BUCKET_WRITE.exec(pathOf(req))!
  let name: string | undefined
  try {
    name = match[1] === undefined ? undefined : decodeURIComponent(match[1].slice(1))
  } catch {
    send(res, 400, "Bad request: the path is not correctly percent-encoded.\r\n")
    return
  }
  if (req.method === "DELETE") {
    req.resume()
    if (name === undefined) send(res, 405, "Method Not Allowed\r\n")
    else if (cluster.dropBucket(name)) send(res, 200, "")
    else notFound(res)
    return
  }
  const target = name
  readForm(req).then(
    (form) => {
      if (target === undefined) {
        const { bucket, errors } = newBucketFrom(form, (n) => cluster.bucket(n) !== undefined)
        if (bucket === undefined) send(res, 400, { errors })
        else {
          cluster.createBucket(bucket)
          send(res, 202, "")
        }
        return
      }
      const bucket = cluster.bucket(target)
      if (bucket === undefined) {
        notFound(res)
        return
      }
      const { settings, errors } = applySettings(form, bucket.admin, bucket.type)
      const replicas = form.get("replicaNumber")
      if (replicas !== null && Number(replicas) !== bucket.numReplicas) {
        errors.replicaNumber =
          "changing the replica count of an existing bucket is not supported by the embedded cluster"
      }
      if (Object.keys(errors).length > 0) send(res, 400, { errors })
      else {
        bucket.admin = settings
        send(res, 200, "")
      }
    },
    (error: Error) => send(res, 400, { errors: { _: error.message } })
  )
}

/** `…/scopes` (create a scope), `…/scopes/<s>` (drop it), `…/scopes/<s>/collections[/<c>]`. */
const SCOPES_WRITE = /^\/pools\/default\/buckets\/([^/]+)\/scopes(?:\/([^/]+)(?:\/collections(?:\/([^/]+))?)?)?\/?$/

/**
 * Scope and collection management, by an administrator, with ns_server's answers
 * (the manifest uid on success; "… already exists" / "… is not found" otherwise,
 * which SDKs turn into their typed errors).
 */
const scopesWrite = (cluster: MgmtCluster, req: IncomingMessage, res: ServerResponse): void => {
  if (!administrator(cluster, req, res, "cluster.collection!write")) return
  let parts: Array<string | undefined>
  try {
    parts = SCOPES_WRITE.exec(pathOf(req))!
      .slice(1)
      .map((p) => (p === undefined ? undefined : decodeURIComponent(p)))
  } catch {
    send(res, 400, "Bad request: the path is not correctly percent-encoded.\r\n")
    return
  }
  const [bucketName, scopeName, collectionName] = parts as [string, string | undefined, string | undefined]
  const bucket = cluster.bucket(bucketName)
  if (bucket === undefined) {
    req.resume()
    notFound(res)
    return
  }
  const manifest = bucket.collections
  const done = () => send(res, 200, { uid: manifest.uid.toString(16) })
  const refused = (error: ManifestError, name: string, scope: string | undefined) => {
    const what =
      scope === undefined ? `Scope with name "${name}"` : `Collection with name "${name}" in scope "${scope}"`
    switch (error) {
      case "invalid name":
        return send(res, 400, {
          errors: { name: "Name must be 1 to 251 of A-Z, a-z, 0-9, _, - and %, not starting with _ or %" }
        })
      case "scope exists":
      case "collection exists":
        return send(res, 400, { errors: { _: `${what} already exists` } })
      case "scope missing":
        return send(res, 404, { errors: { _: `Scope with name "${scope ?? name}" is not found` } })
      case "collection missing":
        return send(res, 404, { errors: { _: `${what} is not found` } })
    }
  }
  if (req.method === "DELETE") {
    req.resume()
    if (scopeName === undefined) return void send(res, 405, "Method Not Allowed\r\n")
    if (collectionName === undefined) {
      const dropped = manifest.dropScope(scopeName)
      if (typeof dropped === "string") return void refused(dropped, scopeName, undefined)
      bucket.dropCollectionData(dropped)
      return void done()
    }
    const dropped = manifest.dropCollection(scopeName, collectionName)
    if (typeof dropped === "string") return void refused(dropped, collectionName, scopeName)
    bucket.dropCollectionData([dropped])
    return void done()
  }
  readForm(req).then(
    (form) => {
      const name = form.get("name") ?? ""
      if (scopeName === undefined) {
        const created = manifest.createScope(name)
        if (typeof created === "string") refused(created, name, undefined)
        else done()
        return
      }
      if (collectionName !== undefined) {
        send(res, 405, "Method Not Allowed\r\n")
        return
      }
      const maxTTL = Number(form.get("maxTTL") ?? 0)
      const created = manifest.createCollection(scopeName, name, Number.isInteger(maxTTL) && maxTTL >= 0 ? maxTTL : 0)
      if (typeof created === "string") refused(created, name, scopeName)
      else done()
    },
    (error: Error) => send(res, 400, { errors: { _: error.message } })
  )
}

/** The path of a request, without its query. */
const pathOf = (req: IncomingMessage): string => (req.url ?? "/").split("?")[0]!

/** The management request handler of `node`. */
export const mgmtHandler =
  (cluster: MgmtCluster, node: ServerNode) =>
  (req: IncomingMessage, res: ServerResponse): void => {
    // A hung node accepts the request and never answers.
    if (node.state !== "running") return
    const isFlush = req.method === "POST" && /^\/pools\/default\/buckets\/[^/]+\/controller\/doFlush$/.test(pathOf(req))
    if ((req.method === "POST" || req.method === "DELETE") && SCOPES_WRITE.test(pathOf(req))) {
      scopesWrite(cluster, req, res)
      return
    }
    if (!isFlush && (req.method === "POST" || req.method === "DELETE") && BUCKET_WRITE.test(pathOf(req))) {
      bucketWrite(cluster, req, res)
      return
    }
    if (req.method !== "GET" && req.method !== "HEAD" && !isFlush) {
      send(res, 405, "Method Not Allowed\r\n")
      return
    }
    const path = pathOf(req)
    let segments: Array<string>
    try {
      segments = path
        .split("/")
        .filter((s) => s !== "")
        .map(decodeURIComponent)
    } catch {
      send(res, 400, "Bad request: the path is not correctly percent-encoded.\r\n")
      return
    }
    const user = basicAuth(cluster.users, req)
    if (segments.length === 1 && segments[0] === "pools") {
      send(res, 200, {
        isAdminCreds: isAdmin(user),
        isROAdminCreds: false,
        isEnterprise: false,
        implementationVersion: cluster.version,
        uuid: cluster.uuid,
        pools: [
          {
            name: "default",
            uri: `/pools/default?uuid=${cluster.uuid}`,
            streamingUri: `/poolsStreaming/default?uuid=${cluster.uuid}`
          }
        ]
      })
      return
    }
    if (segments.length === 2 && segments[0] === "pools" && segments[1] === "nodes") segments.splice(1, 1, "default")
    if (segments[0] !== "pools" || segments[1] !== "default") {
      notFound(res)
      return
    }
    if (user === undefined) {
      unauthorized(res)
      return
    }
    const rest = segments.slice(2)
    if (rest.length === 0) {
      send(res, 200, {
        name: "default",
        nodes: cluster.nodes.filter((n) => n.membership !== "removed").map((n) => nodeInfo(cluster, n, node)),
        clusterName: "effect-couchbase",
        buckets: { uri: `/pools/default/buckets?uuid=${cluster.uuid}` },
        rebalanceStatus: cluster.rebalancing ? "running" : "none"
      })
      return
    }
    if (rest.length === 1 && rest[0] === "nodeServices") {
      send(res, 200, cluster.configObject(undefined, node))
      return
    }
    if (rest.length === 1 && rest[0] === "buckets") {
      const visible = [...cluster.buckets.values()].filter((b) => canAccess(user, b.name))
      send(
        res,
        200,
        visible.map((b) => verboseBucket(cluster, b, node))
      )
      return
    }
    const isDdocs = rest.length === 3 && rest[0] === "buckets" && rest[2] === "ddocs"
    const isScopes = rest.length === 3 && rest[0] === "buckets" && rest[2] === "scopes"
    if (rest.length !== 2 && !isDdocs && !isScopes && !isFlush) {
      notFound(res)
      return
    }
    const bucket = cluster.bucket(rest[1]!)
    if (bucket === undefined) {
      notFound(res)
      return
    }
    if (!canAccess(user, bucket.name)) {
      unauthorized(res)
      return
    }
    if (isFlush) {
      if (!isAdmin(user)) {
        send(res, 403, {
          message: "Forbidden. User needs the following permissions",
          permissions: [`cluster.bucket[${bucket.name}]!flush`]
        })
        return
      }
      if (!bucket.admin.flushEnabled) {
        send(res, 400, { _: "Flush is disabled for the bucket" })
        return
      }
      // A memcached bucket's items live in each node's own store: the REST flush empties all of them.
      if (bucket.type === "memcached") for (const n of cluster.nodes) bucket.flush(n.id, bucket.now())
      else bucket.flush(node.id, bucket.now())
      send(res, 200, "")
      return
    }
    if (isScopes) {
      send(res, 200, bucket.collections.toJson())
      return
    }
    if (isDdocs) {
      // ns_server refuses to list design documents of a bucket that cannot have any.
      if (bucket.type === "couchbase") send(res, 200, viewEngineFor(bucket).designDocumentsListing())
      else send(res, 400, { error: "bad_request", reason: "memcached buckets have no design documents" })
      return
    }
    switch (rest[0]) {
      case "buckets":
        send(res, 200, verboseBucket(cluster, bucket, node))
        return
      case "b":
        send(res, 200, cluster.configObject(bucket, node))
        return
      case "bs":
        stream(cluster, node, res, () => cluster.configObject(bucket, node))
        return
      case "bucketsStreaming":
        stream(cluster, node, res, () => verboseBucket(cluster, bucket, node))
        return
      default:
        notFound(res)
        return
    }
  }

const stream = (
  cluster: MgmtCluster,
  node: ServerNode,
  res: ServerResponse,
  render: () => Record<string, unknown>
): void => {
  res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache" })
  res.flushHeaders()
  const push = (): void => {
    if (node.state === "running" && !res.writableEnded) res.write(JSON.stringify(render()) + STREAM_SEPARATOR)
  }
  push()
  const unsubscribe = cluster.onConfigChange(push)
  res.on("close", unsubscribe)
}
