import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import { MultiRun, QuietBatchRequest, ResumeRequest } from "../../src/internal/connection/Requests.js"
import * as Ops from "../../src/internal/ops/index.js"
import { encodeFrame, type FrameInit } from "../../src/internal/protocol/Frame.js"
import * as Transcoder from "../../src/Transcoder.js"

const { Request } = Ops
const hex = (init: FrameInit) => encodeFrame(init).toString("hex")
const key = Buffer.from("k1")
const a = { key, vbucket: 0x0203, opaque: 0xdeadbeef }

/**
 * The 24-byte header, written out field by field (kv_engine BinaryProtocol.md):
 * magic, opcode, key length (2), extras length, datatype, vbucket (2), total body
 * length (4), opaque (4), cas (8).
 */
const header = (
  opcode: number,
  keyLength: number,
  extrasLength: number,
  bodyLength: number,
  { vbucket = 0x0203, opaque = 0xdeadbeef, cas = 0n, datatype = 0 } = {}
) =>
  [
    "80",
    opcode.toString(16).padStart(2, "0"),
    keyLength.toString(16).padStart(4, "0"),
    extrasLength.toString(16).padStart(2, "0"),
    datatype.toString(16).padStart(2, "0"),
    vbucket.toString(16).padStart(4, "0"),
    bodyLength.toString(16).padStart(8, "0"),
    opaque.toString(16).padStart(8, "0"),
    cas.toString(16).padStart(16, "0")
  ].join("")

const K1 = "6b31"

describe("request builders: exact bytes", () => {
  it("GET and GETQ: key only", () => {
    expect(hex(Request.get(a))).toBe(header(0x00, 2, 0, 2) + K1)
    expect(hex(Request.get(a, true))).toBe(header(0x09, 2, 0, 2) + K1)
    // The header written out once by hand, so the helper itself is checked.
    expect(hex(Request.get(a))).toBe(`800000020000020300000002deadbeef0000000000000000${K1}`)
  })

  it("GAT / GATQ / TOUCH: expiry (4)", () => {
    expect(hex(Request.getAndTouch(a, 0x0102))).toBe(`${header(0x1d, 2, 4, 6)}00000102${K1}`)
    expect(hex(Request.getAndTouch(a, 30, true))).toBe(`${header(0x1e, 2, 4, 6)}0000001e${K1}`)
    expect(hex(Request.touch(a, 0xffffffff))).toBe(`${header(0x1c, 2, 4, 6)}ffffffff${K1}`)
  })

  it("GET_LOCKED: lock time (4); UNLOCK_KEY: the CAS in the header", () => {
    expect(hex(Request.getLocked(a, 15))).toBe(`${header(0x94, 2, 4, 6)}0000000f${K1}`)
    expect(hex(Request.unlock(a, 0x0102030405060708n))).toBe(header(0x95, 2, 0, 2, { cas: 0x0102030405060708n }) + K1)
  })

  it("GET_REPLICA: key only", () => {
    expect(hex(Request.getReplica(a))).toBe(header(0x83, 2, 0, 2) + K1)
  })

  it("SET / ADD / REPLACE: flags (4) + expiry (4), value, CAS, JSON datatype", () => {
    const fields = { value: Buffer.from("{}"), flags: Transcoder.FMT_JSON, expiry: 60, cas: 7n, json: true }
    expect(hex(Request.store(0x01, a, fields))).toBe(
      `${header(0x01, 2, 8, 12, { cas: 7n, datatype: 1 })}020000000000003c${K1}7b7d`
    )
    expect(hex(Request.store(0x02, a, { ...fields, cas: 0n, json: false }))).toBe(
      `${header(0x02, 2, 8, 12)}020000000000003c${K1}7b7d`
    )
    expect(
      hex(Request.store(0x03, a, { value: Buffer.from("x"), flags: 0x04000004, expiry: 0, cas: 0n, json: false }))
    ).toBe(`${header(0x03, 2, 8, 11)}0400000400000000${K1}78`)
  })

  it("APPEND / PREPEND: no extras, the fragment, optional CAS", () => {
    expect(hex(Request.concat(0x0e, a, Buffer.from("ab"), 0n))).toBe(`${header(0x0e, 2, 0, 4)}${K1}6162`)
    expect(hex(Request.concat(0x0f, a, Buffer.from("ab"), 9n))).toBe(`${header(0x0f, 2, 0, 4, { cas: 9n })}${K1}6162`)
  })

  it("DELETE: key, optional CAS", () => {
    expect(hex(Request.remove(a, 0n))).toBe(header(0x04, 2, 0, 2) + K1)
    expect(hex(Request.remove(a, 0xffffffffffffffffn))).toBe(header(0x04, 2, 0, 2, { cas: 0xffffffffffffffffn }) + K1)
  })

  it("INCREMENT / DECREMENT: delta (8) + initial (8) + expiry (4); no initial means 0xffffffff", () => {
    expect(hex(Request.counter(a, 5n, 100n, 60))).toBe(
      `${header(0x05, 2, 20, 22)}000000000000000500000000000000640000003c${K1}`
    )
    // No initial: the expiry field says "do not create".
    expect(hex(Request.counter(a, 1n, undefined, 60))).toBe(
      `${header(0x05, 2, 20, 22)}00000000000000010000000000000000ffffffff${K1}`
    )
    // A negative delta decrements by its magnitude.
    expect(hex(Request.counter(a, -3n, 0n, 0))).toBe(
      `${header(0x06, 2, 20, 22)}0000000000000003000000000000000000000000${K1}`
    )
    expect(hex(Request.counter(a, 0xffffffffffffffffn, 0xffffffffffffffffn, 0))).toBe(
      `${header(0x05, 2, 20, 22)}ffffffffffffffffffffffffffffffff00000000${K1}`
    )
  })

  it("OBSERVE: vbucket 0 in the header, body of vbucket(2) keylen(2) key entries", () => {
    const frame = Request.observe(7, [
      { vbucket: 0x0010, key: Buffer.from("a") },
      { vbucket: 0x03ff, key: Buffer.from("bc") }
    ])
    expect(hex(frame)).toBe(`${header(0x92, 0, 0, 11, { vbucket: 0, opaque: 7 })}001000016103ff00026263`)
  })

  it("STAT with and without a group; NOOP", () => {
    expect(hex(Request.stat(3))).toBe(header(0x10, 0, 0, 0, { vbucket: 0, opaque: 3 }))
    expect(hex(Request.stat(3, ""))).toBe(header(0x10, 0, 0, 0, { vbucket: 0, opaque: 3 }))
    expect(hex(Request.stat(3, "memory"))).toBe(`${header(0x10, 6, 0, 6, { vbucket: 0, opaque: 3 })}6d656d6f7279`)
    expect(hex(Request.noop(4))).toBe(header(0x0a, 0, 0, 0, { vbucket: 0, opaque: 4 }))
  })
})

