/**
 * The embedded cluster's core: nodes, buckets, users, the cluster map revision and
 * topology changes, independent of how it listens (see `transport/`).
 *
 * Every topology change (failover, rebalance) bumps the revision; clients learn of it
 * through NOT_MY_VBUCKET bodies, GET_CLUSTER_CONFIG, clustermap notifications pushed
 * to the sessions that asked for them, and the streaming `/pools/default/bs/<bucket>`.
 *
 * @internal
 */

import { randomUUID } from "node:crypto"
import { Data, Duration, Effect, ExecutionStrategy, Exit, Runtime, Scope } from "effect"
import { makeContinuum, serverOf } from "../internal/hashing/ketama.js"
import type { ListenError, ServerSocket } from "../internal/iops/serverSocket.js"
import { type BucketDocument, type BucketType, type LoadDocument, ServerBucket } from "./Bucket.js"
import type { NewBucket } from "./BucketAdmin.js"
import { capiHandler, type ViewRequestHandler } from "./Capi.js"
import { bucketConfig, type ConfigCluster, globalConfig } from "./ClusterConfig.js"
import { mgmtHandler } from "./Mgmt.js"
import { ServerNode } from "./ServerNode.js"
import { Session } from "./Session.js"
import type { Closable, ServerTlsOptions, ServerTransport } from "./transport/Transport.js"
import { UserDb } from "./Users.js"

/** A control command that cannot be carried out (unknown node, last node, bad state). */
export class ClusterControlError extends Data.TaggedError("ClusterControlError")<{
  readonly message: string
}> {}

/** A bucket to create. */
export interface BucketSpec {
  readonly name: string
  readonly type: BucketType
  readonly numReplicas: number
  readonly numVBuckets: number
  /** A memcached bucket also listens on a dedicated unauthenticated port per node. */
  readonly dedicatedPort: boolean
}

/** A user to create. */
export interface UserSpec {
  readonly username: string
  readonly password: string
  readonly buckets: "*" | ReadonlyArray<string>
}

/** Ports a node asks for (0 or absent = any free port). The TLS ones are used only when the cluster serves TLS. */
export interface PortSpec {
  readonly kv?: number | undefined
  readonly capi?: number | undefined
  readonly mgmt?: number | undefined
  readonly kvSSL?: number | undefined
  readonly capiSSL?: number | undefined
  readonly mgmtSSL?: number | undefined
}

/** Everything the cluster is built from. */
export interface ClusterSpec {
  readonly host: string
  readonly nodes: number
  readonly buckets: ReadonlyArray<BucketSpec>
  readonly users: ReadonlyArray<UserSpec>
  readonly ports: ReadonlyArray<PortSpec>
  readonly version: string
  /** Also serve KV, capi and management over TLS (`kvSSL`, `capiSSL`, `mgmtSSL`) with this key and certificate. */
  readonly tls?: ServerTlsOptions | undefined
  /** A KV connection that has not authenticated after this many ms is closed (default 10 s). */
  readonly handshakeTimeoutMillis?: number | undefined
}

/** How a rebalance moves the vBuckets (see {@link ServerCluster.rebalance}). */
export interface RebalanceOptions {
  /** In how many batches (default 1: all at once). */
  readonly steps?: number | undefined
  /** The pause between two batches (default 10 ms). */
  readonly interval?: Duration.DurationInput | undefined
}

/** The cluster. */
export class ServerCluster {
  rev = 1
  /** True while a rebalance moves vBuckets (reported by `/pools/default`). */
  rebalancing = false
  private readonly rebalanceLock = Effect.unsafeMakeSemaphore(1)
  readonly revEpoch = 1
  readonly uuid = randomUUID().replace(/-/g, "")
  readonly version: string
  readonly nodes: Array<ServerNode> = []
  readonly buckets = new Map<string, ServerBucket>()
  readonly users = new UserDb()
  viewHandler: ViewRequestHandler | undefined = undefined
  private readonly configCache = new Map<string, Buffer>()
  private readonly configListeners = new Set<() => void>()

