/**
 * Runs the command's program as a process's main fiber: SIGINT and SIGTERM interrupt
 * it (scopes close: ports, connections), then the process exits with status 0 when the
 * program succeeded or was interrupted, 1 when it failed.
 *
 * Built on `@effect/platform`'s `makeRunMain` (a peer of the library already), so the
 * command does not need `@effect/platform-node` and its own dependencies.
 *
 * @since 0.1.0
 */
import { makeRunMain } from "@effect/platform/Runtime"

/** Runs an Effect as the main program of the process. */
export const runMain = makeRunMain(({ fiber, teardown }) => {
  // The program may wait on nothing Node can see (a server whose sockets are closed
  // while it restarts); keep the process alive until the fiber ends.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let signalled = false
  const onSignal = () => {
    signalled = true
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
    clearInterval(keepAlive)
    teardown(exit, (code) => {
      if (signalled || code !== 0) process.exit(code)
    })
  })
})
