/**
 * External programs some tests talk to (Debian's memcached, libmemcached's
 * memccapable): found on PATH, never at a fixed location. A developer without one
 * gets those tests skipped with a line saying how to install it; CI, which must run
 * them, gets a failure instead, so a missing package cannot pass as green.
 */
import { accessSync, constants, statSync } from "node:fs"
import { delimiter, join } from "node:path"
import { beforeEach } from "@effect/vitest"
import { Effect } from "effect"

/** A program looked up on PATH, and how to get it. */
export interface PeerBinary {
  /** The file name looked up in each PATH directory. */
  readonly name: string
  /** The install hint of the skip reason and the failure message. */
  readonly install: string
}

/** Debian's memcached, the reference server of memcached mode. */
export const memcachedBinary: PeerBinary = {
  name: "memcached",
  install: "apt-get install memcached (Debian) or brew install memcached"
}

/**
 * libmemcached's protocol checker under Debian's name (upstream and Homebrew ship it
 * as `memcapable`, whose output the test was not written against).
 */
export const memccapableBinary: PeerBinary = {
  name: "memccapable",
  install: "apt-get install libmemcached-tools (Debian)"
}

/** Where a peer binary is, or why the tests that need it skip or fail. */
export type PeerLookup =
  | { readonly _tag: "Found"; readonly path: string }
  | { readonly _tag: "Skip"; readonly reason: string }
  | { readonly _tag: "Missing"; readonly reason: string }

/** The part of the environment the decision reads; injected so it can be tested without touching `process.env`. */
export interface PeerEnvironment {
  readonly PATH?: string | undefined
  readonly CI?: string | undefined
}

/** CI services set `CI=true`; some set `1`. Anything else is a developer's machine. */
export const isCi = (ci: string | undefined): boolean => ci !== undefined && ["true", "1"].includes(ci.toLowerCase())

const isExecutableFile = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The first executable `binary.name` in the PATH of `env`, or the skip/fail decision when there is none. */
export const lookupPeer = (binary: PeerBinary, env: PeerEnvironment = process.env): PeerLookup => {
  // An empty PATH entry means the current directory to a shell; a test should not depend on where it was started.
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const path = join(dir, binary.name)
    if (isExecutableFile(path)) return { _tag: "Found", path }
  }
  return isCi(env.CI)
    ? {
        _tag: "Missing",
        reason: `${binary.name} not found on PATH, and CI is set, so its absence fails instead of skipping: ${binary.install}`
      }
    : {
        _tag: "Skip",
        reason: `${binary.name} not found on PATH: ${binary.install}; set CI=true to make its absence fail`
      }
}

/**
 * Inside a `describe`: when `binary` is missing, every test of the block is skipped
 * with the reason (vitest's default reporter prints it after the test's name) or,
 * under CI, fails with it before its body runs.
 */
export const requirePeer = (binary: PeerBinary): PeerLookup => {
  const lookup = lookupPeer(binary)
  if (lookup._tag === "Skip") beforeEach((ctx) => ctx.skip(lookup.reason))
  else if (lookup._tag === "Missing") {
    beforeEach(() => {
      throw new Error(lookup.reason)
    })
  }
  return lookup
}

/** The path of `binary`; a defect carrying the reason when it is missing (a test outside a `requirePeer` block). */
export const peerPath = (binary: PeerBinary, env: PeerEnvironment = process.env): Effect.Effect<string> =>
  Effect.suspend(() => {
    const lookup = lookupPeer(binary, env)
    return lookup._tag === "Found" ? Effect.succeed(lookup.path) : Effect.die(new Error(lookup.reason))
  })
