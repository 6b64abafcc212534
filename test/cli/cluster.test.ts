/**
 * `stats`, `ping` and `pillowfight` against an embedded cluster, and the pieces of
 * pillowfight on their own: its latency histogram's percentiles and its live line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as Connection from "../../src/Connection.js"
import { LatencyHistogram } from "../../src/cli/internal/LatencyHistogram.js"
import { progressLine } from "../../src/cli/internal/pillowfight.js"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import * as Iops from "../../src/Iops.js"
import { cli, flagsFor, jsonLines } from "./run.js"

describe("effect-couchbase stats and ping", () => {
  it.live("stats: node, name and value per line; --json: one object per node; a group by name", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2 })
      const nodes = cluster.nodes.map((n) => `127.0.0.1:${n.kv}`).sort()
      const text = yield* cli(["stats", ...flagsFor(cluster, "default")])
      expect(text.status).toBe(0)
      const lines = text.stdout
        .trimEnd()
        .split("\n")
        .map((l) => l.split("\t"))
      expect(new Set(lines.map((l) => l[0]))).toEqual(new Set(nodes))
      for (const node of nodes) {
        expect(lines.find((l) => l[0] === node && l[1] === "version")?.[2]).toMatch(/^\d+\.\d+\.\d+/)
      }
      const json = jsonLines((yield* cli(["stats", ...flagsFor(cluster, "default"), "--json", "memory"])).stdout)
      expect(json.map((l) => l.node).sort()).toEqual(nodes)
      for (const l of json) expect((l.stats as Record<string, number>).mem_used).toBeGreaterThanOrEqual(0)
      const unknown = yield* cli(["stats", ...flagsFor(cluster, "default"), "no-such-group"])
      expect([unknown.status, unknown.stderr]).toEqual([1, expect.stringMatching(/^effect-couchbase: NotFoundError: /)])
    }).pipe(Effect.scoped)
  )

  it.live("ping: every endpoint ok with its latency (status 0); with a hung node, its endpoint fails (status 1)", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const kv = cluster.nodes.map((n) => `127.0.0.1:${n.kv}`)
      const capi = cluster.nodes.map((n) => `127.0.0.1:${n.capi}`)
      const healthy = yield* cli(["ping", ...flagsFor(cluster, "default")])
      expect([healthy.status, healthy.stderr]).toEqual([0, ""])
      const rows = healthy.stdout
        .trimEnd()
        .split("\n")
        .map((l) => l.split(/\s+/))
      expect(rows.map((r) => `${r[0]} ${r[1]} ${r[2]}`).sort()).toEqual(
        [...kv.map((a) => `kv ${a} ok`), ...capi.map((a) => `views ${a} ok`)].sort()
      )
      for (const r of rows) expect([Number(r[3]) >= 0, r[4]]).toEqual([true, "ms"])

      const json = jsonLines(
        (yield* cli(["ping", ...flagsFor(cluster, "default"), "--json", "--service", "kv"])).stdout
      )
      expect(json).toHaveLength(1)
      expect(json[0]).toMatchObject({ bucket: "default", ok: true })
      expect((json[0]!.endpoints as ReadonlyArray<{ remote: string }>).map((e) => e.remote).sort()).toEqual(
        [...kv].sort()
      )

      yield* cluster.control.hang(1)
      const hung = yield* cli(["ping", ...flagsFor(cluster, "default"), "--service", "kv", "--timeout-ms", "500"])
      expect(hung.status).toBe(1)
      const byRemote = new Map(
        hung.stdout
          .trimEnd()
          .split("\n")
          .map((l) => [l.split(/\s+/)[1], l] as const)
      )
      expect(byRemote.get(kv[0]!)).toMatch(/^kv +\S+ +ok +[\d.]+ ms$/)
      expect(byRemote.get(kv[1]!)).toMatch(/^kv +\S+ +(timeout|error) /)
    }).pipe(Effect.scoped)
  )
})

describe("effect-couchbase pillowfight", () => {
  it.live("runs for its duration and prints one JSON summary; the documents it stored are there", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 2, replicas: 1 })
      const run = yield* cli(
        ["pillowfight", ...flagsFor(cluster, "default")].concat(
          ["--duration", "2", "--num-items", "200", "--set-ratio", "25", "--size", "64", "-t", "8"],
          ["--key-prefix", "pf:"]
        )
      )
      expect([run.status, run.stderr]).toEqual([0, ""])
      const [summary, ...rest] = jsonLines(run.stdout)
      expect(rest).toEqual([])
      const s = summary as {
        seconds: number
        ops: number
        gets: number
        sets: number
        errors: Record<string, number>
        opsPerSecond: number
        latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number }
      }
      expect(summary).toMatchObject({ command: "pillowfight", items: 200, size: 64, concurrency: 8, setRatio: 25 })
      expect(s.seconds).toBeGreaterThanOrEqual(2)
      expect(s.errors).toEqual({})
      expect(s.ops).toBe(s.gets + s.sets)
      expect(s.ops).toBeGreaterThan(100)
      // A quarter of the operations are sets, give or take the randomness of a few thousand draws.
      expect(Math.abs(s.sets / s.ops - 0.25)).toBeLessThan(0.05)
      expect(Math.abs(s.opsPerSecond / (s.ops / s.seconds) - 1)).toBeLessThan(0.001)
      const { p50, p90, p99, p999, max } = s.latencyMs
      expect(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max).toBe(true)

      const cb = yield* Connection.make({
        connectionString: cluster.connectionString,
        username: cluster.username,
        password: cluster.password
      }).pipe(Effect.provide(Iops.layerNode()))
      const docs = yield* cb.getMulti(
        Array.from({ length: 200 }, (_, i) => `pf:${i}`),
        { quiet: true }
      )
      expect(docs.allOk).toBe(true)
      expect(JSON.stringify(docs.get("pf:0")!.value)).toHaveLength(64)
    }).pipe(Effect.scoped)
  )

  it.live("on a terminal, a live line per second on stderr (the JSON summary on stdout all the same)", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({ nodes: 1 })
      const run = yield* cli(["pillowfight", ...flagsFor(cluster, "default"), "-d", "2", "-I", "50"], { tty: true })
      expect(run.status).toBe(0)
      const updates = run.stderr.split("\r\u001b[2K").filter((l) => l !== "")
      expect(updates.length).toBeGreaterThanOrEqual(2)
      for (const u of updates)
        expect(u).toMatch(/^ +\d+\.\d s +[\d,]+ ops\/s +p50 [\d.]+ ms +p99 [\d.]+ ms +errors 0\n?$/)
      expect(jsonLines(run.stdout)).toHaveLength(1)
    }).pipe(Effect.scoped)
  )
})

describe("effect-couchbase --json", () => {
  it.live("every command but quickstart accepts it", () =>
    Effect.gen(function* () {
      const cluster = yield* EmbeddedCluster.make({
        nodes: 1,
        buckets: [{ name: "beer-sample", sample: "beer-sample" }]
      })
      const flags = flagsFor(cluster, "beer-sample")
      yield* cli(["upsert", ...flags, "j:a", "1"])
      const cases: ReadonlyArray<ReadonlyArray<string>> = [
        ["get", "j:a"],
        ["cat", "j:a"],
        ["upsert", "j:b", "2"],
        ["create", "j:c", "3"],
        ["counter", "j:n", "--initial", "1"],
        ["touch", "j:a", "--ttl", "100"],
        ["rm", "j:c"],
        ["view", "beer", "brewery_beers", "--limit", "1"],
        ["ddoc", "get", "beer"],
        ["stats", "memory"],
        ["ping"],
        ["pillowfight", "--duration", "1", "-I", "10"]
      ]
      for (const args of cases) {
        const [head, ...rest] = args
        const command = head === "ddoc" ? [head, rest.shift()!] : [head!]
        const result = yield* cli([...command, ...flags, "--json", ...rest])
        expect([args.join(" "), result.status, result.stderr]).toEqual([args.join(" "), 0, ""])
        for (const line of result.stdout.trimEnd().split("\n")) expect(() => JSON.parse(line)).not.toThrow()
      }
      const locked = jsonLines((yield* cli(["lock", ...flags, "--json", "j:a", "--ttl", "5"])).stdout)[0]!
      const unlocked = yield* cli(["unlock", ...flags, "--json", "j:a", String(locked.cas)])
      expect(jsonLines(unlocked.stdout)).toEqual([{ key: "j:a" }])
    }).pipe(Effect.scoped)
  )
})

describe("pillowfight's latency histogram", () => {
  it.prop(
    "percentiles are within a bucket (4.5%) of the exact ones, never above the maximum",
    [
      fc.array(fc.double({ min: 0.002, max: 5000, noNaN: true }), { minLength: 1, maxLength: 400 }),
      fc.double({ min: 0.01, max: 1, noNaN: true })
    ],
    ([samples, q]) => {
      const h = new LatencyHistogram()
      for (const s of samples) h.record(s)
      const sorted = [...samples].sort((a, b) => a - b)
      const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
      const estimate = h.percentile(q)
      expect(h.count).toBe(samples.length)
      expect(estimate).toBeLessThanOrEqual(sorted.at(-1)!)
      expect(estimate).toBeGreaterThanOrEqual(exact * 0.999)
      expect(estimate).toBeLessThanOrEqual(exact * 2 ** (1 / 16) * 1.001)
    }
  )

  it("adds histograms; the live line shows ops/s and the percentiles", () => {
    const a = new LatencyHistogram()
    const b = new LatencyHistogram()
    for (let i = 1; i <= 100; i++) (i <= 50 ? a : b).record(i / 10)
    a.add(b)
    expect([a.count, a.max]).toEqual([100, 10])
    expect(a.percentile(0.5)).toBeCloseTo(5, 0)
    expect(progressLine(3, a, 0.5, 2)).toBe(
      `   3.0 s        200 ops/s   p50 ${a.percentile(0.5).toFixed(3)} ms   p99 ${a.percentile(0.99).toFixed(3)} ms   errors 2`
    )
  })
})
