/**
 * An in-process Couchbase-compatible cluster, for tests, demos and local development
 * without a Couchbase Server to install. It is a test server, not a database to keep
 * data in: everything lives in memory, and it listens on 127.0.0.1 unless told
 * otherwise (binding another address with the default credentials is refused). It speaks the binary KV protocol
 * (SASL, HELLO, error map, CCCP cluster maps, NOT_MY_VBUCKET, replicas, OBSERVE), the
 * management REST API clients bootstrap from, and hosts the views (capi) port, so the
 * official Couchbase SDKs connect to it as to a real cluster.
 *
 * - Several nodes on 127.0.0.1, each with its own KV, capi and management port (port 0
 *   = any free port), over real TCP and/or a {@link SimulatedNetwork}; optionally TLS
 *   too (`kvSSL`, `capiSSL`, `mgmtSSL`, for `couchbases://` clients: {@link Options.tls}).
 * - Buckets of type `couchbase` (1024 vBuckets by default, 0…3 replicas, writes
 *   replicated synchronously) and `memcached` (no vBuckets: clients place keys with
 *   ketama; each node also serves the bucket on a dedicated port without
 *   authentication, which is how plain memcached clients and tools reach it).
 * - Time is Effect's `Clock`, captured when the cluster is built, so under `TestClock`
 *   TTLs and lock timeouts pass without waiting.
 * - Views out of the box (the built-in view engine on every capi port), and the
 *   `beer-sample` dataset preloaded on request (`buckets: [{ name: "beer-sample", sample: "beer-sample" }]`).
 * - A control handle for topology (failover, add/remove node, rebalance,
 *   stop/hang/stall/restart) and for the copies of single keys (persist, unpersist, cache,
 *   endure, purge), as CouchbaseMock offers.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Connection, EmbeddedCluster, Iops } from "effect-couchbase"
 *
 * // Three nodes with one replica on an in-memory network: no ports, nothing to install.
 * const program = Effect.gen(function* () {
 *   const network = yield* Iops.SimulatedNetwork
 *   const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1, tcp: false, network })
 *   const cb = yield* Connection.make({
 *     connectionString: cluster.connectionString,
 *     username: cluster.username,
 *     password: cluster.password
 *   })
 *   yield* cb.upsert("user::1", { name: "Ada" })
 *   yield* cluster.control.failover(1)
 *   return yield* cb.get("user::1") // still readable: failover promoted the replicas
 * })
 *
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Iops.layerSimulated())))
 * ```
 *
 * @since 0.1.0
 */
import * as tls from "node:tls"
import { Context, Data, Duration, Effect, Layer, Option, Redacted, type Scope } from "effect"
import type { SimulatedNetwork } from "./internal/iops/network.js"
import type { ListenError } from "./internal/iops/serverSocket.js"
import type { BucketDocument, BucketType, LoadDocument, ServerBucket } from "./server/Bucket.js"
import type { ViewRequestHandler } from "./server/Capi.js"
import {
  ClusterControlError,
  type ClusterSpec,
  type PortSpec,
  type RebalanceOptions,
  ServerCluster,
  type UserSpec
} from "./server/Cluster.js"
import { keyString } from "./server/ItemStore.js"
import {
  type CopyInfo,
  type KeyTargets,
  type KeyValueSpec,
  keyInfo,
  placeCopies,
  purgeCopies,
  setPersisted
} from "./server/KeyControl.js"
import type { Membership, RunState, ServerNode } from "./server/ServerNode.js"
import { simulatedTransport } from "./server/transport/simulated.js"
import type { ServerTlsOptions, ServerTransport } from "./server/transport/Transport.js"
import { tcpTransport } from "./server/transport/tcp.js"
import {
  closeViewEngine,
  handleViewRequest,
  installDesignDocuments,
  loadBeerSample,
  type SampleDataset,
  viewEngineFor
} from "./server/views/index.js"

