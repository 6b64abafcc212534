/**
 * Operation deadlines: a single-key operation's deadline shares a reading of the real
 * clock with the others of its pass of the microtask queue (every fiber a batch of
 * responses resumes starts its next operation in that pass), up to a bounded number of
 * them; everything else, and an Iops with a clock of its own, reads the clock each time.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Iops } from "../../src/Iops.js"
import { Core, type CoreSettings } from "../../src/internal/connection/Core.js"
import type { NodeOwner } from "../../src/internal/connection/NodeConnection.js"
import { makeNodeIops } from "../../src/internal/iops/node.js"

const settings: CoreSettings = {
  tls: false,
  bucket: undefined,
  operationTimeout: 2500,
  durabilityTimeout: 5000,
  durabilityInterval: 10
}

/** Deadlines need nothing of the owner. */
const owner = {} as NodeOwner

const busyFor = (ms: number): void => {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // spin: the clock moves, the microtask queue does not
  }
}

/** Lets every queued microtask (and the rest of this turn) run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("operation deadlines", () => {
  it("share one reading of the real clock among the single-key operations of a pass", async () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const before = performance.now()
    const first = core.keyDeadline()
    const after = performance.now()
    expect(first).toBeGreaterThanOrEqual(before + 2500)
    expect(first).toBeLessThanOrEqual(after + 2500)

    busyFor(5)
    expect(core.keyDeadline()).toBe(first)

    await nextTurn()
    busyFor(5)
    const later = core.keyDeadline()
    expect(later).toBeGreaterThanOrEqual(first + 5)
    expect(later).toBeLessThanOrEqual(performance.now() + 2500)
  })

  it("read the clock again after a bounded number of operations in one pass", () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const first = core.keyDeadline()
    busyFor(5)
    const deadlines = Array.from({ length: 200 }, () => core.keyDeadline())
    // The first reading serves a bounded number of operations, then a new one is taken.
    const sharing = deadlines.filter((d) => d === first).length
    expect(sharing).toBeGreaterThan(0)
    expect(sharing).toBeLessThan(100)
    expect(deadlines.at(-1)).toBeGreaterThanOrEqual(first + 5)
  })

  it("let go of a reading even when a test runner fakes queueMicrotask", async () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const original = globalThis.queueMicrotask
    globalThis.queueMicrotask = () => {}
    try {
      const first = core.keyDeadline()
      await nextTurn()
      busyFor(5)
      expect(core.keyDeadline()).toBeGreaterThanOrEqual(first + 5)
    } finally {
      globalThis.queueMicrotask = original
    }
  })

  it("of anything else read the real clock every time", () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const first = core.deadline()
    busyFor(5)
    expect(core.deadline()).toBeGreaterThanOrEqual(first + 5)
    expect(core.deadline(100)).toBeLessThanOrEqual(performance.now() + 100)
  })

  it("share readings on the Node Iops, which still tells its clock", () => {
    const iops = makeNodeIops()
    const t = iops.now!()
    expect(t).toBeGreaterThan(0)
    expect(t).toBeLessThanOrEqual(performance.now())
    const core = new Core(iops, owner, settings)
    const first = core.keyDeadline()
    busyFor(2)
    expect(core.keyDeadline()).toBe(first)
  })

  it("read an Iops's own clock every time", () => {
    let t = 1000
    const iops: Iops.Service = { ...makeNodeIops(), now: () => t }
    const core = new Core(iops, owner, settings)
    expect(core.keyDeadline()).toBe(3500)
    t = 1007
    expect(core.keyDeadline()).toBe(3507)
    expect(core.deadline(10)).toBe(1017)
  })
})
