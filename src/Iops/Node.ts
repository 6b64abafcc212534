/**
 * The Node Iops (the default): `net` / `tls` sockets in paused mode, readiness from
 * `'readable'` and `'drain'`, timers on Node's loop.
 *
 * Also here: {@link listen}, Node's `net.Server` behind the same
 * {@link ServerSocket} interface as the simulated network, so an in-process server
 * (the embedded cluster, a test peer) is written once and runs on either.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Connection } from "effect-couchbase"
 * import * as NodeIops from "effect-couchbase/Iops/Node"
 *
 * // Bigger socket buffers for a bulk loader; no-delay and keep-alive stay on.
 * const CouchbaseLive = Connection.layerConfig().pipe(
 *   Layer.provide(NodeIops.layer({ highWaterMark: 1024 * 1024 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import { Iops } from "../Iops.js"
import { makeNodeIops, type NodeIopsOptions } from "../internal/iops/node.js"

export type {
  /**
   * Options of the Node Iops: Nagle's algorithm, keep-alive, socket buffer size.
   *
   * @since 0.1.0
   * @category models
   */
  NodeIopsOptions
} from "../internal/iops/node.js"
export {
  /**
   * Binds a Node server on `host:port` (0 = a free port) and hands each accepted
   * connection to a callback as a {@link ServerSocket}; the listener and its
   * connections close with the scope.
   *
   * @since 0.1.0
   * @category servers
   */
  listenNode as listen,
  /**
   * Options of {@link listen}: TLS key and certificate.
   *
   * @since 0.1.0
   * @category models
   */
  type NodeListenOptions,
  /**
   * Wraps a socket accepted by a Node server of your own as a {@link ServerSocket}.
   *
   * @since 0.1.0
   * @category servers
   */
  serverSocketFromNode
} from "../internal/iops/nodeServer.js"
export {
  /**
   * A listener could not be bound (address in use, no permission); names
   * `host:port`.
   *
   * @since 0.1.0
   * @category errors
   */
  ListenError,
  /**
   * A bound listener of an in-process server: its host, port, and `close()`.
   *
   * @since 0.1.0
   * @category models
   */
  type ServerListener,
  /**
   * The server side of one accepted connection, as in-process servers see it.
   *
   * @since 0.1.0
   * @category models
   */
  type ServerSocket
} from "../internal/iops/serverSocket.js"

/**
 * Builds the Node Iops service (for use outside a Layer, e.g. an `AsyncConnection`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: NodeIopsOptions = {}): Iops.Service => makeNodeIops(options)

/**
 * The Node Iops as a layer. Same as `Iops.layerNode`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: NodeIopsOptions = {}): Layer.Layer<Iops> => Layer.sync(Iops, () => makeNodeIops(options))
