import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { loadBeerSample } from "../../src/server/views/beerSample.js"
import { collate } from "../../src/server/views/collation.js"
import { viewEngineFor } from "../../src/server/views/ViewEngine.js"
import { beerBucket, beerDocs, type CapiServer, MemoryBucket, qs, request, startCapi } from "./helpers.js"

const BREWERY = "21st_amendment_brewery_cafe"
const docs = beerDocs()
const byId = new Map(docs.map((d) => [d.id, d.doc]))
const breweries = docs.filter((d) => d.doc.type === "brewery")
const beers = docs.filter((d) => d.doc.type === "beer")

let server: CapiServer
const view = (name: string, params: Record<string, unknown> = {}) =>
  request(server, `/beer-sample/_design/beer/_view/${name}${Object.keys(params).length ? qs(params) : ""}`)

beforeAll(async () => {
  server = await startCapi("beer-sample", await beerBucket())
})
afterAll(() => server.close())

describe("the beer-sample dataset shipped with the project", () => {
  it("has 7303 JSON documents, kept byte for byte, and the beer design document", () => {
    const sample = loadBeerSample()
    expect(loadBeerSample()).toBe(sample)
    expect(sample.bucketName).toBe("beer-sample")
    expect(sample.documents).toHaveLength(7303)
    expect(new Set(sample.documents.map((d) => d.id)).size).toBe(7303)
    expect(sample.documents.every((d) => d.flags === 0x02000000 && d.datatype === 1)).toBe(true)
    const ipa = sample.documents.find((d) => d.id === "21st_amendment_brewery_cafe-21a_ipa")!
    expect(ipa.value.toString()).toContain('"ibu":0.0')
    expect(sample.designDocuments.map((d) => d.id)).toEqual(["_design/beer"])
    expect(Object.keys(sample.designDocuments[0]!.body.views as object).sort()).toEqual([
      "brewery_beers",
      "by_location"
    ])
  })
})

