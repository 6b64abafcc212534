/**
 * Views end to end over real TCP: a 2-node embedded cluster started with
 * `sample: "beer-sample"` (documents through the KV store, design document `beer`),
 * queried by this project's `View` client and by the official Couchbase SDK
 * (`bucket.viewQuery`, which finds the capi ports in the cluster map). Both must see
 * the same rows for the same queries; the management API lists the design document,
 * and memcached buckets have no views.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Context, Effect, Layer } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { loadBeerSample } from "../../src/server/views/index.js"
import * as View from "../../src/View.js"

const BUCKET = "beer-sample"

/** The official SDK, connected to the embedded cluster. */
class Sdk extends Context.Tag("test/Sdk")<Sdk, couchbase.Cluster>() {}

const ClusterLive = EmbeddedCluster.layer({
  nodes: 2,
  replicas: 1,
  buckets: [
    { name: BUCKET, sample: "beer-sample" },
    { name: "cache", type: "memcached" }
  ]
})

const SdkLive = Layer.scoped(
  Sdk,
  Effect.flatMap(EmbeddedCluster.EmbeddedCluster, (cluster) =>
    Effect.acquireRelease(
      Effect.promise(() =>
        couchbase.connect(cluster.connectionString, {
          username: cluster.username,
          password: "password",
          timeouts: { kvTimeout: 10_000, viewTimeout: 30_000, connectTimeout: 20_000, bootstrapTimeout: 20_000 }
        })
      ),
      (sdk) => Effect.promise(() => sdk.close())
    )
  )
)

const TestLive = Layer.mergeAll(SdkLive, NodeHttpClient.layer).pipe(Layer.provideMerge(ClusterLive))

/** Our View client on every node's capi port. */
const ourView = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.EmbeddedCluster
  return yield* View.make({
    capiBaseUrls: Effect.sync(() => cluster.nodes.map((n) => `http://${n.host}:${n.capi}`)),
    bucket: BUCKET,
    username: cluster.username,
    password: cluster.password
  })
})

interface Row {
  readonly key: unknown
  readonly value: unknown
  readonly docid: string | undefined
}

/** A query with the official SDK, its rows in our client's shape. */
const sdkQuery = (design: string, view: string, options: couchbase.ViewQueryOptions) =>
  Effect.flatMap(Sdk, (sdk) =>
    Effect.promise(() => sdk.bucket(BUCKET).viewQuery(design, view, options)).pipe(
      Effect.map((result) => ({
        rows: result.rows.map((r): Row => ({ key: r.key, value: r.value, docid: r.id })),
        meta: result.meta
      }))
    )
  )

const plainRows = (result: View.ViewResult): ReadonlyArray<Row> =>
  result.rows.map((r) => ({ key: r.key, value: r.value, docid: r.docid }))