export type {
  /**
   * What a node gives the view engine with each request.
   *
   * @since 0.1.0
   * @category models
   */
  ViewRequestContext,
  /**
   * The handler of the capi (views) ports: answers one request for a bucket, already
   * authenticated (see {@link Options.viewHandler}).
   *
   * @since 0.1.0
   * @category models
   */
  ViewRequestHandler
} from "./server/Capi.js"
export type {
  /**
   * How {@link Control.rebalance} moves the vBuckets: at once, or in steps some time apart.
   *
   * @since 0.1.0
   * @category models
   */
  RebalanceOptions
} from "./server/Cluster.js"
export {
  /**
   * A control command that cannot be carried out (unknown node, last node, bad state).
   *
   * @since 0.1.0
   * @category errors
   */
  ClusterControlError
} from "./server/Cluster.js"
export type {
  /**
   * A stored document as {@link EmbeddedBucket.documents} lists it: id, value, flags, CAS,
   * expiry.
   *
   * @since 0.1.0
   * @category models
   */
  BucketDocument,
  /**
   * The two bucket types: `couchbase` (vBuckets, replicas, views) and `memcached`.
   *
   * @since 0.1.0
   * @category models
   */
  BucketType,
  /**
   * The state of one node's copy of a key, as {@link Control.keyInfo} reports it.
   *
   * @since 0.1.0
   * @category models
   */
  CopyInfo,
  /**
   * Which copies of a key a control command touches: the master, some replicas.
   *
   * @since 0.1.0
   * @category models
   */
  KeyTargets,
  /**
   * What {@link Control.cache} and {@link Control.endure} store when given (else the
   * master's current copy).
   *
   * @since 0.1.0
   * @category models
   */
  KeyValueSpec,
  /**
   * A document to preload with {@link EmbeddedBucket.load}.
   *
   * @since 0.1.0
   * @category models
   */
  LoadDocument,
  /**
   * A node's place in the cluster: `active`, `pending`, `ejecting`, `failed` or `removed`.
   *
   * @since 0.1.0
   * @category models
   */
  Membership,
  /**
   * Whether a node is serving: `running`, `stopped`, or `hung` (accepts, never answers).
   *
   * @since 0.1.0
   * @category models
   */
  RunState
}

/**
 * The version the embedded nodes report (VERSION, STAT, `/pools`).
 *
 * @since 0.1.0
 * @category constants
 */
export const SERVER_VERSION = "7.6.0-effect-couchbase"

/**
 * A password as options take it: preferably `Redacted`, a plain string is accepted.
 *
 * @since 0.1.0
 * @category models
 */
export type Secret = Redacted.Redacted<string> | string

/**
 * A bucket to create.
 *
 * @since 0.1.0
 * @category models
 */
export interface BucketOptions {
  readonly name: string
  /** Default `couchbase`. */
  readonly type?: BucketType | undefined
  /** Replica count of a couchbase bucket (0…3); default the cluster's `replicas`. */
  readonly replicas?: number | undefined
  /** vBuckets of a couchbase bucket; default the cluster's `vBuckets`. */
  readonly vBuckets?: number | undefined
  /** Creates a user named like the bucket with this password (pre-RBAC style; SASL then selects the bucket). */
  readonly password?: Secret | undefined
  /** Users with access to this bucket only. */
  readonly users?: ReadonlyArray<{ readonly username: string; readonly password: Secret }> | undefined
  /**
   * Memcached buckets: also serve the bucket on a dedicated port per node, without
   * authentication (default true). Ignored for couchbase buckets.
   */
  readonly dedicatedPort?: boolean | undefined
  /**
   * Preloads a sample dataset when the cluster starts: its documents through the normal
   * store path (CAS, sequence numbers, replicas) and its design documents into the
   * view engine. `beer-sample` is 7303 documents and the design document `beer`.
   * Couchbase buckets only.
   */
  readonly sample?: SampleName | undefined
  /**
   * Scopes and collections to create when the cluster starts: `"scope.collection"`, or
   * `"scope"` for an empty scope (couchbase buckets). Names are 1 to 251 of
   * `A-Za-z0-9_%-`, not starting with `_` or `%`; the default scope and collection
   * always exist.
   */
  readonly collections?: ReadonlyArray<string> | undefined
}

/**
 * The sample datasets {@link BucketOptions.sample} can preload (each usually lives in a bucket of its name).
 *
 * @since 0.1.0
 * @category models
 */
export type SampleName = "beer-sample"

const SAMPLES: Readonly<Record<SampleName, () => SampleDataset>> = { "beer-sample": loadBeerSample }

/**
 * The certificate the TLS ports serve and its private key: PEM text or bytes. The
 * certificate (or the chain from it towards the CA) should name the advertised host
 * (`127.0.0.1` by default) in its subjectAltName, since clients verify it against the
 * host they connect to.
 *
 * @since 0.1.0
 * @category models
 */
