/**
 * Design documents written to hurt: each is installed and queried on a running
 * cluster while a KV client pings a node every 10 ms. The process survives, every
 * ping is answered promptly, the hostile view answers (with its errors, naming its
 * design document) or is refused, and a good view of the same bucket still answers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Redacted } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { Opcode, Status } from "../../src/internal/protocol/constants.js"
import { RawClient } from "../server/support/rawClient.js"

const AUTH = `Basic ${Buffer.from("Administrator:password").toString("base64")}`

const http = (url: string, init: RequestInit = {}) =>
  Effect.promise(() =>
    fetch(url, { ...init, headers: { authorization: AUTH, "content-type": "application/json" } }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as any
    }))
  )

// Map functions and definitions that attack the host, one design document each.
const ATTACKS: ReadonlyArray<readonly [name: string, views: Record<string, { map: string }>]> = [
  ["rejects", { v: { map: "function (doc) { Promise.reject(new Error('x')); emit(1, 1) }" } }],
  ["imports", { v: { map: "function (doc) { import('fs').then(function (fs) { emit(1, 1) }) }" } }],
  [
    "finalizes",
    { v: { map: "function (doc) { new FinalizationRegistry(function () { while (true) {} }).register({}, 1) }" } }
  ],
  ["loops", { v: { map: "function (doc) { while (true) {} }" } }],
  ["allocates", { v: { map: "function (doc) { var a = []; while (true) a.push(new Array(100000).fill(doc)) }" } }],
  ["floods", { v: { map: "function (doc, meta) { for (;;) emit(meta.id, 'row') }" } }],
  [
    "slowDefinitions",
    Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [
        `v${i}`,
        {
          map: "(function () { var t = Date.now(); while (Date.now() - t < 180) {} })() || function (doc) { emit(null) }"
        }
      ])
    )
  ]
]

describe("hostile design documents", () => {
  it.scopedLive(
    "the node keeps answering KV pings within 250 ms (p99) while each attack runs; good views still answer",
    () =>
      Effect.gen(function* () {
        const cluster = yield* EmbeddedCluster.make({ nodes: 1, viewTimeout: "500 millis" })
        const node = cluster.nodes[0]!
        const capi = `http://${node.host}:${node.capi}/default`
        // A few documents to map.
        const kv = yield* Effect.acquireRelease(
          Effect.promise(() => RawClient.connect(node.kv)),
          (c) => Effect.sync(() => c.close())
        )
        yield* Effect.promise(async () => {
          expect(await kv.authPlain("Administrator", Redacted.value(cluster.password))).toBe(Status.Success)
          expect(await kv.selectBucket("default")).toBe(Status.Success)
        })
        yield* Effect.forEach(
          Array.from({ length: 40 }, (_, i) => i),
          (i) =>
            Effect.promise(() =>
              kv.request({
                opcode: Opcode.Set,
                key: Buffer.from(`doc${i}`),
                vbucket: 0,
                extras: Buffer.alloc(8),
                value: Buffer.from(JSON.stringify({ n: i }))
              })
            ),
          { discard: true }
        )
        const good = { views: { ids: { map: "function (doc, meta) { emit(meta.id, null) }" } } }
        expect((yield* http(`${capi}/_design/good`, { method: "PUT", body: JSON.stringify(good) })).status).toBe(201)

        // Pings every 10 ms for the whole run, each timed.
        const latencies: Array<number> = []
        let pinging = true
        const pinger = yield* Effect.fork(
          Effect.promise(async () => {
            while (pinging) {
              const t = performance.now()
              const answer = await kv.request({ opcode: Opcode.Noop })
              if (answer.status !== Status.Success) throw new Error(`ping answered ${answer.status}`)
              latencies.push(performance.now() - t)
              await new Promise((resolve) => setTimeout(resolve, 10))
            }
          })
        )

        for (const [name, views] of ATTACKS) {
          const put = yield* http(`${capi}/_design/${name}`, { method: "PUT", body: JSON.stringify({ views }) })
          if (name === "slowDefinitions") {
            // Refused within one time limit for the whole document, not one per view.
            expect(put.status).toBe(400)
            expect(put.body.reason).toContain("took longer than")
          } else {
            expect(put.status, name).toBe(201)
            const res = yield* http(`${capi}/_design/${name}/_view/v?debug=true&stale=false`)
            expect(res.status, name).toBe(200)
            expect(res.body.debug_info.local.design_document).toBe(`_design/${name}`)
            if (name !== "rejects" && name !== "imports") {
              // Its failures are reported against its documents, with the reason.
              expect(res.body.debug_info.local.map_errors, name).toBeGreaterThan(0)
              expect(res.body.debug_info.local.first_map_errors[0].reason, name).toBeTypeOf("string")
            }
          }
          const ids = yield* http(`${capi}/_design/good/_view/ids?stale=false`)
          expect(ids.status, name).toBe(200)
          expect(ids.body.rows.length, name).toBe(40)
        }
        pinging = false
        yield* Fiber.join(pinger)
        latencies.sort((a, b) => a - b)
        const p99 = latencies[Math.floor(latencies.length * 0.99)]!
        console.log(
          `KV pings during the attacks: ${latencies.length}, median ${latencies[latencies.length >> 1]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`
        )
        expect(latencies.length).toBeGreaterThan(50)
        expect(p99).toBeLessThan(250)
      }),
    120_000
  )
})