describe("prepared operations build their request", () => {
  const NOW = Date.UTC(2024, 0, 1)
  const ctx = {
    transcoder: Transcoder.defaultTranscoder,
    defaultFormat: Transcoder.FMT_JSON,
    quiet: false,
    now: () => NOW,
    maxValueSize: 20 * 1024 * 1024,
    replicas: 1
  }
  const json = { json: true }
  // Seen through the interface the pipeline uses (the classes may omit unused parameters).
  const prepared = (e: Either.Either<Ops.PreparedOp<any, any>, unknown>): Ops.PreparedOp<any, any> =>
    Either.getOrThrow(e)
  const preparedAll = (
    e: Either.Either<ReadonlyArray<Ops.PreparedOp<any, any>>, unknown>
  ): ReadonlyArray<Ops.PreparedOp<any, any>> => Either.getOrThrow(e)
  const noJson = { json: false }

  it("get: GET, GAT with a ttl, GETQ/GATQ as the quiet form, GET_REPLICA for replicas", () => {
    const get = prepared(Ops.prepareGet("k1", undefined, ctx))
    expect(hex(get.request(0x0203, 0xdeadbeef, json))).toBe(header(0x00, 2, 0, 2) + K1)
    expect(get.hasQuietForm).toBe(true)
    expect(hex(get.quietRequest(0x0203, 0xdeadbeef, json))).toBe(header(0x09, 2, 0, 2) + K1)
    const gat = prepared(Ops.prepareGet("k1", { ttl: 10 }, ctx))
    expect(hex(gat.request(0x0203, 0xdeadbeef, json))).toBe(`${header(0x1d, 2, 4, 6)}0000000a${K1}`)
    expect(hex(gat.quietRequest(0x0203, 0xdeadbeef, json))).toBe(`${header(0x1e, 2, 4, 6)}0000000a${K1}`)
    const replica = prepared(Ops.prepareGet("k1", { replica: true }, ctx))
    expect(replica.route).toEqual({ _tag: "AnyReplica" })
    expect(replica.hasQuietForm).toBe(false)
    expect(hex(replica.request(0x0203, 0xdeadbeef, json))).toBe(header(0x83, 2, 0, 2) + K1)
  })

  it("upsert: flags of the format, expiry, CAS, JSON bit only when the node acked JSON", () => {
    const op = prepared(Ops.prepareStore("upsert", "k1", { a: 1 }, { ttl: 5, cas: 3n }, ctx))
    const value = Buffer.from('{"a":1}').toString("hex")
    expect(hex(op.request(0x0203, 0xdeadbeef, json))).toBe(
      `${header(0x01, 2, 8, 17, { cas: 3n, datatype: 1 })}0200000000000005${K1}${value}`
    )
    expect(hex(op.request(0x0203, 0xdeadbeef, noJson))).toBe(
      `${header(0x01, 2, 8, 17, { cas: 3n })}0200000000000005${K1}${value}`
    )
    const text = prepared(Ops.prepareStore("insert", "k1", "hi", { format: Transcoder.FMT_AUTO }, ctx))
    expect(hex(text.request(0x0203, 0xdeadbeef, json))).toBe(`${header(0x02, 2, 8, 12)}0400000400000000${K1}6869`)
    const long = prepared(Ops.prepareStore("replace", "k1", 1, { ttl: new Date(NOW + 100_000) }, ctx))
    const expiry = (NOW / 1000 + 100).toString(16).padStart(8, "0")
    expect(hex(long.request(0x0203, 0xdeadbeef, json))).toBe(
      `${header(0x03, 2, 8, 11, { datatype: 1 })}02000000${expiry}${K1}31`
    )
  })

  it("append/counter/remove/touch/lock/unlock", () => {
    const append = prepared(Ops.prepareConcat("append", "k1", "!", { cas: 2n }, ctx))
    expect(hex(append.request(0x0203, 0xdeadbeef, json))).toBe(`${header(0x0e, 2, 0, 3, { cas: 2n })}${K1}21`)
    const counter = prepared(Ops.prepareCounter("k1", { delta: -2, initial: 10, ttl: 1 }, ctx))
    expect(hex(counter.request(0x0203, 0xdeadbeef, json))).toBe(
      `${header(0x06, 2, 20, 22)}0000000000000002000000000000000a00000001${K1}`
    )
    const remove = prepared(Ops.prepareRemove("k1", { cas: 4n }, ctx))
    expect(hex(remove.request(0x0203, 0xdeadbeef, json))).toBe(header(0x04, 2, 0, 2, { cas: 4n }) + K1)
    const touch = prepared(Ops.prepareTouch("k1", { ttl: 0 }, ctx))
    expect(hex(touch.request(0x0203, 0xdeadbeef, json))).toBe(`${header(0x1c, 2, 4, 6)}00000000${K1}`)
    const lock = prepared(Ops.prepareLock("k1", { ttl: 5 }, ctx))
    expect(hex(lock.request(0x0203, 0xdeadbeef, json))).toBe(`${header(0x94, 2, 4, 6)}00000005${K1}`)
    const unlock = prepared(Ops.prepareUnlock("k1", 77n, ctx))
    expect(hex(unlock.request(0x0203, 0xdeadbeef, json))).toBe(header(0x95, 2, 0, 2, { cas: 77n }) + K1)
  })

  it("multi operations prepare one operation per key, in input order", () => {
    const ops = preparedAll(
      Ops.prepareStoreMulti(
        "upsert",
        new Map([
          ["b", 1],
          ["a", 2]
        ]),
        { ttl: 3 },
        ctx
      )
    )
    expect(ops.map((o) => o.key)).toEqual(["b", "a"])
    expect(ops.map((o) => o.name)).toEqual(["upsertMulti", "upsertMulti"])
    const counters = preparedAll(Ops.prepareCounterMulti({ x: 5, y: { initial: 1n } }, { delta: 2, initial: 7 }, ctx))
    expect(counters.map((o) => hex(o.request(0, 1, json)).slice(48, 88))).toEqual([
      "0000000000000005" + "0000000000000007" + "00000000",
      "0000000000000002" + "0000000000000001" + "00000000"
    ])
    const touches = preparedAll(Ops.prepareTouchMulti({ p: 1, q: 2 }, undefined, ctx))
    expect(touches.map((o) => hex(o.request(0, 1, json)).slice(48, 56))).toEqual(["00000001", "00000002"])
    const unlocks = preparedAll(
      Ops.prepareUnlockMulti(
        new Map<string, unknown>([
          ["u", 5n],
          ["v", { key: "v", cas: 6n, rc: 0, success: true }]
        ]),
        ctx
      )
    )
    expect(unlocks.map((o) => o.request(0, 1, json).cas)).toEqual([5n, 6n])
    const removes = preparedAll(Ops.prepareRemoveMulti({ r: 8n }, undefined, ctx))
    expect(removes[0]!.request(0, 1, json).cas).toBe(8n)
  })
})

