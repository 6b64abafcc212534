/**
 * What `@effect/cli` needs from the platform (a `Terminal`, a `FileSystem`, a `Path`)
 * without `@effect/platform-node`, whose own dependencies (cluster, RPC, SQL, native
 * file watching) a database client's users should not have to install.
 *
 * @since 0.1.0
 */
import * as readline from "node:readline"
import { BadArgument } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Terminal from "@effect/platform/Terminal"
import { Effect, Exit, Layer, Mailbox, Option } from "effect"

/** Ctrl-C and Ctrl-D end a prompt, as in every terminal program. */
const quits = (input: Terminal.UserInput): boolean =>
  input.key.ctrl && (input.key.name === "c" || input.key.name === "d")

/** A readline interface on stdin, in raw mode when stdin is a terminal (keys, not lines). */
const openReadline = Effect.sync(() => {
  const rl = readline.createInterface({ input: process.stdin, escapeCodeTimeout: 50 })
  readline.emitKeypressEvents(process.stdin, rl)
  if (process.stdin.isTTY) process.stdin.setRawMode(true)
  return rl
})

/** Gives the terminal back as it was. */
const closeReadline = (rl: readline.Interface) =>
  Effect.sync(() => {
    if (process.stdin.isTTY) process.stdin.setRawMode(false)
    rl.close()
  })

/**
 * The process's terminal: what `--wizard` and prompts read keys and lines from, and
 * where they draw.
 *
 * @since 0.1.0
 */
export const terminal: Terminal.Terminal = Terminal.Terminal.of({
  columns: Effect.sync(() => process.stdout.columns ?? 0),
  rows: Effect.sync(() => process.stdout.rows ?? 0),
  isTTY: Effect.sync(() => process.stdout.isTTY === true),
  readInput: Effect.gen(function* () {
    yield* Effect.acquireRelease(openReadline, closeReadline)
    const mailbox = yield* Mailbox.make<Terminal.UserInput>()
    const onKeypress = (input: string | undefined, key: readline.Key) => {
      const event: Terminal.UserInput = {
        input: Option.fromNullable(input),
        key: { name: key.name ?? "", ctrl: key.ctrl === true, meta: key.meta === true, shift: key.shift === true }
      }
      mailbox.unsafeOffer(event)
      if (quits(event)) mailbox.unsafeDone(Exit.void)
    }
    process.stdin.on("keypress", onKeypress)
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stdin.off("keypress", onKeypress)))
    return mailbox
  }),
  readLine: Effect.acquireUseRelease(
    openReadline,
    (rl) =>
      Effect.async<string, Terminal.QuitException>((resume) => {
        const onLine = (line: string) => resume(Effect.succeed(line))
        const onClose = () => resume(Effect.fail(new Terminal.QuitException()))
        rl.once("line", onLine)
        rl.once("close", onClose)
        return Effect.sync(() => {
          rl.off("line", onLine)
          rl.off("close", onClose)
        })
      }),
    closeReadline
  ),
  display: (text) =>
    Effect.async<void, BadArgument>((resume) => {
      process.stdout.write(text, (error) =>
        resume(
          error
            ? Effect.fail(
                new BadArgument({ module: "Terminal", method: "display", description: error.message, cause: error })
              )
            : Effect.void
        )
      )
    })
})

/**
 * The environment of the command line: the terminal above, POSIX paths, and a file
 * system with no operations: the commands read their files themselves (so that `-`
 * can mean stdin) and declare no file-typed arguments, which are all `@effect/cli`
 * would use it for.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Terminal.Terminal | FileSystem.FileSystem | Path.Path> = Layer.mergeAll(
  Layer.succeed(Terminal.Terminal, terminal),
  FileSystem.layerNoop({}),
  Path.layer
)
