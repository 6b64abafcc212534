/**
 * Debian's `memccapable` (libmemcached-tools) checks the memcached binary protocol of a
 * memcached-type bucket, reached on its dedicated port (memcached clients do not
 * authenticate). Every binary test must pass. Without memccapable on PATH the test is
 * skipped, or fails under CI (see ../support/peers.ts).
 */
import { execFile } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EmbeddedCluster from "../../src/EmbeddedCluster.js"
import { memccapableBinary, peerPath, requirePeer } from "../support/peers.js"

/** The binary tests memccapable 1.1 runs. */
const BINARY_TESTS = [
  "noop",
  "quit",
  "quitq",
  "set",
  "setq",
  "flush",
  "flushq",
  "add",
  "addq",
  "replace",
  "replaceq",
  "delete",
  "deleteq",
  "get",
  "getq",
  "getk",
  "getkq",
  "incr",
  "incrq",
  "decr",
  "decrq",
  "version",
  "append",
  "appendq",
  "prepend",
  "prependq",
  "stat"
].map((name) => `binary ${name}`)

const memccapable = (port: number) =>
  Effect.flatMap(peerPath(memccapableBinary), (binary) =>
    Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
      const child = execFile(
        binary,
        ["-h", "127.0.0.1", "-p", String(port), "-b", "-t", "5"],
        { timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
          // Not started, or killed by the timeout: say so, or the output is just empty.
          const why = error !== null && code === null ? `\n${error.message}` : ""
          resume(Effect.succeed({ code, output: `${stdout}\n${stderr}${why}` }))
        }
      )
      return Effect.sync(() => child.kill())
    })
  )

/** `{test name: "pass" | "FAIL"}` from memccapable's output lines (`name   [pass]`). */
const results = (output: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of output.split("\n")) {
    const match = /^(binary [a-z]+)\s+\[(pass|FAIL|skip)\]$/.exec(line.trim())
    if (match !== null) out[match[1]!] = match[2]!
  }
  return out
}

describe("memccapable against a memcached bucket", () => {
  requirePeer(memccapableBinary)

  it.scopedLive(
    "passes every binary protocol test, on every node",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedCluster.make({
          nodes: 2,
          buckets: [{ name: "default" }, { name: "cache", type: "memcached" }]
        })
        for (const node of server.nodes) {
          const run = yield* memccapable(node.bucketPorts.cache!)
          // Whatever goes wrong (a failing test, output we cannot parse), show what memccapable said.
          const output = run.output.trim() || "(none)"
          const said = `memccapable on port ${node.bucketPorts.cache} exited with ${run.code}; its output:\n${output}\n--`
          expect(results(run.output), said).toEqual(Object.fromEntries(BINARY_TESTS.map((name) => [name, "pass"])))
          expect(run.output, said).toContain("All tests passed")
          expect(run.code, said).toBe(0)
        }
        // The couchbase bucket was not touched by memccapable's FLUSH.
        expect(server.bucket("cache")!.type).toBe("memcached")
      }),
    120_000
  )
})
