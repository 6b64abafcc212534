/**
 * Design-document management through the View service, against the embedded cluster:
 * create in development, query there, publish to production, query, delete; an invalid
 * map function's error text; and a round trip with the official SDK's view index
 * manager (each side reads what the other wrote).
 */
import { describe, expect, it } from "@effect/vitest"
import * as couchbase from "couchbase"
import { Effect, Redacted, Schema, Stream } from "effect"
import * as Connection from "../../src/Connection.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import * as View from "../../src/View.js"

const setup = Effect.gen(function* () {
  const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
  const cb = yield* Connection.make({
    connectionString: cluster.connectionString,
    username: cluster.username,
    password: cluster.password
  }).pipe(Effect.provide(Iops.layerNode()))
  yield* cb.upsertMulti({
    "city::1": { type: "city", name: "Oslo", people: 700_000 },
    "city::2": { type: "city", name: "Lima", people: 10_000_000 },
    "dog::1": { type: "dog", name: "Rex" }
  })
  const view = yield* View.makeFromConnection(cb)
  return { cluster, cb, view }
})

const cities: View.DesignDocument = {
  views: {
    by_name: { map: "function (doc, meta) { if (doc.type === 'city') emit(doc.name, doc.people) }" },
    people: { map: "function (doc) { if (doc.type === 'city') emit(null, doc.people) }", reduce: "_sum" }
  }
}

describe("design documents", () => {
  it.live("create in development, query, publish to production, query, delete", () =>
    Effect.gen(function* () {
      const { view } = yield* setup
      yield* view.upsertDesignDocument("cities", cities, { development: true })
      // Only the development copy exists so far.
      expect(yield* view.getDesignDocument("cities", { development: true })).toEqual({
        name: "cities",
        development: true,
        views: cities.views
      })
      const missing = yield* Effect.flip(view.getDesignDocument("cities"))
      expect(missing._tag).toBe("NotFoundError")
      expect(missing.message).toContain("design document _design/cities does not exist")
      // A development view sees the node's own data unless full_set asks for all of it.
      const devRows = yield* view.queryCollect("cities", "by_name", { useDevmode: true, full_set: true, stale: false })
      expect(devRows.rows.map((r) => [r.key, r.value])).toEqual([
        ["Lima", 10_000_000],
        ["Oslo", 700_000]
      ])

      yield* view.publishDesignDocument("cities")
      expect((yield* view.getDesignDocument("cities")).development).toBe(false)
      expect((yield* Effect.flip(view.getDesignDocument("cities", { development: true })))._tag).toBe("NotFoundError")
      const total = yield* view.queryCollect("cities", "people", { stale: false })
      expect(total.rows.map((r) => r.value)).toEqual([10_700_000])
      expect(yield* Stream.runCount(view.query("cities", "by_name", { stale: false }))).toBe(2)

      yield* view.removeDesignDocument("cities")
      expect((yield* Effect.flip(view.getDesignDocument("cities")))._tag).toBe("NotFoundError")
      const gone = yield* Effect.flip(view.queryCollect("cities", "by_name"))
      expect(gone._tag).toBe("HTTPError")
      expect((yield* Effect.flip(view.removeDesignDocument("cities")))._tag).toBe("NotFoundError")
    }).pipe(Effect.scoped)
  )

  it.live(
    "an invalid map function is an ArgumentError with the engine's message; bad input never reaches the server",
    () =>
      Effect.gen(function* () {
        const { view } = yield* setup
        const error = yield* Effect.flip(
          view.upsertDesignDocument("broken", { views: { v: { map: "function (doc) { emit(" } } })
        )
        expect(error._tag).toBe("ArgumentError")
        expect(error.message).toMatch(/^upsertDesignDocument: _design\/broken was refused: /)
        expect(error.message.length).toBeGreaterThan("upsertDesignDocument: _design/broken was refused: ".length + 5)
        expect((yield* Effect.flip(view.getDesignDocument("broken")))._tag).toBe("NotFoundError")
        for (const bad of [{ views: [] }, { views: { v: { map: 5 } } }, {}] as Array<any>) {
          expect((yield* Effect.flip(view.upsertDesignDocument("x", bad)))._tag).toBe("ArgumentError")
        }
        expect((yield* Effect.flip(view.getDesignDocument("_design/x")))._tag).toBe("ArgumentError")
      }).pipe(Effect.scoped)
  )

  it.live("round trip with the official SDK's view index manager", () =>
    Effect.gen(function* () {
      const { cluster, view } = yield* setup
      const sdk = yield* Effect.acquireRelease(
        Effect.promise(() =>
          couchbase.connect(cluster.connectionString, {
            username: cluster.username,
            password: Redacted.value(cluster.password)
          })
        ),
        (c) => Effect.promise(() => c.close())
      )
      const manager = sdk.bucket("default").viewIndexes()
      // Ours writes, the SDK reads.
      yield* view.upsertDesignDocument("cities", cities)
      const read = yield* Effect.promise(() =>
        manager.getDesignDocument("cities", couchbase.DesignDocumentNamespace.Production)
      )
      expect(Object.keys(read.views).sort()).toEqual(["by_name", "people"])
      expect(read.views.people!.reduce).toBe("_sum")
      // The SDK writes in development and publishes; ours reads both steps.
      yield* Effect.promise(() =>
        manager.upsertDesignDocument(
          new couchbase.DesignDocument("dogs", {
            by_name: new couchbase.DesignDocumentView({
              map: "function (doc) { if (doc.type === 'dog') emit(doc.name, null) }"
            })
          }),
          couchbase.DesignDocumentNamespace.Development
        )
      )
      expect((yield* view.getDesignDocument("dogs", { development: true })).views.by_name!.map).toContain(
        "doc.type === 'dog'"
      )
      yield* Effect.promise(() => manager.publishDesignDocument("dogs"))
      expect((yield* view.queryCollect("dogs", "by_name", { stale: false })).rows.map((r) => r.key)).toEqual(["Rex"])
      const all = yield* Effect.promise(() =>
        manager.getAllDesignDocuments(couchbase.DesignDocumentNamespace.Production)
      )
      expect(all.map((d) => d.name).sort()).toEqual(["cities", "dogs"])
      // The SDK drops what ours created.
      yield* Effect.promise(() => manager.dropDesignDocument("cities", couchbase.DesignDocumentNamespace.Production))
      expect((yield* Effect.flip(view.getDesignDocument("cities")))._tag).toBe("NotFoundError")
    }).pipe(Effect.scoped)
  )
})

