/**
 * The key/value commands, as `cbc` has them: `get` (`cat`), `upsert` (`create`),
 * `rm`, `counter`, `touch`, `lock`, `unlock`. Each takes the connection flags and
 * `--json`; several keys are worked on concurrently and reported in the order given,
 * a key that fails printing its own error line (exit status 1 at the end).
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Either, Option, Stream } from "effect"
import type * as Connection from "../../Connection.js"
import { FMT_BYTES, FMT_JSON, FMT_UTF8 } from "../../Transcoder.js"
import { type ConnectionFlags, connect, connectionFlags } from "./connect.js"
import { bigInteger, casArg, casOption, json, keyArg, wholeNumber } from "./flags.js"
import { CliIo } from "./Io.js"
import { emit, writeValue } from "./output.js"
import { describeError, printError, Reported } from "./report.js"
import { UsageError } from "./UsageError.js"

const keys = keyArg.pipe(Args.atLeast(1))
const key = keyArg
const ttl = wholeNumber("ttl").pipe(Options.withDescription("expiry: seconds from now, or a Unix time past 30 days"))

/**
 * Runs `f` on every key (16 at a time) and prints each outcome in the order the keys
 * were given, as soon as it and those before it are in; a failure is its own line on
 * stderr, and the command ends with status 1 when any failed: the others' results are
 * not lost to the first error.
 */
const eachKey = <A, E, R>(
  command: string,
  names: ReadonlyArray<string>,
  f: (key: string) => Effect.Effect<A, E, R>,
  print: (key: string, a: A) => Effect.Effect<void, never, CliIo>
) =>
  Effect.gen(function* () {
    let failed = false
    yield* Stream.fromIterable(names).pipe(
      Stream.mapEffect((k) => Effect.map(Effect.either(f(k)), (result) => [k, result] as const), { concurrency: 16 }),
      Stream.runForEach(([k, result]) => {
        if (Either.isRight(result)) return print(k, result.right)
        failed = true
        return printError(`${command} ${k}: ${describeError(result.left).text}`)
      })
    )
    if (failed) return yield* new Reported({ status: 1, message: `${command}: some keys failed` })
  })

/** Runs a command's body with a connection that closes when it ends. */
const withConnection = <A, E, R>(
  flags: ConnectionFlags,
  body: (cb: Connection.Connection.Service) => Effect.Effect<A, E, R>
) => Effect.scoped(Effect.flatMap(connect(flags), body))

const getCommand = (name: "get" | "cat") =>
  Command.make(
    name,
    {
      ...connectionFlags,
      json,
      keys,
      replica: Options.boolean("replica").pipe(Options.withDescription("read a replica's copy")),
      ttl: ttl.pipe(Options.optional)
    },
    (args) =>
      withConnection(args, (cb) =>
        eachKey(
          name,
          args.keys,
          (k) =>
            args.replica
              ? cb.getReplica(k)
              : Option.match(args.ttl, { onNone: () => cb.get(k), onSome: (ttl) => cb.get(k, { ttl }) }),
          (k, r) =>
            args.json
              ? emit(
                  true,
                  {
                    key: k,
                    cas: String(r.cas),
                    flags: r.flags,
                    value: r.value,
                    ...(r.value instanceof Uint8Array ? { encoding: "base64" } : {})
                  },
                  ""
                )
              : writeValue(r.value)
        )
      )
  ).pipe(
    Command.withDescription(
      "print documents: JSON as JSON, text as text, bytes as bytes (--json: key, cas, flags and value per line)"
    )
  )

/** Store modes, as `cbc create -M` names them. */
const modes = ["upsert", "insert", "replace", "append", "prepend"] as const
const formats = ["auto", "json", "utf8", "bytes"] as const

/** The value to store, as typed or piped, in the format asked for. */
const documentValue = (text: Buffer, format: (typeof formats)[number]) => {
  switch (format) {
    case "bytes":
      return Effect.succeed({ value: new Uint8Array(text) as unknown, format: FMT_BYTES })
    case "utf8":
      return Effect.succeed({ value: text.toString("utf8") as unknown, format: FMT_UTF8 })
    case "json":
      return Effect.try({
        try: () => ({ value: JSON.parse(text.toString("utf8")) as unknown, format: FMT_JSON }),
        catch: () => new UsageError({ message: "--format json: the value is not JSON" })
      })
    case "auto": {
      const s = text.toString("utf8")
      try {
        return Effect.succeed({ value: JSON.parse(s) as unknown, format: FMT_JSON })
      } catch {
        return Effect.succeed({ value: s as unknown, format: FMT_UTF8 })
      }
    }
  }
}

/** The value from stdin; not from a terminal, where the command would wait without saying why. */
const readStdin = (command: string) =>
  Effect.gen(function* () {
    const io = yield* CliIo
    if (io.inIsTTY) {
      return yield* new UsageError({
        message: `${command}: give the value as an argument, or pipe it in (stdin is a terminal)`
      })
    }
    return yield* Effect.tryPromise({
      try: io.readStdin,
      catch: (error) =>
        new UsageError({ message: `${command}: cannot read stdin (${(error as NodeJS.ErrnoException).code ?? error})` })
    })
  })