export type TlsOptions = ServerTlsOptions

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Number of nodes (default 1). */
  readonly nodes?: number | undefined
  /** Default replica count of couchbase buckets, 0…3 (default 1 when there are several nodes, else 0). */
  readonly replicas?: number | undefined
  /** Default vBucket count of couchbase buckets (default 1024). */
  readonly vBuckets?: number | undefined
  /** Buckets (default one couchbase bucket named `default`). */
  readonly buckets?: ReadonlyArray<BucketOptions> | undefined
  /** The administrator (every bucket, management API). Default `Administrator`. */
  readonly username?: string | undefined
  /** The administrator's password. Default `password`. */
  readonly password?: Secret | undefined
  /**
   * Host to bind and to advertise in the cluster map (default `127.0.0.1`). An address
   * other machines can reach needs a password of your own (or
   * `allowDefaultCredentials: true`): the default `Administrator`/`password` opens
   * every bucket to anyone who can connect.
   */
  readonly host?: string | undefined
  /** Lets a cluster bound beyond loopback keep the default password (see {@link Options.host}). */
  readonly allowDefaultCredentials?: boolean | undefined
  /**
   * A KV connection that has not authenticated within this time is closed, so that
   * connections that never log in (port scans, stuck or hostile clients) do not pile
   * up. Default 10 seconds. A memcached bucket's own port needs no login and is exempt.
   */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /**
   * The time limit of design-document JavaScript, per call: a design document's
   * definitions together, a batch of map calls, a reduce. Past it the view's worker
   * thread is stopped (and replaced), never the server. Default 5 seconds.
   */
  readonly viewTimeout?: Duration.DurationInput | undefined
  /** Ports per node (absent or 0 = any free port). */
  readonly ports?: ReadonlyArray<PortSpec> | undefined
  /**
   * Also serve TLS: each node then listens on `kvSSL`, `capiSSL` and `mgmtSSL` ports
   * too (HTTPS for the latter two) and the cluster map advertises them under those
   * names, as Couchbase Server does, so `couchbases://` clients find them (see
   * {@link EmbeddedCluster.Service.secureConnectionString}). The plain ports stay
   * open. On a simulated network the TLS ports are `secure` listeners: only clients
   * connecting with TLS get in, but nothing is encrypted and the certificate is not
   * checked. Default: no TLS.
   */
  readonly tls?: TlsOptions | undefined
  /** Listen on real TCP (default true). */
  readonly tcp?: boolean | undefined
  /** Also (or, with `tcp: false`, only) listen on this simulated network, with the same ports. */
  readonly network?: SimulatedNetwork.Service | undefined
  /**
   * The request handler of the capi (views) ports. Default: the built-in view engine,
   * so design documents and view queries work out of the box. Requests for memcached
   * buckets never reach it: they are answered 404 `no_couchbase_bucket_exists`.
   */
  readonly viewHandler?: ViewRequestHandler | undefined
}

/**
 * A node as seen from outside.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeInfo {
  /** The node's index: its position in {@link EmbeddedCluster.Service.nodes}, used by the control commands. */
  readonly index: number
  readonly host: string
  readonly kv: number
  readonly capi: number
  readonly mgmt: number
  /** The KV port over TLS, when the cluster serves TLS ({@link Options.tls}). */
  readonly kvSSL?: number | undefined
  /** The views port over HTTPS, when the cluster serves TLS. */
  readonly capiSSL?: number | undefined
  /** The management port over HTTPS, when the cluster serves TLS. */
  readonly mgmtSSL?: number | undefined
  /** Dedicated (unauthenticated) KV ports of memcached buckets, by bucket name. */
  readonly bucketPorts: Readonly<Record<string, number>>
  readonly membership: Membership
  readonly state: RunState
  /** KV connections the node accepted since it was created: in all, and over TLS. */
  readonly connections: { readonly total: number; readonly tls: number }
  /** Successful SASL authentications on the node, by mechanism (`PLAIN`, `SCRAM-SHA512`, …). */
  readonly saslAuthentications: Readonly<Record<string, number>>
}

/**
 * A bucket's data, for preloading and for the view engine.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddedBucket {
  readonly name: string
  readonly type: BucketType
  readonly numReplicas: number
  readonly numVBuckets: number
  /** Live (not deleted, not expired) items of the active copies, in vBucket order. */
  documents(): Iterable<BucketDocument>
  /** The live document `id` of its active copy. */
  getDocument(id: string): BucketDocument | undefined
  /**
   * Writes documents as upserts through the normal store path (new CAS, sequence
   * numbers, replication). Objects are stored as JSON with the JSON flags; bytes as
   * they are. Returns how many were stored.
   */
  load(docs: Iterable<LoadDocument>): Effect.Effect<number>
  /** The server-side bucket (the view engine's `ViewSource`). */
  readonly source: ServerBucket
}

