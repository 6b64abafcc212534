/**
 * Opening a node connection, and bootstrapping the client from its seeds (CCCP).
 *
 * Per connection, in order (the CCCP bootstrap of libcouchbase):
 * 1. **connect** (plain or TLS);
 * 2. **HELLO** with the agent JSON as key, asking for TCP_NODELAY, XERROR,
 *    SELECT_BUCKET, JSON and ALT_REQUEST. Not in memcached mode: Debian's memcached
 *    closes the connection on unknown opcodes that carry a key. A server that does
 *    not know HELLO simply gets no features;
 * 3. **SASL** when credentials are set: LIST_MECHS, then the strongest SCRAM the node
 *    offers (SHA512 > SHA256 > SHA1) over plain TCP, PLAIN over TLS or when forced
 *    (it sends the password in clear). The server's SCRAM signature is verified;
 * 4. **GET_ERROR_MAP** when XERROR was acknowledged (kept for diagnostics);
 * 5. **SELECT_BUCKET** when the node acknowledged it;
 * 6. **GET_CLUSTER_CONFIG**, on the seed connection only.
 *
 * Seeds are tried in turn and the first that gets through wins. Every failure names
 * the host and the step (`127.0.0.1:11210: SASL auth failed: …`), and when all seeds
 * fail the error lists what happened at each. The whole bootstrap is bounded by the
 * bootstrap timeout, whose error says where it was stuck.
 *
 * This is not the hot path: each step is one `Pipeline.exchange` Effect.
 *
 * @internal
 */
import { randomBytes } from "node:crypto"
import { Effect, Either, Redacted } from "effect"
import {
  AuthError,
  BucketNotFoundError,
  type ConnectError,
  type CouchbaseErrorBase,
  type ErrorFields,
  NetworkError,
  NotSupportedError,
  ProtocolError,
  TimeoutError,
  type UnknownHostError
} from "../../Errors.js"
import type { Iops } from "../../Iops.js"
import { now } from "../iops/core.js"
import { HelloFeature, Opcode, Status } from "../protocol/constants.js"
import type { Frame } from "../protocol/Frame.js"
import { encodePlain } from "../sasl/plain.js"
import { SCRAM_MECHANISMS, type ScramMechanism } from "../sasl/scram.js"
import { scramClient } from "../sasl/scramClient.js"
import { type ClusterConfig, hostPort, parse as parseConfig } from "./ClusterConfig.js"
import * as ErrorMap from "./ErrorMap.js"
import type { ClientMetrics } from "./Metrics.js"
import { Pipeline, type PipelineFailure } from "./Pipeline.js"

/** What connecting can fail with. */
export type BootstrapError =
  | ConnectError
  | UnknownHostError
  | AuthError
  | BucketNotFoundError
  | TimeoutError
  | NetworkError
  | ProtocolError
  | NotSupportedError

/** How every node connection of a client introduces itself. */
export interface HandshakeSettings {
  /** Plain memcached: no HELLO, no bucket selection, no cluster config. */
  readonly memcached: boolean
  readonly tls: boolean | Iops.TlsOptions
  readonly bucket: string
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
  /** Use PLAIN even without TLS. */
  readonly forceSaslPlain: boolean
  /** The HELLO key: the agent JSON. */
  readonly agent: string
  /** Largest response body accepted. */
  readonly maxBodyLength?: number | undefined
  /** Bounds of each connection's write queue (see `PipelineOptions`). */
  readonly maxQueuedBytes?: number | undefined
  readonly maxQueuedRequests?: number | undefined
  /** The connection's metrics: told the bytes each node's connection reads and writes. */
  readonly metrics?: ClientMetrics | undefined
}

/** Where a connection attempt stands, read by the bootstrap timeout's message. */
export interface Progress {
  address: string
  step: string
}

/** What the handshake learned about a node. */
export interface NodeInfo {
  readonly features: Pipeline["features"]
  /** The node's error map when XERROR was acknowledged and the node sent one. */
  readonly errorMap: ErrorMap.ErrorMap | undefined
  /** The SASL mechanism used, if any. */
  readonly mechanism: string | undefined
}

