import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Errors from "../../src/Errors.js"
import * as Ops from "../../src/internal/ops/index.js"
import { Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame, type Frame, type FrameInit, readFrameAt } from "../../src/internal/protocol/Frame.js"
import { isMissing, RC_NOT_FOUND } from "../../src/Result.js"
import * as Transcoder from "../../src/Transcoder.js"

const ctx = (quiet = false) => ({
  transcoder: Transcoder.defaultTranscoder,
  defaultFormat: Transcoder.FMT_JSON,
  quiet,
  now: () => Date.UTC(2024, 0, 1),
  maxValueSize: 20 * 1024 * 1024,
  replicas: 1
})

/** A response frame as it comes off the wire. */
const response = (opcode: number, status: number, fields: Partial<FrameInit> = {}): Frame =>
  readFrameAt(encodeFrame({ magic: Magic.ClientResponse, opcode, status, opaque: 1, ...fields }), 0)

const flags = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

const ok = <R>(e: Either.Either<R, unknown>): R => {
  if (Either.isLeft(e)) throw new Error(`expected success, got ${String(e.left)}`)
  return e.right
}
const err = <E>(e: Either.Either<unknown, E>): E => {
  if (Either.isRight(e))
    throw new Error(
      `expected a failure, got ${JSON.stringify(e.right, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`
    )
  return e.left
}

const getOp = (quiet = false, options = {}) => Either.getOrThrow(Ops.prepareGet("k", options, ctx(quiet)))

describe("value responses (get, GAT, lock, replica)", () => {
  it("decode the value by its flags, with the CAS", () => {
    const r = ok(
      getOp().decode(
        response(Opcode.Get, 0, { cas: 42n, extras: flags(Transcoder.FMT_JSON), value: Buffer.from('{"a":[1]}') })
      )
    )
    expect(r).toEqual({ key: "k", cas: 42n, rc: 0, success: true, value: { a: [1] }, flags: Transcoder.FMT_JSON })
    const text = ok(
      getOp().decode(response(Opcode.Get, 0, { extras: flags(Transcoder.FMT_UTF8), value: Buffer.from("hé") }))
    )
    expect(text.value).toBe("hé")
    // Legacy flags 0 read as JSON; no extras at all read as flags 0.
    expect(ok(getOp().decode(response(Opcode.Get, 0, { value: Buffer.from("7") }))).value).toBe(7)
  })

  it("noFormat returns the raw bytes", () => {
    const r = ok(
      getOp(false, { noFormat: true }).decode(
        response(Opcode.Get, 0, { extras: flags(Transcoder.FMT_JSON), value: Buffer.from("{bad") })
      )
    )
    expect(Buffer.isBuffer(r.value)).toBe(true)
    expect((r.value as Buffer).toString()).toBe("{bad")
  })

  it("a value the transcoder cannot read is a ValueFormatError with the key", () => {
    const e = err(
      getOp().decode(response(Opcode.Get, 0, { extras: flags(Transcoder.FMT_JSON), value: Buffer.from("{bad") }))
    )
    expect(e).toBeInstanceOf(Errors.ValueFormatError)
    expect(e.key).toBe("k")
    const snappy = err(getOp().decode(response(Opcode.Get, 0, { datatype: 0x02, value: Buffer.from("x") })))
    expect(snappy._tag).toBe("ValueFormatError")
    expect(snappy.message).toContain("Snappy")
  })

  it("quiet and GETQ/GAT responses are accepted for their loud twin; other opcodes are a ProtocolError", () => {
    expect(ok(getOp().decode(response(Opcode.GetQ, 0, { value: Buffer.from("1") }))).value).toBe(1)
    const gat = Either.getOrThrow(Ops.prepareGet("k", { ttl: 5 }, ctx()))
    expect(ok(gat.decode(response(Opcode.GatQ, 0, { value: Buffer.from("2") }))).value).toBe(2)
    const e = err(getOp().decode(response(Opcode.Set, 0)))
    expect(e).toBeInstanceOf(Errors.ProtocolError)
    expect(e.message).toContain("opcode 0x1")
  })

  it("lock and replica reads decode like get", () => {
    const lock = Either.getOrThrow(Ops.prepareLock("k", { ttl: 5 }, ctx()))
    expect(ok(lock.decode(response(Opcode.GetLocked, 0, { cas: 9n, value: Buffer.from('"v"') })))).toMatchObject({
      value: "v",
      cas: 9n
    })
    const replica = Either.getOrThrow(Ops.prepareGetReplica("k", { replicaIndex: 0 }, ctx()))
    expect(ok(replica.decode(response(Opcode.GetReplica, 0, { value: Buffer.from("3") }))).value).toBe(3)
  })
})

