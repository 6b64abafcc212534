/**
 * One node of the embedded cluster: its ports (plain and TLS), its membership in the cluster map, its
 * run state (running, stopped, hung), its open KV sessions and its counters.
 *
 * @internal
 */
import type { Scope } from "effect"
import type { ConfigNode } from "./ClusterConfig.js"
import { NodeStats } from "./NodeStats.js"

/**
 * Where a node stands in the cluster map:
 * - `active`: in the map, holding vBuckets;
 * - `pending`: added, listening, not in the map until the next rebalance;
 * - `ejecting`: marked for removal, still in the map until the next rebalance;
 * - `failed`: failed over (out of the map; still answers, with NOT_MY_VBUCKET);
 * - `removed`: rebalanced out (out of the map; still answers, with NOT_MY_VBUCKET).
 */
export type Membership = "active" | "pending" | "ejecting" | "failed" | "removed"

/** Whether the node's process is serving: `hung` accepts connections and requests but never answers. */
export type RunState = "running" | "stopped" | "hung"

/** The parts of a session the node needs to manage it. */
export interface NodeSession {
  /** Closes the connection at once. */
  destroy(): void
  /** The bucket the connection works on, if any. */
  readonly selected: unknown
  /** Sends a clustermap change notification, when the client asked for them. */
  notifyConfig(): void
  /** Stops or resumes reading from the connection (see {@link ServerNode.setReading}). */
  setReading(on: boolean): void
}

/** A node of the cluster. */
export class ServerNode implements ConfigNode {
  kv = 0
  capi = 0
  mgmt = 0
  /** The TLS ports (0 = the cluster does not serve TLS). */
  kvSSL = 0
  capiSSL = 0
  mgmtSSL = 0
  /** Dedicated unauthenticated KV ports of memcached buckets, by bucket name. */
  readonly bucketPorts = new Map<string, number>()
  membership: Membership
  state: RunState = "running"
  /** False while the node is stalled: its connections stay open but are not read. */
  reading = true
  readonly sessions = new Set<NodeSession>()
  readonly stats = new NodeStats()
  /** The scope owning the node's listeners (closed by `stop`). */
  listenerScope: Scope.CloseableScope | undefined
  /** HTTP connections of the node (closed by `stop` / `restart`). */
  readonly httpSockets = new Set<{ destroy(): void }>()

  constructor(
    readonly id: number,
    readonly host: string,
    membership: Membership,
    /** Server clock time the node (re)started at, in ms. */
    public startedAt: number
  ) {
    this.membership = membership
  }

  /** True when the node is in the cluster map. */
  get inMap(): boolean {
    return this.membership === "active" || this.membership === "ejecting"
  }

  /** Stops (or resumes) reading from every KV connection of the node, new ones included. */
  setReading(on: boolean): void {
    this.reading = on
    for (const session of this.sessions) session.setReading(on)
  }

  /** Closes every KV and HTTP connection of the node. */
  dropConnections(): void {
    for (const session of [...this.sessions]) session.destroy()
    this.sessions.clear()
    for (const socket of [...this.httpSockets]) socket.destroy()
    this.httpSockets.clear()
  }
}
