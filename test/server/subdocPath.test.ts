/**
 * The embedded server's sub-document path engine on its own: kv_engine's path syntax
 * (dots, brackets, `-1`, backtick quoting) and each operation's statuses, with a
 * property: what an upsert writes at a path, a lookup of that path reads back.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  addUnique,
  count,
  counter,
  insert,
  lookup,
  parsePath,
  push,
  remove,
  SubdocFailure,
  SubdocStatus,
  setKey
} from "../../src/server/subdoc/path.js"

/** The status `f` fails with, or "ok". */
const statusOf = (f: () => unknown): number | "ok" => {
  try {
    f()
    return "ok"
  } catch (error) {
    if (error instanceof SubdocFailure) return error.status
    throw error
  }
}

describe("sub-document paths", () => {
  it("parses keys, indexes, the last element and backtick quoting; refuses malformed paths", () => {
    expect(parsePath("")).toEqual([])
    expect(parsePath("a.b[0][-1].c")).toEqual(["a", "b", 0, -1, "c"])
    expect(parsePath("`dot.ted`.`back``tick`")).toEqual(["dot.ted", "back`tick"])
    expect(parsePath("[2]")).toEqual([2])
    for (const bad of ["a.", ".a", "a..b", "a[", "a[x]", "a[-2]", "a]", "`open", "a[0]b"]) {
      expect([bad, statusOf(() => parsePath(bad))]).toEqual([bad, SubdocStatus.PathInvalid])
    }
    expect(statusOf(() => parsePath("a".repeat(1025)))).toBe(SubdocStatus.PathTooBig)
  })

  it("answers each operation's statuses", () => {
    const doc = () => ({ s: "x", a: [1, 2], o: { k: 1 }, mixed: [1, { x: 1 }] })
    expect(lookup(doc(), parsePath("a[-1]"))).toBe(2)
    expect(statusOf(() => lookup(doc(), parsePath("s.x")))).toBe(SubdocStatus.PathMismatch)
    expect(statusOf(() => lookup(doc(), parsePath("a[5]")))).toBe(SubdocStatus.PathNotFound)
    expect(statusOf(() => lookup(doc(), parsePath("o[0]")))).toBe(SubdocStatus.PathMismatch)
    expect(statusOf(() => setKey(doc(), parsePath("o.k"), 2, "add", false))).toBe(SubdocStatus.PathExists)
    expect(statusOf(() => setKey(doc(), parsePath("n.k"), 2, "upsert", false))).toBe(SubdocStatus.PathNotFound)
    const made = doc()
    setKey(made, parsePath("n.m.k"), 2, "upsert", true)
    expect(lookup(made, parsePath("n.m.k"))).toBe(2)
    expect(statusOf(() => setKey(doc(), parsePath("a[0]"), 9, "upsert", false))).toBe(SubdocStatus.PathInvalid)
    expect(statusOf(() => remove(doc(), parsePath("o.missing")))).toBe(SubdocStatus.PathNotFound)
    const pushed = doc()
    push(pushed, parsePath("a"), [3, 4], false, false)
    push(pushed, parsePath("a"), [0], true, false)
    insert(pushed, parsePath("a[2]"), [1.5])
    expect(pushed.a).toEqual([0, 1, 1.5, 2, 3, 4])
    expect(statusOf(() => insert(doc(), parsePath("a[9]"), [1]))).toBe(SubdocStatus.PathNotFound)
    expect(statusOf(() => push(doc(), parsePath("o"), [1], false, false))).toBe(SubdocStatus.PathMismatch)
    expect(statusOf(() => addUnique(doc(), parsePath("a"), 1, false))).toBe(SubdocStatus.PathExists)
    expect(statusOf(() => addUnique(doc(), parsePath("mixed"), 3, false))).toBe(SubdocStatus.PathMismatch)
    expect(statusOf(() => addUnique(doc(), parsePath("a"), { x: 1 }, false))).toBe(SubdocStatus.ValueCantInsert)
    expect(counter(doc(), parsePath("o.k"), "-3", false)).toBe(-2n)
    expect(counter(doc(), parsePath("o.fresh"), "5", false)).toBe(5n)
    expect(statusOf(() => counter(doc(), parsePath("o.k"), "0", false))).toBe(SubdocStatus.DeltaInvalid)
    expect(statusOf(() => counter(doc(), parsePath("o.k"), "1.5", false))).toBe(SubdocStatus.DeltaInvalid)
    expect(statusOf(() => counter(doc(), parsePath("s"), "1", false))).toBe(SubdocStatus.PathMismatch)
    expect(statusOf(() => counter({ big: 2 ** 53 - 1 }, parsePath("big"), "1", false))).toBe(SubdocStatus.NumRange)
    expect([count(doc(), parsePath("a")), count(doc(), parsePath("o"))]).toEqual([2, 1])
    expect(statusOf(() => count(doc(), parsePath("s")))).toBe(SubdocStatus.PathMismatch)
  })

  it.prop(
    "an upsert at a path of keys, made with mkdir_p, is what a lookup of it reads",
    [fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), fc.jsonValue()],
    ([keys, value]) => {
      const path = keys.map((k) => `\`${k.replaceAll("`", "``")}\``).join(".")
      const doc = {}
      setKey(doc, parsePath(path), value, "upsert", true)
      expect(lookup(doc, parsePath(path))).toEqual(value)
      expect(parsePath(path)).toEqual(keys)
    }
  )
})
