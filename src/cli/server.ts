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
import { Console, Effect, Either, Redacted } from "effect"
import * as EmbeddedCluster from "../EmbeddedCluster.js"
import { integerOption, type OptionSpecs, parseOptions, stringOption, stringsOption, UsageError } from "./usage.js"

/** `effect-couchbase server --help`. */
export const serverUsage = `Usage: effect-couchbase server [options]

Runs an embedded Couchbase-compatible cluster in the foreground. When every node
listens it prints one JSON line (connectionString, username, password, nodes, buckets)
and serves until SIGINT or SIGTERM.

It is a test server: data lives in memory only, and it listens on 127.0.0.1.

Options:
  --nodes N              number of nodes (default 1)
  --replicas R           replicas of couchbase buckets, 0-3 (default 1 with several nodes)
  --vbuckets N           vBuckets of couchbase buckets (default 1024)
  --bucket NAME[:TYPE]   a bucket, TYPE couchbase (default) or memcached; repeatable
                         (default: one couchbase bucket named default)
  --sample beer-sample   preload the sample dataset into a bucket of the same name
  --user U               the administrator's name (default Administrator)
  --password P           its password (default password)
  --port P               KV port of the first node (default 0: any free port)
  --tls-key FILE         PEM private key: also serve TLS (kvSSL, capiSSL, mgmtSSL)
  --tls-cert FILE        PEM certificate (chain) for the TLS ports; goes with --tls-key
  -h, --help             show this help
`

const specs: OptionSpecs = {
  nodes: { type: "string" },
  replicas: { type: "string" },
  vbuckets: { type: "string" },
  bucket: { type: "string", multiple: true },
  sample: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  port: { type: "string" },
  "tls-key": { type: "string" },
  "tls-cert": { type: "string" },
  help: { type: "boolean", short: "h" }
}

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

/**
 * Parses `server`'s arguments: `"help"` for `--help`, else the cluster's options.
 * Option values the cluster itself checks (a replica count out of range, say) are left
 * to it, so the command and the library say the same thing.
 */
export const parseServerArgs = (args: ReadonlyArray<string>): Either.Either<ServerArgs | "help", UsageError> =>
  Either.gen(function* () {
    const values = yield* parseOptions("server", args, specs)
    if (values.help === true) return "help" as const
    const buckets: Array<EmbeddedCluster.BucketOptions> = []
    for (const spec of stringsOption(values, "bucket").length === 0 ? ["default"] : stringsOption(values, "bucket")) {
      const parsed = parseBucket(spec)
      if (typeof parsed === "string") return yield* Either.left(new UsageError({ message: parsed }))
      buckets.push(parsed)
    }
    const sample = stringOption(values, "sample")
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
    const keyPath = stringOption(values, "tls-key")
    const certPath = stringOption(values, "tls-cert")
    if ((keyPath === undefined) !== (certPath === undefined)) {
      return yield* Either.left(
        new UsageError({ message: "--tls-key and --tls-cert go together: give both or neither" })
      )
    }
    const tls =
      keyPath !== undefined && certPath !== undefined
        ? { key: yield* readPem("tls-key", keyPath), cert: yield* readPem("tls-cert", certPath) }
        : undefined
    const port = (yield* integerOption(values, "port")) ?? 0
    const password = stringOption(values, "password") ?? "password"
    return {
      password,
      options: {
        nodes: (yield* integerOption(values, "nodes")) ?? 1,
        replicas: yield* integerOption(values, "replicas"),
        vBuckets: yield* integerOption(values, "vbuckets"),
        buckets,
        username: stringOption(values, "user") ?? "Administrator",
        password: Redacted.make(password),
        ports: port === 0 ? [] : [{ kv: port }],
        tls
      }
    }
  })

/** Starts the cluster, prints the ready line and serves until interrupted. */
export const runServer = (args: ServerArgs): Effect.Effect<never, EmbeddedCluster.EmbeddedClusterError> =>
  Effect.gen(function* () {
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
          ...(b.type === "memcached" ? { memcached: cluster.memcachedConnectionString(b.name) } : {})
        }))
      })
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)
