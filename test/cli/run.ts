/**
 * Runs the command line in-process, as the bin does, with its streams captured: exit
 * status, stdout, stderr, and how many writes stdout saw (streamed output arrives in
 * several).
 */
import { Effect } from "effect"
import { runCli } from "../../src/cli/internal/app.js"
import type { Io } from "../../src/cli/internal/Io.js"

export interface CliRun {
  readonly status: number
  readonly stdout: string
  readonly stdoutBytes: Buffer
  readonly stderr: string
  readonly writes: number
}

export interface CliRunOptions {
  /** What stdin holds (default: nothing). */
  readonly stdin?: string | Buffer | undefined
  /** Pretend stdout and stderr are terminals. */
  readonly tty?: boolean | undefined
  /** Pretend stdin is a terminal. */
  readonly stdinTTY?: boolean | undefined
}

export const cli = (argv: ReadonlyArray<string>, options: CliRunOptions = {}): Effect.Effect<CliRun> =>
  Effect.suspend(() => {
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    const io: Io = {
      out: (chunk) => {
        out.push(Buffer.from(chunk))
      },
      err: (chunk) => {
        err.push(Buffer.from(chunk))
      },
      outIsTTY: options.tty === true,
      errIsTTY: options.tty === true,
      inIsTTY: options.stdinTTY === true,
      readStdin: () => Promise.resolve(Buffer.from(options.stdin ?? ""))
    }
    return Effect.map(runCli(argv, io), (status) => {
      const stdoutBytes = Buffer.concat(out)
      return {
        status,
        stdout: stdoutBytes.toString("utf8"),
        stdoutBytes,
        stderr: Buffer.concat(err).toString("utf8"),
        writes: out.length
      }
    })
  })

/** The connection flags for an embedded cluster's bucket. */
export const flagsFor = (cluster: { readonly connectionString: string; readonly username: string }, bucket: string) => [
  "-U",
  `${cluster.connectionString}/${bucket}`,
  "-u",
  cluster.username,
  "-P",
  "password"
]

/** stdout's JSON lines, parsed. */
export const jsonLines = (text: string): ReadonlyArray<Record<string, unknown>> =>
  text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>)
