/**
 * `effect-couchbase server`: runs an embedded cluster in the foreground. When every
 * node listens it prints one JSON line on stdout —
 * `{"connectionString", "username", "password", "nodes": [{"kv", "capi", "mgmt"}], "buckets": […]}`
 * (with `--tls-key`/`--tls-cert` also `secureConnectionString` and each node's TLS ports) —
 * and serves until SIGINT or SIGTERM, then closes every port and exits with status 0.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option, Redacted } from "effect"
import * as EmbeddedCluster from "../EmbeddedCluster.js"

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

const options = {
  nodes: Options.integer("nodes").pipe(Options.withDefault(1), Options.withDescription("number of nodes")),
  replicas: Options.integer("replicas").pipe(
    Options.optional,
    Options.withDescription("replicas of couchbase buckets, 0-3 (default 1 with several nodes)")
  ),
  vbuckets: Options.integer("vbuckets").pipe(
    Options.optional,
    Options.withDescription("vBuckets of couchbase buckets (default 1024)")
  ),
  bucket: Options.text("bucket").pipe(
    Options.repeated,
    Options.withDescription("a bucket, NAME or NAME:couchbase or NAME:memcached (repeatable; default: default)")
  ),
  sample: Options.choice("sample", ["beer-sample"]).pipe(
    Options.optional,
    Options.withDescription("preload a sample dataset into a bucket of the same name")
  ),
  user: Options.text("user").pipe(Options.withDefault("Administrator"), Options.withDescription("administrator")),
  password: Options.redacted("password").pipe(Options.optional, Options.withDescription("its password")),
  port: Options.integer("port").pipe(
    Options.withDefault(0),
    Options.withDescription("KV port of the first node (0 = any free port)")
  ),
  tlsKey: Options.fileText("tls-key").pipe(
    Options.optional,
    Options.withDescription("PEM private key: also serve TLS (kvSSL, capiSSL, mgmtSSL); needs --tls-cert")
  ),
  tlsCert: Options.fileText("tls-cert").pipe(
    Options.optional,
    Options.withDescription("PEM certificate (chain) the TLS ports serve; needs --tls-key")
  )
}

/** The `server` subcommand. */
export const serverCommand = Command.make("server", options, (args) =>
  Effect.gen(function* () {
    const buckets: Array<EmbeddedCluster.BucketOptions> = []
    for (const spec of args.bucket.length === 0 ? ["default"] : args.bucket) {
      const parsed = parseBucket(spec)
      if (typeof parsed === "string")
        return yield* Effect.fail(new EmbeddedCluster.EmbeddedClusterError({ message: parsed }))
      buckets.push(parsed)
    }
    // The sample goes into the bucket named like it, declared or added.
    const sample = Option.getOrUndefined(args.sample)
    if (sample !== undefined) {
      const index = buckets.findIndex((b) => b.name === sample)
      if (index < 0) buckets.push({ name: sample, sample })
      else buckets[index] = { ...buckets[index]!, sample }
    }
    const password = Option.getOrElse(args.password, () => Redacted.make("password"))
    if (Option.isSome(args.tlsKey) !== Option.isSome(args.tlsCert)) {
      return yield* Effect.fail(
        new EmbeddedCluster.EmbeddedClusterError({
          message: "--tls-key and --tls-cert go together: give both or neither"
        })
      )
    }
    const tls =
      Option.isSome(args.tlsKey) && Option.isSome(args.tlsCert)
        ? { key: args.tlsKey.value[1], cert: args.tlsCert.value[1] }
        : undefined
    const cluster = yield* EmbeddedCluster.make({
      nodes: args.nodes,
      replicas: Option.getOrUndefined(args.replicas),
      vBuckets: Option.getOrUndefined(args.vbuckets),
      buckets,
      username: args.user,
      password,
      ports: args.port === 0 ? [] : [{ kv: args.port }],
      tls
    })
    yield* Console.log(
      JSON.stringify({
        connectionString: cluster.connectionString,
        ...(cluster.secureConnectionString === undefined
          ? {}
          : { secureConnectionString: cluster.secureConnectionString }),
        username: cluster.username,
        password: Redacted.value(password),
        nodes: cluster.nodes.map((n) => ({
          kv: n.kv,
          capi: n.capi,
          mgmt: n.mgmt,
          ...(n.kvSSL === undefined ? {} : { kvSSL: n.kvSSL, capiSSL: n.capiSSL, mgmtSSL: n.mgmtSSL })
        })),
        buckets: buckets.map((b) => ({
          name: b.name,
          type: b.type ?? "couchbase",
          ...(b.type === "memcached" ? { memcached: cluster.memcachedConnectionString(b.name) } : {})
        }))
      })
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)
).pipe(Command.withDescription("run an embedded Couchbase-compatible cluster in the foreground"))