/**
 * Key-control commands name a bucket (default: the first bucket).
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyCommandOptions extends KeyTargets {
  readonly bucket?: string | undefined
}

/**
 * The control handle: topology, run state and single keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface Control {
  /** Fails a node over: replicas are promoted, the node leaves the map (it keeps answering, with NOT_MY_VBUCKET). */
  readonly failover: (node: number) => Effect.Effect<void, ClusterControlError>
  /** Adds a node, listening at once; it takes vBuckets at the next {@link Control.rebalance}. */
  readonly addNode: (ports?: PortSpec) => Effect.Effect<NodeInfo, EmbeddedClusterError>
  /** Marks a node for removal at the next rebalance. */
  readonly removeNode: (node: number) => Effect.Effect<void, ClusterControlError>
  /**
   * Moves vBuckets (with their data) so that they are spread over the member nodes:
   * at once by default, or in `steps` batches `interval` apart (default 10 ms), each a
   * new cluster map revision, as a real rebalance looks to clients under load.
   */
  readonly rebalance: (options?: RebalanceOptions) => Effect.Effect<void>
  /** Closes a node's listeners and connections (clients see connection refused). */
  readonly stop: (node: number) => Effect.Effect<void, ClusterControlError>
  /** Makes a node accept connections and requests but never answer. */
  readonly hang: (node: number) => Effect.Effect<void, ClusterControlError>
  /**
   * Keeps a node's KV connections open but stops reading from them, as a node that is
   * alive but overwhelmed: requests back up in the network's buffers and then in the
   * clients' write queues. New connections are not read either.
   */
  readonly stall: (node: number) => Effect.Effect<void, ClusterControlError>
  /** Reads a stalled node's connections again: what was sent meanwhile is executed then. */
  readonly unstall: (node: number) => Effect.Effect<void, ClusterControlError>
  /** Brings a stopped or hung node back on its ports (its connections are dropped). */
  readonly restart: (node: number) => Effect.Effect<void, ClusterControlError | EmbeddedClusterError>
  /** Marks copies of `key` as persisted; returns how many copies changed. */
  readonly persist: (key: string, options?: KeyCommandOptions) => Effect.Effect<number, ClusterControlError>
  /** Marks copies of `key` as only in memory; returns how many copies changed. */
  readonly unpersist: (key: string, options?: KeyCommandOptions) => Effect.Effect<number, ClusterControlError>
  /** Places unpersisted copies (of `value`, or the master's copy) on the chosen nodes only. */
  readonly cache: (
    key: string,
    options?: KeyCommandOptions & KeyValueSpec
  ) => Effect.Effect<number, ClusterControlError>
  /** Places persisted copies on the chosen nodes. */
  readonly endure: (
    key: string,
    options?: KeyCommandOptions & KeyValueSpec
  ) => Effect.Effect<number, ClusterControlError>
  /** Removes copies of `key` from the chosen nodes; returns how many existed. */
  readonly purge: (key: string, options?: KeyCommandOptions) => Effect.Effect<number, ClusterControlError>
  /**
   * Answers the next `times` (default 1) data requests on `key` with `status`
   * instead of running them: a fault for testing clients. The error map describes
   * the reserved test codes 0xfff0–0xfff6 (retry strategies, fetch-config,
   * conn-state-invalidated); known statuses (ETMPFAIL, EBUSY…) work too. NOT_MY_VBUCKET
   * (0x07) on a couchbase bucket comes as a cluster in flux sends it: with the cluster
   * map in the body, a newer revision each time. `times: 0` clears it.
   */
  readonly injectStatus: (
    key: string,
    status: number,
    options?: { readonly times?: number | undefined; readonly bucket?: string | undefined }
  ) => Effect.Effect<void, ClusterControlError>
  /** Every copy of `key` in its vBucket's chain. */
  readonly keyInfo: (
    key: string,
    options?: { readonly bucket?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<CopyInfo>, ClusterControlError>
}

/**
 * The options were invalid, or a port could not be bound.
 *
 * @since 0.1.0
 * @category errors
 */
export class EmbeddedClusterError extends Data.TaggedError("EmbeddedClusterError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The embedded cluster as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class EmbeddedCluster extends Context.Tag("effect-couchbase/EmbeddedCluster")<
  EmbeddedCluster,
  EmbeddedCluster.Service
>() {}

/**
 * Types of {@link EmbeddedCluster}.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace EmbeddedCluster {
  /**
   * A running cluster.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** `couchbase://host:kv,…` of the nodes in the cluster map when it was built. */
    readonly connectionString: string
    /**
     * `couchbases://host:kvSSL,…` of the nodes in the cluster map when it was built,
     * when the cluster serves TLS ({@link Options.tls}); otherwise `undefined`.
     */
    readonly secureConnectionString: string | undefined
    /** The administrator's name. */
    readonly username: string
    /** The administrator's password. */
    readonly password: Redacted.Redacted<string>
    /** The first bucket's name (what clients open by default). */
    readonly defaultBucket: string
    /** Every node ever created, by index (a snapshot taken at each access). */
    readonly nodes: ReadonlyArray<NodeInfo>
    /** `memcached://host:port,…` of a memcached bucket's dedicated ports on the member nodes. */
    readonly memcachedConnectionString: (bucket: string) => string | undefined
    /** A bucket's data, by name. */
    readonly bucket: (name: string) => EmbeddedBucket | undefined
    /** Replaces the capi ports' request handler (`undefined`: view paths answer 404). */
    readonly setViewHandler: (handler: ViewRequestHandler | undefined) => void
    /** Topology, run state and key control. */
    readonly control: Control
    /** The current cluster map revision. */
    readonly revision: () => number
  }
}