describe("status → error class", () => {
  const common: ReadonlyArray<readonly [number, string]> = [
    [Status.Invalid, "InvalidError"],
    [Status.NotMyVbucket, "NotMyVbucketError"],
    [Status.NoBucket, "BucketNotFoundError"],
    [Status.Locked, "TemporaryFailError"],
    [Status.AuthError, "AuthError"],
    [Status.NoAccess, "BucketNotFoundError"],
    [Status.UnknownCommand, "UnknownCommandError"],
    [Status.NoMemory, "NoMemoryError"],
    [Status.NotSupported, "NotSupportedError"],
    [Status.Busy, "BusyError"],
    [Status.TemporaryFailure, "TemporaryFailError"],
    [Status.Internal, "ProtocolError"],
    [0x99, "ProtocolError"]
  ]

  const cases: ReadonlyArray<
    readonly [string, Ops.PreparedOp<any, any>, number, ReadonlyArray<readonly [number, string]>]
  > = [
    [
      "get",
      getOp(),
      Opcode.Get,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "TemporaryFailError"],
        [Status.NotStored, "ProtocolError"]
      ]
    ],
    [
      "upsert",
      Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, { cas: 1n }, ctx())),
      Opcode.Set,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "KeyExistsError"],
        [Status.TooBig, "TooBigError"],
        // A write to a locked key without the lock's CAS is a CAS mismatch (SPEC.md §3.2).
        [Status.Locked, "KeyExistsError"],
        [Status.NotStored, "ProtocolError"],
        [Status.DeltaBadval, "ProtocolError"]
      ]
    ],
    [
      "insert",
      Either.getOrThrow(Ops.prepareStore("insert", "k", 1, {}, ctx())),
      Opcode.Add,
      [
        [Status.KeyExists, "KeyExistsError"],
        [Status.NotStored, "KeyExistsError"],
        [Status.TooBig, "TooBigError"]
      ]
    ],
    [
      "replace (quiet connection: still NotFoundError)",
      Either.getOrThrow(Ops.prepareStore("replace", "k", 1, {}, ctx(true))),
      Opcode.Replace,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.NotStored, "NotFoundError"],
        [Status.KeyExists, "KeyExistsError"],
        [Status.Locked, "KeyExistsError"]
      ]
    ],
    [
      "append",
      Either.getOrThrow(Ops.prepareConcat("append", "k", "x", {}, ctx(true))),
      Opcode.Append,
      [
        [Status.NotStored, "NotStoredError"],
        [Status.KeyNotFound, "NotStoredError"],
        [Status.KeyExists, "KeyExistsError"],
        [Status.Locked, "KeyExistsError"],
        [Status.TooBig, "TooBigError"]
      ]
    ],
    [
      "prepend",
      Either.getOrThrow(Ops.prepareConcat("prepend", "k", "x", {}, ctx())),
      Opcode.Prepend,
      [
        [Status.NotStored, "NotStoredError"],
        [Status.Locked, "KeyExistsError"]
      ]
    ],
    [
      "remove",
      Either.getOrThrow(Ops.prepareRemove("k", {}, ctx())),
      Opcode.Delete,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "KeyExistsError"],
        [Status.Locked, "KeyExistsError"]
      ]
    ],
    [
      "counter (quiet connection: still NotFoundError)",
      Either.getOrThrow(Ops.prepareCounter("k", {}, ctx(true))),
      Opcode.Increment,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.DeltaBadval, "DeltaBadvalError"],
        [Status.KeyExists, "TemporaryFailError"]
      ]
    ],
    [
      "touch",
      Either.getOrThrow(Ops.prepareTouch("k", { ttl: 1 }, ctx())),
      Opcode.Touch,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "TemporaryFailError"]
      ]
    ],
    [
      "lock",
      Either.getOrThrow(Ops.prepareLock("k", { ttl: 1 }, ctx())),
      Opcode.GetLocked,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "TemporaryFailError"]
      ]
    ],
    [
      "unlock",
      Either.getOrThrow(Ops.prepareUnlock("k", 3n, ctx(true))),
      Opcode.UnlockKey,
      [
        [Status.KeyNotFound, "NotFoundError"],
        [Status.KeyExists, "TemporaryFailError"],
        [0x0e, "TemporaryFailError"]
      ]
    ],
    [
      "getReplica",
      Either.getOrThrow(Ops.prepareGetReplica("k", {}, ctx())),
      Opcode.GetReplica,
      [[Status.KeyNotFound, "NotFoundError"]]
    ]
  ]

  it("each operation maps its data statuses, the common ones, and refuses the unexpected", () => {
    for (const [name, op, opcode, own] of cases) {
      const overridden = new Set(own.map(([status]) => status))
      for (const [status, tag] of [...own, ...common.filter(([status]) => !overridden.has(status))]) {
        const e = err(op.decode(response(opcode, status)))
        expect([name, status, e._tag]).toEqual([name, status, tag])
        expect(e).toBeInstanceOf(Errors.CouchbaseErrorBase)
        expect([name, status, e.key, e.status]).toEqual([name, status, "k", status])
      }
    }
  })

  it("messages say what to do", () => {
    const locked = err(
      Either.getOrThrow(Ops.prepareUnlock("k", 3n, ctx())).decode(response(Opcode.UnlockKey, Status.Locked))
    )
    expect(locked.message).toContain("not locked with this CAS")
    const unexpected = err(getOp().decode(response(Opcode.Get, Status.NotStored)))
    expect(unexpected.message).toContain("status 0x05")
    const exists = err(
      Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, {}, ctx())).decode(response(Opcode.Set, Status.KeyExists))
    )
    expect(exists.message).toContain("read it again")
    expect(exists.rc).toBe(0x0c)
  })
})

