/**
 * The View service over a real Connection (`View.makeFromConnection`): capi URLs from
 * the connection's cluster config, credentials and bucket from the connection, and
 * `include_docs` through its quiet `getMulti`, against an embedded 2-node cluster over
 * TCP with the beer-sample dataset.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import { isMissing, type ValueResult } from "../../src/Result.js"
import * as View from "../../src/View.js"

const setup = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({
    nodes: 2,
    replicas: 1,
    buckets: [{ name: "beer-sample", sample: "beer-sample" }]
  })
  const connection: Connection.Connection.Service = yield* Connection.make({
    connectionString: `${cluster.connectionString}/beer-sample`,
    username: cluster.username,
    password: cluster.password,
    // Fast polling so that the rebalance test sees the new map soon.
    configPollInterval: "50 millis"
  }).pipe(Effect.provide(Iops.layerNode()))
  const view = yield* View.makeFromConnection(connection)
  return { cluster, connection, view }
})

const capiUrlsOf = (cluster: EmbeddedCluster.EmbeddedCluster.Service) =>
  cluster.nodes.filter((n) => n.membership === "active").map((n) => `http://${n.host}:${n.capi}`)

const live = (name: string, body: () => Effect.Effect<void, unknown, any>) =>
  it.live(name, () => Effect.scoped(body()) as Effect.Effect<void>, 60_000)

describe("View over a Connection", () => {
  live("takes the capi URLs of the cluster config's nodes, and its bucket and credentials", () =>
    Effect.gen(function* () {
      const { cluster, connection, view } = yield* setup
      const urls = yield* connection.cluster.capiBaseUrls
      expect([...urls].sort()).toEqual(capiUrlsOf(cluster).sort())
      expect(urls).toHaveLength(2)
      expect(new Set(cluster.nodes.map((n) => n.capi)).size).toBe(2)
      expect(connection.cluster.bucket).toBe("beer-sample")
      expect(connection.cluster.username).toBe(cluster.username)
      // The views requests authenticate with the connection's credentials and name its bucket.
      const result = yield* view.queryCollect("beer", "brewery_beers", { limit: 5 })
      expect(result.rows).toHaveLength(5)
      expect(result.totalRows).toBeGreaterThan(5)
      // The quiet and transcoder views of the connection share the same cluster access.
      expect(connection.withQuiet(true).cluster).toBe(connection.cluster)
    })
  )

  live("include_docs fetches each row's document through the connection", () =>
    Effect.gen(function* () {
      const { connection, view } = yield* setup
      const result = yield* view.queryCollect("beer", "brewery_beers", { limit: 20, include_docs: true })
      expect(result.rows).toHaveLength(20)
      for (const row of result.rows) {
        expect(row.docid).toBeTypeOf("string")
        const doc = row.doc
        expect(doc).toBeDefined()
        expect(isMissing(doc!)).toBe(false)
        const fetched = yield* connection.get(row.docid!)
        const value = doc as ValueResult
        expect(value.key).toBe(row.docid)
        expect(value.success).toBe(true)
        expect(value.cas).toBe(fetched.cas)
        expect(value.value).toEqual(fetched.value)
        expect(value.value).toHaveProperty("name")
      }
    })
  )

  live("include_docs gives a miss row for a document deleted since it was indexed", () =>
    Effect.gen(function* () {
      const { connection, view } = yield* setup
      // Build the index, then delete a document it holds; stale: "ok" keeps its row.
      const before = yield* view.queryCollect("beer", "brewery_beers", { limit: 20, stale: "ok" })
      const victim = before.rows[7]!.docid!
      yield* connection.remove(victim)
      const after = yield* view.queryCollect("beer", "brewery_beers", { limit: 20, stale: "ok", include_docs: true })
      expect(after.rows.map((r) => r.docid)).toEqual(before.rows.map((r) => r.docid))
      const row = after.rows.find((r) => r.docid === victim)!
      expect(row.doc).toBeDefined()
      expect(isMissing(row.doc!)).toBe(true)
      expect(row.doc!.key).toBe(victim)
      expect(row.doc!.success).toBe(false)
      const others = after.rows.filter((r) => r.docid !== victim)
      expect(others).toHaveLength(19)
      for (const r of others) expect(isMissing(r.doc!)).toBe(false)
    })
  )

  live("follows a rebalance: the new node's capi URL appears after the config refresh", () =>
    Effect.gen(function* () {
      const { cluster, connection, view } = yield* setup
      const added = yield* cluster.control.addNode()
      yield* cluster.control.rebalance()
      const expected = `http://${added.host}:${added.capi}`
      // Wait (bounded) for the config poller to bring the new map.
      let urls: ReadonlyArray<string> = []
      for (let i = 0; i < 200 && !urls.includes(expected); i++) {
        yield* Effect.sleep("25 millis")
        urls = yield* connection.cluster.capiBaseUrls
      }
      expect([...urls].sort()).toEqual(capiUrlsOf(cluster).sort())
      expect(urls).toHaveLength(3)
      expect(urls).toContain(expected)
      // Queries go to the nodes in turn, the new one included, and all answer alike.
      const results = yield* Effect.forEach([0, 1, 2], () =>
        view.queryCollect("beer", "brewery_beers", { limit: 3, stale: "false" })
      )
      for (const r of results) expect(r.rows.map((x) => x.docid)).toEqual(results[0]!.rows.map((x) => x.docid))
    })
  )
})

// The layer form wires the same service from the Connection in the context.
describe("View.layerFromConnection", () => {
  live("provides View from the Connection alone (its Iops carries the HTTP)", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({
        nodes: 2,
        replicas: 1,
        buckets: [{ name: "beer-sample", sample: "beer-sample" }]
      })
      const connectionLayer = Connection.layer({
        connectionString: `${cluster.connectionString}/beer-sample`,
        username: cluster.username,
        password: cluster.password
      }).pipe(Layer.provide(Iops.layerNode()))
      const rows = yield* Effect.flatMap(View.View, (view) =>
        view.queryCollect("beer", "brewery_beers", { limit: 4, include_docs: true })
      ).pipe(Effect.provide(View.layerFromConnection().pipe(Layer.provideMerge(connectionLayer))))
      expect(rows.rows).toHaveLength(4)
      for (const row of rows.rows) expect((row.doc as ValueResult).value).toHaveProperty("name")
    })
  )
})
