/**
 * Operation deadlines: the real clock is read once per pass of the microtask queue
 * (every fiber a batch of responses resumes starts its next operation in that pass),
 * an Iops with a clock of its own is read for every operation.
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
  it("read the real clock once per pass of the microtask queue", async () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const before = performance.now()
    const first = core.deadline()
    const after = performance.now()
    expect(first).toBeGreaterThanOrEqual(before + 2500)
    expect(first).toBeLessThanOrEqual(after + 2500)

    busyFor(5)
    // Same pass: the same reading, with each operation's own timeout.
    expect(core.deadline()).toBe(first)
    expect(core.deadline(100)).toBeCloseTo(first - 2400, 9)

    await nextTurn()
    busyFor(5)
    const later = core.deadline()
    expect(later).toBeGreaterThanOrEqual(first + 5)
    expect(later).toBeLessThanOrEqual(performance.now() + 2500)
  })

  it("let go of a reading even when a test runner fakes queueMicrotask", async () => {
    const core = new Core(makeNodeIops(), owner, settings)
    const original = globalThis.queueMicrotask
    globalThis.queueMicrotask = () => {}
    try {
      const first = core.deadline()
      await nextTurn()
      busyFor(5)
      expect(core.deadline()).toBeGreaterThanOrEqual(first + 5)
    } finally {
      globalThis.queueMicrotask = original
    }
  })

  it("read an Iops's own clock for every operation", () => {
    let t = 1000
    const iops: Iops.Service = { ...makeNodeIops(), now: () => t }
    const core = new Core(iops, owner, settings)
    expect(core.deadline()).toBe(3500)
    t = 1007
    expect(core.deadline()).toBe(3507)
    expect(core.deadline(10)).toBe(1017)
  })
})
