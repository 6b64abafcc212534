/**
 * Runs the command's program as a process's main fiber: SIGINT and SIGTERM interrupt
 * it (scopes close: ports, connections), then the process exits with the status the
 * program set, or, when a signal stopped it, with 128 + the signal's number (130 for
 * SIGINT, 143 for SIGTERM) as shells expect of a command cut short, unless the command
 * declared a signal its normal end (`server`, `pillowfight`: status 0).
 *
 * Built on `@effect/platform`'s `makeRunMain` (a peer of the library already), so the
 * command does not need `@effect/platform-node` and its own dependencies.
 *
 * @since 0.1.0
 */
import { makeRunMain } from "@effect/platform/Runtime"
import { Effect } from "effect"

/** Whether the running command ends normally on a signal (one command per process). */
let signalEndsCleanly = false

/**
 * Declares that a signal is how the running command normally ends (a server, a load
 * generator run until Ctrl-C): the process then exits with status 0 on SIGINT/SIGTERM.
 *
 * @since 0.1.0
 */
export const endsOnSignal: Effect.Effect<void> = Effect.sync(() => {
  signalEndsCleanly = true
})

const signalNumbers: Record<string, number> = { SIGINT: 2, SIGTERM: 15 }

/**
 * Runs an Effect as the main program of the process.
 *
 * @since 0.1.0
 */
export const runMain = makeRunMain(({ fiber, teardown }) => {
  // The program may wait on nothing Node can see (a server whose sockets are closed
  // while it restarts); keep the process alive until the fiber ends.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let signal: NodeJS.Signals | undefined
  const onSignal = (received: NodeJS.Signals) => {
    signal = received
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
      if (signal !== undefined) process.exit(signalEndsCleanly ? 0 : 128 + (signalNumbers[signal] ?? 0))
      if (code !== 0) process.exit(code)
    })
  })
})