  constructor(
    readonly spec: ClusterSpec,
    readonly transports: ReadonlyArray<ServerTransport>,
    /** The server clock in ms (Effect's Clock, captured when the cluster is built). */
    readonly now: () => number,
    /** The scope the listeners live in. */
    private readonly scope: Scope.Scope
  ) {
    this.version = spec.version
    for (let i = 0; i < spec.nodes; i++) this.nodes.push(new ServerNode(i, spec.host, "active", now()))
    const ids = this.nodes.map((n) => n.id)
    for (const b of spec.buckets) {
      this.buckets.set(
        b.name,
        new ServerBucket(
          { name: b.name, type: b.type, numReplicas: b.numReplicas, numVBuckets: b.numVBuckets },
          ids,
          now
        )
      )
    }
    for (const u of spec.users) this.users.add(u.username, u.password, u.buckets)
  }

  /** Builds the cluster and starts every node's listeners. */
  static make(
    spec: ClusterSpec,
    transports: ReadonlyArray<ServerTransport>,
    now: () => number
  ): Effect.Effect<ServerCluster, ListenError, Scope.Scope> {
    return Effect.gen(function* () {
      const scope = yield* Effect.scope
      const cluster = new ServerCluster(spec, transports, now, scope)
      cluster.runtime = yield* Effect.runtime<never>()
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          cluster.configListeners.clear()
          for (const cancel of [...cluster.timers]) cancel()
        })
      )
      for (const node of cluster.nodes) yield* cluster.startNode(node, spec.ports[node.id] ?? {})
      return cluster
    })
  }

  // ---- lookups -----------------------------------------------------------------------

  /** A bucket by name. */
  bucket(name: string): ServerBucket | undefined {
    return this.buckets.get(name)
  }

  /** The nodes in the cluster map, in server-index order. */
  members(): Array<ServerNode> {
    return this.nodes.filter((n) => n.inMap)
  }

  /** A node by id, or a control error. */
  node(id: number): Effect.Effect<ServerNode, ClusterControlError> {
    const node = this.nodes[id]
    return node === undefined
      ? Effect.fail(
          new ClusterControlError({ message: `there is no node ${id} (nodes are 0…${this.nodes.length - 1})` })
        )
      : Effect.succeed(node)
  }

  /** The current `(revEpoch, rev)`. */
  revision(): { readonly epoch: number; readonly rev: number } {
    return { epoch: this.revEpoch, rev: this.rev }
  }

  private configCluster(): ConfigCluster {
    return { rev: this.rev, revEpoch: this.revEpoch, uuid: this.uuid }
  }

  /** The terse config object of `bucket` (or the global one) as `node` reports it. */
  configObject(bucket: ServerBucket | undefined, node: ServerNode | undefined): Record<string, unknown> {
    const members = this.members()
    return bucket === undefined
      ? globalConfig(this.configCluster(), members, node?.id)
      : bucketConfig(this.configCluster(), bucket, members, node?.id)
  }

  /** The config JSON as `node` reports it, cached until the next revision. */
  configJson(bucket: ServerBucket | undefined, node: ServerNode): Buffer {
    const cacheKey = `${bucket?.name ?? ""}\0${node.id}`
    let json = this.configCache.get(cacheKey)
    if (json === undefined) {
      json = Buffer.from(JSON.stringify(this.configObject(bucket, node)), "utf8")
      this.configCache.set(cacheKey, json)
    }
    return json
  }

  /** Subscribes to topology changes; returns the unsubscribe function. */
  onConfigChange(listener: () => void): () => void {
    this.configListeners.add(listener)
    return () => this.configListeners.delete(listener)
  }

  /** See `SessionCluster.configFlux`. */
  configFlux(): void {
    this.changed()
  }

  /** Bumps the revision and tells everyone who listens. */
  private changed(): void {
    this.rev++
    this.configCache.clear()
    for (const node of this.nodes) for (const session of node.sessions) session.notifyConfig()
    for (const listener of [...this.configListeners]) listener()
  }

  /** Live items of the vBuckets `node` is master of. */
  localDocuments(bucket: ServerBucket, node: ServerNode): Iterable<BucketDocument> {
    return bucket.documentsOn(node.id)
  }

  /** Preloads documents into a bucket through the normal store path; returns the count stored. */
  load(bucket: ServerBucket, docs: Iterable<LoadDocument>): number {
    if (bucket.type === "couchbase") return bucket.load(docs)
    const members = this.members()
    const continuum = makeContinuum(
      members.map((n) => ({ host: n.host, port: n.kv })),
      { omitDefaultPort: false }
    )
    return bucket.load(docs, (key) => members[serverOf(continuum, key)]?.id ?? members[0]!.id)
  }

  /** Runs the timers of the sessions (on the cluster's Clock, so TestClock drives them). */
  private runtime: Runtime.Runtime<never> | undefined = undefined

  /** See `SessionCluster.handshakeTimeoutMillis`. */
  get handshakeTimeoutMillis(): number {
    return this.spec.handshakeTimeoutMillis ?? 10_000
  }

  /** Timers running (see {@link after}); the cluster's scope cancels them on close. */
  private readonly timers = new Set<() => void>()

  /**
   * Creates a bucket over the nodes in the map (REST create): a new cluster map
   * revision announces it.
   */
  createBucket(bucket: NewBucket): ServerBucket {
    const template = [...this.buckets.values()].find((b) => b.type === "couchbase")
    const created = new ServerBucket(
      {
        name: bucket.name,
        type: bucket.type,
        numReplicas: bucket.numReplicas,
        numVBuckets: template?.numVBuckets ?? 1024
      },
      this.nodes.filter((n) => n.inMap).map((n) => n.id),
      this.now
    )
    created.admin = bucket.settings
    this.buckets.set(bucket.name, created)
    this.changed()
    return created
  }

  /**
   * Drops a bucket (REST delete): its data goes, and so do the connections that had
   * selected it, as kv_engine disconnects them. Returns whether it existed.
   */
  dropBucket(name: string): boolean {
    const bucket = this.buckets.get(name)
    if (bucket === undefined) return false
    this.buckets.delete(name)
    for (const node of this.nodes) {
      for (const session of [...node.sessions]) if (session.selected === bucket) session.destroy()
    }
    this.changed()
    return true
  }

  /** See `SessionCluster.nodeRunning`. */
  nodeRunning(id: number): boolean {
    return this.nodes.find((n) => n.id === id)?.state === "running"
  }

  /** See `SessionCluster.after`. */
  after(millis: number, f: () => void): () => void {
    const runtime = this.runtime
    if (runtime === undefined) return () => {}
    const timers = this.timers
    const cancel = (): void => {
      if (timers.delete(cancel)) interrupt()
    }
    const interrupt = Runtime.runCallback(runtime)(
      Effect.delay(
        Effect.sync(() => {
          timers.delete(cancel)
          f()
        }),
        Duration.millis(millis)
      )
    )
    timers.add(cancel)
    return cancel
  }

  // ---- listeners ---------------------------------------------------------------------

  private accept(node: ServerNode, socket: ServerSocket, bound: ServerBucket | undefined): void {
    if (node.state === "stopped") {
      socket.destroy()
      return
    }
    new Session(this, node, socket, bound)
  }

  /**
   * Opens the node's listeners on every transport: KV, capi, mgmt, their TLS
   * counterparts when the cluster serves TLS, and the dedicated ports of memcached
   * buckets. The first transport picks free ports where 0 was asked; the others reuse
   * the same numbers.
   */
  private startNode(node: ServerNode, ports: PortSpec): Effect.Effect<void, ListenError> {
    const cluster = this
    return Effect.gen(function* () {
      const scope = yield* Scope.fork(cluster.scope, ExecutionStrategy.sequential)
      node.listenerScope = scope
      const bind = Effect.gen(function* () {
        let kv = node.kv || (ports.kv ?? 0)
        let capi = node.capi || (ports.capi ?? 0)
        let mgmt = node.mgmt || (ports.mgmt ?? 0)
        let kvSSL = node.kvSSL || (ports.kvSSL ?? 0)
        let capiSSL = node.capiSSL || (ports.capiSSL ?? 0)
        let mgmtSSL = node.mgmtSSL || (ports.mgmtSSL ?? 0)
        const tls = cluster.spec.tls
        const dedicated = new Map(node.bucketPorts)
        const acceptKv = (s: ServerSocket) => cluster.accept(node, s, undefined)
        const track = (c: Closable) => {
          node.httpSockets.add(c)
          c.once("close", () => node.httpSockets.delete(c))
        }
        // The TLS ports serve the same handlers: only the transport's encryption differs.
        const capiRequests = capiHandler(cluster, node)
        const mgmtRequests = mgmtHandler(cluster, node)
        for (const transport of cluster.transports) {
          const host = node.host
          kv = (yield* transport.listen(host, kv, acceptKv)).port
          capi = (yield* transport.listenHttp(host, capi, capiRequests, track)).port
          mgmt = (yield* transport.listenHttp(host, mgmt, mgmtRequests, track)).port
          if (tls !== undefined) {
            kvSSL = (yield* transport.listen(host, kvSSL, acceptKv, { tls })).port
            capiSSL = (yield* transport.listenHttp(host, capiSSL, capiRequests, track, { tls })).port
            mgmtSSL = (yield* transport.listenHttp(host, mgmtSSL, mgmtRequests, track, { tls })).port
          }
          for (const spec of cluster.spec.buckets) {
            if (spec.type !== "memcached" || !spec.dedicatedPort) continue
            const bucket = cluster.buckets.get(spec.name)!
            const listener = yield* transport.listen(host, dedicated.get(spec.name) ?? 0, (s) =>
              cluster.accept(node, s, bucket)
            )
            dedicated.set(spec.name, listener.port)
          }
        }
        node.kv = kv
        node.capi = capi
        node.mgmt = mgmt
        node.kvSSL = kvSSL
        node.capiSSL = capiSSL
        node.mgmtSSL = mgmtSSL
        for (const [name, port] of dedicated) node.bucketPorts.set(name, port)
      })
      yield* Scope.extend(bind, scope).pipe(Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))))
      node.state = "running"
      node.startedAt = cluster.now()
    })
  }

  private stopListeners(node: ServerNode): Effect.Effect<void> {
    const scope = node.listenerScope
    node.listenerScope = undefined
    return Effect.sync(() => node.dropConnections()).pipe(
      Effect.zipRight(scope === undefined ? Effect.void : Scope.close(scope, Exit.void))
    )
  }

  // ---- run state ---------------------------------------------------------------------

  /** Stops a node: its listeners close and its connections drop (clients get connection refused). */
  stop(id: number): Effect.Effect<void, ClusterControlError> {
    return Effect.flatMap(this.node(id), (node) => {
      node.state = "stopped"
      return this.stopListeners(node)
    })
  }

  /** Hangs a node: it keeps accepting connections and requests but never answers. */
  hang(id: number): Effect.Effect<void, ClusterControlError> {
    return Effect.map(this.node(id), (node) => {
      if (node.state === "running") node.state = "hung"
    })
  }

  /** Keeps a node's KV connections open but stops reading them, or reads them again. */
  stall(id: number, on: boolean): Effect.Effect<void, ClusterControlError> {
    return Effect.map(this.node(id), (node) => node.setReading(!on))
  }

  /**
   * Restarts a node (stopped or hung): existing connections are dropped and the
   * listeners reopen on the same ports.
   */
  restart(id: number): Effect.Effect<void, ClusterControlError | ListenError> {
    return Effect.gen(this, function* () {
      const node = yield* this.node(id)
      yield* this.stopListeners(node)
      node.reading = true
      yield* this.startNode(node, {})
    })
  }

  // ---- topology ----------------------------------------------------------------------

  /** Fails a node over: its replicas are promoted and it leaves the cluster map. */
  failover(id: number): Effect.Effect<void, ClusterControlError> {
    return Effect.gen(this, function* () {
      const node = yield* this.node(id)
      if (!node.inMap) {
        return yield* new ClusterControlError({ message: `node ${id} is not in the cluster map (${node.membership})` })
      }
      if (this.members().length === 1) {
        return yield* new ClusterControlError({ message: `node ${id} is the last node of the cluster` })
      }
      node.membership = "failed"
      for (const bucket of this.buckets.values()) bucket.failover(id)
      this.changed()
    })
  }

  /** Adds a node (listening at once); it joins the cluster map at the next rebalance. */
  addNode(ports: PortSpec = {}): Effect.Effect<ServerNode, ListenError> {
    return Effect.gen(this, function* () {
      const node = new ServerNode(this.nodes.length, this.spec.host, "pending", this.now())
      this.nodes.push(node)
      yield* this.startNode(node, ports)
      return node
    })
  }

  /** Marks a node for removal; it leaves the cluster map at the next rebalance (a pending node leaves at once). */
  removeNode(id: number): Effect.Effect<void, ClusterControlError> {
    return Effect.gen(this, function* () {
      const node = yield* this.node(id)
      if (node.membership === "pending") {
        node.membership = "removed"
        return
      }
      if (node.membership !== "active") {
        return yield* new ClusterControlError({ message: `node ${id} cannot be removed (${node.membership})` })
      }
      if (this.members().filter((n) => n.membership === "active").length === 1) {
        return yield* new ClusterControlError({ message: `node ${id} is the last node of the cluster` })
      }
      node.membership = "ejecting"
    })
  }

  /**
   * Rebalances: pending nodes join, ejecting and failed-over nodes leave, and every
   * bucket's vBuckets are spread evenly over the resulting nodes, data included.
   *
   * With `steps` > 1 the vBuckets move in that many batches, `interval` apart, each
   * batch a new cluster map revision (as Couchbase Server moves vBuckets one by one):
   * joining nodes are in the map from the start and leaving ones until the end, so
   * clients see a map that changes while their operations run. One rebalance runs at
   * a time; a second call waits for the first.
   */
  rebalance(options: RebalanceOptions = {}): Effect.Effect<void> {
    const steps = Math.max(1, Math.floor(options.steps ?? 1))
    const interval = options.interval ?? Duration.millis(10)
    return this.rebalanceLock.withPermits(1)(
      Effect.gen(this, function* () {
        this.rebalancing = true
        for (const node of this.nodes) if (node.membership === "pending") node.membership = "active"
        const ids = this.nodes.filter((n) => n.membership === "active").map((n) => n.id)
        const plans = [...this.buckets.values()]
          .filter((b) => b.type === "couchbase")
          .map((bucket) => ({ bucket, plan: bucket.rebalancePlan(ids) }))
        if (steps > 1) this.changed()
        for (let step = 0; step < steps; step++) {
          for (const { bucket, plan } of plans) {
            bucket.moveVBuckets(
              plan.slice(Math.floor((step * plan.length) / steps), Math.floor(((step + 1) * plan.length) / steps))
            )
          }
          if (step < steps - 1) {
            this.changed()
            yield* Effect.sleep(interval)
          }
        }
        for (const bucket of this.buckets.values()) if (bucket.type === "memcached") bucket.rebalance(ids)
        for (const node of this.nodes) {
          if (node.membership === "ejecting" || node.membership === "failed") node.membership = "removed"
        }
        this.changed()
      }).pipe(Effect.ensuring(Effect.sync(() => (this.rebalancing = false))))
    )
  }
}
