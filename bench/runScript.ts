/**
 * How each benchmark script runs its program: exit status 0 when it completes, 1 with
 * the failure on stderr when it fails (the parent reads the status and stdout).
 */
import { Effect } from "effect"

/** Runs `program` and exits the process with its outcome. */
export const runScript = (program: Effect.Effect<unknown, unknown>): void => {
  Effect.runPromise(program).then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    }
  )
}