const reveal = (secret: Secret): string => (typeof secret === "string" ? secret : Redacted.value(secret))

const invalid = (message: string) => Effect.fail(new EmbeddedClusterError({ message }))

const isCount = (n: number, min: number, max: number): boolean => Number.isInteger(n) && n >= min && n <= max

/** Whether `host` is reachable only from this machine: `localhost`, 127.0.0.0/8 or ::1. */
const isLoopback = (host: string): boolean => {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "")
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1"
}

const nodeInfo = (node: ServerNode): NodeInfo => ({
  index: node.id,
  host: node.host,
  kv: node.kv,
  capi: node.capi,
  mgmt: node.mgmt,
  ...(node.kvSSL === 0 ? {} : { kvSSL: node.kvSSL, capiSSL: node.capiSSL, mgmtSSL: node.mgmtSSL }),
  bucketPorts: Object.fromEntries(node.bucketPorts),
  membership: node.membership,
  state: node.state,
  connections: { total: node.stats.totalConnections, tls: node.stats.tlsConnections },
  saslAuthentications: Object.fromEntries(node.stats.saslAuthentications)
})

// Node would throw a RangeError from listen(): a defect, where a bad option is a typed failure.
const checkPorts = (
  ports: ReadonlyArray<PortSpec>,
  nodeName: (index: number) => string = (index) => `node ${index}`
): Effect.Effect<void, EmbeddedClusterError> => {
  for (const [node, spec] of ports.entries()) {
    for (const [name, port] of Object.entries(spec)) {
      if (port !== undefined && !isCount(port as number, 0, 65535)) {
        return invalid(
          `${nodeName(node)}: the ${name} port must be an integer from 0 to 65535 (0 = any free port), got ${port}`
        )
      }
    }
  }
  return Effect.void
}

// Bad PEM would otherwise surface only at the first TLS handshake: fail when the layer is built.
const checkTls = (options: TlsOptions): Effect.Effect<void, EmbeddedClusterError> =>
  Effect.try({
    try: () => {
      tls.createSecureContext({ key: options.key, cert: options.cert })
    },
    catch: (cause) =>
      new EmbeddedClusterError({
        message: `tls: the key and certificate cannot be used (${cause instanceof Error ? cause.message : String(cause)}); give PEM text or bytes of a matching pair`,
        cause
      })
  })

const listenFailed = (error: ListenError): EmbeddedClusterError =>
  new EmbeddedClusterError({ message: error.message, cause: error })

