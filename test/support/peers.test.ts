/**
 * The skip-or-fail decision for peer binaries, on an injected PATH and CI rather than
 * the machine's: a fake `memcached` in a temporary directory stands for an installed one.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { isCi, lookupPeer, memcachedBinary, peerPath } from "./peers.js"

/** `bin/` with an executable `memcached`, `empty/` with nothing, `plain/` with a non-executable `memcached`. */
const fakeDirs = Effect.acquireRelease(
  Effect.sync(() => {
    const root = mkdtempSync(join(tmpdir(), "peers-test-"))
    const bin = join(root, "bin")
    const empty = join(root, "empty")
    const plain = join(root, "plain")
    for (const dir of [bin, empty, plain]) mkdirSync(dir)
    writeFileSync(join(bin, "memcached"), "#!/bin/sh\nexit 0\n")
    chmodSync(join(bin, "memcached"), 0o755)
    writeFileSync(join(plain, "memcached"), "not a program\n")
    chmodSync(join(plain, "memcached"), 0o644)
    return { root, bin, empty, plain }
  }),
  ({ root }) => Effect.sync(() => rmSync(root, { recursive: true, force: true }))
)

const skipReason =
  "memcached not found on PATH: apt-get install memcached (Debian) or brew install memcached; " +
  "set CI=true to make its absence fail"

const missingReason =
  "memcached not found on PATH, and CI is set, so its absence fails instead of skipping: " +
  "apt-get install memcached (Debian) or brew install memcached"

describe("lookupPeer", () => {
  it.scoped("absent, CI unset: skip, with a reason that says how to install it", () =>
    Effect.gen(function* () {
      const { empty } = yield* fakeDirs
      expect(lookupPeer(memcachedBinary, { PATH: empty })).toEqual({ _tag: "Skip", reason: skipReason })
      expect(lookupPeer(memcachedBinary, { PATH: empty, CI: "" })).toEqual({ _tag: "Skip", reason: skipReason })
      // Set, but not to a value that means CI.
      expect(lookupPeer(memcachedBinary, { PATH: empty, CI: "false" })).toEqual({ _tag: "Skip", reason: skipReason })
      expect(lookupPeer(memcachedBinary, { PATH: empty, CI: "0" })).toEqual({ _tag: "Skip", reason: skipReason })
      expect(lookupPeer(memcachedBinary, {})).toEqual({ _tag: "Skip", reason: skipReason })
    })
  )

  it.scoped("absent under CI: a failure naming the binary and its install", () =>
    Effect.gen(function* () {
      const { empty } = yield* fakeDirs
      for (const CI of ["true", "1", "TRUE"]) {
        expect(lookupPeer(memcachedBinary, { PATH: empty, CI })).toEqual({ _tag: "Missing", reason: missingReason })
      }
    })
  )

  it.scoped("present: the first executable on PATH, whatever CI says", () =>
    Effect.gen(function* () {
      const { bin, empty, plain } = yield* fakeDirs
      const found = { _tag: "Found", path: join(bin, "memcached") }
      expect(lookupPeer(memcachedBinary, { PATH: bin })).toEqual(found)
      expect(lookupPeer(memcachedBinary, { PATH: bin, CI: "true" })).toEqual(found)
      // Later entries are searched; empty entries (the current directory to a shell) are not.
      expect(lookupPeer(memcachedBinary, { PATH: [empty, "", bin].join(delimiter) })).toEqual(found)
      // A file that cannot be executed is not the program.
      expect(lookupPeer(memcachedBinary, { PATH: [plain, bin].join(delimiter) })).toEqual(found)
      expect(lookupPeer(memcachedBinary, { PATH: plain })).toEqual({ _tag: "Skip", reason: skipReason })
      // A directory named like the program is not the program either.
      expect(lookupPeer({ name: "bin", install: "-" }, { PATH: dirname(bin) })._tag).toBe("Skip")
    })
  )

  it("isCi accepts what CI services set, nothing else", () => {
    expect([undefined, "", "true", "1", "True", "yes", "false", "0"].map(isCi)).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
      false,
      false
    ])
  })
})

describe("peerPath", () => {
  it.scoped("the lookup's path, or a defect carrying its reason (a test that forgot requirePeer)", () =>
    Effect.gen(function* () {
      const { bin, empty } = yield* fakeDirs
      expect(yield* peerPath(memcachedBinary, { PATH: bin })).toBe(join(bin, "memcached"))
      const exit = yield* Effect.exit(peerPath(memcachedBinary, { PATH: empty, CI: "true" }))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain(`Error: ${missingReason}`)
    })
  )
})