describe("brewery_beers on beer-sample", () => {
  let all: ReadonlyArray<any>
  beforeAll(async () => {
    const res = await view("brewery_beers")
    expect(res.status).toBe(200)
    all = res.json.rows
  })

  it("has one row per brewery and per beer, and total_rows counts them", async () => {
    const res = await view("brewery_beers", { limit: 1 })
    expect(breweries.length).toBe(1412)
    expect(beers.length).toBe(5891)
    expect(res.json.total_rows).toBe(breweries.length + beers.length)
    expect(all.length).toBe(res.json.total_rows)
    expect(new Set(all.map((r) => r.id))).toEqual(new Set([...breweries, ...beers].map((d) => d.id)))
  })

  it("answers a query again with the same bytes, and with documents after a query without", async () => {
    const again = await view("brewery_beers")
    const first = await view("brewery_beers")
    expect(again.text).toBe(first.text)
    expect(first.json.rows).toEqual(all)
    // One row per line, as a node writes them, across the response's chunks (larger than one).
    const lines = first.text.split("\r\n")
    expect(first.text.length).toBeGreaterThan(64 * 1024)
    expect(lines).toHaveLength(all.length + 3)
    expect(lines.slice(1, -2).map((line) => JSON.parse(line.replace(/,$/, "")))).toEqual(all)
    const withDocs = await view("brewery_beers", { include_docs: true, skip: 100, limit: 50 })
    expect(withDocs.json.rows.map(({ doc, ...row }: any) => row)).toEqual(all.slice(100, 150))
    for (const row of withDocs.json.rows) {
      expect(row.doc.json).toEqual(byId.get(row.id))
      expect(row.doc.meta.id).toBe(row.id)
    }
  })

  it("keys a brewery by [id] and a beer by [brewery_id, id], with null values", () => {
    for (const row of all) {
      const doc = byId.get(row.id)
      expect(row.key).toEqual(doc.type === "brewery" ? [row.id] : [doc.brewery_id, row.id])
      expect(row.value).toBe(null)
    }
  })

  it("is sorted by key, so each brewery comes right before its beers", () => {
    for (let i = 1; i < all.length; i++) expect(collate(all[i - 1].key, all[i].key)).toBeLessThan(0)
    const at = all.findIndex((r) => r.id === BREWERY)
    const own = beers.filter((b) => b.doc.brewery_id === BREWERY).length
    expect(own).toBeGreaterThan(0)
    expect(all.slice(at + 1, at + 1 + own).every((r) => r.key[0] === BREWERY && r.key.length === 2)).toBe(true)
  })

  it("key, a key range and keys select the right rows", async () => {
    const one = await view("brewery_beers", { key: [BREWERY] })
    expect(one.json.rows).toEqual([{ id: BREWERY, key: [BREWERY], value: null }])
    expect(one.json.total_rows).toBe(all.length)

    const range = await view("brewery_beers", { startkey: [BREWERY], endkey: [BREWERY, {}] })
    const own = beers.filter((b) => b.doc.brewery_id === BREWERY).map((b) => b.id)
    expect(range.json.rows.map((r: any) => r.id)).toEqual([BREWERY, ...own.sort()])

    const other = breweries[100]!.id
    const keys = [[other], ["no such brewery"], [BREWERY], [other]]
    const multi = await view("brewery_beers", { keys })
    expect(multi.json.rows.map((r: any) => r.id)).toEqual([other, BREWERY, other])
  })

  it("keys by POST give the same rows as by GET", async () => {
    const keys = breweries.slice(0, 300).map((b) => [b.id])
    const post = await request(server, "/beer-sample/_design/beer/_view/brewery_beers?stale=false", {
      method: "POST",
      body: JSON.stringify({ keys })
    })
    expect(post.status).toBe(200)
    expect(post.json.rows.map((r: any) => r.id)).toEqual(breweries.slice(0, 300).map((b) => b.id))
    const get = await view("brewery_beers", { keys: keys.slice(0, 20) })
    expect(get.json.rows).toEqual(post.json.rows.slice(0, 20))
  })

  it("skip and limit page through the rows", async () => {
    const page = await view("brewery_beers", { skip: 1000, limit: 25 })
    expect(page.json.rows).toEqual(all.slice(1000, 1025))
    expect((await view("brewery_beers", { limit: 0 })).json.rows).toEqual([])
    expect((await view("brewery_beers", { skip: all.length })).json.rows).toEqual([])
  })

  it("descending reverses the order, and ranges are given from the top", async () => {
    const desc = await view("brewery_beers", { descending: true })
    expect(desc.json.rows).toEqual([...all].reverse())
    const range = await view("brewery_beers", { descending: true, startkey: [BREWERY, {}], endkey: [BREWERY] })
    const asc = await view("brewery_beers", { startkey: [BREWERY], endkey: [BREWERY, {}] })
    expect(range.json.rows).toEqual([...asc.json.rows].reverse())
  })

  it("inclusive_end=false leaves out the end key, in both directions", async () => {
    const a = breweries[10]!.id
    const b = breweries[11]!.id
    const incl = await view("brewery_beers", { startkey: [a], endkey: [b] })
    const excl = await view("brewery_beers", { startkey: [a], endkey: [b], inclusive_end: false })
    expect(incl.json.rows.at(-1).id).toBe(b)
    expect(excl.json.rows).toEqual(incl.json.rows.slice(0, -1))
    const descExcl = await view("brewery_beers", { startkey: [b], endkey: [a], descending: true, inclusive_end: false })
    expect(descExcl.json.rows.at(-1).key[0]).toBe(a)
    expect(descExcl.json.rows.some((r: any) => r.id === a)).toBe(false)
  })
})