const VERSION = "0.1.0"

/** A client id for the agent JSON: random per client, as the Couchbase SDKs do. */
export const newClientId = (): string => randomBytes(8).toString("hex")

/** The HELLO key (SDK RFC 35 agent JSON): `{"a": agent, "i": "client/connection"}`. */
export const agentJson = (clientId: string, connectionId: string): string =>
  JSON.stringify({ a: `effect-couchbase/${VERSION} (node/${process.versions.node})`, i: `${clientId}/${connectionId}` })

const REQUESTED_FEATURES = [
  HelloFeature.TcpNoDelay,
  HelloFeature.Xerror,
  HelloFeature.SelectBucket,
  HelloFeature.Json,
  HelloFeature.AltRequestSupport
] as const

/**
 * `error` again, with a message that says where and in which step it happened. The
 * class (hence `_tag`, `rc`, categories) is kept.
 */
export const atStep = <E extends CouchbaseErrorBase>(error: E, address: string, step: string): E => {
  const Ctor = error.constructor as new (fields: ErrorFields) => E
  const message = error.message.startsWith(`${address}: `)
    ? error.message
    : `${address}: ${step} failed: ${error.message}`
  return new Ctor({ ...error, message, status: error.status, cause: error })
}

const statusText = (status: number) => `status 0x${status.toString(16).padStart(2, "0")}`

const bodyText = (frame: Frame): string => {
  const text = frame.value.subarray(0, 200).toString("utf8").replace(/\s+/g, " ").trim()
  return text === "" ? "" : ` (${text})`
}

/** One exchange of the handshake, with the step recorded and errors located. */
const step = (
  pipeline: Pipeline,
  progress: Progress,
  name: string,
  request: Parameters<Pipeline["exchange"]>[0],
  deadline: number
): Effect.Effect<Frame, PipelineFailure> =>
  Effect.suspend(() => {
    progress.step = name
    return pipeline.exchange(request, deadline)
  }).pipe(Effect.mapError((e) => atStep(e, progress.address, name)))

const hello = (pipeline: Pipeline, settings: HandshakeSettings, progress: Progress, deadline: number) =>
  Effect.gen(function* () {
    const value = Buffer.alloc(REQUESTED_FEATURES.length * 2)
    for (let i = 0; i < REQUESTED_FEATURES.length; i++) value.writeUInt16BE(REQUESTED_FEATURES[i]!, i * 2)
    const frame = yield* step(
      pipeline,
      progress,
      "HELLO",
      { opcode: Opcode.Hello, key: Buffer.from(settings.agent, "utf8"), value },
      deadline
    )
    const acked = new Set<number>()
    if (frame.status === Status.Success) {
      for (let at = 0; at + 1 < frame.value.length; at += 2) acked.add(frame.value.readUInt16BE(at))
    }
    // Anything but success (an old server): no features, carry on.
    pipeline.features = {
      json: acked.has(HelloFeature.Json),
      xerror: acked.has(HelloFeature.Xerror),
      selectBucket: acked.has(HelloFeature.SelectBucket)
    }
  })

const authError = (progress: Progress, username: string, mechanism: string, detail: string) =>
  new AuthError({
    message: `${progress.address}: SASL ${mechanism} failed for user ${JSON.stringify(username)}: ${detail}; check the username and password`
  })

const chooseMechanism = (
  offered: ReadonlyArray<string>,
  settings: HandshakeSettings,
  progress: Progress
): Either.Either<"PLAIN" | ScramMechanism, AuthError> => {
  if (settings.forceSaslPlain) return Either.right("PLAIN")
  // Over TLS, PLAIN is as safe and saves SCRAM's round trip and hashing; it is also the
  // only mechanism LDAP (external) users have. The official SDKs prefer it there too.
  if (settings.tls !== false && offered.includes("PLAIN")) return Either.right("PLAIN")
  for (const m of SCRAM_MECHANISMS) if (offered.includes(m)) return Either.right(m)
  return Either.left(
    new AuthError({
      message: `${progress.address}: SASL list mechanisms: the node offers ${offered.join(", ") || "nothing"}, and this client sends PLAIN (the password in clear) only over TLS or with forceSaslPlain`
    })
  )
}

