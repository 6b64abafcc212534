import { describe, expect, it } from "@effect/vitest"
import * as Ops from "../../src/internal/ops/index.js"
import type { ObserveInfo } from "../../src/Result.js"

const { KEY_DELETED, KEY_FOUND, KEY_NOT_FOUND, KEY_PERSISTED, evaluateDurability } = Ops

const info = (flags: number, cas: bigint, fromMaster = false): ObserveInfo => ({ flags, cas, fromMaster })
const need = (persistTo: number, replicateTo: number, checkRemoved = false) => ({
  persistTo,
  replicateTo,
  checkRemoved
})

describe("evaluateDurability (OBSERVE polling)", () => {
  it("persistTo counts nodes with the item on disk, the master included and required", () => {
    expect(evaluateDurability("k", need(1, 0), 5n, [info(KEY_PERSISTED, 5n, true)])._tag).toBe("Satisfied")
    expect(evaluateDurability("k", need(1, 0), 5n, [info(KEY_FOUND, 5n, true)])).toEqual({
      _tag: "Pending",
      persisted: 0,
      replicated: 0
    })
    // Two copies on disk but not the master's: the master must be one of them.
    expect(
      evaluateDurability("k", need(2, 0), 5n, [
        info(KEY_FOUND, 5n, true),
        info(KEY_PERSISTED, 5n),
        info(KEY_PERSISTED, 5n)
      ])._tag
    ).toBe("Pending")
    expect(evaluateDurability("k", need(2, 0), 5n, [info(KEY_PERSISTED, 5n, true), info(KEY_PERSISTED, 5n)])._tag).toBe(
      "Satisfied"
    )
  })

  it("replicateTo counts replicas with the item in memory (or on disk), not the master", () => {
    expect(evaluateDurability("k", need(0, 1), 5n, [info(KEY_PERSISTED, 5n, true)])._tag).toBe("Pending")
    expect(evaluateDurability("k", need(0, 1), 5n, [info(KEY_FOUND, 5n, true), info(KEY_FOUND, 5n)])._tag).toBe(
      "Satisfied"
    )
    expect(
      evaluateDurability("k", need(0, 2), 5n, [info(KEY_FOUND, 5n, true), info(KEY_PERSISTED, 5n), info(KEY_FOUND, 5n)])
        ._tag
    ).toBe("Satisfied")
  })

  it("only copies with the mutation's CAS count", () => {
    // The replica still holds the previous version.
    expect(evaluateDurability("k", need(0, 1), 5n, [info(KEY_FOUND, 5n, true), info(KEY_FOUND, 4n)])._tag).toBe(
      "Pending"
    )
    // Without a CAS any copy counts.
    expect(evaluateDurability("k", need(0, 1), 0n, [info(KEY_FOUND, 5n, true), info(KEY_FOUND, 4n)])._tag).toBe(
      "Satisfied"
    )
  })

  it("a master with another CAS means the key changed: KeyExistsError", () => {
    const p = evaluateDurability("k", need(1, 0), 5n, [info(KEY_PERSISTED, 6n, true)])
    expect(p._tag).toBe("Failed")
    expect(p._tag === "Failed" && p.error._tag).toBe("KeyExistsError")
    expect(p._tag === "Failed" && p.error.key).toBe("k")
  })

  it("a master without the key fails a presence check at once: NotFoundError", () => {
    for (const state of [KEY_NOT_FOUND, KEY_DELETED]) {
      const p = evaluateDurability("k", need(0, 1), 0n, [info(state, 0n, true)])
      expect(p._tag === "Failed" && p.error._tag).toBe("NotFoundError")
    }
    // A replica without it is merely behind.
    expect(evaluateDurability("k", need(0, 1), 5n, [info(KEY_FOUND, 5n, true), info(KEY_NOT_FOUND, 0n)])._tag).toBe(
      "Pending"
    )
  })

  it("checkRemoved waits until the key is gone: deleted in memory counts as replicated, not found as persisted", () => {
    const gone = need(1, 1, true)
    expect(evaluateDurability("k", gone, 0n, [info(KEY_NOT_FOUND, 0n, true), info(KEY_NOT_FOUND, 0n)])._tag).toBe(
      "Satisfied"
    )
    expect(evaluateDurability("k", gone, 0n, [info(KEY_DELETED, 0n, true), info(KEY_NOT_FOUND, 0n)])._tag).toBe(
      "Pending"
    )
    expect(evaluateDurability("k", need(0, 1, true), 0n, [info(KEY_FOUND, 5n, true), info(KEY_DELETED, 0n)])._tag).toBe(
      "Satisfied"
    )
    expect(evaluateDurability("k", gone, 0n, [info(KEY_FOUND, 5n, true), info(KEY_FOUND, 5n)])._tag).toBe("Pending")
  })

  it("no answers yet is pending", () => {
    expect(evaluateDurability("k", need(1, 1), 5n, [])).toEqual({ _tag: "Pending", persisted: 0, replicated: 0 })
  })
})