/** Preparation context of the tests below: default transcoder, clock at 0. */
const ctx = {
  transcoder: Transcoder.defaultTranscoder,
  defaultFormat: Transcoder.FMT_JSON,
  quiet: false,
  now: () => 0,
  maxValueSize: 20 * 1024 * 1024
}

describe("a pipelined quiet multi-get", () => {
  const features = { json: true, xerror: false, selectBucket: false }

  it("encodes its whole batch in one buffer, byte for byte what its frames describe", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 0xfffff000 }),
        (keys, opaque) => {
          const ops = Either.getOrThrow(Ops.prepareGetMulti(keys, undefined, ctx))
          const run = new MultiRun(
            ops,
            Number.POSITIVE_INFINITY,
            () => {},
            () => Effect.void
          )
          const indexes = ops.map((_, i) => i)
          const vbuckets = ops.map((_, i) => (i * 37) % 1024)
          const batch = new QuietBatchRequest(undefined as never, run, indexes, vbuckets)
          batch.pipeline = { features } as never
          const described = Buffer.concat(
            Array.from({ length: batch.frames }, (_, i) => encodeFrame(batch.build(opaque + i, i)))
          )
          const encoded = batch.encodeFrames(opaque)
          expect(encoded).toBeDefined()
          expect(Buffer.from(encoded!).toString("hex")).toBe(described.toString("hex"))
        }
      )
    )
  })

  it("falls back to one description per frame when a key's quiet form carries more than the key", () => {
    const ops = Either.getOrThrow(Ops.prepareGetMulti(["a", "b"], { ttl: 10 }, ctx))
    const run = new MultiRun(
      ops,
      Number.POSITIVE_INFINITY,
      () => {},
      () => Effect.void
    )
    const batch = new QuietBatchRequest(undefined as never, run, [0, 1], [0, 0])
    expect(batch.encodeFrames(1)).toBeUndefined()
  })
})

