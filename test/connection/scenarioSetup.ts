/**
 * One scenario, two transports: the client and the embedded cluster over real TCP
 * (the Node Iops), or over one simulated network under TestClock. A scenario gets a
 * {@link Setup} and never asks which one it runs on.
 */
import { Clock, Context, Duration, Effect, Exit, Fiber, Layer, type Scope, TestClock } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"

/** What a scenario works with. */
export interface Setup {
  readonly cluster: EmbeddedCluster.EmbeddedCluster.Service
  readonly cb: Connection.Connection.Service
  /**
   * Moves the cluster's time forward (TTLs, locks). On the simulated network this is the
   * TestClock; over TCP the cluster runs on a clock of its own that is shifted, so no
   * test waits in real time.
   */
  readonly advance: (duration: Duration.DurationInput) => Effect.Effect<void>
  /**
   * Runs an operation that may need the client's background work (a new cluster map
   * after NOT_MY_VBUCKET, a reconnect) to finish: under TestClock, time is moved in
   * small steps until it completes.
   */
  readonly settle: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>
}

/** How a layer's setup is built, and whether its test runs on the live clock. */
export interface Transport {
  readonly name: string
  readonly live: boolean
  readonly setup: Effect.Effect<Setup, unknown, Scope.Scope>
}

/** The cluster's credentials as client options. */
const connect = (cluster: EmbeddedCluster.EmbeddedCluster.Service) =>
  Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  })

/** A real clock, shifted by a settable offset (for the cluster only). */
const shiftedClock = () => {
  const base = Clock.make()
  let offset = 0
  const clock: Clock.Clock = Object.create(base, {
    unsafeCurrentTimeMillis: { value: () => base.unsafeCurrentTimeMillis() + offset },
    unsafeCurrentTimeNanos: {
      value: () => base.unsafeCurrentTimeNanos() + BigInt(offset) * 1_000_000n
    },
    currentTimeMillis: { get: () => Effect.sync(() => clock.unsafeCurrentTimeMillis()) },
    currentTimeNanos: { get: () => Effect.sync(() => clock.unsafeCurrentTimeNanos()) }
  })
  const advance = (duration: Duration.DurationInput) =>
    Effect.sync(() => {
      offset += Duration.toMillis(duration)
    })
  return { clock, advance }
}

/** The Node Iops over TCP, on the live clock. */
export const tcp: Transport = {
  name: "Iops.layerNode (TCP)",
  live: true,
  setup: Effect.gen(function* () {
    const { clock, advance } = shiftedClock()
    const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1 }).pipe(Effect.withClock(clock))
    const cb: Connection.Connection.Service = yield* connect(cluster).pipe(Effect.provide(Iops.layerNode()))
    return { cluster, cb, advance, settle: (effect) => effect }
  })
}

/** The simulated Iops and a cluster on its network, under TestClock. */
export const simulated: Transport = {
  name: "Iops.layerSimulated (TestClock)",
  live: false,
  setup: Effect.gen(function* () {
    // Built in the test's scope: the network lives as long as the test.
    const context = yield* Layer.build(Iops.layerSimulated({ seed: 7 }))
    const network = Context.get(context, Iops.SimulatedNetwork)
    const cluster = yield* EmbeddedCluster.make({ nodes: 3, replicas: 1, tcp: false, network })
    const cb: Connection.Connection.Service = yield* connect(cluster).pipe(Effect.provide(context))
    const settle = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(effect)
        // At most 30 simulated seconds; the client's own timeouts end it before that.
        for (let step = 0; step < 300 && fiber.unsafePoll() === null; step++) yield* TestClock.adjust("100 millis")
        return yield* Fiber.join(fiber)
      })
    return { cluster, cb, advance: (duration) => TestClock.adjust(duration), settle }
  })
}

/** The typed failure of `effect`; a success or a defect fails the test. */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${String(exit.value)}`)
    if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string; readonly key?: string }
  })
