import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { isSandboxFailure, type MapInput, Sandbox } from "../../src/server/views/Sandbox.js"
import { MAX_EMITS_PER_DOCUMENT } from "../../src/server/views/sandboxPrelude.js"
import { WorkerSandbox } from "../../src/server/views/WorkerSandbox.js"

const doc = (id: string, value: unknown): MapInput => [
  0,
  JSON.stringify(value),
  { id, rev: "1-0", flags: 0, expiration: 0, type: "json" }
]
const docs = [
  doc("a", { type: "beer", n: 1 }),
  doc("b", { type: "brewery", n: 2 }),
  [0, "{not json", doc("c", 0)[2]] as MapInput
]

const withSandbox = <A>(use: (sandbox: WorkerSandbox) => Promise<A>, timeoutMs = 300) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new WorkerSandbox("test", { timeoutMs, heapMb: 32 })),
    (sandbox) => Effect.promise(() => use(sandbox)),
    (sandbox) => Effect.promise(() => sandbox.close())
  )

const GOOD = "function (doc, meta) { if (doc.type === 'beer') emit([meta.id, doc.n], doc.n * 10) }"

/** A good map after an attack: the worker was replaced and the definitions compiled again. */
const recovers = async (sandbox: WorkerSandbox, index: number) => {
  const after = await sandbox.map(index, docs)
  if (isSandboxFailure(after)) throw new Error(`no recovery: ${after.reason}`)
  return after
}

describe("WorkerSandbox", () => {
  it.effect("answers as the in-process sandbox does: rows, per-document errors, invalid JSON", () =>
    withSandbox(async (worker) => {
      const local = new Sandbox("local", 300)
      const source =
        "function (doc, meta) { if (doc.n === 2) throw new Error('no twos'); emit(meta.id, doc.n); emit(null) }"
      expect(await worker.defineMap(0, source)).toBeUndefined()
      expect(local.defineMap(0, source)).toBeUndefined()
      expect(await worker.map(0, docs)).toEqual(local.map(0, docs))
      expect(await worker.map(0, docs)).toEqual({
        emits: [
          [
            ["a", 1],
            [null, null]
          ],
          [],
          []
        ],
        errors: [[1, "no twos"]],
        invalid: [2]
      })
      expect(await worker.defineReduce(0, "function (keys, values) { return sum(values) }")).toBeUndefined()
      expect(await worker.reduce(0, null, [1, 2, 3], false)).toBe("6")
      const bad = await worker.defineMap(1, "not a function at all")
      expect(isSandboxFailure(bad) && bad.reason).toBeTruthy()
    })
  )

  // Each attack: the call fails (or the document does), this process goes on, and the
  // next call is answered by a fresh worker with the definitions compiled again.
  it.effect("an endless map function is stopped at the budget; the next call is served", () =>
    withSandbox(async (sandbox) => {
      await sandbox.defineMap(0, GOOD)
      await sandbox.defineMap(1, "function (doc) { while (true) {} }")
      const started = performance.now()
      const looped = await sandbox.map(1, docs)
      expect(isSandboxFailure(looped) && looped.timeout).toBe(true)
      expect(performance.now() - started).toBeLessThan(2000)
      expect((await recovers(sandbox, 0)).emits[0]).toEqual([[["a", 1], 10]])
    })
  )

  it.effect("a definition that loops is stopped at the budget", () =>
    withSandbox(async (sandbox) => {
      const looped = await sandbox.defineMap(0, "(function () { while (true) {} })() || function (doc) {}")
      expect(isSandboxFailure(looped) && looped.timeout).toBe(true)
      expect(await sandbox.defineMap(1, GOOD)).toBeUndefined()
      expect((await recovers(sandbox, 1)).emits[0]).toEqual([[["a", 1], 10]])
    })
  )

  it.effect("a rejected promise and a dynamic import stay in the worker; finalizers and async waits do not exist", () =>
    withSandbox(async (sandbox) => {
      await sandbox.defineMap(0, GOOD)
      await sandbox.defineMap(1, "function (doc) { Promise.reject(new Error('x')); emit(1, 1) }")
      await sandbox.defineMap(2, "function (doc) { import('fs').then(function (fs) { emit(fs, 1) }) }")
      // Nothing that could run after the call returns is there to be used.
      await sandbox.defineMap(
        3,
        "function (doc, meta) { emit(meta.id, [typeof FinalizationRegistry, typeof WeakRef, typeof Atomics, typeof SharedArrayBuffer]) }"
      )
      for (const index of [1, 2]) {
        const answered = await sandbox.map(index, docs)
        if (isSandboxFailure(answered)) throw new Error(answered.reason)
        expect((await recovers(sandbox, 0)).emits[0]).toEqual([[["a", 1], 10]])
      }
      const missing = await sandbox.map(3, docs)
      if (isSandboxFailure(missing)) throw new Error(missing.reason)
      expect(missing.emits[0]).toEqual([["a", ["undefined", "undefined", "undefined", "undefined"]]])
      // The worker survived all of it.
      expect(sandbox.restarts).toBe(0)
    }, 500)
  )

  it.effect("an allocation bomb ends the worker, not the process", () =>
    withSandbox(async (sandbox) => {
      await sandbox.defineMap(0, GOOD)
      await sandbox.defineMap(1, "function (doc) { var a = []; while (true) a.push(new Array(100000).fill(doc)) }")
      const bombed = await sandbox.map(1, docs, 5000)
      expect(isSandboxFailure(bombed)).toBe(true)
      expect((await recovers(sandbox, 0)).emits[0]).toEqual([[["a", 1], 10]])
    }, 5000)
  )

  it.effect("emitting without end fails that document only", () =>
    withSandbox(async (sandbox) => {
      await sandbox.defineMap(
        0,
        "function (doc, meta) { if (meta.id === 'a') for (;;) emit(1, 'row'); else emit(meta.id, 1) }"
      )
      const result = await sandbox.map(0, docs)
      if (isSandboxFailure(result)) throw new Error(result.reason)
      expect(result.errors).toEqual([[0, `a document emitted more than ${MAX_EMITS_PER_DOCUMENT} rows`]])
      expect(result.emits[0]).toEqual([])
      expect(result.emits[1]).toEqual([["b", 1]])
      // The in-process sandbox the view engine uses today has the same prelude and caps.
      const local = new Sandbox("local", 300)
      local.defineMap(0, "function (doc, meta) { if (meta.id === 'a') for (;;) emit(1, 'row'); else emit(meta.id, 1) }")
      expect(local.map(0, docs)).toEqual(result)
    })
  )
})