describe("a single-key request that encodes itself", () => {
  it("writes exactly the frame it describes, and only a plain get does", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 80 }),
        fc.integer({ min: 0, max: 1023 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (key, vbucket, opaque) => {
          const op = Either.getOrThrow(Ops.prepareGet(key, undefined, ctx))
          // A core that records no metrics is all the request reads at construction.
          const request = new ResumeRequest(
            { metrics: undefined } as never,
            op,
            0,
            Number.POSITIVE_INFINITY,
            0,
            () => {}
          )
          request.vbucket = vbucket
          request.opaque = opaque
          request.pipeline = { features: { json: true, xerror: false, selectBucket: false } } as never
          const described = encodeFrame(request.build(opaque))
          expect(request.selfEncodedLength()).toBe(described.length)
          const written = Buffer.alloc(described.length + 3, 0xee)
          expect(request.encodeInto(written, 3)).toBe(written.length)
          expect(written.subarray(3).toString("hex")).toBe(described.toString("hex"))
        }
      )
    )
    const gat = Either.getOrThrow(Ops.prepareGet("k", { ttl: 10 }, ctx))
    const upsert = Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, undefined, ctx))
    for (const op of [gat, upsert]) {
      expect(new ResumeRequest({ metrics: undefined } as never, op, 0, 0, 0, () => {}).selfEncodedLength()).toBe(0)
    }
  })
})
