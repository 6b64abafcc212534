/**
 * `effect-couchbase quickstart` (and `npm start` in the repository): an embedded 3-node
 * cluster with one replica and beer-sample loaded (or the real cluster
 * `COUCHBASE_CONNECTION_STRING` points at, read with the library's own
 * `Connection.config`), then key/value operations, multi-ops, durability, a streamed
 * view query and a reduce query, each with its timing.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { Chunk, Console, Duration, Effect, Either, Stream } from "effect"
import * as Connection from "../../Connection.js"
import * as ConnectionString from "../../ConnectionString.js"
import * as EmbeddedCluster from "../../EmbeddedCluster.js"
import * as Iops from "../../Iops.js"
import * as View from "../../View.js"

const BUCKET = "beer-sample"

/** Runs `effect`, printing `label` with how long it took. */
const timed = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.timed(effect).pipe(
    Effect.tap(([d]) => Console.log(`  ${label.padEnd(58)} ${Duration.toMillis(d).toFixed(1).padStart(8)} ms`)),
    Effect.map(([, a]) => a)
  )

/**
 * Where to connect: the cluster of `COUCHBASE_CONNECTION_STRING` with the rest of the
 * `COUCHBASE_*` options (its bucket beer-sample unless the string or `COUCHBASE_BUCKET`
 * names another), or a fresh embedded one.
 */
const target = Effect.gen(function* () {
  const configured = yield* Connection.config
  const connstr = configured.connectionString
  if (connstr !== undefined && connstr !== "") {
    const parsed = typeof connstr === "string" ? Either.getOrUndefined(ConnectionString.parse(connstr)) : connstr
    yield* Console.log(
      `Using the cluster at ${ConnectionString.redact(typeof connstr === "string" ? connstr : ConnectionString.format(connstr))}`
    )
    const options: Connection.Options = { ...configured, bucket: configured.bucket ?? parsed?.bucket ?? BUCKET }
    return options
  }
  yield* Console.log("Starting an embedded 3-node cluster (1 replica) with beer-sample loaded…")
  const cluster = yield* timed(
    "cluster up, 7303 documents loaded",
    EmbeddedCluster.make({ nodes: 3, replicas: 1, buckets: [{ name: BUCKET, sample: "beer-sample" }] })
  )
  for (const node of cluster.nodes) {
    yield* Console.log(`  node ${node.index}: kv ${node.kv}, capi ${node.capi}, mgmt ${node.mgmt}`)
  }
  const options: Connection.Options = {
    connectionString: cluster.connectionString,
    bucket: BUCKET,
    username: cluster.username,
    password: cluster.password
  }
  return options
})

const program = Effect.gen(function* () {
  const options = yield* target
  const cb: Connection.Connection.Service = yield* timed(
    `bootstrap ${
      typeof options.connectionString === "string"
        ? ConnectionString.redact(options.connectionString)
        : options.connectionString === undefined
          ? "localhost"
          : ConnectionString.format(options.connectionString)
    }`,
    Connection.make(options)
  )

  yield* Console.log("\nKey/value")
  const stored = yield* timed("upsert user::1", cb.upsert("user::1", { name: "Ada", langs: ["en", "fr"] }))
  const got = yield* timed("get user::1", cb.get("user::1"))
  yield* Console.log(`    value ${JSON.stringify(got.value)}, cas ${got.cas} (upsert cas ${stored.cas})`)
  const missing = yield* timed("get nope (quiet: a miss is a value)", cb.get("nope", { quiet: true }))
  yield* Console.log(`    success ${missing.success}, rc 0x${missing.rc.toString(16)}`)
  const stale = yield* cb.replace("user::1", { name: "Grace" }, { cas: stored.cas - 1n }).pipe(
    Effect.flip,
    Effect.map((e) => e._tag)
  )
  yield* Console.log(`  replace with a stale CAS fails with ${stale}`)

  const c1 = yield* timed("counter visits (initial 100)", cb.counter("visits", { initial: 100 }))
  const c2 = yield* cb.counter("visits", { delta: 5 })
  yield* Console.log(`    visits ${c1.value} → ${c2.value}`)

  const locked = yield* timed("lock user::1 for 5 s", cb.lock("user::1", { ttl: 5 }))
  const blocked = yield* cb.upsert("user::1", { name: "Eve" }).pipe(
    Effect.flip,
    Effect.map((e) => e._tag)
  )
  yield* Console.log(`    upsert while locked fails with ${blocked}`)
  yield* timed("unlock with the lock's CAS", cb.unlock("user::1", locked.cas))

  yield* Console.log("\nMulti-key")
  const keys = Array.from({ length: 100 }, (_, i) => `item::${i}`)
  yield* timed("upsertMulti 100 keys", cb.upsertMulti(Object.fromEntries(keys.map((k, i) => [k, { i }]))))
  const many = yield* timed("getMulti 100 keys + 1 missing (quiet)", cb.getMulti([...keys, "item::x"], { quiet: true }))
  const [ok, failed] = many.splitResults()
  yield* Console.log(`    allOk ${many.allOk}: ${ok.size} found, ${failed.size} missing`)

  yield* Console.log("\nDurability")
  yield* timed("upsert with replicateTo 1, persistTo 1", cb.upsert("durable", "kept", { replicateTo: 1, persistTo: 1 }))
  const replica = yield* timed("getReplica durable", cb.getReplica("durable"))
  yield* Console.log(`    replica value ${JSON.stringify(replica.value)}`)

  // The views of the connection's cluster: its nodes' view ports, bucket and credentials.
  const view = yield* View.makeFromConnection(cb)

  yield* Console.log("\nViews")
  const firstRows = yield* timed(
    "brewery_beers, streamed: first 5 rows",
    view.query("beer", "brewery_beers").pipe(Stream.take(5), Stream.runCollect)
  )
  for (const row of firstRows) yield* Console.log(`    ${JSON.stringify(row.key)} ${row.docid}`)
  const count = yield* timed(
    "brewery_beers, streamed: every row",
    view.query("beer", "brewery_beers").pipe(Stream.runCount)
  )
  yield* Console.log(`    ${count} rows`)
  const byCountry = yield* timed(
    "by_location reduce, group_level 1",
    view.queryCollect("beer", "by_location", { group_level: 1 })
  )
  const top = Chunk.fromIterable(byCountry.rows)
    .pipe(Chunk.toArray)
    .sort((a, b) => Number(b.value) - Number(a.value))
    .slice(0, 5)
  for (const row of top) yield* Console.log(`    ${JSON.stringify(row.key)}: ${row.value} breweries`)
})

/** The whole tour, on Node's sockets and Node's own fetch. */
export const quickstart: Effect.Effect<void, unknown> = program.pipe(Effect.scoped, Effect.provide(Iops.layerNode()))

/**
 * The `quickstart` command.
 *
 * @since 0.1.0
 */
export const quickstartCommand = Command.make("quickstart", {}, () => quickstart).pipe(
  Command.withDescription(
    "a tour of the client on an embedded 3-node cluster (1 replica) with beer-sample: key/value operations, " +
      "multi-ops, durability, a streamed view query and a reduce query, each with its timing. " +
      "With COUCHBASE_CONNECTION_STRING set it uses that cluster and the other COUCHBASE_* variables instead " +
      "(bucket beer-sample unless named; it needs the beer design document and writes user::1, visits, " +
      "item::0-99 and durable)."
  )
)