describe("by_location on beer-sample", () => {
  const located = breweries.filter((b) => b.doc.country)
  const perCountry = new Map<string, number>()
  for (const b of located) perCountry.set(b.doc.country, (perCountry.get(b.doc.country) ?? 0) + 1)

  it("reduces to the number of breweries with a country", async () => {
    const res = await view("by_location")
    expect(res.json.total_rows).toBe(undefined)
    expect(res.json.rows).toEqual([{ key: null, value: located.length }])
  })

  it("group_level=1 counts breweries per country, in key order", async () => {
    const res = await view("by_location", { group_level: 1 })
    const rows: Array<{ key: [string]; value: number }> = res.json.rows
    expect(rows.map((r) => r.key[0]).sort()).toEqual([...perCountry.keys()].sort())
    for (const r of rows) expect(r.value).toBe(perCountry.get(r.key[0]))
    for (let i = 1; i < rows.length; i++) expect(collate(rows[i - 1]!.key, rows[i]!.key)).toBeLessThan(0)
  })

  it("group_level=2 and 3 refine the groups; the counts always add up", async () => {
    const l2 = (await view("by_location", { group_level: 2 })).json.rows
    const l3 = (await view("by_location", { group_level: 3 })).json.rows
    const exact = (await view("by_location", { group: true })).json.rows
    const total = (rows: ReadonlyArray<{ value: number }>) => rows.reduce((n, r) => n + r.value, 0)
    expect(total(l2)).toBe(located.length)
    expect(total(l3)).toBe(located.length)
    expect(l2.every((r: any) => r.key.length <= 2)).toBe(true)
    expect(l2.length).toBeGreaterThan(perCountry.size)
    expect(l3).toEqual(exact)
    const sf = located.filter(
      (b) => b.doc.country === "United States" && b.doc.state === "California" && b.doc.city === "San Francisco"
    ).length
    expect(exact.find((r: any) => r.key.join("/") === "United States/California/San Francisco").value).toBe(sf)
  })

  it("keys with group=true reduce each key; skip and limit apply to groups", async () => {
    const key = ["United States", "California", "San Francisco"]
    const res = await view("by_location", { keys: [key, ["Nowhere"]], group: true })
    expect(res.json.rows).toHaveLength(1)
    expect(res.json.rows[0].key).toEqual(key)
    const all = (await view("by_location", { group_level: 1 })).json.rows
    expect((await view("by_location", { group_level: 1, skip: 3, limit: 4 })).json.rows).toEqual(all.slice(3, 7))
    expect((await view("by_location", { group_level: 1, descending: true })).json.rows).toEqual([...all].reverse())
  })

  it("reduce=false gives the map rows; doc-ID ranges cut inside one key", async () => {
    const key = ["United States", "California", "San Francisco"]
    const rows = (await view("by_location", { reduce: false, key })).json.rows
    expect(rows.length).toBeGreaterThan(4)
    const ids = rows.map((r: any) => r.id)
    const cut = await view("by_location", {
      reduce: false,
      startkey: key,
      endkey: key,
      startkey_docid: ids[1],
      endkey_docid: ids[3]
    })
    expect(cut.json.rows.map((r: any) => r.id)).toEqual(ids.slice(1, 4))
    const cutExcl = await view("by_location", {
      reduce: false,
      startkey: key,
      endkey: key,
      startkey_docid: ids[1],
      endkey_docid: ids[3],
      inclusive_end: false
    })
    expect(cutExcl.json.rows.map((r: any) => r.id)).toEqual(ids.slice(1, 3))
    const desc = await view("by_location", {
      reduce: false,
      descending: true,
      startkey: key,
      endkey: key,
      startkey_docid: ids[3],
      endkey_docid: ids[1]
    })
    expect(desc.json.rows.map((r: any) => r.id)).toEqual(ids.slice(1, 4).reverse())
  })

  it("include_docs on the server returns each document with its meta", async () => {
    const res = await view("by_location", { reduce: false, limit: 5, include_docs: true })
    for (const row of res.json.rows) {
      expect(row.doc.json).toEqual(byId.get(row.id))
      expect(row.doc.meta.id).toBe(row.id)
      expect(row.doc.meta.rev).toMatch(/^1-[0-9a-f]{32}$/)
    }
  })
})

