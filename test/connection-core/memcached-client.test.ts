/**
 * The client in memcached mode (`memcached://`) against Debian's real memcached:
 * every operation memcached implements, with values asserted, and ketama spreading
 * keys over two servers exactly as libmemcached would.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Tracer } from "effect"
import type { Connection } from "../../src/Connection.js"
import { Iops } from "../../src/Iops.js"
import { makeClient } from "../../src/internal/connection/Client.js"
import { makeContinuum, serverOf } from "../../src/internal/hashing/ketama.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"
import { FMT_BYTES, FMT_JSON, FMT_UTF8 } from "../../src/Transcoder.js"
import { memcachedBinary, requirePeer } from "../support/peers.js"
import { type Memcached, startMemcached } from "./memcached.js"

const connect = (servers: ReadonlyArray<Memcached>, options: Record<string, unknown> = {}) =>
  makeClient({ connectionString: `memcached://${servers.map((s) => s.address).join(",")}`, ...options }).pipe(
    Effect.provideService(Iops, makeNodeIops())
  )

/** The failure of an Effect, which must fail. */
const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${String(exit.value)}`)
    if (exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${exit.cause._tag}`)
    return exit.cause.error as E & { readonly _tag: string; readonly message: string; readonly key?: string }
  })

describe("memcached mode against Debian's memcached", () => {
  requirePeer(memcachedBinary)

  it.scopedLive("get / upsert / insert / replace / remove with CAS", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])

      const set = yield* cb.upsert("doc", { name: "ada", n: 1 })
      expect(set.success).toBe(true)
      expect(typeof set.cas).toBe("bigint")
      expect(set.cas).not.toBe(0n)
      const got = yield* cb.get("doc")
      expect(got.value).toEqual({ name: "ada", n: 1 })
      expect(got.flags).toBe(FMT_JSON)
      expect(got.cas).toBe(set.cas)

      // CAS: the current one works, a stale one is KeyExists.
      const again = yield* cb.upsert("doc", { name: "ada", n: 2 }, { cas: set.cas })
      expect(again.cas).not.toBe(set.cas)
      expect((yield* failure(cb.upsert("doc", { n: 3 }, { cas: set.cas })))._tag).toBe("KeyExistsError")
      expect((yield* cb.get("doc")).value).toEqual({ name: "ada", n: 2 })

      // insert = ADD, replace = REPLACE.
      const dup = yield* failure(cb.insert("doc", 1))
      expect(dup._tag).toBe("KeyExistsError")
      expect(dup.key).toBe("doc")
      expect((yield* cb.insert("fresh", "text", { format: FMT_UTF8 })).success).toBe(true)
      const text = yield* cb.get("fresh")
      expect(text.value).toBe("text")
      expect(text.flags).toBe(FMT_UTF8)
      expect((yield* failure(cb.replace("nope", 1)))._tag).toBe("NotFoundError")
      // quiet does not change replace.
      yield* cb.replace("fresh", [1, 2, 3])
      expect((yield* cb.get("fresh")).value).toEqual([1, 2, 3])

      // remove, then not found; quiet turns it into a result.
      const removed = yield* cb.remove("fresh")
      expect(removed.success).toBe(true)
      const missing = yield* failure(cb.get("fresh"))
      expect(missing._tag).toBe("NotFoundError")
      expect(missing.key).toBe("fresh")
      const quietGet = yield* cb.get("fresh", { quiet: true })
      expect(quietGet).toEqual({ key: "fresh", cas: 0n, rc: 0x0d, success: false, value: undefined, flags: 0 })
      expect((yield* cb.remove("fresh", { quiet: true })).success).toBe(false)
      expect((yield* failure(cb.remove("fresh")))._tag).toBe("NotFoundError")

      // Raw bytes survive untouched.
      const bytes = Buffer.from([0, 1, 2, 250, 255])
      yield* cb.upsert("bin", bytes, { format: FMT_BYTES })
      const raw = yield* cb.get("bin")
      expect(Buffer.from(raw.value as Uint8Array).equals(bytes)).toBe(true)
      expect(raw.flags).toBe(FMT_BYTES)
      const noFormat = yield* cb.get("doc", { noFormat: true })
      expect(noFormat.value.toString()).toBe('{"name":"ada","n":2}')
    })
  )

  it.scopedLive("counter, touch, get-and-touch, append and prepend", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])

      expect((yield* failure(cb.counter("hits")))._tag).toBe("NotFoundError")
      const created = yield* cb.counter("hits", { delta: 5, initial: 10 })
      expect(created.value).toBe(10n)
      expect((yield* cb.counter("hits", { delta: 5 })).value).toBe(15n)
      expect((yield* cb.counter("hits")).value).toBe(16n)
      expect((yield* cb.counter("hits", { delta: -100 })).value).toBe(0n)
      expect((yield* cb.counter("hits", { delta: 2n ** 40n })).value).toBe(2n ** 40n)
      yield* cb.upsert("word", "abc", { format: FMT_UTF8 })
      expect((yield* failure(cb.counter("word")))._tag).toBe("DeltaBadvalError")

      const touched = yield* cb.touch("word", { ttl: 100 })
      expect(touched.success).toBe(true)
      expect((yield* failure(cb.touch("absent", { ttl: 10 })))._tag).toBe("NotFoundError")
      expect((yield* cb.touch("absent", { ttl: 10, quiet: true })).success).toBe(false)
      const gat = yield* cb.get("word", { ttl: 50 })
      expect(gat.value).toBe("abc")

      yield* cb.append("word", "def")
      yield* cb.prepend("word", ">>")
      expect((yield* cb.get("word")).value).toBe(">>abcdef")
      const notStored = yield* failure(cb.append("ghost", "x"))
      expect(notStored._tag).toBe("NotStoredError")
      // A JSON fragment would break the document: refused before sending.
      expect((yield* failure(cb.append("word", "x", { format: FMT_JSON })))._tag).toBe("ArgumentError")
    })
  )

  it.scopedLive("a large getMulti goes as several quiet batches: every key's result, in order, misses anywhere", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])
      // 1000 keys (several batches of 128), some of them multi-byte UTF-8, and misses at
      // batch boundaries, inside batches and last.
      const keys = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? `clé-ü-${i}` : `big-${i}`))
      const missing = new Set([0, 127, 128, 255, 256, 500, 511, 512, 640, 999])
      for (let i = 0; i < keys.length; i++) if (i % 17 === 5) missing.add(i)
      const stored = Object.fromEntries(keys.filter((_, i) => !missing.has(i)).map((k) => [k, { k }]))
      expect((yield* cb.upsertMulti(stored)).allOk).toBe(true)
      const quiet = yield* cb.getMulti(keys, { quiet: true })
      expect([...quiet.keys()]).toEqual(keys)
      for (let i = 0; i < keys.length; i++) {
        const result = quiet.get(keys[i]!)!
        expect(result.success).toBe(!missing.has(i))
        if (result.success) expect((result as { value: unknown }).value).toEqual({ k: keys[i] })
      }
      const loud = yield* failure(cb.getMulti(keys.slice(1)))
      expect(loud._tag).toBe("NotFoundError")
      expect(loud.key).toBe(keys[5])
      // Single gets of the multi-byte keys (written straight into the request as UTF-8).
      expect((yield* cb.get(keys[3]!)).value).toEqual({ k: keys[3] })
      // A key that is not valid UTF-16 is refused before anything is sent.
      expect((yield* failure(cb.getMulti(["ok", "bad\uD800"])))._tag).toBe("ValueFormatError")
      expect((yield* failure(cb.get("bad\uDC00")))._tag).toBe("ValueFormatError")
    })
  )

  it.scopedLive("multi operations pipeline every key and report each", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])
      const values: Record<string, unknown> = {}
      for (let i = 0; i < 50; i++) values[`m${i}`] = { i }
      const stored = yield* cb.upsertMulti(values)
      expect(stored.size).toBe(50)
      expect(stored.allOk).toBe(true)

      const keys = [...Object.keys(values), "gone1", "gone2"]
      const quiet = yield* cb.getMulti(keys, { quiet: true })
      expect([...quiet.keys()]).toEqual(keys)
      expect(quiet.allOk).toBe(false)
      for (let i = 0; i < 50; i++) expect(quiet.get(`m${i}`)!.value).toEqual({ i })
      expect(quiet.get("gone1")!.success).toBe(false)
      expect(quiet.get("gone2")!.rc).toBe(0x0d)
      const [ok, failed] = quiet.splitResults()
      expect(ok.size).toBe(50)
      expect([...failed.keys()]).toEqual(["gone1", "gone2"])

      const loud = yield* failure(cb.getMulti(keys))
      expect(loud._tag).toBe("NotFoundError")
      expect(loud.key).toBe("gone1")
      const all = (loud as unknown as { allResults: Map<string, { success: boolean }> }).allResults
      expect(all.size).toBe(52)
      expect(all.get("m7")!.success).toBe(true)
      expect(all.get("gone2")!.success).toBe(false)

      const counters = yield* cb.counterMulti({ c1: { initial: 1 }, c2: { initial: 7, delta: 3 } })
      expect(counters.get("c1")!.value).toBe(1n)
      expect(counters.get("c2")!.value).toBe(7n)
      const bumped = yield* cb.counterMulti(["c1", "c2"], { delta: 10 })
      expect([bumped.get("c1")!.value, bumped.get("c2")!.value]).toEqual([11n, 17n])

      const inserted = yield* failure(cb.insertMulti({ m1: 1, fresh: 2 }))
      expect(inserted._tag).toBe("KeyExistsError")
      expect((yield* cb.get("fresh")).value).toBe(2)

      const touched = yield* cb.touchMulti({ m1: 10, m2: 20, zz: 5 }, { quiet: true })
      expect([...touched.values()].map((r) => r.success)).toEqual([true, true, false])
      const removed = yield* cb.removeMulti(["m1", "m2"])
      expect(removed.allOk).toBe(true)
      expect((yield* cb.getMulti(["m1", "m2", "m3"], { quiet: true })).get("m3")!.value).toEqual({ i: 3 })

      const stats = yield* cb.stats()
      expect(stats["curr_items"]![mc.address]).toBeGreaterThan(40)
      expect(typeof stats["version"]![mc.address]).toBe("string")
    })
  )

  it.scopedLive("refuses what memcached does not implement, before sending", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])
      yield* cb.upsert("k", 1)
      expect((yield* failure(cb.lock("k", { ttl: 5 })))._tag).toBe("NotSupportedError")
      expect((yield* failure(cb.getReplica("k")))._tag).toBe("NotSupportedError")
      expect((yield* failure(cb.observe("k")))._tag).toBe("NotSupportedError")
      expect((yield* failure(cb.upsert("k", 2, { persistTo: 1 })))._tag).toBe("NotSupportedError")
      // The connection is still fine.
      expect((yield* cb.get("k")).value).toBe(1)
      // Argument errors come first and name the problem.
      const bad = yield* failure(cb.get(""))
      expect(bad._tag).toBe("ArgumentError")
    })
  )

  it.scopedLive("a span per public operation when a tracer is installed", () =>
    Effect.gen(function* () {
      const mc = yield* startMemcached
      const cb: Connection.Service = yield* connect([mc])
      const native = yield* Effect.tracer
      const spans: Array<{ readonly name: string; readonly kind: string; readonly attributes: Map<string, unknown> }> =
        []
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          const attributes = new Map<string, unknown>()
          const set = span.attribute.bind(span)
          span.attribute = (key, value) => {
            attributes.set(key, value)
            set(key, value)
          }
          spans.push({ name: args[0], kind: args[5], attributes })
          return span
        },
        context: native.context
      })
      yield* Effect.withTracer(Effect.zip(cb.upsert("traced", 1), cb.getMulti(["traced"])), recording)
      expect(spans.map((s) => [s.name, s.kind])).toEqual([
        ["couchbase.upsert", "client"],
        ["couchbase.getMulti", "client"]
      ])
      expect(Object.fromEntries(spans[1]!.attributes)).toEqual({
        "db.system": "memcached",
        "db.operation": "getMulti",
        "db.operation.name": "getMulti"
      })
    })
  )

  it.scopedLive("two servers: ketama places each key where libmemcached would", () =>
    Effect.gen(function* () {
      const a = yield* startMemcached
      const b = yield* startMemcached
      const cb: Connection.Service = yield* connect([a, b])
      const values: Record<string, string> = {}
      for (let i = 0; i < 200; i++) values[`user:${i}`] = `v${i}`
      expect((yield* cb.upsertMulti(values, { format: FMT_UTF8 })).allOk).toBe(true)

      const onlyA: Connection.Service = yield* connect([a])
      const onlyB: Connection.Service = yield* connect([b])
      const inA = yield* onlyA.getMulti(Object.keys(values), { quiet: true })
      const inB = yield* onlyB.getMulti(Object.keys(values), { quiet: true })
      const continuum = makeContinuum([
        { host: a.host, port: a.port },
        { host: b.host, port: b.port }
      ])
      let countA = 0
      for (const key of Object.keys(values)) {
        const expected = serverOf(continuum, key)
        expect(inA.get(key)!.success).toBe(expected === 0)
        expect(inB.get(key)!.success).toBe(expected === 1)
        if (expected === 0) countA++
      }
      // Both servers got a fair share.
      expect(countA).toBeGreaterThan(50)
      expect(countA).toBeLessThan(150)
      const stats = yield* cb.stats()
      expect(stats["curr_items"]).toEqual({ [a.address]: countA, [b.address]: 200 - countA })
      // And the client reads every key back through the ring.
      const back = yield* cb.getMulti(Object.keys(values))
      expect(Either.right(back.get("user:123")!.value)).toEqual(Either.right("v123"))
    })
  )
})
