/**
 * `view` and `ddoc` against an embedded cluster with beer-sample: rows as NDJSON,
 * written as they stream; design documents through their life (development, publish,
 * remove) with the engine's error for a bad map function.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { cli, flagsFor, jsonLines } from "./run.js"

const setup = Effect.map(EmbeddedCluster.EmbeddedCluster, (cluster) => ({
  run: (command: ReadonlyArray<string>, ...rest: ReadonlyArray<string>) =>
    cli([...command, ...flagsFor(cluster, "beer-sample"), ...rest]),
  runWith: (stdin: string, command: ReadonlyArray<string>, ...rest: ReadonlyArray<string>) =>
    cli([...command, ...flagsFor(cluster, "beer-sample"), ...rest], { stdin })
}))

layer(EmbeddedCluster.layer({ nodes: 2, buckets: [{ name: "beer-sample", sample: "beer-sample" }] }))(
  "effect-couchbase view and ddoc",
  (it) => {
    it.effect("view writes every row of brewery_beers as a JSON line, in several writes as they arrive", () =>
      Effect.gen(function* () {
        const { run } = yield* setup
        const all = yield* run(["view", "beer", "brewery_beers"])
        expect([all.status, all.stderr]).toEqual([0, ""])
        const rows = jsonLines(all.stdout)
        expect(rows).toHaveLength(7303)
        expect(rows[0]).toEqual({
          id: "21st_amendment_brewery_cafe",
          key: ["21st_amendment_brewery_cafe"],
          value: null
        })
        // Streamed: the output is written chunk by chunk, not once at the end.
        expect(all.writes).toBeGreaterThan(1)
      })
    )

    it.effect("view takes the query parameters: limit, skip, key, range, reduce and grouping, include-docs", () =>
      Effect.gen(function* () {
        const { run } = yield* setup
        const page = yield* run(["view", "beer", "brewery_beers"], "--limit", "2", "--skip", "1")
        expect(jsonLines(page.stdout).map((r) => r.id)).toEqual([
          "21st_amendment_brewery_cafe-21a_ipa",
          "21st_amendment_brewery_cafe-563_stout"
        ])
        const one = yield* run(["view", "beer", "brewery_beers"], "--key", '["21st_amendment_brewery_cafe"]')
        expect(jsonLines(one.stdout).map((r) => r.id)).toEqual(["21st_amendment_brewery_cafe"])

        const countries = yield* run(["view", "beer", "by_location"], "--group-level", "1", "--limit", "2")
        expect(jsonLines(countries.stdout)).toEqual([
          { key: ["Argentina"], value: 2 },
          { key: ["Aruba"], value: 1 }
        ])
        // The reduction (_count) counts the rows the map emits.
        const mapped = jsonLines((yield* run(["view", "beer", "by_location"], "--reduce", "false")).stdout)
        expect(mapped.length).toBeGreaterThan(1000)
        expect(mapped[0]).toHaveProperty("id")
        const total = yield* run(["view", "beer", "by_location"])
        expect(jsonLines(total.stdout)).toEqual([{ key: null, value: mapped.length }])

        const docs = yield* run(
          ["view", "beer", "brewery_beers"],
          "--include-docs",
          "--startkey",
          '["21st_amendment_brewery_cafe", "21st_amendment_brewery_cafe-21a_ipa"]',
          "--limit",
          "1"
        )
        const [row] = jsonLines(docs.stdout)
        expect(row).toMatchObject({ id: "21st_amendment_brewery_cafe-21a_ipa", doc: { name: "21A IPA", type: "beer" } })
        const raw = yield* run(["view", "beer", "brewery_beers"], "--param", "limit=3", "--descending")
        expect(jsonLines(raw.stdout)).toHaveLength(3)
      })
    )

    it.effect("view: a bad parameter is one line and status 2; a missing view, one line and status 1", () =>
      Effect.gen(function* () {
        const { run } = yield* setup
        const badKey = yield* run(["view", "beer", "brewery_beers"], "--key", "abc")
        expect([badKey.status, badKey.stdout, badKey.stderr]).toEqual([
          2,
          "",
          'effect-couchbase: --key takes a JSON value (a string is written "abc", with the quotes), got abc (see --help)\n'
        ])
        const badParam = yield* run(["view", "beer", "brewery_beers"], "--param", "limit")
        expect([badParam.status, badParam.stderr]).toEqual([
          2,
          "effect-couchbase: --param takes name=value, got limit\n"
        ])
        const missing = yield* run(["view", "beer", "nope"])
        expect(missing.status).toBe(1)
        expect(missing.stderr).toMatch(/^effect-couchbase: \w+Error: .*nope.*\n$/)
      })
    )

    it.effect("ddoc: put a development copy, query it, publish, get, remove; a bad map function's message", () =>
      Effect.gen(function* () {
        const { run, runWith } = yield* setup
        const file = join(tmpdir(), `ddoc-${process.pid}.json`)
        const design = {
          views: { by_name: { map: "function (doc, meta) { if (doc.type == 'brewery') emit(doc.name, null) }" } }
        }
        writeFileSync(file, JSON.stringify(design))

        const put = yield* run(["ddoc", "put", "names", file], "--development")
        expect([put.status, put.stdout]).toEqual([0, "stored design document dev_names\n"])
        const dev = yield* run(["view", "dev_names", "by_name"], "--limit", "1", "--stale", "false")
        expect(jsonLines(dev.stdout)).toHaveLength(1)
        const production = yield* run(["ddoc", "get", "names"])
        expect(production.status).toBe(1)

        const published = yield* run(["ddoc", "publish", "names"], "--json")
        expect([published.status, jsonLines(published.stdout)]).toEqual([0, [{ name: "names" }]])
        const got = yield* run(["ddoc", "get", "names"])
        expect([got.status, JSON.parse(got.stdout)]).toEqual([0, design])
        // One row per brewery: the brewery rows of brewery_beers are those with a one-element key.
        const breweries = jsonLines((yield* run(["view", "beer", "brewery_beers"])).stdout).filter(
          (r) => (r.key as ReadonlyArray<unknown>).length === 1
        )
        const rows = jsonLines((yield* run(["view", "names", "by_name"])).stdout)
        expect(rows.map((r) => r.id).sort()).toEqual(breweries.map((r) => r.id).sort())

        const removed = yield* run(["ddoc", "rm", "names"])
        expect([removed.status, removed.stdout]).toEqual([0, "removed design document names\n"])
        const gone = yield* run(["ddoc", "get", "names"])
        expect([gone.status, gone.stderr]).toEqual([
          1,
          'effect-couchbase: NotFoundError: getDesignDocument: design document _design/names does not exist (key: "_design/names")\n'
        ])

        const bad = yield* runWith('{"views":{"bad":{"map":"function (doc { emit("}}}', ["ddoc", "put", "bad", "-"])
        expect(bad.status).toBe(2)
        expect(bad.stderr).toMatch(
          /^effect-couchbase: ArgumentError: .*Syntax error in the map function of the view `bad`/
        )
        const notJson = yield* runWith("{", ["ddoc", "put", "bad", "-"])
        expect([notJson.status, notJson.stderr]).toEqual([2, "effect-couchbase: ddoc put: - is not JSON\n"])
      })
    )
  }
)