layer(TestLive, { timeout: "120 seconds", excludeTestServices: true })("views on an embedded cluster", (it) => {
  it.effect("the sample's documents are stored through KV on every node", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.EmbeddedCluster
      const sdk = yield* Sdk
      const dataset = loadBeerSample()
      const bucket = cluster.bucket(BUCKET)!
      expect([...bucket.documents()].length).toBe(dataset.documents.length)
      const sampleDoc = dataset.documents.find((d) => d.id === "21st_amendment_brewery_cafe")!
      const read = yield* Effect.promise(() => sdk.bucket(BUCKET).defaultCollection().get(sampleDoc.id))
      expect(read.content).toEqual(JSON.parse(sampleDoc.value.toString("utf8")))
      const replica = yield* Effect.promise(() => sdk.bucket(BUCKET).defaultCollection().getAllReplicas(sampleDoc.id))
      expect(replica.length).toBe(2)
      for (const copy of replica) expect(copy.content).toEqual(read.content)
    })
  )

  it.effect("a page of brewery_beers: same rows and total_rows from both clients", () =>
    Effect.gen(function* () {
      const view = yield* ourView
      const ours = yield* view.queryCollect("beer", "brewery_beers", { limit: 50, skip: 10 })
      const theirs = yield* sdkQuery("beer", "brewery_beers", { limit: 50, skip: 10 })
      expect(ours.rows.length).toBe(50)
      expect(plainRows(ours)).toEqual(theirs.rows)
      expect(ours.totalRows).toBe(loadBeerSample().documents.length)
      expect(theirs.meta.totalRows).toBe(ours.totalRows)
      expect(theirs.meta.total_rows).toBe(ours.totalRows)
      // The page is the 11th to the 60th row of the whole view.
      const all = yield* view.queryCollect("beer", "brewery_beers")
      expect(all.rows.length).toBe(ours.totalRows)
      expect(ours.rows).toEqual(all.rows.slice(10, 60))
    })
  )

  it.effect("a key range", () =>
    Effect.gen(function* () {
      const view = yield* ourView
      const start = ["b"]
      const end = ["c"]
      const ours = yield* view.queryCollect("beer", "brewery_beers", { startkey: start, endkey: end })
      const theirs = yield* sdkQuery("beer", "brewery_beers", { range: { start, end } })
      expect(ours.rows.length).toBeGreaterThan(100)
      for (const row of ours.rows) expect((row.key as Array<string>)[0]!.startsWith("b")).toBe(true)
      expect(plainRows(ours)).toEqual(theirs.rows)
      // inclusive_end=false drops nothing here (no key equals ["c"]) but is sent by both.
      const exclusive = yield* sdkQuery("beer", "brewery_beers", { range: { start, end, inclusiveEnd: false } })
      expect(exclusive.rows).toEqual(theirs.rows)
    })
  )

  it.effect("keys, in the order given", () =>
    Effect.gen(function* () {
      const view = yield* ourView
      const page = yield* view.queryCollect("beer", "brewery_beers", { limit: 200 })
      const keys = [page.rows[150]!.key, page.rows[3]!.key, ["no-such-brewery"], page.rows[77]!.key] as Array<
        Array<string>
      >
      const ours = yield* view.queryCollect("beer", "brewery_beers", { keys })
      // The SDK's typings say string[], but it JSON-encodes each key as given.
      const theirs = yield* sdkQuery("beer", "brewery_beers", { keys: keys as unknown as Array<string> })
      expect(ours.rows.map((r) => r.key)).toEqual([keys[0], keys[1], keys[3]])
      expect(plainRows(ours)).toEqual(theirs.rows)
    })
  )

  it.effect("descending", () =>
    Effect.gen(function* () {
      const view = yield* ourView
      const ours = yield* view.queryCollect("beer", "brewery_beers", { descending: true, limit: 40, skip: 5 })
      const theirs = yield* sdkQuery("beer", "brewery_beers", {
        order: couchbase.ViewOrdering.Descending,
        limit: 40,
        skip: 5
      })
      expect(ours.rows.length).toBe(40)
      expect(plainRows(ours)).toEqual(theirs.rows)
      const ascending = yield* view.queryCollect("beer", "brewery_beers")
      expect(ours.rows).toEqual(ascending.rows.slice(-45, -5).reverse())
    })
  )

  it.effect("by_location reduced with group_level 2", () =>
    Effect.gen(function* () {
      const view = yield* ourView
      const ours = yield* view.queryCollect("beer", "by_location", { group_level: 2 })
      const theirs = yield* sdkQuery("beer", "by_location", { groupLevel: 2 })
      expect(ours.rows.length).toBeGreaterThan(50)
      for (const row of ours.rows) {
        expect((row.key as Array<unknown>).length).toBeLessThanOrEqual(2)
        expect(row.docid).toBeUndefined()
      }
      expect(plainRows(ours)).toEqual(theirs.rows)
      // The counts add up to every brewery that has a country (the reduce is _count).
      const total = yield* view.queryCollect("beer", "by_location")
      expect(total.rows.length).toBe(1)
      expect(ours.rows.reduce((sum, r) => sum + (r.value as number), 0)).toBe(total.rows[0]!.value)
      const unreduced = yield* view.queryCollect("beer", "by_location", { reduce: false })
      expect(total.rows[0]!.value).toBe(unreduced.rows.length)
      expect(unreduced.rows.length).toBeGreaterThan(1000)
    })
  )

  it.effect("the management API lists the design documents", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.EmbeddedCluster
      const auth = `Basic ${Buffer.from("Administrator:password").toString("base64")}`
      for (const node of cluster.nodes) {
        const listing = yield* Effect.promise(() =>
          fetch(`http://${node.host}:${node.mgmt}/pools/default/buckets/${BUCKET}/ddocs`, {
            headers: { authorization: auth }
          }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))
        )
        expect(listing.status).toBe(200)
        expect(listing.body.rows.map((r: any) => r.doc.meta.id)).toEqual(["_design/beer"])
        expect(Object.keys(listing.body.rows[0].doc.json.views).sort()).toEqual(["brewery_beers", "by_location"])
      }
      const sdk = yield* Sdk
      const ddocs = yield* Effect.promise(() => sdk.bucket(BUCKET).viewIndexes().getAllDesignDocuments())
      expect(ddocs.map((d) => d.name)).toEqual(["beer"])
      expect([...Object.keys(ddocs[0]!.views)].sort()).toEqual(["brewery_beers", "by_location"])
    })
  )

  it.effect("memcached buckets have no views", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.EmbeddedCluster
      const auth = `Basic ${Buffer.from("Administrator:password").toString("base64")}`
      const node = cluster.nodes[0]!
      const capi = yield* Effect.promise(() =>
        fetch(`http://${node.host}:${node.capi}/cache/_design/beer/_view/brewery_beers`, {
          headers: { authorization: auth }
        }).then(async (r) => ({ status: r.status, body: await r.json() }))
      )
      expect(capi).toEqual({ status: 404, body: { error: "not_found", reason: "no_couchbase_bucket_exists" } })
      const mgmt = yield* Effect.promise(() =>
        fetch(`http://${node.host}:${node.mgmt}/pools/default/buckets/cache/ddocs`, {
          headers: { authorization: auth }
        }).then((r) => r.status)
      )
      expect(mgmt).toBe(400)
    })
  )
})

describe("EmbeddedCluster sample option", () => {
  it.scopedLive("refuses a sample in a memcached bucket", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        EmbeddedCluster.make({ buckets: [{ name: "beer-sample", type: "memcached", sample: "beer-sample" }] })
      )
      expect(error._tag).toBe("EmbeddedClusterError")
      expect(error.message).toBe("bucket beer-sample: a sample needs a couchbase bucket (it has views)")
    })
  )

  it.scopedLive("views are served by default, in any bucket name, with one node", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ buckets: [{ name: "beers", sample: "beer-sample" }], vBuckets: 64 })
      const view = yield* View.make({
        capiBaseUrls: Effect.succeed(cluster.nodes.map((n) => `http://${n.host}:${n.capi}`)),
        bucket: "beers",
        username: cluster.username,
        password: cluster.password
      })
      const result = yield* view.queryCollect("beer", "brewery_beers", { limit: 3 })
      expect(result.totalRows).toBe(loadBeerSample().documents.length)
      expect(result.rows.map((r) => r.docid)).toEqual([
        "21st_amendment_brewery_cafe",
        "21st_amendment_brewery_cafe-21a_ipa",
        "21st_amendment_brewery_cafe-563_stout"
      ])
    }).pipe(Effect.provide(NodeHttpClient.layer))
  )
})
