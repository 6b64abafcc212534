/**
 * `effect-couchbase server`: runs an embedded cluster in the foreground. When every
 * node listens it prints one JSON line on stdout —
 * `{"connectionString", "username", "password", "nodes": [{"kv", "capi", "mgmt"}], "buckets": […]}`
 * (with `--tls-key`/`--tls-cert` also `secureConnectionString` and each node's TLS ports) —
 * and serves until SIGINT or SIGTERM, then closes every port and exits with status 0.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option, Redacted } from "effect"
import * as EmbeddedCluster from "../../EmbeddedCluster.js"
import { json, wholeNumber } from "./flags.js"
import { endsOnSignal } from "./runMain.js"
import { UsageError } from "./UsageError.js"

/** What `server` was asked to run, parsed and checked. */
export interface ServerArgs {
  readonly options: EmbeddedCluster.Options
  /** The password, for the ready line (the cluster keeps it redacted). */
  readonly password: string
}

/** A `--bucket NAME[:TYPE]` argument, parsed. */
export const parseBucket = (spec: string): EmbeddedCluster.BucketOptions | string => {
  const colon = spec.lastIndexOf(":")
  const name = colon < 0 ? spec : spec.slice(0, colon)
  const type = colon < 0 ? "couchbase" : spec.slice(colon + 1)
  if (type !== "couchbase" && type !== "memcached") {
    return `invalid bucket type ${JSON.stringify(type)} in --bucket ${spec}: use couchbase or memcached`
  }
  return { name, type }
}

const readPem = (option: string, path: string): Either.Either<string, UsageError> => {
  try {
    return Either.right(readFileSync(path, "utf8"))
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error)
    return Either.left(new UsageError({ message: `--${option}: cannot read ${path} (${reason})` }))
  }
}

/** The flags of `server`. */
const serverFlags = {
  json: json.pipe(Options.withDescription("accepted for symmetry: the ready line is JSON already")),
  nodes: wholeNumber("nodes").pipe(Options.withDefault(1), Options.withDescription("number of nodes")),
  replicas: wholeNumber("replicas").pipe(
    Options.withDescription("replicas of couchbase buckets, 0-3 (default 1 with several nodes)"),
    Options.optional
  ),
  vbuckets: wholeNumber("vbuckets").pipe(
    Options.withDescription("vBuckets of couchbase buckets (default 1024)"),
    Options.optional
  ),
  bucket: Options.text("bucket").pipe(
    Options.withDescription("NAME[:TYPE], TYPE couchbase (default) or memcached; repeatable (default: default)"),
    Options.repeated
  ),
  collection: Options.text("collection").pipe(
    Options.withDescription("[BUCKET:]SCOPE[.COLLECTION] to create (default bucket: the first); repeatable"),
    Options.repeated
  ),
  sample: Options.text("sample").pipe(
    Options.withDescription("beer-sample: preload the dataset into a bucket of that name"),
    Options.optional
  ),
  user: Options.text("user").pipe(Options.withDefault("Administrator"), Options.withDescription("the administrator")),
  password: Options.text("password").pipe(Options.withDefault("password"), Options.withDescription("its password")),
  port: wholeNumber("port").pipe(
    Options.withDefault(0),
    Options.withDescription("KV port of the first node (0: any free port)")
  ),
  tlsKey: Options.text("tls-key").pipe(
    Options.withDescription("PEM private key: also serve TLS (kvSSL, capiSSL, mgmtSSL)"),
    Options.optional
  ),
  tlsCert: Options.text("tls-cert").pipe(
    Options.withDescription("PEM certificate (chain) for the TLS ports; goes with --tls-key"),
    Options.optional
  )
}

/** The values of `server`'s flags. */
type ServerFlags = Command.Command.ParseConfig<typeof serverFlags>

/**
 * The cluster `server`'s flags ask for. Values the cluster itself checks (a replica
 * count out of range, a port past 65535) are left to it, so the command and the
 * library say the same thing.
 */
