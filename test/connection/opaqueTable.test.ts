import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { OpaqueTable } from "../../src/internal/connection/OpaqueTable.js"

// Commands on a table and on a Map model: opaques mostly in sequence, as a pipeline
// hands them out, with some requests left in flight for long (they collide with later
// ones in the ring) and some far-away opaques (the counter wrapping).
const command = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ _tag: "addNext" as const }) },
  { weight: 1, arbitrary: fc.nat(0xffffffff).map((opaque) => ({ _tag: "addAt" as const, opaque })) },
  { weight: 5, arbitrary: fc.nat(40).map((age) => ({ _tag: "deleteOld" as const, age })) },
  { weight: 2, arbitrary: fc.nat(2000).map((back) => ({ _tag: "get" as const, back })) }
)

describe("OpaqueTable", () => {
  it("behaves as a Map by opaque under in-sequence, colliding and wrapped opaques", () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 3000 }), (commands) => {
        const table = new OpaqueTable<{ readonly opaque: number }>()
        const model = new Map<number, { readonly opaque: number }>()
        const order: Array<number> = []
        let next = 1
        const add = (opaque: number) => {
          if (model.has(opaque)) return
          const request = { opaque }
          table.add(request)
          model.set(opaque, request)
          order.push(opaque)
        }
        for (const c of commands) {
          if (c._tag === "addNext") add(next++)
          else if (c._tag === "addAt") add(c.opaque)
          else if (c._tag === "deleteOld") {
            // Mostly the oldest answers first; `age` picks one of the older ones.
            if (order.length === 0) continue
            const index = Math.min(c.age, order.length - 1)
            const opaque = order.splice(index, 1)[0]!
            expect(table.delete(opaque)).toBe(model.delete(opaque))
            expect(table.delete(opaque)).toBe(false)
          } else {
            const opaque = Math.max(0, next - c.back)
            expect(table.get(opaque)).toBe(model.get(opaque))
          }
          expect(table.size).toBe(model.size)
        }
        expect(new Set(table.values())).toEqual(new Set(model.values()))
        table.clear()
        expect(table.size).toBe(0)
        for (const opaque of model.keys()) expect(table.get(opaque)).toBeUndefined()
      }),
      { numRuns: 300 }
    )
  })

  it("keeps requests that outlive a whole ring of newer ones, and grows", () => {
    const table = new OpaqueTable<{ readonly opaque: number }>()
    const stuck = { opaque: 1 }
    table.add(stuck)
    // 10 000 later requests come and go through slot 1's neighbourhood and slot 1 itself.
    for (let opaque = 2; opaque < 10_000; opaque++) {
      const r = { opaque }
      table.add(r)
      expect(table.get(opaque)).toBe(r)
      if (opaque % 3 !== 0) expect(table.delete(opaque)).toBe(true)
    }
    expect(table.get(1)).toBe(stuck)
    expect(table.size).toBe(1 + Math.floor((10_000 - 1) / 3))
    for (let opaque = 3; opaque < 10_000; opaque += 3) expect(table.get(opaque)?.opaque).toBe(opaque)
    expect(table.delete(1)).toBe(true)
    expect(table.get(1)).toBeUndefined()
  })
})