describe("quiet misses", () => {
  const quietOps: ReadonlyArray<readonly [string, (quiet: boolean) => Ops.PreparedOp<any, any>, number]> = [
    ["get", (q) => Either.getOrThrow(Ops.prepareGet("k", {}, ctx(q))), Opcode.Get],
    ["getReplica", (q) => Either.getOrThrow(Ops.prepareGetReplica("k", {}, ctx(q))), Opcode.GetReplica],
    ["lock", (q) => Either.getOrThrow(Ops.prepareLock("k", { ttl: 1 }, ctx(q))), Opcode.GetLocked],
    ["touch", (q) => Either.getOrThrow(Ops.prepareTouch("k", { ttl: 1 }, ctx(q))), Opcode.Touch],
    ["remove", (q) => Either.getOrThrow(Ops.prepareRemove("k", {}, ctx(q))), Opcode.Delete]
  ]

  it("get, getReplica, lock, touch and remove turn KEY_ENOENT into a MissingResult under quiet", () => {
    for (const [name, make, opcode] of quietOps) {
      const miss = ok(make(true).decode(response(opcode, Status.KeyNotFound)))
      expect([name, miss]).toEqual([
        name,
        { key: "k", cas: 0n, rc: RC_NOT_FOUND, success: false, value: undefined, flags: 0 }
      ])
      expect(isMissing(miss)).toBe(true)
      expect(err(make(false).decode(response(opcode, Status.KeyNotFound)))).toBeInstanceOf(Errors.NotFoundError)
      // Quiet suppresses only "not found".
      expect(err(make(true).decode(response(opcode, Status.KeyExists)))._tag).not.toBe("NotFoundError")
    }
  })

  it("the per-call quiet option overrides the connection default both ways", () => {
    const loud = Either.getOrThrow(Ops.prepareGet("k", { quiet: false }, ctx(true)))
    expect(err(loud.decode(response(Opcode.Get, Status.KeyNotFound)))._tag).toBe("NotFoundError")
    const quiet = Either.getOrThrow(Ops.prepareRemove("k", { quiet: true }, ctx(false)))
    expect(isMissing(ok(quiet.decode(response(Opcode.Delete, Status.KeyNotFound))))).toBe(true)
  })

  it("a quiet request left unanswered before the NOOP is a miss (or NotFoundError when loud)", () => {
    expect(isMissing(ok(getOp(true).notFound()))).toBe(true)
    expect(err(getOp(false).notFound())._tag).toBe("NotFoundError")
  })
})

describe("mutation and counter responses", () => {
  it("mutations return the new CAS", () => {
    const op = Either.getOrThrow(Ops.prepareStore("upsert", "k", 1, {}, ctx()))
    expect(ok(op.decode(response(Opcode.Set, 0, { cas: 0xfedcba9876543210n })))).toEqual({
      key: "k",
      cas: 0xfedcba9876543210n,
      rc: 0,
      success: true
    })
  })

  it("counter returns the value after the update as a bigint", () => {
    const op = Either.getOrThrow(Ops.prepareCounter("k", { delta: 5 }, ctx()))
    const value = Buffer.alloc(8)
    value.writeBigUInt64BE(0xffffffffffffffffn)
    expect(ok(op.decode(response(Opcode.Increment, 0, { cas: 3n, value })))).toEqual({
      key: "k",
      cas: 3n,
      rc: 0,
      success: true,
      value: 0xffffffffffffffffn,
      flags: 0
    })
    const short = err(op.decode(response(Opcode.Increment, 0, { value: Buffer.alloc(4) })))
    expect(short._tag).toBe("ProtocolError")
    const decrement = Either.getOrThrow(Ops.prepareCounter("k", { delta: -1 }, ctx()))
    expect(ok(decrement.decode(response(Opcode.Decrement, 0, { value: Buffer.alloc(8) }))).value).toBe(0n)
  })
})