describe("answers to invalid queries", () => {
  const cases: ReadonlyArray<readonly [string, string, number, string, string]> = [
    ["brewery_beers", "limit=-1", 400, "query_parse_error", 'Invalid value for positive integer parameter: "-1"'],
    ["brewery_beers", "skip=abc", 400, "query_parse_error", 'Invalid value for integer parameter: "abc"'],
    ["brewery_beers", "descending=yes", 400, "query_parse_error", 'Invalid boolean parameter: "yes"'],
    [
      "brewery_beers",
      "stale=sometimes",
      400,
      "query_parse_error",
      "stale only available as stale=ok, stale=update_after or stale=false"
    ],
    [
      "brewery_beers",
      "group=true",
      400,
      "query_parse_error",
      "Invalid URL parameter 'group' or  'group_level' for non-reduce view."
    ],
    ["brewery_beers", "reduce=true", 400, "query_parse_error", "Invalid URL parameter `reduce` for map view."],
    ["brewery_beers", "count=3", 400, "query_parse_error", "Query parameter 'count' is now 'limit'."],
    [
      "by_location",
      "group=true&group_level=1",
      400,
      "query_parse_error",
      "Query parameter `group_level` is not compatible with `group`"
    ],
    [
      "by_location",
      "include_docs=true",
      400,
      "query_parse_error",
      "Query parameter `include_docs` is invalid for reduce views."
    ],
    [
      "by_location",
      'keys=[["x"]]',
      400,
      "query_parse_error",
      "Multi-key fetchs for reduce view must include `group=true`"
    ],
    [
      "brewery_beers",
      'keys=[["x"]]&startkey=["a"]',
      400,
      "query_parse_error",
      "Query parameter `start_key` is not compatible with multi-get"
    ],
    [
      "brewery_beers",
      'startkey=["b"]&endkey=["a"]',
      400,
      "query_parse_error",
      "No rows can match your key range, reverse your start_key and end_key or set descending=true"
    ],
    [
      "brewery_beers",
      'startkey=["a"]&endkey=["b"]&descending=true',
      400,
      "query_parse_error",
      "No rows can match your key range, reverse your start_key and end_key or set descending=false"
    ],
    ["brewery_beers", "key=abc", 400, "bad_request", 'invalid UTF-8 JSON: "abc"'],
    ["brewery_beers", 'keys={"a":1}', 400, "bad_request", "`keys` parameter is not an array."],
    [
      "brewery_beers",
      "on_error=abort",
      400,
      "bad_request",
      "Invalid value (`abort`) for the parameter `on_error`. It must be `continue` (default) or `stop`."
    ],
    [
      "brewery_beers",
      "connection_timeout=1.5",
      400,
      "bad_request",
      "Query parameter `connection_timeout` must be an integer"
    ],
    ["no_such_view", "", 404, "not_found", "missing_named_view"]
  ]
  for (const [name, query, status, error, reason] of cases) {
    it(`${name}?${query} → ${status} ${error}`, async () => {
      const res = await request(
        server,
        `/beer-sample/_design/beer/_view/${name}?${query.replace(/[[\]{}"]/g, encodeURIComponent)}`
      )
      expect(res.status).toBe(status)
      expect(res.json).toEqual({ error, reason })
    })
  }

  it("accepts what the server accepts: case-insensitive words, CouchDB's aliases, unknown names", async () => {
    const a = await request(
      server,
      `/beer-sample/_design/beer/_view/brewery_beers?descending=TRUE&stale=OK&limit=%2B2&foo=bar`
    )
    expect(a.status).toBe(200)
    expect(a.json.rows).toHaveLength(2)
    const b = await request(
      server,
      `/beer-sample/_design/beer/_view/brewery_beers?start_key=${encodeURIComponent(JSON.stringify([BREWERY]))}&end_key=${encodeURIComponent(JSON.stringify([BREWERY]))}`
    )
    expect(b.json.rows.map((r: any) => r.id)).toEqual([BREWERY])
  })

  it("serves requests shaped like the official SDK's: always POST, form-encoded keys, CouchDB names", async () => {
    const form = (v: unknown) => encodeURIComponent(JSON.stringify(v)).replace(/%20/g, "+")
    const key = ["United States", "California", "San Francisco"]
    const path =
      `/beer-sample/_design/beer/_view/by_location?limit=3&stale=false&start_key=${form(key)}` +
      `&end_key=${form(key)}&inclusive_end=true&reduce=false&descending=false&on_error=stop`
    const res = await request(server, path, { method: "POST", body: "{}" })
    expect(res.status).toBe(200)
    expect(res.json.rows).toHaveLength(3)
    expect(res.json.rows.every((r: any) => JSON.stringify(r.key) === JSON.stringify(key))).toBe(true)
    const multi = await request(server, "/beer-sample/_design/beer/_view/brewery_beers?stale=false", {
      method: "POST",
      body: JSON.stringify({ keys: [[BREWERY]] })
    })
    expect(multi.json.rows.map((r: any) => r.id)).toEqual([BREWERY])
  })

  it("a missing design document is 404 not_found/missing, and a POST body must be an object", async () => {
    const res = await request(server, "/beer-sample/_design/nope/_view/x")
    expect(res.status).toBe(404)
    expect(res.json).toEqual({ error: "not_found", reason: "missing" })
    const post = await request(server, "/beer-sample/_design/beer/_view/brewery_beers", { method: "POST", body: "[1]" })
    expect(post.status).toBe(400)
    expect(post.json).toEqual({ error: "bad_request", reason: "Request body must be a JSON object" })
    const put = await request(server, "/beer-sample/_design/beer/_view/brewery_beers", { method: "PUT", body: "{}" })
    expect(put.status).toBe(405)
    const wrongBucket = await request(server, "/default/_design/beer/_view/brewery_beers")
    expect(wrongBucket.json).toEqual({ error: "not_found", reason: "no_db_file" })
  })
})