const sasl = (pipeline: Pipeline, settings: HandshakeSettings, progress: Progress, deadline: number) =>
  Effect.gen(function* () {
    const username = settings.username ?? settings.bucket
    const password = settings.password === undefined ? "" : Redacted.value(settings.password)
    let mechanism: "PLAIN" | ScramMechanism = "PLAIN"
    if (!settings.forceSaslPlain) {
      const list = yield* step(pipeline, progress, "SASL list mechanisms", { opcode: Opcode.SaslListMechs }, deadline)
      if (list.status !== Status.Success) {
        return yield* Effect.fail(
          new AuthError({
            message: `${progress.address}: SASL list mechanisms failed with ${statusText(list.status)}: the node does not accept authentication (is SASL enabled?)`
          })
        )
      }
      const offered = list.value
        .toString("utf8")
        .trim()
        .split(/\s+/)
        .filter((m) => m !== "")
      mechanism = yield* chooseMechanism(offered, settings, progress)
    }
    const mechKey = Buffer.from(mechanism, "utf8")
    if (mechanism === "PLAIN") {
      const answer = yield* step(
        pipeline,
        progress,
        "SASL auth (PLAIN)",
        { opcode: Opcode.SaslAuth, key: mechKey, value: encodePlain(username, password) },
        deadline
      )
      if (answer.status !== Status.Success) {
        return yield* Effect.fail(
          authError(progress, username, "PLAIN", `${statusText(answer.status)}${bodyText(answer)}`)
        )
      }
      return mechanism
    }
    const client = scramClient({ mechanism, username, password })
    const first = yield* step(
      pipeline,
      progress,
      `SASL auth (${mechanism})`,
      { opcode: Opcode.SaslAuth, key: mechKey, value: Buffer.from(client.clientFirst, "utf8") },
      deadline
    )
    if (first.status !== Status.AuthContinue) {
      return yield* Effect.fail(
        authError(progress, username, mechanism, `${statusText(first.status)}${bodyText(first)}`)
      )
    }
    const final = client.respond(first.value.toString("utf8"))
    if (typeof final !== "string") return yield* Effect.fail(authError(progress, username, mechanism, final.message))
    const last = yield* step(
      pipeline,
      progress,
      `SASL step (${mechanism})`,
      { opcode: Opcode.SaslStep, key: mechKey, value: Buffer.from(final, "utf8") },
      deadline
    )
    if (last.status !== Status.Success) {
      return yield* Effect.fail(authError(progress, username, mechanism, `${statusText(last.status)}${bodyText(last)}`))
    }
    const verified = client.verify(last.value.toString("utf8"))
    if (verified !== true) return yield* Effect.fail(authError(progress, username, mechanism, verified.message))
    return mechanism
  })

const errorMap = (pipeline: Pipeline, progress: Progress, deadline: number) =>
  Effect.gen(function* () {
    const version = Buffer.alloc(2)
    version.writeUInt16BE(2, 0)
    const frame = yield* step(
      pipeline,
      progress,
      "GET_ERROR_MAP",
      { opcode: Opcode.GetErrorMap, value: version },
      deadline
    )
    if (frame.status !== Status.Success) return undefined
    // A malformed map is ignored rather than fatal: statuses it would describe then
    // stay plain protocol errors.
    let json: unknown
    try {
      json = JSON.parse(frame.value.toString("utf8"))
    } catch {
      return undefined
    }
    const map = ErrorMap.parse(json)
    pipeline.errorMap = map
    return map
  })

