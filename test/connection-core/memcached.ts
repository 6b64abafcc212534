/**
 * Debian's memcached as a test peer: found on PATH, started on a free port of
 * 127.0.0.1 for the scope of a test (or a `layer` block), killed when it closes.
 * A block of tests using it calls `requirePeer(memcachedBinary)` (../support/peers.ts)
 * so that a machine without memcached skips them, and CI fails them.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer, connect as netConnect } from "node:net"
import { Effect, type Scope } from "effect"
import { memcachedBinary, peerPath } from "../support/peers.js"

/** A running memcached. */
export interface Memcached {
  readonly host: string
  readonly port: number
  /** `host:port`. */
  readonly address: string
}

const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const accepts = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = netConnect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
  })

/** Starts memcached (binary protocol allowed, no UDP) and waits until it accepts connections. */
export const startMemcached: Effect.Effect<Memcached, never, Scope.Scope> = Effect.gen(function* () {
  const binary = yield* peerPath(memcachedBinary)
  const port = yield* freePort
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      spawn(
        binary,
        [
          "-l",
          "127.0.0.1",
          "-p",
          String(port),
          "-U",
          "0",
          "-m",
          "64",
          "-t",
          "1",
          // memcached refuses to run as root unless told which user to be.
          ...(process.getuid?.() === 0 ? ["-u", "root"] : [])
        ],
        { stdio: ["ignore", "ignore", "pipe"] }
      )
    ),
    (child: ChildProcess) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
  )
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString()
  })
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) {
      return yield* Effect.die(new Error(`memcached exited with code ${child.exitCode}: ${stderr.trim()}`))
    }
    if (yield* accepts(port)) return { host: "127.0.0.1", port, address: `127.0.0.1:${port}` }
    yield* Effect.sleep("25 millis")
  }
  return yield* Effect.die(new Error(`memcached did not start on port ${port}`))
})
