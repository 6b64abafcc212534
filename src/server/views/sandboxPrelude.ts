/**
 * The JavaScript installed in a view sandbox before any user code (in a `node:vm`
 * context, in-process or in a worker): Couchbase's map helpers (`emit`, `sum`, `log`,
 * `dateToArray`, `decodeBase64`) and the entry points the host calls with JSON text
 * (`__cb.defineMap`, `__cb.defineReduce`, `__cb.map`, `__cb.reduce`). It keeps private
 * references to JSON and the helpers, so that user code replacing globals only hurts
 * itself; it caps what a map function may emit (rows per document, characters per
 * batch), so an emit loop ends in a per-document error instead of exhausting memory;
 * and it removes what could run user code after its call returns (FinalizationRegistry,
 * WeakRef, Atomics, SharedArrayBuffer).
 *
 * @internal
 */

/** Rows one document may emit (a map function looping on emit fails that document). */
export const MAX_EMITS_PER_DOCUMENT = 10_000

/** Characters of emitted JSON one batch of documents may produce. */
export const MAX_EMIT_BYTES_PER_BATCH = 32 * 1024 * 1024

/** See the module documentation. */
export const PRELUDE = `"use strict";
(function (g) {
  var parse = JSON.parse, stringify = JSON.stringify, defineProperty = Object.defineProperty;
  var maps = [], reduces = [], out = null;
  function describe(e) {
    try { return e instanceof Error ? String(e.message || e.name) : String(e); } catch (_) { return "exception"; }
  }
  var MAX_EMITS = ${MAX_EMITS_PER_DOCUMENT}, MAX_BYTES = ${MAX_EMIT_BYTES_PER_BATCH}, bytes = 0;
  function emit(key, value) {
    if (out === null) throw new Error("emit() can only be called by a map function");
    if (out.length >= MAX_EMITS) throw new Error("a document emitted more than " + MAX_EMITS + " rows");
    var s = stringify([key === undefined ? null : key, value === undefined ? null : value]);
    if (s === undefined) s = "[null,null]";
    bytes += s.length;
    if (bytes > MAX_BYTES) throw new Error("the rows emitted exceed " + MAX_BYTES + " characters for one batch of documents");
    out.push(s);
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
    bytes = 0;
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
  // What could run user code after its call has returned (a finalizer, a wait that
  // resolves later) is not part of a view's language.
  delete g.FinalizationRegistry; delete g.WeakRef; delete g.Atomics; delete g.SharedArrayBuffer;
})(globalThis);`
