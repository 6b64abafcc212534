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

// Installed once per context, before any user code. It keeps private references to
// JSON and the helpers, so that user code replacing globals only hurts itself.
const PRELUDE = `"use strict";
(function (g) {
  var parse = JSON.parse, stringify = JSON.stringify, defineProperty = Object.defineProperty;
  var maps = [], reduces = [], out = null;
  function describe(e) {
    try { return e instanceof Error ? String(e.message || e.name) : String(e); } catch (_) { return "exception"; }
  }
  function emit(key, value) {
    if (out === null) throw new Error("emit() can only be called by a map function");
    var s = stringify([key === undefined ? null : key, value === undefined ? null : value]);
    out.push(s === undefined ? "[null,null]" : s);
  }
  function sum(values) { var t = 0; for (var i = 0; i < values.length; i++) t += values[i]; return t; }
  function log() {}
  function dateToArray(date) {
    var d = new Date(date);
    return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
  }
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  function decodeBase64(s) {
    s = String(s).replace(/[^A-Za-z0-9+/]/g, "");
    var r = "", bits = 0, acc = 0;
    for (var i = 0; i < s.length; i++) {
      acc = (acc << 6) | B64.indexOf(s.charAt(i)); bits += 6;
      if (bits >= 8) { bits -= 8; r += String.fromCharCode((acc >> bits) & 0xff); }
    }
    return r;
  }
  function define(list, index, fn) {
    if (arguments.length !== 3 || typeof fn !== "function") throw new Error("the source is not a single function expression");
    list[index] = fn;
  }
  // Input: [[kind, payload, meta], ...], kind 0 = JSON text, 1 = base64 of a binary value.
  // Output: [[emits of doc 0], ...], [[index, error], ...], [indexes of invalid JSON]].
  function map(index) {
    var fn = maps[index], docs = parse(g.__in), perDoc = [], errors = [], invalid = [];
    g.__in = "";
    for (var i = 0; i < docs.length; i++) {
      var d = docs[i], doc;
      if (d[0] === 0) {
        try { doc = parse(d[1]); } catch (_) { invalid.push(i); perDoc.push("[]"); continue; }
      } else {
        doc = d[1];
      }
      out = [];
      try { fn(doc, d[2]); perDoc.push("[" + out.join(",") + "]"); }
      catch (e) { errors.push([i, describe(e)]); perDoc.push("[]"); }
      out = null;
    }
    return "[[" + perDoc.join(",") + "]," + stringify(errors) + "," + stringify(invalid) + "]";
  }
  // Input: [keys or null, values, rereduce]. Output: "R" + JSON of the result, or "E" + error.
  function reduce(index) {
    var a = parse(g.__in);
    g.__in = "";
    try {
      var r = stringify(reduces[index](a[0], a[1], a[2]));
      return "R" + (r === undefined ? "null" : r);
    } catch (e) { return "E" + describe(e); }
  }
  var api = Object.freeze({
    defineMap: function (i, fn) { define.apply(null, [maps].concat(Array.prototype.slice.call(arguments))); },
    defineReduce: function (i, fn) { define.apply(null, [reduces].concat(Array.prototype.slice.call(arguments))); },
    map: map,
    reduce: reduce
  });
  defineProperty(g, "__cb", { value: api, writable: false, configurable: false, enumerable: false });
  defineProperty(g, "__in", { value: "", writable: true, configurable: false, enumerable: false });
  g.emit = emit; g.sum = sum; g.log = log; g.dateToArray = dateToArray; g.decodeBase64 = decodeBase64;
})(globalThis);`

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

const failure = (reason: string, timeout = false): SandboxFailure => ({ _tag: "SandboxFailure", reason, timeout })

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
  defineMap(index: number, source: string): SandboxFailure | undefined {
    const out = this.enter(`__cb.defineMap(${index}, (${source}\n))`, undefined, this.timeoutMs)
    return isSandboxFailure(out) ? out : undefined
  }

  /** Compiles a reduce function (`function (keys, values, rereduce) {…}`) as reduce number `index`. */
  defineReduce(index: number, source: string): SandboxFailure | undefined {
    const out = this.enter(`__cb.defineReduce(${index}, (${source}\n))`, undefined, this.timeoutMs)
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
    if (isSandboxFailure(out)) return out
    try {
      const [perDoc, errors, invalid] = JSON.parse(out) as [
        Array<Array<[unknown, unknown]>>,
        Array<[number, string]>,
        Array<number>
      ]
      if (!Array.isArray(perDoc) || perDoc.length !== docs.length) throw new Error("wrong number of results")
      return { emits: perDoc, errors, invalid }
    } catch {
      return failure("the map sandbox returned malformed output (was a helper replaced?)")
    }
  }

  /** Runs reduce number `index`; returns the JSON of its result. */
  reduce(index: number, keys: ReadonlyArray<unknown> | null, values: ReadonlyArray<unknown>, rereduce: boolean) {
    let script = this.reduceScripts.get(index)
    if (script === undefined) {
      script = new vm.Script(`__cb.reduce(${index})`)
      this.reduceScripts.set(index, script)
    }
    const out = this.enter(script, JSON.stringify([keys, values, rereduce]), this.timeoutMs)
    if (isSandboxFailure(out)) return out
    if (out.startsWith("R")) return out.slice(1)
    return failure(out.startsWith("E") ? out.slice(1) : "the reduce sandbox returned malformed output")
  }
}
