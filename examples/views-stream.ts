/**
 * View queries as Streams, on an embedded cluster with the beer-sample dataset.
 *
 * Rows arrive as they are parsed from the HTTP body, with back-pressure; the view
 * service over a connection finds the nodes' view ports in the cluster map and sends
 * its requests over sockets of the connection's Iops, so nothing else is needed.
 *
 * Run: npx tsx examples/views-stream.ts
 */
import assert from "node:assert/strict"
import { Chunk, Console, Effect, Stream } from "effect"
import { Connection, EmbeddedCluster, Iops, View } from "effect-couchbase"

const program = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({
    nodes: 2,
    buckets: [{ name: "beer-sample", sample: "beer-sample" }]
  })
  const cb = yield* Connection.make({
    connectionString: `${cluster.connectionString}/beer-sample`,
    username: cluster.username,
    password: cluster.password
  })
  const view = yield* View.makeFromConnection(cb)

  // The first rows, then the stream is cancelled (and with it the HTTP request).
  const first = yield* view.query("beer", "brewery_beers", { limit: 1000 }).pipe(Stream.take(3), Stream.runCollect)
  for (const row of first) yield* Console.log(`${JSON.stringify(row.key)} ${row.docid}`)
  assert.equal(Chunk.size(first), 3)

  // Every row, in constant memory.
  const count = yield* view.query("beer", "brewery_beers").pipe(Stream.runCount)
  assert.equal(count, 7303)
  yield* Console.log(`brewery_beers: ${count} rows`)

  // A reduce, grouped by country, with the documents' rows counted by the view's _count.
  const byCountry = yield* view.queryCollect("beer", "by_location", { group_level: 1 })
  const top = Chunk.toArray(Chunk.fromIterable(byCountry.rows))
    .sort((a, b) => Number(b.value) - Number(a.value))
    .slice(0, 3)
  for (const row of top) yield* Console.log(`${JSON.stringify(row.key)}: ${row.value} breweries`)
  assert.deepEqual(top[0]!.key, ["United States"])

  // include_docs: each row's document fetched over KV, in batches.
  const withDocs = yield* view.query("beer", "brewery_beers", { include_docs: true, limit: 2 }).pipe(Stream.runCollect)
  for (const row of withDocs) {
    const doc = row.doc?.value as { readonly name?: string } | undefined
    yield* Console.log(`${row.docid}: ${doc?.name}`)
    assert.equal(typeof doc?.name, "string")
  }
})

program.pipe(Effect.scoped, Effect.provide(Iops.layerNode()), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