const storeCommand = (name: "upsert" | "create") =>
  Command.make(
    name,
    {
      ...connectionFlags,
      json,
      key,
      value: Args.text({ name: "value" }).pipe(
        Args.withDescription("the document; - or none: read it from stdin"),
        Args.optional
      ),
      mode: Options.choice("mode", modes).pipe(
        Options.withAlias("M"),
        Options.withDefault("upsert" as const),
        Options.withDescription("upsert, insert (only if absent), replace (only if present), append or prepend")
      ),
      format: Options.choice("format", formats).pipe(
        Options.withDefault("auto" as const),
        Options.withDescription("auto: JSON if the value parses as JSON, else text")
      ),
      ttl: ttl.pipe(Options.optional),
      cas: casOption.pipe(Options.optional),
      persistTo: wholeNumber("persist-to", 4).pipe(Options.withDefault(0)),
      replicateTo: wholeNumber("replicate-to", 3).pipe(Options.withDefault(0))
    },
    (args) =>
      Effect.gen(function* () {
        const cas = Option.getOrUndefined(args.cas)
        if (args.mode === "insert" && cas !== undefined) {
          return yield* new UsageError({
            message: `${name}: --cas goes with --mode upsert, replace, append or prepend`
          })
        }
        const text = yield* Option.match(args.value, {
          onSome: (v) => (v === "-" ? readStdin(name) : Effect.succeed(Buffer.from(v, "utf8"))),
          onNone: () => readStdin(name)
        })
        const expiry = Option.getOrUndefined(args.ttl)
        const durability = { persistTo: args.persistTo, replicateTo: args.replicateTo }
        // Appended text is taken as typed: parsing it as JSON first could change it (" 1.50" → 1.5).
        const fragment = args.format === "bytes" ? new Uint8Array(text) : text.toString("utf8")
        const { value, format } =
          args.mode === "append" || args.mode === "prepend"
            ? { value: fragment as unknown, format: FMT_UTF8 }
            : yield* documentValue(text, args.format)
        const stored = yield* withConnection(args, (cb) => {
          switch (args.mode) {
            case "upsert":
              return cb.upsert(args.key, value, { ttl: expiry, cas, format, ...durability })
            case "insert":
              return cb.insert(args.key, value, { ttl: expiry, format, ...durability })
            case "replace":
              return cb.replace(args.key, value, { ttl: expiry, cas, format, ...durability })
            case "append":
              return cb.append(args.key, fragment, { cas, ...durability })
            case "prepend":
              return cb.prepend(args.key, fragment, { cas, ...durability })
          }
        })
        yield* emit(args.json, { key: args.key, cas: String(stored.cas) }, `stored ${args.key} cas ${stored.cas}`)
      })
  ).pipe(Command.withDescription("store a document from the argument or stdin (cbc create)"))

const rmCommand = Command.make(
  "rm",
  { ...connectionFlags, json, keys, cas: casOption.pipe(Options.optional) },
  (args) =>
    withConnection(args, (cb) =>
      eachKey(
        "rm",
        args.keys,
        (k) => cb.remove(k, { cas: Option.getOrUndefined(args.cas) }),
        (k, r) => emit(args.json, { key: k, cas: String(r.cas) }, `removed ${k}`)
      )
    )
).pipe(Command.withDescription("remove documents"))

const counterCommand = Command.make(
  "counter",
  {
    ...connectionFlags,
    json,
    keys,
    delta: bigInteger("delta").pipe(
      Options.withDefault(1n),
      Options.withDescription("what to add; negative subtracts (the value stops at 0)")
    ),
    initial: bigInteger("initial").pipe(
      Options.withDescription("the value of a counter that does not exist yet (else: an error)"),
      Options.optional
    ),
    ttl: ttl.pipe(Options.optional)
  },
  (args) =>
    withConnection(args, (cb) =>
      eachKey(
        "counter",
        args.keys,
        (k) =>
          cb.counter(k, {
            delta: args.delta,
            initial: Option.getOrUndefined(args.initial),
            ttl: Option.getOrUndefined(args.ttl)
          }),
        (k, r) => emit(args.json, { key: k, value: String(r.value), cas: String(r.cas) }, String(r.value))
      )
    )
).pipe(Command.withDescription("add to decimal counters and print their new values"))

const touchCommand = Command.make("touch", { ...connectionFlags, json, keys, ttl }, (args) =>
  withConnection(args, (cb) =>
    eachKey(
      "touch",
      args.keys,
      (k) => cb.touch(k, { ttl: args.ttl }),
      (k, r) => emit(args.json, { key: k, cas: String(r.cas) }, `touched ${k}`)
    )
  )
).pipe(Command.withDescription("set the expiry of documents (--ttl 0: never)"))

const lockCommand = Command.make(
  "lock",
  {
    ...connectionFlags,
    json,
    keys,
    ttl: wholeNumber("ttl", 30, 1).pipe(Options.withDescription("seconds the lock holds, 1 to 30"))
  },
  (args) =>
    withConnection(args, (cb) =>
      eachKey(
        "lock",
        args.keys,
        (k) => cb.lock(k, { ttl: args.ttl }),
        (k, r) =>
          emit(args.json, { key: k, cas: String(r.cas), value: r.value }, `locked ${k} cas ${r.cas} (unlock with it)`)
      )
    )
).pipe(Command.withDescription("lock documents; the CAS printed is what unlock takes"))

const unlockCommand = Command.make("unlock", { ...connectionFlags, json, key, cas: casArg() }, (args) =>
  withConnection(args, (cb) =>
    Effect.flatMap(cb.unlock(args.key, args.cas), () => emit(args.json, { key: args.key }, `unlocked ${args.key}`))
  )
).pipe(Command.withDescription("release a lock with the CAS that lock printed"))

/**
 * The key/value subcommands.
 *
 * @since 0.1.0
 */
export const kvCommands = [
  getCommand("get"),
  getCommand("cat"),
  storeCommand("upsert"),
  storeCommand("create"),
  rmCommand,
  counterCommand,
  touchCommand,
  lockCommand,
  unlockCommand
] as const
