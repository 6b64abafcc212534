/**
 * Where design-document JavaScript runs: one `node:vm` context per design document
 * revision, with Couchbase's map-function helpers (`emit`, `sum`, `log`,
 * `dateToArray`, `decodeBase64`).
 *
 * Isolation: nothing of the host realm is ever handed to user code. Inputs cross as
 * one primitive string (JSON) through a global slot that user code cannot turn into
 * an accessor, outputs come back as one primitive string that the host parses and
 * checks; host functions are never called with context objects, so no user code runs
 * outside a time limit. Every entry into the context (compiling, a batch of map
 * calls, a reduce call) runs under `timeout`, including the microtasks it queues.
 *
 * @internal
 */
import { types } from "node:util"
import * as vm from "node:vm"
import { PRELUDE } from "./sandboxPrelude.js"

/** A document handed to a map function: JSON text, or the base64 of a binary value. */
export type MapInput = readonly [kind: 0 | 1, payload: string, meta: MapMeta]

/** `meta` of a map function call. */
export interface MapMeta {
  readonly id: string
  readonly rev: string
  readonly flags: number
  readonly expiration: number
  readonly type: "json" | "base64"
}

/** The result of a batch of map calls. */
export interface MapBatchResult {
  /** Per document: its emitted `[key, value]` pairs, in emit order. */
  readonly emits: ReadonlyArray<ReadonlyArray<readonly [unknown, unknown]>>
  /** Documents whose map call threw, with the message. */
  readonly errors: ReadonlyArray<readonly [number, string]>
  /** Documents sent as JSON text that is not valid JSON (to be sent again as binary). */
  readonly invalid: ReadonlyArray<number>
}

const isTimeout = (e: unknown): boolean => (e as { code?: unknown })?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT"

/** Why user code failed. `timeout` means the time limit was hit. */
export interface SandboxFailure {
  readonly _tag: "SandboxFailure"
  readonly reason: string
  readonly timeout: boolean
}

/** The failure value of a sandbox call. */
export const failure = (reason: string, timeout = false): SandboxFailure => ({
  _tag: "SandboxFailure",
  reason,
  timeout
})

/** A batch of map calls from the prelude's output (`__cb.map`) for `count` documents. */
export const readMapOutput = (out: string, count: number): MapBatchResult | SandboxFailure => {
  try {
    const [emits, errors, invalid] = JSON.parse(out) as [
      Array<Array<[unknown, unknown]>>,
      Array<[number, string]>,
      Array<number>
    ]
    if (!Array.isArray(emits) || emits.length !== count) throw new Error("wrong number of results")
    return { emits, errors, invalid }
  } catch {
    return failure("the map sandbox returned malformed output (was a helper replaced?)")
  }
}

/** A reduce result's JSON from the prelude's output (`__cb.reduce`). */
export const readReduceOutput = (out: string): string | SandboxFailure => {
  if (out.startsWith("R")) return out.slice(1)
  return failure(out.startsWith("E") ? out.slice(1) : "the reduce sandbox returned malformed output")
}

/** True for the failure value of the sandbox's methods. */
export const isSandboxFailure = (u: unknown): u is SandboxFailure =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "SandboxFailure"

// An error thrown from inside the context is an object of that realm: read only its
// own data properties, never call into it (a getter or toString would run unbounded).
const safeMessage = (e: unknown): string => {
  if (typeof e !== "object" || e === null) return typeof e === "string" ? e : "exception"
  // A proxy's traps would run user code here, outside any time limit.
  if (types.isProxy(e)) return "exception"
  const d = Object.getOwnPropertyDescriptor(e, "message")
  return d !== undefined && "value" in d && typeof d.value === "string" ? d.value : "exception"
}

/** The JavaScript of one design document, compiled in its own context. */
export class Sandbox {
  private readonly context: vm.Context
  private readonly mapScripts = new Map<number, vm.Script>()
  private readonly reduceScripts = new Map<number, vm.Script>()

  constructor(
    name: string,
    private readonly timeoutMs: number
  ) {
    this.context = vm.createContext(Object.create(null), {
      name: `view sandbox ${name}`,
      codeGeneration: { strings: true, wasm: false },
      microtaskMode: "afterEvaluate"
    })
    vm.runInContext(PRELUDE, this.context, { timeout: timeoutMs })
  }

  private enter(script: vm.Script | string, input: string | undefined, timeoutMs: number): string | SandboxFailure {
    try {
      if (input !== undefined) (this.context as { __in: string }).__in = input
      const out =
        typeof script === "string"
          ? vm.runInContext(script, this.context, { timeout: timeoutMs })
          : script.runInContext(this.context, { timeout: timeoutMs })
      return typeof out === "string" ? out : ""
    } catch (e) {
      if (isTimeout(e)) return failure(`timed out after ${timeoutMs} ms`, true)
      return failure(safeMessage(e))
    }
  }

  /** Compiles a map function (`function (doc, meta) {…}`) as map number `index`. */
  defineMap(index: number, source: string, timeoutMs = this.timeoutMs): SandboxFailure | undefined {
    const out = this.enter(`__cb.defineMap(${index}, (${source}\n))`, undefined, timeoutMs)
    return isSandboxFailure(out) ? out : undefined
  }

  /** Compiles a reduce function (`function (keys, values, rereduce) {…}`) as reduce number `index`. */
  defineReduce(index: number, source: string, timeoutMs = this.timeoutMs): SandboxFailure | undefined {
    const out = this.enter(`__cb.defineReduce(${index}, (${source}\n))`, undefined, timeoutMs)
    return isSandboxFailure(out) ? out : undefined
  }

  /** Runs map number `index` over a batch of documents, all within one time limit. */
  map(index: number, docs: ReadonlyArray<MapInput>, timeoutMs = this.timeoutMs): MapBatchResult | SandboxFailure {
    let script = this.mapScripts.get(index)
    if (script === undefined) {
      script = new vm.Script(`__cb.map(${index})`)
      this.mapScripts.set(index, script)
    }
    const out = this.enter(script, JSON.stringify(docs), timeoutMs)
    return isSandboxFailure(out) ? out : readMapOutput(out, docs.length)
  }

  /** Runs reduce number `index`; returns the JSON of its result. */
  reduce(index: number, keys: ReadonlyArray<unknown> | null, values: ReadonlyArray<unknown>, rereduce: boolean) {
    let script = this.reduceScripts.get(index)
    if (script === undefined) {
      script = new vm.Script(`__cb.reduce(${index})`)
      this.reduceScripts.set(index, script)
    }
    const out = this.enter(script, JSON.stringify([keys, values, rereduce]), this.timeoutMs)
    return isSandboxFailure(out) ? out : readReduceOutput(out)
  }
}
