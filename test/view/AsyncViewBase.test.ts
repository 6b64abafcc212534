import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, beforeAll, describe, expect, it, vi } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { AsyncViewBase, asyncQuery } from "../../src/AsyncViewBase.js"
import { AlreadyQueriedError, ArgumentError, HTTPError } from "../../src/Errors.js"
import * as View from "../../src/View.js"
import { beerBucket, type CapiServer, startCapi } from "./helpers.js"

let server: CapiServer
let runtime: ManagedRuntime.ManagedRuntime<View.View, never>
let service: View.View.Service

beforeAll(async () => {
  server = await startCapi("beer-sample", await beerBucket())
  // Callback integrators get the service from a runtime they own, as here.
  runtime = ManagedRuntime.make(
    View.layer({
      capiBaseUrls: Effect.sync(() => [server.url]),
      bucket: "beer-sample",
      username: "Administrator",
      password: Redacted.make("password")
    }).pipe(Layer.provide(NodeHttpClient.layer))
  )
  service = await runtime.runPromise(View.View)
})
afterAll(async () => {
  await runtime.dispose()
  await server.close()
})

type Call =
  | { readonly on: "rows"; readonly n: number }
  | { readonly on: "error"; readonly error: unknown }
  | { readonly on: "done" }

/** Records every callback, and resolves `finished` at onDone. */
class Recorder extends AsyncViewBase {
  readonly calls: Array<Call> = []
  readonly keys: Array<unknown> = []
  throwInRows = false
  private resolve: () => void = () => undefined
  readonly finished = new Promise<void>((r) => {
    this.resolve = r
  })
  totalAtDone: number | undefined

  onRows(rows: ReadonlyArray<View.ViewRow>): void {
    this.calls.push({ on: "rows", n: rows.length })
    for (const r of rows) this.keys.push(r.key)
    if (this.throwInRows) throw new Error("boom in onRows")
  }
  onError(error: unknown): void {
    this.calls.push({ on: "error", error })
  }
  onDone(): void {
    this.totalAtDone = this.totalRows
    this.calls.push({ on: "done" })
    this.resolve()
  }
}

const withinSeconds = <A>(p: Promise<A>, s = 10): Promise<A> =>
  Promise.race([
    p,
    new Promise<A>((_, reject) => setTimeout(() => reject(new Error("onDone was never called")), s * 1000))
  ])

