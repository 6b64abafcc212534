/**
 * The end of a multi-key operation started without a fiber (`MultiCallback`), in
 * isolation: whatever the order of delivery, cancellation and the finishing fiber's
 * end, the caller hears exactly one outcome, or none once it cancelled.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { EffectRunner } from "../../src/internal/connection/Direct.js"
import { MultiCallback } from "../../src/internal/connection/Direct.js"
import type { MultiRun } from "../../src/internal/connection/Requests.js"

/** A callback, a runner and a run that record what happens to them. */
const harness = () => {
  const heard: Array<string> = []
  const fibers: Array<{
    effect: unknown
    succeed: (v: unknown) => void
    fail: (e: unknown) => void
    cancelled: boolean
  }> = []
  const runner: EffectRunner = (effect, succeed, fail) => {
    const fiber = { effect, succeed, fail, cancelled: false }
    fibers.push(fiber)
    return { cancel: () => (fiber.cancelled = true) }
  }
  let runCancelled = 0
  const callback = new MultiCallback(
    (value) => heard.push(`success ${String(value)}`),
    (error) => heard.push(`failure ${String(error)}`),
    runner
  )
  callback.run = { cancel: () => runCancelled++ } as unknown as MultiRun
  return { heard, fibers, callback, runCancelled: () => runCancelled }
}

describe("MultiCallback", () => {
  it("calls back once with the outcome it is delivered, and ignores anything after", () => {
    const { heard, callback, fibers } = harness()
    callback.deliver(Either.right("all"))
    callback.deliver(Either.left("late"))
    callback.deliver(Effect.succeed("later"))
    callback.cancel()
    expect(heard).toEqual(["success all"])
    expect(fibers).toEqual([])

    const failing = harness()
    failing.callback.deliver(Either.left("boom"))
    expect(failing.heard).toEqual(["failure boom"])
  })

  it("hands a delivered Effect to one fiber, whose outcome is the caller's", () => {
    const { heard, callback, fibers } = harness()
    const finish = Effect.succeed("retried")
    callback.deliver(finish)
    callback.deliver(Either.right("late"))
    expect(fibers.length).toBe(1)
    expect(fibers[0]!.effect).toBe(finish)
    expect(heard).toEqual([])
    fibers[0]!.succeed("done")
    expect(heard).toEqual(["success done"])
  })

  it("cancelled before its outcome: stops the run and calls nothing back", () => {
    const { heard, callback, fibers, runCancelled } = harness()
    callback.cancel()
    callback.cancel()
    callback.deliver(Either.right("all"))
    callback.deliver(Effect.succeed("retry"))
    expect(runCancelled()).toBe(1)
    expect(fibers).toEqual([])
    expect(heard).toEqual([])
  })

  it("cancelled while its fiber finishes: interrupts the fiber and drops what it ends with", () => {
    const { heard, callback, fibers, runCancelled } = harness()
    callback.deliver(Effect.succeed("retry"))
    callback.cancel()
    expect(fibers[0]!.cancelled).toBe(true)
    // The run had already finished: only the fiber needed stopping.
    expect(runCancelled()).toBe(0)
    // The interruption ends the fiber with a failure, which the caller must not hear.
    fibers[0]!.fail("interrupted")
    fibers[0]!.succeed("too late")
    expect(heard).toEqual([])
  })
})
