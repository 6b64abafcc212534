/**
 * A node's capi (views) HTTP port. It authenticates the request (HTTP Basic: a user
 * with access to the bucket in the path), then hands `/<bucket>/…` requests to the
 * view engine's handler once one is registered; until then, and for unknown buckets,
 * it answers CouchDB's 404 `{"error":"not_found","reason":"missing"}`.
 *
 * The path's first segment names the bucket, optionally as `<bucket>+<uuid>` as in
 * `couchApiBase` on a real cluster.
 *
 * @internal
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { BucketDocument, ServerBucket } from "./Bucket.js"
import { basicAuth } from "./httpAuth.js"
import type { ServerNode } from "./ServerNode.js"
import type { UserDb } from "./Users.js"
import { canAccess } from "./Users.js"

/** The per-request context a node gives the view engine. */
export interface ViewRequestContext {
  /** Live items of the vBuckets this node is master of (development views without `full_set`). */
  readonly localDocuments?: (() => Iterable<BucketDocument>) | undefined
}

/**
 * The view engine's entry point: answers one request for `bucketName`, already
 * authenticated. It owns the response from then on.
 */
export type ViewRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  bucketName: string,
  bucket: ServerBucket,
  context: ViewRequestContext
) => void | Promise<void>

/** What the capi port needs from the cluster. */
export interface CapiCluster {
  readonly users: UserDb
  bucket(name: string): ServerBucket | undefined
  /** The registered view handler, if any. */
  readonly viewHandler: ViewRequestHandler | undefined
  /** Live items of the vBuckets `node` is master of. */
  localDocuments(bucket: ServerBucket, node: ServerNode): Iterable<BucketDocument>
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    ...headers
  })
  res.end(text)
}

const unauthorized = (res: ServerResponse, reason: string): void =>
  json(
    res,
    401,
    { error: "unauthorized", reason },
    { "WWW-Authenticate": 'Basic realm="Couchbase Server Admin / REST"' }
  )

/** The capi request handler of `node`. */
export const capiHandler =
  (cluster: CapiCluster, node: ServerNode) =>
  (req: IncomingMessage, res: ServerResponse): void => {
    // A hung node accepts the request and never answers.
    if (node.state !== "running") return
    const path = (req.url ?? "/").split("?")[0]!
    let first: string
    try {
      first = decodeURIComponent(path.split("/")[1] ?? "")
    } catch {
      json(res, 400, { error: "bad_request", reason: "the path is not correctly percent-encoded" })
      return
    }
    const plus = first.indexOf("+")
    const name = plus < 0 ? first : first.slice(0, plus)
    const bucket = name === "" ? undefined : cluster.bucket(name)
    const user = basicAuth(cluster.users, req)
    // Without credentials every path answers alike, so bucket names cannot be probed.
    if (user === undefined) {
      unauthorized(res, "Authentication required")
      return
    }
    if (bucket === undefined) {
      json(res, 404, { error: "not_found", reason: "missing" })
      return
    }
    if (!canAccess(user, bucket.name)) {
      unauthorized(res, `no access to bucket ${bucket.name}`)
      return
    }
    const handler = cluster.viewHandler
    if (handler === undefined) {
      json(res, 404, { error: "not_found", reason: "missing" })
      return
    }
    const context: ViewRequestContext = { localDocuments: () => cluster.localDocuments(bucket, node) }
    void Promise.resolve()
      .then(() => handler(req, res, bucket.name, bucket, context))
      .catch((error: unknown) => {
        if (!res.headersSent) json(res, 500, { error: "internal_error", reason: String(error) })
        else res.destroy()
      })
  }