describe("AsyncViewBase", () => {
  it("calls onRows with the rows, then onDone last; totals are known by then", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", { limit: 250 }).start()
    await withinSeconds(v.finished)
    expect(v.calls.at(-1)).toEqual({ on: "done" })
    expect(v.calls.slice(0, -1).every((c) => c.on === "rows" && c.n > 0)).toBe(true)
    expect(v.calls.slice(0, -1).reduce((n, c) => n + (c.on === "rows" ? c.n : 0), 0)).toBe(250)
    expect(v.rowsReturned).toBe(250)
    expect(v.totalAtDone).toBe(7303)
    expect(v.errors).toEqual([])
    const direct = await runtime.runPromise(service.queryCollect("beer", "brewery_beers", { limit: 250 }))
    expect(v.keys).toEqual(direct.rows.map((r) => r.key))
  })

  it("rowsPerCall = N hands over batches of exactly N rows, the rest at the end", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", { limit: 250 }, { rowsPerCall: 100 }).start()
    await withinSeconds(v.finished)
    expect(v.calls).toEqual([{ on: "rows", n: 100 }, { on: "rows", n: 100 }, { on: "rows", n: 50 }, { on: "done" }])
  })

  it("rowsPerCall = -1 makes one call with every row", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", { limit: 1234 })
    v.rowsPerCall = -1
    v.start()
    await withinSeconds(v.finished)
    expect(v.calls).toEqual([{ on: "rows", n: 1234 }, { on: "done" }])
  })

  it("a query with no rows calls onDone only", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", { key: ["no such brewery"] }).start()
    await withinSeconds(v.finished)
    expect(v.calls).toEqual([{ on: "done" }])
  })

  it("a missing view: onError with the HTTPError 404, then onDone", async () => {
    const v = new Recorder(service, "beer", "no_such_view").start()
    await withinSeconds(v.finished)
    expect(v.calls.map((c) => c.on)).toEqual(["error", "done"])
    const error = (v.calls[0] as { error: unknown }).error
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).httpStatus).toBe(404)
  })

  it("invalid parameters: onError with the ArgumentError, then onDone", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", { limit: true } as never).start()
    await withinSeconds(v.finished)
    expect(v.calls.map((c) => c.on)).toEqual(["error", "done"])
    expect((v.calls[0] as { error: { _tag: string } }).error._tag).toBe("ArgumentError")
  })

  it("an exception in onRows stops the query: onError with it, then onDone", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", {}, { rowsPerCall: 10 })
    v.throwInRows = true
    v.start()
    await withinSeconds(v.finished)
    expect(v.calls).toHaveLength(3)
    expect(v.calls[0]).toEqual({ on: "rows", n: 10 })
    expect((v.calls[1] as { error: Error }).error.message).toBe("boom in onRows")
    expect(v.calls[2]).toEqual({ on: "done" })
  })

  it("start() twice throws AlreadyQueriedError; cancel() still ends with onDone", async () => {
    const v = new Recorder(service, "beer", "brewery_beers", {}, { rowsPerCall: 1 }).start()
    expect(v.started).toBe(true)
    expect(() => v.start()).toThrow(AlreadyQueriedError)
    v.cancel()
    await withinSeconds(v.finished)
    expect(v.calls.at(-1)).toEqual({ on: "done" })
    expect(v.calls.some((c) => c.on === "error")).toBe(false)
    expect(v.rowsReturned).toBeLessThan(7303)
  })

  it("asyncQuery builds an unstarted object of the given class (Python's itercls)", async () => {
    const v = asyncQuery(Recorder, service, "beer", "by_location", { group_level: 1, limit: 3 })
    expect(v).toBeInstanceOf(Recorder)
    expect(v.started).toBe(false)
    v.start()
    await withinSeconds(v.finished)
    expect(v.calls).toEqual([{ on: "rows", n: 3 }, { on: "done" }])
    expect(v.totalRows).toBe(undefined)
  })

  it("asyncQuery refuses an itercls that is not an AsyncViewBase, at run time too", () => {
    class NotAView {}
    for (const bad of [NotAView, undefined, "Recorder", () => undefined]) {
      expect(() => asyncQuery(bad as any, service, "beer", "brewery_beers")).toThrow(ArgumentError)
    }
    expect(() => asyncQuery(NotAView as any, service, "beer", "brewery_beers")).toThrow(
      "itercls must be a subclass of AsyncViewBase, got class NotAView"
    )
  })

  it("an onRows that returns a Promise holds the next rows back until it settles", async () => {
    class Slow extends Recorder {
      busy = 0
      mostAtOnce = 0
      override async onRows(rows: ReadonlyArray<View.ViewRow>): Promise<void> {
        this.busy++
        this.mostAtOnce = Math.max(this.mostAtOnce, this.busy)
        await new Promise((resolve) => setTimeout(resolve, 3))
        super.onRows(rows)
        this.busy--
      }
    }
    const v = new Slow(service, "beer", "brewery_beers", { limit: 1000 }, { rowsPerCall: 50 }).start()
    await withinSeconds(v.finished)
    expect(v.calls.filter((c) => c.on === "rows")).toHaveLength(20)
    expect(v.mostAtOnce).toBe(1)
    expect(v.keys).toHaveLength(1000)
    // A rejection ends the query like a throw: onError with the reason, then onDone.
    class Rejecting extends Recorder {
      override async onRows(rows: ReadonlyArray<View.ViewRow>): Promise<void> {
        super.onRows(rows)
        throw new Error("no room for these rows")
      }
    }
    const r = new Rejecting(service, "beer", "brewery_beers", { limit: 100 }, { rowsPerCall: 10 }).start()
    await withinSeconds(r.finished)
    expect(r.calls).toEqual([
      { on: "rows", n: 10 },
      { on: "error", error: new Error("no room for these rows") },
      { on: "done" }
    ])
  })

  it("logs what onError and onDone throw with its message, and goes on", async () => {
    const logged: Array<string> = []
    const record = (...args: Array<unknown>) => {
      logged.push(args.map(String).join(" "))
    }
    const spies = [
      vi.spyOn(console, "log").mockImplementation(record),
      vi.spyOn(console, "error").mockImplementation(record)
    ]
    try {
      class Throwing extends Recorder {
        override onDone(): void {
          super.onDone()
          throw new TypeError("done went wrong")
        }
      }
      const v = new Throwing(service, "beer", "brewery_beers", { limit: 1 }).start()
      await withinSeconds(v.finished)
      await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      for (const spy of spies) spy.mockRestore()
    }
    expect(logged.some((line) => line.includes("Throwing.onDone threw: TypeError: done went wrong"))).toBe(true)
  })
})