describe("Schema-typed view queries", () => {
  it.live(
    "decode keys, values and documents as the rows stream; a bad row fails naming it, after the rows before it",
    () =>
      Effect.gen(function* () {
        const { cb, view } = yield* setup
        yield* cb.upsert("city::3", { type: "city", name: "Zurich", people: "many" })
        yield* view.upsertDesignDocument("cities", cities)
        const City = Schema.Struct({ type: Schema.Literal("city"), name: Schema.String, people: Schema.Unknown })
        // Matching rows: typed keys, values and documents.
        const typed = yield* view.queryCollect(
          "cities",
          "by_name",
          { stale: false, include_docs: true, endkey: "Oslo" },
          { key: Schema.String, value: Schema.Number, doc: City }
        )
        expect(typed.rows.map((r) => [r.key, r.value, (r.doc as { value: { name: string } }).value.name])).toEqual([
          ["Lima", 10_000_000, "Lima"],
          ["Oslo", 700_000, "Oslo"]
        ])
        const names: ReadonlyArray<string> = typed.rows.map((r) => r.key.toUpperCase())
        expect(names).toEqual(["LIMA", "OSLO"])

        // Zurich's value is not a number: the two rows before it arrive, then the error naming it.
        const seen: Array<string> = []
        const error = yield* Effect.flip(
          view
            .query("cities", "by_name", { stale: false }, { key: Schema.String, value: Schema.Number })
            .pipe(Stream.runForEach((row) => Effect.sync(() => seen.push(row.key))))
        )
        expect(seen).toEqual(["Lima", "Oslo"])
        expect(error._tag).toBe("ValueFormatError")
        expect(error.message).toContain('row 2 of cities/by_name (key "Zurich"): its value does not match the schema')
        expect(error.message).toContain("Expected number")
        expect((error as { key?: string }).key).toBe("city::3")
      }).pipe(Effect.scoped)
  )
})