/**
 * Starts a cluster in the current scope; closing the scope stops every node and
 * closes every connection. Fails with {@link EmbeddedClusterError} for invalid options
 * or a port that cannot be bound.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<EmbeddedCluster.Service, EmbeddedClusterError, Scope.Scope> =>
  Effect.gen(function* () {
    const nodes = options.nodes ?? 1
    if (!isCount(nodes, 1, 64)) return yield* invalid(`nodes must be an integer from 1 to 64, got ${nodes}`)
    const replicas = options.replicas ?? Math.min(1, nodes - 1)
    if (!isCount(replicas, 0, 3)) return yield* invalid(`replicas must be an integer from 0 to 3, got ${replicas}`)
    const vBuckets = options.vBuckets ?? 1024
    if (!isCount(vBuckets, 1, 65536))
      return yield* invalid(`vBuckets must be an integer from 1 to 65536, got ${vBuckets}`)
    const bucketOptions = options.buckets ?? [{ name: "default" }]
    if (bucketOptions.length === 0) return yield* invalid("at least one bucket is needed")
    const username = options.username ?? "Administrator"
    const password = options.password === undefined ? "password" : reveal(options.password)
    if (username === "") return yield* invalid("the administrator's user name must not be empty")
    let handshakeTimeoutMillis: number | undefined
    if (options.handshakeTimeout !== undefined) {
      const decoded = Duration.decodeUnknown(options.handshakeTimeout)
      if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
        return yield* invalid(
          `handshakeTimeout must be a positive, finite duration, got ${String(options.handshakeTimeout)}`
        )
      }
      handshakeTimeoutMillis = Duration.toMillis(decoded.value)
    }
    let viewTimeoutMillis: number | undefined
    if (options.viewTimeout !== undefined) {
      const decoded = Duration.decodeUnknown(options.viewTimeout)
      if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
        return yield* invalid(`viewTimeout must be a positive, finite duration, got ${String(options.viewTimeout)}`)
      }
      viewTimeoutMillis = Duration.toMillis(decoded.value)
    }
    const host = options.host ?? "127.0.0.1"
    if (options.password === undefined && !isLoopback(host) && options.allowDefaultCredentials !== true) {
      return yield* invalid(
        `host ${JSON.stringify(host)} can be reached from other machines, and the default password would open every bucket to them: set password (or allowDefaultCredentials: true). The embedded cluster is a test server.`
      )
    }
    const users: Array<UserSpec> = [{ username, password, buckets: "*" }]
    const names = new Set<string>()
    for (const b of bucketOptions) {
      if (!/^[A-Za-z0-9._%-]{1,100}$/.test(b.name)) {
        return yield* invalid(`invalid bucket name ${JSON.stringify(b.name)}: use letters, digits, . _ % - (1-100)`)
      }
      if (names.has(b.name)) return yield* invalid(`bucket ${JSON.stringify(b.name)} is declared twice`)
      names.add(b.name)
      const r = b.replicas ?? replicas
      if (!isCount(r, 0, 3)) return yield* invalid(`bucket ${b.name}: replicas must be 0…3, got ${r}`)
      const v = b.vBuckets ?? vBuckets
      if (!isCount(v, 1, 65536)) return yield* invalid(`bucket ${b.name}: vBuckets must be 1…65536, got ${v}`)
      if (b.sample !== undefined) {
        if (!Object.hasOwn(SAMPLES, b.sample)) {
          return yield* invalid(`bucket ${b.name}: unknown sample ${JSON.stringify(b.sample)}`)
        }
        if ((b.type ?? "couchbase") !== "couchbase") {
          return yield* invalid(`bucket ${b.name}: a sample needs a couchbase bucket (it has views)`)
        }
      }
      for (const path of b.collections ?? []) {
        if ((b.type ?? "couchbase") !== "couchbase") {
          return yield* invalid(`bucket ${b.name}: collections need a couchbase bucket`)
        }
        if (!/^[A-Za-z0-9-][A-Za-z0-9_%-]{0,250}(\.[A-Za-z0-9-][A-Za-z0-9_%-]{0,250})?$/.test(path)) {
          return yield* invalid(
            `bucket ${b.name}: invalid collection ${JSON.stringify(path)}: use scope or scope.collection`
          )
        }
      }
      if (b.password !== undefined) users.push({ username: b.name, password: reveal(b.password), buckets: [b.name] })
      for (const u of b.users ?? [])
        users.push({ username: u.username, password: reveal(u.password), buckets: [b.name] })
    }
    const passwords = new Map<string, string>()
    for (const u of users) {
      const known = passwords.get(u.username)
      if (known !== undefined && known !== u.password) {
        return yield* invalid(`user ${JSON.stringify(u.username)} is declared twice with different passwords`)
      }
      passwords.set(u.username, u.password)
    }
    const transports: Array<ServerTransport> = []
    if (options.tcp ?? true) transports.push(tcpTransport)
    if (options.network !== undefined) transports.push(simulatedTransport(options.network))
    if (transports.length === 0) return yield* invalid("nothing to listen on: set tcp or network")
    if (options.tls !== undefined) yield* checkTls(options.tls)
    yield* checkPorts(options.ports ?? [])
    const clock = yield* Effect.clock
    const spec: ClusterSpec = {
      host,
      nodes,
      buckets: bucketOptions.map((b) => ({
        name: b.name,
        type: b.type ?? "couchbase",
        numReplicas: b.replicas ?? replicas,
        numVBuckets: b.vBuckets ?? vBuckets,
        dedicatedPort: b.dedicatedPort ?? true
      })),
      users,
      ports: options.ports ?? [],
      version: SERVER_VERSION,
      handshakeTimeoutMillis,
      ...(options.tls === undefined ? {} : { tls: options.tls })
    }
    // The clock is captured once: under TestClock, TTLs and locks follow the test's time.
    const cluster = yield* ServerCluster.make(spec, transports, () => clock.unsafeCurrentTimeMillis()).pipe(
      Effect.mapError(listenFailed)
    )
    cluster.viewHandler = couchbaseBucketsOnly(options.viewHandler ?? handleViewRequest)
    // The engines are made here, with the cluster's limits, before anything uses them.
    for (const b of bucketOptions) viewEngineFor(cluster.bucket(b.name)!, { timeoutMs: viewTimeoutMillis })
    // Each design document has a worker thread: they end with the cluster.
    yield* Effect.addFinalizer(() =>
      Effect.promise(() => Promise.all(bucketOptions.map((b) => closeViewEngine(cluster.bucket(b.name)!))))
    )
    for (const b of bucketOptions) {
      if (b.sample !== undefined) yield* loadSample(cluster, cluster.bucket(b.name)!, b.sample)
      const manifest = cluster.bucket(b.name)!.collections
      for (const path of b.collections ?? []) {
        const [scope, collection] = path.split(".") as [string, string | undefined]
        if (!manifest.scopes.has(scope)) manifest.createScope(scope)
        if (collection !== undefined) manifest.createCollection(scope, collection, 0)
      }
    }
    return service(cluster, username, password, bucketOptions[0]!.name)
  })

// A memcached bucket has no views; a node answers its capi paths as for a missing database.
const couchbaseBucketsOnly = (handler: ViewRequestHandler | undefined): ViewRequestHandler | undefined =>
  handler === undefined
    ? undefined
    : (req, res, bucketName, bucket, context) => {
        if (bucket.type === "couchbase") return handler(req, res, bucketName, bucket, context)
        const body = JSON.stringify({ error: "not_found", reason: "no_couchbase_bucket_exists" })
        res.writeHead(404, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) })
        res.end(body)
      }

// The dataset ships with the package: failing to read it is reported, not thrown.
const loadSample = (
  cluster: ServerCluster,
  bucket: ServerBucket,
  sample: SampleName
): Effect.Effect<void, EmbeddedClusterError> =>
  Effect.tryPromise({
    try: async () => {
      const dataset = SAMPLES[sample]()
      cluster.load(bucket, dataset.documents)
      await installDesignDocuments(bucket, dataset)
    },
    catch: (cause) =>
      new EmbeddedClusterError({
        message: `cannot load the sample ${sample} into bucket ${bucket.name}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  })

const service = (
  cluster: ServerCluster,
  username: string,
  password: string,
  defaultBucket: string
): EmbeddedCluster.Service => {
  const host = cluster.spec.host
  // The member nodes' KV ports (plain or TLS) as a connection string of `scheme`.
  const membersAt = (scheme: string, port: (node: ServerNode) => number) =>
    `${scheme}://${cluster
      .members()
      .map((n) => `${host}:${port(n)}`)
      .join(",")}`
  const connectionString = membersAt("couchbase", (n) => n.kv)
  const secureConnectionString = cluster.spec.tls === undefined ? undefined : membersAt("couchbases", (n) => n.kvSSL)
  const bucketNamed = (name: string | undefined): Effect.Effect<ServerBucket, ClusterControlError> => {
    const bucket = cluster.bucket(name ?? defaultBucket)
    if (bucket === undefined) {
      return Effect.fail(new ClusterControlError({ message: `there is no bucket ${JSON.stringify(name)}` }))
    }
    if (bucket.type !== "couchbase") {
      return Effect.fail(
        new ClusterControlError({ message: `bucket ${bucket.name} is a memcached bucket: it has no copies to control` })
      )
    }
    return Effect.succeed(bucket)
  }
  const keyCommand =
    (run: (bucket: ServerBucket, key: string, options: KeyCommandOptions & KeyValueSpec) => number) =>
    (key: string, options: KeyCommandOptions & KeyValueSpec = {}) =>
      Effect.map(bucketNamed(options.bucket), (bucket) => run(bucket, key, options))
  const control: Control = {
    failover: (node) => cluster.failover(node),
    addNode: (ports) =>
      checkPorts(ports === undefined ? [] : [ports], () => "the new node").pipe(
        Effect.zipRight(cluster.addNode(ports).pipe(Effect.map(nodeInfo), Effect.mapError(listenFailed)))
      ),
    removeNode: (node) => cluster.removeNode(node),
    rebalance: (options) => cluster.rebalance(options),
    stop: (node) => cluster.stop(node),
    hang: (node) => cluster.hang(node),
    stall: (node) => cluster.stall(node, true),
    unstall: (node) => cluster.stall(node, false),
    restart: (node) =>
      cluster.restart(node).pipe(Effect.mapError((e) => (e._tag === "ListenError" ? listenFailed(e) : e))),
    persist: keyCommand((bucket, key, targets) => setPersisted(bucket, key, targets, true)),
    unpersist: keyCommand((bucket, key, targets) => setPersisted(bucket, key, targets, false)),
    cache: keyCommand((bucket, key, options) => placeCopies(bucket, key, options, options, false)),
    endure: keyCommand((bucket, key, options) => placeCopies(bucket, key, options, options, true)),
    purge: keyCommand((bucket, key, targets) => purgeCopies(bucket, key, targets)),
    keyInfo: (key, options = {}) => Effect.map(bucketNamed(options.bucket), (bucket) => keyInfo(bucket, key)),
    injectStatus: (key, status, options = {}) => {
      const times = options.times ?? 1
      if (!Number.isInteger(status) || status <= 0 || status > 0xffff || !Number.isInteger(times) || times < 0) {
        return Effect.fail(
          new ClusterControlError({
            message: `injectStatus needs a status in 1…0xffff and a whole number of times ≥ 0 (got ${status}, ${times})`
          })
        )
      }
      return Effect.map(bucketNamed(options.bucket), (bucket) =>
        bucket.injectStatus(keyString(Buffer.from(key, "utf8")), status, times)
      )
    }
  }
  return {
    connectionString,
    secureConnectionString,
    username,
    password: Redacted.make(password),
    defaultBucket,
    get nodes() {
      return cluster.nodes.map(nodeInfo)
    },
    memcachedConnectionString: (name) => {
      const ports = cluster.members().map((n) => n.bucketPorts.get(name))
      if (ports.length === 0 || ports.some((p) => p === undefined)) return undefined
      return `memcached://${ports.map((p) => `${host}:${p}`).join(",")}`
    },
    bucket: (name) => {
      const source = cluster.bucket(name)
      if (source === undefined) return undefined
      return {
        name: source.name,
        type: source.type,
        numReplicas: source.numReplicas,
        numVBuckets: source.numVBuckets,
        documents: () => source.documents(),
        getDocument: (id) => source.getDocument(id),
        load: (docs) => Effect.sync(() => cluster.load(source, docs)),
        source
      }
    },
    setViewHandler: (handler) => {
      cluster.viewHandler = couchbaseBucketsOnly(handler)
    },
    control,
    revision: () => cluster.rev
  }
}

/**
 * The cluster as a scoped layer.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Connection, EmbeddedCluster, Iops } from "effect-couchbase"
 *
 * // For the tests of a service: a 3-node cluster on free local ports, and a connection to it.
 * const TestCouchbase = Layer.unwrapEffect(
 *   Effect.map(EmbeddedCluster.EmbeddedCluster, (cluster) =>
 *     Connection.layer({
 *       connectionString: cluster.connectionString,
 *       username: cluster.username,
 *       password: cluster.password
 *     })
 *   )
 * ).pipe(Layer.provide([EmbeddedCluster.layer({ nodes: 3, replicas: 1 }), Iops.layerNode()]))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<EmbeddedCluster, EmbeddedClusterError> =>
  Layer.scoped(EmbeddedCluster, make(options))