export const serverArgs = (flags: ServerFlags): Either.Either<ServerArgs, UsageError> =>
  Either.gen(function* () {
    const buckets: Array<EmbeddedCluster.BucketOptions> = []
    for (const spec of flags.bucket.length === 0 ? ["default"] : flags.bucket) {
      const parsed = parseBucket(spec)
      if (typeof parsed === "string") return yield* Either.left(new UsageError({ message: parsed }))
      buckets.push(parsed)
    }
    const sample = Option.getOrUndefined(flags.sample)
    if (sample !== undefined && sample !== "beer-sample") {
      return yield* Either.left(
        new UsageError({
          message: `--sample: unknown dataset ${JSON.stringify(sample)}; the one shipped is beer-sample`
        })
      )
    }
    // The sample goes into the bucket named like it, declared or added.
    if (sample !== undefined) {
      const index = buckets.findIndex((b) => b.name === sample)
      if (index < 0) buckets.push({ name: sample, sample })
      else buckets[index] = { ...buckets[index]!, sample }
    }
    // Collections go to the bucket named before the colon, else the first one.
    for (const spec of flags.collection) {
      const colon = spec.indexOf(":")
      const bucketName = colon < 0 ? buckets[0]!.name : spec.slice(0, colon)
      const index = buckets.findIndex((b) => b.name === bucketName)
      if (index < 0) {
        return yield* Either.left(
          new UsageError({
            message: `--collection ${spec}: no bucket ${JSON.stringify(bucketName)} (declare it with --bucket)`
          })
        )
      }
      const bucket = buckets[index]!
      buckets[index] = { ...bucket, collections: [...(bucket.collections ?? []), spec.slice(colon + 1)] }
    }
    const keyPath = Option.getOrUndefined(flags.tlsKey)
    const certPath = Option.getOrUndefined(flags.tlsCert)
    if ((keyPath === undefined) !== (certPath === undefined)) {
      return yield* Either.left(
        new UsageError({ message: "--tls-key and --tls-cert go together: give both or neither" })
      )
    }
    const tls =
      keyPath !== undefined && certPath !== undefined
        ? { key: yield* readPem("tls-key", keyPath), cert: yield* readPem("tls-cert", certPath) }
        : undefined
    return {
      password: flags.password,
      options: {
        nodes: flags.nodes,
        replicas: Option.getOrUndefined(flags.replicas),
        vBuckets: Option.getOrUndefined(flags.vbuckets),
        buckets,
        username: flags.user,
        password: Redacted.make(flags.password),
        ports: flags.port === 0 ? [] : [{ kv: flags.port }],
        tls
      }
    }
  })

/** Starts the cluster, prints the ready line and serves until interrupted. */
export const runServer = (args: ServerArgs): Effect.Effect<never, EmbeddedCluster.EmbeddedClusterError> =>
  Effect.gen(function* () {
    // SIGINT / SIGTERM are how a server stops: status 0.
    yield* endsOnSignal
    const cluster = yield* EmbeddedCluster.make(args.options)
    yield* Console.log(
      JSON.stringify({
        connectionString: cluster.connectionString,
        ...(cluster.secureConnectionString === undefined
          ? {}
          : { secureConnectionString: cluster.secureConnectionString }),
        username: cluster.username,
        password: args.password,
        nodes: cluster.nodes.map((n) => ({
          kv: n.kv,
          capi: n.capi,
          mgmt: n.mgmt,
          ...(n.kvSSL === undefined ? {} : { kvSSL: n.kvSSL, capiSSL: n.capiSSL, mgmtSSL: n.mgmtSSL })
        })),
        buckets: (args.options.buckets ?? []).map((b) => ({
          name: b.name,
          type: b.type ?? "couchbase",
          ...(b.collections === undefined ? {} : { collections: b.collections }),
          ...(b.type === "memcached" ? { memcached: cluster.memcachedConnectionString(b.name) } : {})
        }))
      })
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)

/**
 * The `server` command.
 *
 * @since 0.1.0
 */
export const serverCommand = Command.make("server", serverFlags, (flags) =>
  Effect.flatMap(serverArgs(flags), runServer)
).pipe(
  Command.withDescription(
    "run an embedded Couchbase-compatible cluster in the foreground (a test server: memory only, on 127.0.0.1). " +
      "When every node listens it prints one JSON line (connectionString, username, password, nodes, buckets) " +
      "and serves until SIGINT or SIGTERM."
  )
)