describe("design documents over HTTP", () => {
  let bucket: MemoryBucket
  let srv: CapiServer
  beforeAll(async () => {
    bucket = new MemoryBucket()
    for (let i = 0; i < 50; i++) bucket.upsert(`doc${i}`, { n: i, even: i % 2 === 0 })
    srv = await startCapi("default", bucket)
  })
  afterAll(() => srv.close())
  const ddoc = { views: { evens: { map: "function (doc, meta) { if (doc.even) emit(doc.n, meta.id) }" } } }

  it("PUT stores, GET returns it with its revision, DELETE removes it", async () => {
    const put = await request(srv, "/default/_design/d1", { method: "PUT", body: JSON.stringify(ddoc) })
    expect(put.status).toBe(201)
    expect(put.json).toEqual({ ok: true, id: "_design/d1" })
    const get = await request(srv, "/default/_design/d1")
    expect(get.status).toBe(200)
    expect(get.json).toEqual(ddoc)
    const meta = JSON.parse(get.headers.get("x-couchbase-meta")!)
    expect(meta).toMatchObject({ id: "_design/d1", type: "json" })
    expect(meta.rev).toMatch(/^1-/)
    const rows = (await request(srv, "/default/_design/d1/_view/evens")).json
    expect(rows.total_rows).toBe(25)
    expect(rows.rows[0]).toEqual({ id: "doc0", key: 0, value: "doc0" })
    await request(srv, "/default/_design/d1", { method: "PUT", body: JSON.stringify(ddoc) })
    expect(JSON.parse((await request(srv, "/default/_design/d1")).headers.get("x-couchbase-meta")!).rev).toMatch(/^2-/)
    const del = await request(srv, "/default/_design/d1", { method: "DELETE" })
    expect(del.json).toEqual({ ok: true, id: "_design/d1" })
    expect((await request(srv, "/default/_design/d1")).json).toEqual({ error: "not_found", reason: "deleted" })
    expect((await request(srv, "/default/_design/d1/_view/evens")).json).toEqual({
      error: "not_found",
      reason: "deleted"
    })
    expect((await request(srv, "/default/_design/never")).json).toEqual({ error: "not_found", reason: "missing" })
  })

  it("lists design documents as the management API does", async () => {
    await request(srv, "/default/_design/listed", { method: "PUT", body: JSON.stringify(ddoc) })
    const listing = viewEngineFor(bucket).designDocumentsListing()
    const entry = listing.rows.find((r: any) => r.doc.meta.id === "_design/listed") as any
    expect(entry.doc.json).toEqual(ddoc)
    expect(entry.doc.meta.rev).toMatch(/^1-[0-9a-f]{8}$/)
  })

  it("dev_ design documents are separate documents", async () => {
    await request(srv, "/default/_design/dev_d2", { method: "PUT", body: JSON.stringify(ddoc) })
    expect((await request(srv, "/default/_design/dev_d2/_view/evens")).json.total_rows).toBe(25)
    expect((await request(srv, "/default/_design/d2/_view/evens")).status).toBe(404)
    expect((await request(srv, "/default/_design/dev_d2/_view/evens?full_set=true")).json.total_rows).toBe(25)
  })

  it("refuses invalid design documents with 400", async () => {
    const bad: ReadonlyArray<readonly [string, string, string]> = [
      ["not json", "bad_request", "invalid UTF-8 JSON"],
      ["[1]", "bad_request", "Request body must be a JSON object"],
      [
        JSON.stringify({ views: { v: { map: "function (doc) { emit(" } } }),
        "invalid_design_document",
        "Syntax error in the map function of the view `v`"
      ],
      [JSON.stringify({ views: { v: { map: "42" } } }), "invalid_design_document", "the view `v`"],
      [JSON.stringify({ views: { v: {} } }), "invalid_design_document", "must have a `map` field"],
      [
        JSON.stringify({ views: { v: { map: "function(){}", reduce: "_median" } } }),
        "invalid_design_document",
        "_median"
      ],
      [JSON.stringify({ views: [] }), "invalid_design_document", "`views`"],
      [JSON.stringify({ language: "erlang", views: {} }), "invalid_design_document", "javascript"]
    ]
    for (const [body, error, reason] of bad) {
      const res = await request(srv, "/default/_design/bad", { method: "PUT", body })
      expect(res.status, body).toBe(400)
      expect(res.json.error, body).toBe(error)
      expect(res.json.reason, body).toContain(reason)
    }
    expect((await request(srv, "/default/_design/bad")).status).toBe(404)
  })
})