describe("OBSERVE responses", () => {
  const body = (entries: ReadonlyArray<readonly [number, string, number, bigint]>) =>
    Buffer.concat(
      entries.map(([vb, key, state, cas]) => {
        const k = Buffer.from(key)
        const b = Buffer.alloc(4 + k.length + 9)
        b.writeUInt16BE(vb, 0)
        b.writeUInt16BE(k.length, 2)
        k.copy(b, 4)
        b[4 + k.length] = state
        b.writeBigUInt64BE(cas, 5 + k.length)
        return b
      })
    )

  it("decode every key's state and CAS", () => {
    const entries = ok(
      Ops.decodeObserveResponse(
        response(Opcode.Observe, 0, {
          value: body([
            [1, "a", Ops.KEY_PERSISTED, 10n],
            [2, "bb", Ops.KEY_NOT_FOUND, 0n]
          ])
        }),
        "a"
      )
    )
    expect(entries.map((e) => [e.vbucket, e.key.toString(), e.keyState, e.cas])).toEqual([
      [1, "a", 0x01, 10n],
      [2, "bb", 0x80, 0n]
    ])
    expect(Ops.observeInfo(entries[0]!, true)).toEqual({ flags: 1, cas: 10n, fromMaster: true })
  })

  it("a truncated body, a wrong opcode or a status is an error", () => {
    const full = body([[1, "a", 0, 1n]])
    expect(
      err(Ops.decodeObserveResponse(response(Opcode.Observe, 0, { value: full.subarray(0, full.length - 1) }), "a"))
        ._tag
    ).toBe("ProtocolError")
    expect(err(Ops.decodeObserveResponse(response(Opcode.Get, 0), "a"))._tag).toBe("ProtocolError")
    expect(err(Ops.decodeObserveResponse(response(Opcode.Observe, Status.NotSupported), "a"))._tag).toBe(
      "NotSupportedError"
    )
  })

  it("observeResult puts the master first and carries its CAS", () => {
    const r = Ops.observeResult("k", [
      { flags: 0, cas: 5n, fromMaster: false },
      { flags: 1, cas: 6n, fromMaster: true }
    ])
    expect(r).toEqual({
      key: "k",
      cas: 6n,
      rc: 0,
      success: true,
      value: [
        { flags: 1, cas: 6n, fromMaster: true },
        { flags: 0, cas: 5n, fromMaster: false }
      ]
    })
    expect(Ops.observeResult("k", [{ flags: 0x80, cas: 0n, fromMaster: true }]).cas).toBe(0n)
  })
})

describe("STAT responses", () => {
  it("decode statistics and the end of the group", () => {
    expect(
      ok(Ops.decodeStat(response(Opcode.Stat, 0, { key: Buffer.from("curr_items"), value: Buffer.from("12") }), ""))
    ).toEqual({
      _tag: "Stat",
      name: "curr_items",
      value: "12"
    })
    expect(ok(Ops.decodeStat(response(Opcode.Stat, 0), ""))).toEqual({ _tag: "End" })
    expect(err(Ops.decodeStat(response(Opcode.Stat, Status.UnknownCommand), "bogus"))._tag).toBe("UnknownCommandError")
  })

  it("collect per node, integers as numbers when exact", () => {
    const c = new Ops.StatsCollector()
    c.add("h1:11210", "curr_items", "12")
    c.add("h2:11210", "curr_items", "-3")
    c.add("h1:11210", "version", "7.6.0")
    c.add("h1:11210", "huge", "18446744073709551615")
    c.add("h1:11210", "ratio", "0.5")
    expect(c.result()).toEqual({
      curr_items: { "h1:11210": 12, "h2:11210": -3 },
      version: { "h1:11210": "7.6.0" },
      huge: { "h1:11210": "18446744073709551615" },
      ratio: { "h1:11210": "0.5" }
    })
  })

  it("groups: default, one, several", () => {
    expect(Either.getOrThrow(Ops.validateStats(undefined))).toEqual([""])
    expect(Either.getOrThrow(Ops.validateStats("memory"))).toEqual(["memory"])
    expect(Either.getOrThrow(Ops.validateStats(["memory", "key k 0"]))).toEqual(["memory", "key k 0"])
  })
})