const selectBucket = (pipeline: Pipeline, settings: HandshakeSettings, progress: Progress, deadline: number) =>
  Effect.gen(function* () {
    const frame = yield* step(
      pipeline,
      progress,
      "SELECT_BUCKET",
      { opcode: Opcode.SelectBucket, key: Buffer.from(settings.bucket, "utf8") },
      deadline
    )
    if (frame.status === Status.Success) return
    if (frame.status === Status.AuthError) {
      return yield* Effect.fail(
        new AuthError({
          message: `${progress.address}: SELECT_BUCKET ${JSON.stringify(settings.bucket)}: not authenticated`
        })
      )
    }
    // EACCESS: a missing bucket and one the user may not use look the same to a client.
    const user =
      settings.username === undefined
        ? ", or access needs credentials: no username and password were given"
        : ` or user ${JSON.stringify(settings.username)} may not access it`
    return yield* Effect.fail(
      new BucketNotFoundError({
        status: frame.status,
        message: `${progress.address}: SELECT_BUCKET failed (${statusText(frame.status)}): bucket ${JSON.stringify(settings.bucket)} does not exist${user}`
      })
    )
  })

/**
 * Runs the handshake on an open pipeline: HELLO, SASL, error map, bucket selection.
 * `deadline` is on the Iops clock.
 */
export const handshake = (
  pipeline: Pipeline,
  settings: HandshakeSettings,
  progress: Progress,
  deadline: number
): Effect.Effect<NodeInfo, BootstrapError> =>
  Effect.gen(function* () {
    if (!settings.memcached) yield* hello(pipeline, settings, progress, deadline)
    const wantsAuth = settings.password !== undefined || settings.username !== undefined
    const mechanism = wantsAuth ? yield* sasl(pipeline, settings, progress, deadline) : undefined
    const map = pipeline.features.xerror ? yield* errorMap(pipeline, progress, deadline) : undefined
    if (!settings.memcached && pipeline.features.selectBucket)
      yield* selectBucket(pipeline, settings, progress, deadline)
    progress.step = "ready"
    return { features: pipeline.features, errorMap: map, mechanism }
  })

/**
 * Connects to `address` and runs the handshake. The connection is closed if any step
 * fails or the Effect is interrupted.
 */
export const openNode = (
  iops: Iops.Service,
  address: { readonly host: string; readonly port: number },
  settings: HandshakeSettings,
  progress: Progress,
  deadline: number
): Effect.Effect<{ readonly pipeline: Pipeline; readonly info: NodeInfo }, BootstrapError> => {
  const name = hostPort(address.host, address.port)
  return Effect.gen(function* () {
    progress.address = name
    progress.step = "connect"
    const socket = yield* iops
      .connect({ host: address.host, port: address.port, tls: settings.tls === false ? undefined : settings.tls })
      .pipe(Effect.mapError((e) => atStep(e, name, "connect")))
    const pipeline = new Pipeline(
      iops,
      socket,
      {},
      {
        maxBodyLength: settings.maxBodyLength,
        maxQueuedBytes: settings.maxQueuedBytes,
        maxQueuedRequests: settings.maxQueuedRequests,
        onTraffic: settings.metrics?.trafficOf(name)
      }
    )
    const info = yield* handshake(pipeline, settings, progress, deadline).pipe(
      Effect.onExit((exit) => (exit._tag === "Failure" ? Effect.sync(() => pipeline.close()) : Effect.void))
    )
    return { pipeline, info }
  })
}

/** GET_CLUSTER_CONFIG on an open connection, parsed (`$HOST` = the node's host). */
export const fetchConfig = (
  pipeline: Pipeline,
  progress: Progress,
  deadline: number
): Effect.Effect<ClusterConfig, BootstrapError> =>
  Effect.gen(function* () {
    const frame = yield* step(pipeline, progress, "GET_CLUSTER_CONFIG", { opcode: Opcode.GetClusterConfig }, deadline)
    if (frame.status === Status.UnknownCommand || frame.status === Status.NotSupported) {
      return yield* Effect.fail(
        new NotSupportedError({
          status: frame.status,
          message: `${progress.address}: GET_CLUSTER_CONFIG is not supported: the node does not serve cluster configs (CCCP); for a plain memcached server use memcached://`
        })
      )
    }
    if (frame.status === Status.NoBucket) {
      return yield* Effect.fail(
        new BucketNotFoundError({
          status: frame.status,
          message: `${progress.address}: GET_CLUSTER_CONFIG: no bucket selected`
        })
      )
    }
    if (frame.status !== Status.Success) {
      return yield* Effect.fail(
        new ProtocolError({
          status: frame.status,
          message: `${progress.address}: GET_CLUSTER_CONFIG failed with ${statusText(frame.status)}${bodyText(frame)}`
        })
      )
    }
    const parsed = parseConfig(frame.value, pipeline.socket.remoteHost)
    if (Either.isLeft(parsed)) return yield* Effect.fail(atStep(parsed.left, progress.address, "GET_CLUSTER_CONFIG"))
    return parsed.right
  })

