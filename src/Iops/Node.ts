/**
 * The Node Iops (the default): `net` / `tls` sockets in paused mode, readiness from
 * `'readable'` and `'drain'`, timers on Node's loop.
 *
 * Also here: {@link listen}, Node's `net.Server` behind the same
 * {@link ServerSocket} interface as the simulated network, so an in-process server
 * (the embedded cluster, a test peer) is written once and runs on either.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import { Iops } from "../Iops.js"
import { makeNodeIops, type NodeIopsOptions } from "../internal/iops/node.js"

export type { NodeIopsOptions } from "../internal/iops/node.js"
export { listenNode as listen, type NodeListenOptions, serverSocketFromNode } from "../internal/iops/nodeServer.js"
export { ListenError, type ServerListener, type ServerSocket } from "../internal/iops/serverSocket.js"

/** Builds the Node Iops service (for use outside a Layer, e.g. an `AsyncConnection`). */
export const make = (options: NodeIopsOptions = {}): Iops.Service => makeNodeIops(options)

/** The Node Iops as a layer. Same as `Iops.layerNode`. */
export const layer = (options: NodeIopsOptions = {}): Layer.Layer<Iops> => Layer.sync(Iops, () => makeNodeIops(options))
