/**
 * Where the command line reads and writes: the process's streams, or buffers in tests.
 * Everything the commands print goes through an {@link Io}, so one run can be checked
 * in-process (output, status) and a terminal's escapes are written only to a terminal.
 *
 * @since 0.1.0
 */
import { Console as NodeConsole } from "node:console"
import { Writable } from "node:stream"
import { stripVTControlCharacters } from "node:util"
import { Console, Context, Effect } from "effect"

/**
 * The streams of one run.
 *
 * @since 0.1.0
 */
export interface Io {
  /** Writes to standard output, as given. */
  readonly out: (chunk: string | Uint8Array) => void
  /** Writes to standard error, as given. */
  readonly err: (chunk: string | Uint8Array) => void
  /** Whether standard output is a terminal (colours and escapes allowed). */
  readonly outIsTTY: boolean
  /** Whether standard error is a terminal (the live progress line of `pillowfight`). */
  readonly errIsTTY: boolean
  /** Whether standard input is a terminal (then no value is read from it). */
  readonly inIsTTY: boolean
  /** The whole of standard input, for values and design documents given as `-`. */
  readonly readStdin: () => Promise<Buffer>
}

/**
 * The {@link Io} of the current run, for commands that write bytes or to stderr.
 *
 * @since 0.1.0
 */
export class CliIo extends Context.Tag("effect-couchbase/cli/CliIo")<CliIo, Io>() {}

/**
 * The process's own streams.
 *
 * @since 0.1.0
 */
export const processIo = (): Io => ({
  out: (chunk) => {
    process.stdout.write(chunk)
  },
  err: (chunk) => {
    process.stderr.write(chunk)
  },
  outIsTTY: process.stdout.isTTY === true,
  errIsTTY: process.stderr.isTTY === true,
  inIsTTY: process.stdin.isTTY === true,
  readStdin: async () => {
    const chunks: Array<Buffer> = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }
})

/** A stream that hands what is written to `sink`, without terminal escapes unless `tty`. */
const sinkStream = (sink: (text: string) => void, tty: boolean): Writable =>
  new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const text = chunk.toString()
      sink(tty ? text : stripVTControlCharacters(text))
      callback()
    }
  })

/**
 * Effect's `Console` over an {@link Io}: `log` and the other stdout methods write to
 * `io.out` (escapes removed when it is not a terminal: `@effect/cli` colours its help
 * unconditionally); `error`/`warn`/`trace` go to `onError`, so the caller decides how a
 * message from the argument parser is shown.
 *
 * @since 0.1.0
 */
export const consoleOf = (io: Io, onError: (text: string) => void): Console.Console => {
  const unsafe = new NodeConsole({
    stdout: sinkStream((text) => io.out(text), io.outIsTTY),
    stderr: sinkStream(onError, false),
    colorMode: io.outIsTTY
  })
  const sync =
    <Args extends ReadonlyArray<unknown>>(f: (...args: Args) => void) =>
    (...args: Args) =>
      Effect.sync(() => f(...args))
  return {
    [Console.TypeId]: Console.TypeId,
    assert: sync((condition: boolean, ...args: ReadonlyArray<unknown>) =>
      unsafe.assert(condition, ...(args as [string?, ...Array<unknown>]))
    ),
    clear: Effect.sync(() => unsafe.clear()),
    count: sync((label?: string) => unsafe.count(label)),
    countReset: sync((label?: string) => unsafe.countReset(label)),
    debug: sync((...args: ReadonlyArray<unknown>) => unsafe.debug(...args)),
    dir: sync((item: unknown, options?: unknown) => unsafe.dir(item, options as never)),
    dirxml: sync((...args: ReadonlyArray<unknown>) => unsafe.dirxml(...args)),
    error: sync((...args: ReadonlyArray<unknown>) => unsafe.error(...args)),
    group: (options?: { readonly label?: string | undefined; readonly collapsed?: boolean | undefined }) =>
      Effect.sync(() => {
        const label = options?.label === undefined ? [] : [options.label]
        if (options?.collapsed === true) unsafe.groupCollapsed(...label)
        else unsafe.group(...label)
      }),
    groupEnd: Effect.sync(() => unsafe.groupEnd()),
    info: sync((...args: ReadonlyArray<unknown>) => unsafe.info(...args)),
    log: sync((...args: ReadonlyArray<unknown>) => unsafe.log(...args)),
    table: sync((data: unknown, properties?: ReadonlyArray<string>) =>
      unsafe.table(data, properties as Array<string> | undefined)
    ),
    time: sync((label?: string) => unsafe.time(label)),
    timeEnd: sync((label?: string) => unsafe.timeEnd(label)),
    timeLog: sync((label?: string, ...args: ReadonlyArray<unknown>) => unsafe.timeLog(label, ...args)),
    trace: sync((...args: ReadonlyArray<unknown>) => unsafe.trace(...args)),
    warn: sync((...args: ReadonlyArray<unknown>) => unsafe.warn(...args)),
    unsafe
  }
}