/** The outcome of a bootstrap: the seed's open connection and, unless memcached, the config. */
export interface Bootstrapped {
  readonly seed: { readonly host: string; readonly port: number }
  readonly pipeline: Pipeline
  readonly info: NodeInfo
  readonly config: ClusterConfig | undefined
}

/** What a failed seed contributes to the final error. */
interface Attempt {
  readonly address: string
  readonly error: BootstrapError
}

const FATAL_ORDER = ["AuthError", "BucketNotFoundError"] as const

const allFailed = (attempts: ReadonlyArray<Attempt>): BootstrapError => {
  const summary = attempts.map((a) => a.error.message).join("; ")
  // A wrong password or bucket is what the user must fix, whichever seed said it.
  const chosen =
    FATAL_ORDER.map((tag) => attempts.find((a) => a.error._tag === tag)).find((a) => a !== undefined) ??
    attempts[attempts.length - 1]!
  const Ctor = chosen.error.constructor as new (fields: ErrorFields) => BootstrapError
  return new Ctor({
    message: `could not bootstrap from ${attempts.length === 1 ? "the seed" : `any of ${attempts.length} seeds`}: ${summary}`,
    status: chosen.error.status,
    cause: chosen.error
  })
}

/**
 * Tries each seed in turn until one connects, authenticates and (unless memcached)
 * hands out a config. Bounded by `timeoutMillis` on the Effect clock.
 */
export const bootstrap = (
  iops: Iops.Service,
  seeds: ReadonlyArray<{ readonly host: string; readonly port: number }>,
  settings: HandshakeSettings,
  timeoutMillis: number
): Effect.Effect<Bootstrapped, BootstrapError> => {
  const progress: Progress = { address: "", step: "start" }
  const attempts: Array<Attempt> = []
  const deadline = now(iops) + timeoutMillis
  const trySeed = (seed: { readonly host: string; readonly port: number }) =>
    Effect.gen(function* () {
      const { pipeline, info } = yield* openNode(iops, seed, settings, progress, deadline)
      if (settings.memcached) return { seed, pipeline, info, config: undefined } satisfies Bootstrapped
      const config = yield* fetchConfig(pipeline, progress, deadline).pipe(
        Effect.onError(() => Effect.sync(() => pipeline.close()))
      )
      return { seed, pipeline, info, config } satisfies Bootstrapped
    })
  const loop = (index: number): Effect.Effect<Bootstrapped, BootstrapError> =>
    index >= seeds.length
      ? Effect.fail(allFailed(attempts))
      : trySeed(seeds[index]!).pipe(
          Effect.catchAll((error) => {
            attempts.push({ address: progress.address, error })
            return loop(index + 1)
          })
        )
  return loop(0).pipe(
    Effect.timeoutFail({
      duration: timeoutMillis,
      onTimeout: () => {
        const before = attempts.length === 0 ? "" : ` (before that: ${attempts.map((a) => a.error.message).join("; ")})`
        return new TimeoutError({
          message: `bootstrap timed out after ${timeoutMillis} ms at ${progress.address}, step ${progress.step}${before}; check that the host is reachable and the port is the key/value port`
        })
      }
    })
  )
}

/** The message-only NetworkError of a connection closed by the client (shutdown, config change). */
export const closedByClient = (address: string): NetworkError =>
  new NetworkError({ message: `the connection to ${address} was closed by the client` })
