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
 * ```ts
 * const program = Effect.gen(function* () {
 *   const network = yield* SimulatedNetwork
 *   yield* network.listen("127.0.0.1", 11210, (socket) => socket.onData((b) => socket.write(b)))
 *   network.faults.latency("127.0.0.1:11210", "5 millis")
 *   // … run the client with the Iops of this layer, then TestClock.adjust(...)
 * }).pipe(Effect.provide(Simulated.layerSimulated({ seed: 42 })))
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
  type Direction,
  type FaultHandle,
  type FaultTarget,
  SimulatedNetwork,
  type SimulatedNetworkOptions,
  type SplitPlan,
  type TraceEntry
} from "../internal/iops/network.js"
export {
  ListenError,
  type ServerListener,
  type ServerSocket,
  type ServerSocket as SimulatedServerSocket
} from "../internal/iops/serverSocket.js"

/** A fresh simulated network, on the current `Clock`, for the layer's lifetime. */
export const layerNetwork = (options: SimulatedNetworkOptions = {}): Layer.Layer<SimulatedNetwork> =>
  layerNetworkInternal(options)

/** Builds a simulated network in the current scope (its loop fiber is forked there). */
export const makeNetwork = makeNetworkInternal

/** The simulated Iops on a network built elsewhere (shared with in-process servers). */
export const layer: Layer.Layer<Iops, never, SimulatedNetwork> = Layer.effect(
  Iops,
  Effect.map(SimulatedNetwork, makeSimulatedIops)
)

/** Builds the simulated Iops service on `network`. */
export const make = (network: SimulatedNetwork.Service): Iops.Service => makeSimulatedIops(network)

/** A fresh network and its Iops together. Same as `Iops.layerSimulated`. */
export const layerSimulated = (options: SimulatedNetworkOptions = {}): Layer.Layer<Iops | SimulatedNetwork> =>
  layer.pipe(Layer.provideMerge(layerNetwork(options)))
