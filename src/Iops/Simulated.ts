/**
 * The simulated Iops: an in-memory network on Effect's `Clock`, for tests that need
 * time, latency and failures under control.
 *
 * - {@link SimulatedNetwork}: the network as a service. In-process servers (the
 *   embedded cluster, a test's echo server) bind to it with `listen(host, port,
 *   onConnection)` and get a {@link ServerSocket} per connection; the simulated Iops
 *   connects through it.
 * - Its `faults` handle ({@link FaultHandle}) injects latency (with seeded jitter),
 *   stalls, partitions, resets (also after N bytes: mid-frame), split delivery at
 *   chosen or seeded-random byte boundaries, and refused connects.
 * - Deterministic: every delivery and timer is a task ordered by (time, sequence) on
 *   one fiber; time is kept in whole microseconds; under `TestClock` nothing waits for
 *   real time, and the same seed with the same script gives the same run, delivery
 *   for delivery (see the `trace` option).
 * - Nothing is delivered inside the call that caused it, even with zero latency: the
 *   network's fiber does it. In a `TestClock` test, `yield* TestClock.adjust(0)` lets
 *   everything due "now" happen (it waits for every fiber to be suspended), and
 *   `TestClock.adjust(d)` moves latencies, timers and timeouts forward.
 *
 * @example
 * ```ts
 * import { Effect, TestClock } from "effect"
 * import * as Simulated from "effect-couchbase/Iops/Simulated"
 *
 * // An echo server 5 ms away from its clients, on a network the test controls.
 * const program = Effect.gen(function* () {
 *   const network = yield* Simulated.SimulatedNetwork
 *   yield* network.listen("127.0.0.1", 11210, (socket) => socket.onData((bytes) => socket.write(bytes)))
 *   network.faults.latency("127.0.0.1:11210", "5 millis")
 *   // … run a client with the Iops of this layer, then move time forward:
 *   yield* TestClock.adjust("5 millis")
 * }).pipe(Effect.scoped, Effect.provide(Simulated.layerSimulated({ seed: 42 })))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { Iops } from "../Iops.js"
import {
  layerNetwork as layerNetworkInternal,
  makeNetwork as makeNetworkInternal,
  SimulatedNetwork,
  type SimulatedNetworkOptions
} from "../internal/iops/network.js"
import { makeSimulatedIops } from "../internal/iops/simulated.js"

export {
  /**
   * Which way a fault acts on a connection: `"toClient"` or `"toServer"`.
   *
   * @since 0.1.0
   * @category models
   */
  type Direction,
  /**
   * The fault-injection handle of a {@link SimulatedNetwork}: latency, stalls,
   * partitions, resets, split delivery, refused connects, and `heal`.
   *
   * @since 0.1.0
   * @category models
   */
  type FaultHandle,
  /**
   * What a fault applies to: `"host:port"`, `"host"`, a connection id, or anything
   * with an `id` (a {@link ServerSocket}).
   *
   * @since 0.1.0
   * @category models
   */
  type FaultTarget,
  /**
   * The simulated network as a service: servers `listen` on it, the simulated Iops
   * connects through it, tests inject faults with `faults`.
   *
   * @since 0.1.0
   * @category tags
   */
  SimulatedNetwork,
  /**
   * Options of the simulated network: the seed of its randomness, the per-direction
   * window, tracing.
   *
   * @since 0.1.0
   * @category models
   */
  type SimulatedNetworkOptions,
  /**
   * How a split fault cuts the byte stream: at given offsets, or into seeded random
   * pieces.
   *
   * @since 0.1.0
   * @category models
   */
  type SplitPlan,
  /**
   * One delivery recorded by the network's `trace()` (with the `trace` option).
   *
   * @since 0.1.0
   * @category models
   */
  type TraceEntry
} from "../internal/iops/network.js"
export {
  /**
   * A listener could not be bound (the address is taken); names `host:port`.
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
   * The server side of one accepted connection, the same interface as on Node's
   * sockets.
   *
   * @since 0.1.0
   * @category models
   */
  type ServerSocket,
  /**
   * {@link ServerSocket} under a name that says where it comes from.
   *
   * @since 0.1.0
   * @category models
   */
  type ServerSocket as SimulatedServerSocket
} from "../internal/iops/serverSocket.js"

/**
 * A fresh simulated network, on the current `Clock`, for the layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNetwork = (options: SimulatedNetworkOptions = {}): Layer.Layer<SimulatedNetwork> =>
  layerNetworkInternal(options)

/**
 * Builds a simulated network in the current scope (its loop fiber is forked there).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeNetwork = makeNetworkInternal

/**
 * The simulated Iops on a network built elsewhere (shared with in-process servers).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Iops, never, SimulatedNetwork> = Layer.effect(
  Iops,
  Effect.map(SimulatedNetwork, makeSimulatedIops)
)

/**
 * Builds the simulated Iops service on `network`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (network: SimulatedNetwork.Service): Iops.Service => makeSimulatedIops(network)

/**
 * A fresh network and its Iops together. Same as `Iops.layerSimulated`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSimulated = (options: SimulatedNetworkOptions = {}): Layer.Layer<Iops | SimulatedNetwork> =>
  layer.pipe(Layer.provideMerge(layerNetwork(options)))