describe("the map/reduce runtime", () => {
  let bucket: MemoryBucket
  let srv: CapiServer
  beforeAll(async () => {
    bucket = new MemoryBucket()
    viewEngineFor(bucket, { timeoutMs: 200, batchSize: 16, maxIndexRows: 5000 })
    for (let i = 0; i < 250; i++)
      bucket.upsert(`n${String(i).padStart(3, "0")}`, { n: i, tag: i % 3 === 0 ? "fizz" : "x" })
    bucket.upsert("bin", Buffer.from([0xff, 0x00, 0x41]), { raw: true })
    bucket.upsert("text", Buffer.from("plain text"), { raw: true })
    bucket.upsert("expiring", { n: -1 }, { expiry: 2_000_000_000 })
    srv = await startCapi("default", bucket)
    const views = {
      meta: {
        map: "function (doc, meta) { emit(meta.id, [meta.type, meta.flags, meta.expiration, typeof meta.rev]) }"
      },
      count: { map: "function (doc) { if (doc.n >= 0) emit(doc.tag, doc.n) }", reduce: "_count" },
      sum: { map: "function (doc) { if (doc.n >= 0) emit(doc.tag, doc.n) }", reduce: "_sum" },
      stats: { map: "function (doc) { if (doc.n >= 0) emit(doc.tag, doc.n) }", reduce: "_stats" },
      jscount: {
        map: "function (doc) { if (doc.n >= 0) emit(doc.tag, doc.n) }",
        reduce: "function (keys, values, rereduce) { return rereduce ? sum(values) : values.length }"
      },
      naive: {
        map: "function (doc) { if (doc.n >= 0) emit(doc.tag, doc.n) }",
        reduce: "function (keys, values, rereduce) { return rereduce ? -1 : values.length }"
      },
      badsum: { map: "function (doc) { if (doc.n >= 0) emit(doc.tag, String(doc.n)) }", reduce: "_sum" },
      throws: {
        map: "function (doc, meta) { if (doc.n % 10 === 0) throw new Error('no ' + doc.n); emit(meta.id, null) }"
      },
      loops: { map: "function (doc, meta) { if (doc.n === 7) { while (true) {} } emit(meta.id, null) }" },
      loopsOften: { map: "function (doc, meta) { if (doc.n < 40) { while (true) {} } emit(meta.id, null) }" },
      wide: { map: "function (doc, meta) { for (var i = 0; i < 30; i++) emit([meta.id, i], null) }" },
      escape: {
        map: "function (doc, meta) { if (meta.id !== 'n000') return; var p; try { p = this.constructor.constructor('return typeof process')() } catch (e) { p = 'blocked' } emit([typeof process, typeof require, p], null) }"
      }
    }
    const put = await request(srv, "/default/_design/rt", { method: "PUT", body: JSON.stringify({ views }) })
    expect(put.status).toBe(201)
  })
  afterAll(() => srv.close())
  const q = (name: string, params: Record<string, unknown> = {}) =>
    request(srv, `/default/_design/rt/_view/${name}${Object.keys(params).length ? qs(params) : ""}`)

  it("passes meta: JSON and base64 documents, flags, expiration, rev", async () => {
    const rows = (await q("meta")).json.rows
    const byKey = new Map(rows.map((r: any) => [r.key, r.value]))
    expect(byKey.get("n001")).toEqual(["json", 0x02000000, 0, "string"])
    expect(byKey.get("bin")).toEqual(["base64", 0x03000002, 0, "string"])
    expect(byKey.get("text")).toEqual(["base64", 0x03000002, 0, "string"])
    expect(byKey.get("expiring")).toEqual(["json", 0x02000000, 2_000_000_000, "string"])
  })

  it("_count, _sum and _stats, grouped and not", async () => {
    const ns = Array.from({ length: 250 }, (_, i) => i)
    const fizz = ns.filter((n) => n % 3 === 0)
    const x = ns.filter((n) => n % 3 !== 0)
    const total = (a: ReadonlyArray<number>) => a.reduce((s, n) => s + n, 0)
    expect((await q("count")).json.rows).toEqual([{ key: null, value: 250 }])
    expect((await q("count", { group: true })).json.rows).toEqual([
      { key: "fizz", value: fizz.length },
      { key: "x", value: x.length }
    ])
    expect((await q("sum", { group: true })).json.rows).toEqual([
      { key: "fizz", value: total(fizz) },
      { key: "x", value: total(x) }
    ])
    const stats = (await q("stats", { key: '"fizz"' })).json.rows[0].value
    expect(stats).toEqual({
      sum: total(fizz),
      count: fizz.length,
      min: 0,
      max: 249,
      sumsqr: total(fizz.map((n) => n * n))
    })
  })

  it("JavaScript reduces run in chunks and rereduce", async () => {
    expect((await q("jscount")).json.rows).toEqual([{ key: null, value: 250 }])
    expect((await q("jscount", { group: true })).json.rows).toEqual((await q("count", { group: true })).json.rows)
    // A reduce that ignores rereduce gives itself away once the rows span chunks.
    expect((await q("naive")).json.rows).toEqual([{ key: null, value: -1 }])
    expect((await q("naive", { key: '"fizz"', group: true })).json.rows).toEqual([{ key: "fizz", value: 84 }])
  })

  it("a failing reduction is reported in errors, per on_error", async () => {
    const cont = (await q("badsum", { group: true })).json
    expect(cont.rows).toEqual([])
    expect(cont.errors).toHaveLength(2)
    expect(cont.errors[0]).toEqual({ from: "local", reason: expect.stringContaining("_sum") })
    const stop = (await q("badsum", { group: true, on_error: "stop" })).json
    expect(stop.errors).toHaveLength(1)
  })

  it("a map function that throws skips that document; debug shows it", async () => {
    const res = (await q("throws", { debug: true })).json
    // n000, n010, …, n240 throw; the binary documents' doc.n is undefined, so they emit.
    expect(res.total_rows).toBe(bucket.items.size - 25)
    expect(res.debug_info.local.map_errors).toBe(25)
    expect(res.debug_info.local.first_map_errors.slice(0, 2)).toEqual([
      { id: "n000", reason: "no 0" },
      { id: "n010", reason: "no 10" }
    ])
  })

  it("a map function that runs forever is stopped on that document only", async () => {
    const res = (await q("loops", { debug: true })).json
    expect(res.total_rows).toBe(bucket.items.size - 1)
    expect(res.debug_info.local.first_map_errors).toEqual([{ id: "n007", reason: "timed out after 200 ms" }])
  })

  it("a map function that loops on many documents costs a few time limits, then the build stops mapping", async () => {
    const res = (await q("loopsOften", { debug: true })).json
    const reasons: Array<string> = res.debug_info.local.first_map_errors.map((e: { reason: string }) => e.reason)
    // Three culprits found document by document, then nothing more is mapped: the
    // build took a handful of 200 ms limits instead of one per looping document.
    expect(reasons.slice(0, 3)).toEqual(["timed out after 200 ms", "timed out after 200 ms", "timed out after 200 ms"])
    expect(reasons[3]).toBe("not mapped: the map function hit its time limit on 3 documents")
    expect(res.total_rows).toBe(0)
  })

  it("hostile design documents are refused without hanging the host", async () => {
    const hostile = [
      "function () {}, (function () { throw new Proxy({}, { getOwnPropertyDescriptor: function () { while (true) {} } }) })()",
      "function () {})); while (true) {} ((0",
      "function () {}), (0"
    ]
    for (const map of hostile) {
      const res = await request(srv, "/default/_design/hostile", {
        method: "PUT",
        body: JSON.stringify({ views: { v: { map } } })
      })
      expect(res.status, map).toBe(400)
      expect(res.json.error).toBe("invalid_design_document")
    }
  })

  it("stops mapping once an index holds its limit of rows", async () => {
    // 30 rows per document over 253 documents would be 7590; the limit is 5000.
    const res = (await q("wide", { debug: true, limit: 0 })).json
    expect(res.total_rows).toBeGreaterThanOrEqual(5000)
    expect(res.total_rows).toBeLessThan(5000 + 16 * 30)
    const reasons: Array<string> = res.debug_info.local.first_map_errors.map((e: { reason: string }) => e.reason)
    expect(reasons[0]).toBe("not mapped: the index reached its limit of 5000 rows")
  })

  it("bounds the views of a design document and the design documents of a bucket", async () => {
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`v${i}`, { map: "function (doc) {}" }]))
    const tooMany = await request(srv, "/default/_design/wide", {
      method: "PUT",
      body: JSON.stringify({ views: many })
    })
    expect(tooMany.status).toBe(400)
    expect(tooMany.json.reason).toContain("at most 64 views")
    const stored: Array<string> = []
    let refused: { status: number; json: any } | undefined
    for (let i = 0; i < 70 && refused === undefined; i++) {
      const res = await request(srv, `/default/_design/d${i}`, { method: "PUT", body: JSON.stringify({ views: {} }) })
      if (res.status === 201) stored.push(`d${i}`)
      else refused = res
    }
    expect(refused?.status).toBe(400)
    expect(refused?.json.reason).toContain("already has 64 design documents")
    // Replacing one is still allowed; deleting one makes room.
    expect(
      (await request(srv, "/default/_design/d0", { method: "PUT", body: JSON.stringify({ views: {} }) })).status
    ).toBe(201)
    for (const name of stored) await request(srv, `/default/_design/${name}`, { method: "DELETE" })
    expect(
      (await request(srv, "/default/_design/after", { method: "PUT", body: JSON.stringify({ views: {} }) })).status
    ).toBe(201)
    await request(srv, "/default/_design/after", { method: "DELETE" })
  })

  it("the definitions of a design document share one time limit", async () => {
    // Each function spends 80 ms at definition: alone each fits the 200 ms limit, three
    // of them do not.
    const slow =
      "(function () { var t = Date.now(); while (Date.now() - t < 80) {} })() || function (doc) { emit(null) }"
    const res = await request(srv, "/default/_design/slow", {
      method: "PUT",
      body: JSON.stringify({ views: { a: { map: slow }, b: { map: slow }, c: { map: slow } } })
    })
    expect(res.status).toBe(400)
    expect(res.json.error).toBe("invalid_design_document")
    expect(res.json.reason).toContain("took longer than 200 ms to compile")
    const one = await request(srv, "/default/_design/slow", {
      method: "PUT",
      body: JSON.stringify({ views: { a: { map: slow } } })
    })
    expect(one.status).toBe(201)
  })

  it("user code cannot reach the host", async () => {
    const rows = (await q("escape")).json.rows
    expect(rows).toEqual([{ id: "n000", key: ["undefined", "undefined", "undefined"], value: null }])
  })

  it("honours stale: ok answers from the index as it is, false updates it", async () => {
    const before = (await q("count", { stale: false })).json.rows[0].value
    bucket.upsert("n999", { n: 999, tag: "x" })
    expect((await q("count", { stale: "ok" })).json.rows[0].value).toBe(before)
    expect((await q("count", { stale: false })).json.rows[0].value).toBe(before + 1)
    bucket.remove("n999")
    // update_after: the old answer now, the new one once the background update is done.
    expect((await q("count")).json.rows[0].value).toBe(before + 1)
    let after = before + 1
    for (let i = 0; i < 50 && after !== before; i++) {
      await new Promise((r) => setTimeout(r, 20))
      after = (await q("count", { stale: "ok" })).json.rows[0].value
    }
    expect(after).toBe(before)
  })
})

