import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { KeyExistsError, NotFoundError, ProtocolError, TemporaryFailError } from "../../src/Errors.js"
import * as Ops from "../../src/internal/ops/index.js"
import { Magic, Opcode, Status } from "../../src/internal/protocol/constants.js"
import { encodeFrame, readFrameAt } from "../../src/internal/protocol/Frame.js"
import { MultiResult, missing, type OperationResult } from "../../src/Result.js"
import * as Transcoder from "../../src/Transcoder.js"

const ok = (key: string, cas = 1n): OperationResult => ({ key, cas, rc: 0, success: true })

describe("assembleMulti", () => {
  it("keeps input order and is allOk when every key succeeded", () => {
    const r = Either.getOrThrow(
      Ops.assembleMulti(["b", "a", "c"], [Either.right(ok("b")), Either.right(ok("a", 2n)), Either.right(ok("c"))])
    )
    expect(r).toBeInstanceOf(MultiResult)
    expect([...r.keys()]).toEqual(["b", "a", "c"])
    expect(r.get("a")).toEqual(ok("a", 2n))
    expect(r.allOk).toBe(true)
  })

  it("raises the first failure in key order, with key, rc, result and allResults", () => {
    const outcomes: ReadonlyArray<Either.Either<OperationResult, KeyExistsError | NotFoundError>> = [
      Either.right(ok("a")),
      Either.left(new KeyExistsError({ key: "b", status: 2 })),
      Either.left(new NotFoundError({ key: "c", status: 1 })),
      Either.right(ok("d"))
    ]
    const error = Either.getOrThrow(Either.flip(Ops.assembleMulti(["a", "b", "c", "d"], outcomes)))
    expect(error).toBeInstanceOf(KeyExistsError)
    expect(error._tag).toBe("KeyExistsError")
    expect(error.key).toBe("b")
    expect(error.rc).toBe(0x0c)
    expect(error.status).toBe(2)
    // The message is the original one, the key named once.
    expect(error.message).toBe(new KeyExistsError({ key: "b" }).message)
    expect(error.message.match(/key: "b"/g)).toHaveLength(1)
    expect(error.result).toEqual({ key: "b", cas: 0n, rc: 0x0c, success: false })
    expect([...error.allResults!.entries()]).toEqual([
      ["a", ok("a")],
      ["b", { key: "b", cas: 0n, rc: 0x0c, success: false }],
      ["c", { key: "c", cas: 0n, rc: 0x0d, success: false }],
      ["d", ok("d")]
    ])
    expect(error.allResults!.allOk).toBe(false)
    const [succeeded, failed] = error.splitResults()
    expect([...succeeded.keys()]).toEqual(["a", "d"])
    expect([...failed.keys()]).toEqual(["b", "c"])
  })

  it("quiet misses are results, not failures: allOk is false and nothing is raised", () => {
    const r = Either.getOrThrow(Ops.assembleMulti(["a", "b"], [Either.right(ok("a")), Either.right(missing("b"))]))
    expect(r.allOk).toBe(false)
    expect(r.get("b")).toEqual(missing("b"))
    const [succeeded, failed] = r.splitResults()
    expect([...succeeded.keys()]).toEqual(["a"])
    expect([...failed.keys()]).toEqual(["b"])
  })

  it("under quiet, other failures still raise, with the misses in allResults", () => {
    const error = Either.getOrThrow(
      Either.flip(
        Ops.assembleMulti<OperationResult, TemporaryFailError>(
          ["a", "b"],
          [Either.right(missing("a")), Either.left(new TemporaryFailError({ key: "b", message: "locked" }))]
        )
      )
    )
    expect(error).toBeInstanceOf(TemporaryFailError)
    expect(error.message).toBe('locked (key: "b")')
    expect(error.allResults!.get("a")).toEqual(missing("a"))
  })

  it("keeps the cause and accepts prepared operations as keys", () => {
    const cause = new Error("root")
    const ops = [{ key: "x" }]
    const error = Either.getOrThrow(Either.flip(Ops.assembleMulti(ops, [Either.left(new ProtocolError({ cause }))])))
    expect(error.cause).toBe(cause)
    expect(error.key).toBe("x")
    expect(() => Ops.assembleMulti(["a"], [])).toThrow(RangeError)
  })

  it("end to end: a getMulti's responses, one missing", () => {
    const ctx = {
      transcoder: Transcoder.defaultTranscoder,
      defaultFormat: Transcoder.FMT_JSON,
      quiet: false,
      now: () => 0,
      maxValueSize: 20 * 1024 * 1024,
      replicas: 1
    }
    const respond = (status: number, value?: string) =>
      readFrameAt(
        encodeFrame({
          magic: Magic.ClientResponse,
          opcode: Opcode.Get,
          status,
          cas: 5n,
          ...(value === undefined ? {} : { value: Buffer.from(value) })
        }),
        0
      )
    const loud = Either.getOrThrow(Ops.prepareGetMulti(["a", "b"], undefined, ctx))
    const error = Either.getOrThrow(
      Either.flip(
        Ops.assembleMulti(loud, [loud[0]!.decode(respond(0, "1")), loud[1]!.decode(respond(Status.KeyNotFound))])
      )
    )
    expect(error._tag).toBe("NotFoundError")
    expect(error.key).toBe("b")
    expect(error.allResults!.get("a")).toMatchObject({ value: 1, success: true })
    const quiet = Either.getOrThrow(Ops.prepareGetMulti(["a", "b"], { quiet: true }, ctx))
    const r = Either.getOrThrow(Ops.assembleMulti(quiet, [quiet[0]!.decode(respond(0, "1")), quiet[1]!.notFound()]))
    expect(r.allOk).toBe(false)
    expect(r.get("b")).toEqual(missing("b"))
  })
})