describe("collation", () => {
  const ordered: ReadonlyArray<unknown> = [
    null,
    false,
    true,
    -10,
    0,
    1.5,
    2,
    "_",
    "-",
    "1",
    "a",
    "A",
    "abc123",
    "ABC123",
    "abc223",
    "b",
    "é",
    "f",
    [],
    [null],
    [1],
    [1, 2],
    ["a"],
    [[]],
    {},
    { a: 1 },
    { a: 1, b: 2 },
    { a: 2 },
    { b: 0 }
  ]

  it("orders keys as Couchbase does: null, booleans, numbers, strings (Unicode), arrays, objects", async () => {
    const bucket = new MemoryBucket()
    // Insert in a scrambled order, so that the order out is the engine's.
    const scrambled = ordered.map((k, i) => ({ k, i })).sort((a, b) => ((a.i * 7919) % 31) - ((b.i * 7919) % 31))
    for (const { k, i } of scrambled) bucket.upsert(`k${i}`, { k })
    const srv = await startCapi("c", bucket)
    try {
      await request(srv, "/c/_design/c", {
        method: "PUT",
        body: JSON.stringify({ views: { keys: { map: "function (doc) { emit(doc.k, null) }" } } })
      })
      const rows = (await request(srv, "/c/_design/c/_view/keys")).json.rows
      expect(rows.map((r: any) => r.key)).toEqual(ordered)
      const desc = (await request(srv, "/c/_design/c/_view/keys?descending=true")).json.rows
      expect(desc.map((r: any) => r.key)).toEqual([...ordered].reverse())
      const strings = (await request(srv, `/c/_design/c/_view/keys${qs({ startkey: '"a"', endkey: '"abc223"' })}`)).json
        .rows
      expect(strings.map((r: any) => r.key)).toEqual(["a", "A", "abc123", "ABC123", "abc223"])
    } finally {
      await srv.close()
    }
  })

  it("collate is a total order on those keys", () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(
          Math.sign(collate(ordered[i], ordered[j])),
          `${JSON.stringify(ordered[i])} vs ${JSON.stringify(ordered[j])}`
        ).toBe(Math.sign(i - j))
      }
    }
  })
})
