/**
 * `view` (rows as NDJSON, written as they stream) and `ddoc get|put|rm|publish` (design
 * documents, development or production).
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option, Stream } from "effect"
import type * as View from "../../View.js"
import { type ConnectionFlags, connectionFlags, connectWithViews } from "./connect.js"
import { json, jsonOption, wholeNumber } from "./flags.js"
import { CliIo } from "./Io.js"
import { emit, line, toJson } from "./output.js"
import { printError, Reported } from "./report.js"
import { UsageError } from "./UsageError.js"

/** Runs `body` with the views of the flags' cluster; the connection closes after. */
const withViews = <A, E, R>(flags: ConnectionFlags, body: (view: View.View.Service) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(connectWithViews(flags), ({ view }) => body(view)))

const viewParams = {
  limit: wholeNumber("limit").pipe(Options.optional),
  skip: wholeNumber("skip").pipe(Options.optional),
  key: jsonOption("key").pipe(Options.withDescription("only rows with this key (JSON)"), Options.optional),
  keys: jsonOption("keys").pipe(Options.withDescription("only rows with these keys (a JSON array)"), Options.optional),
  startkey: jsonOption("startkey").pipe(Options.optional),
  endkey: jsonOption("endkey").pipe(Options.optional),
  startkeyDocid: Options.text("startkey-docid").pipe(Options.optional),
  endkeyDocid: Options.text("endkey-docid").pipe(Options.optional),
  descending: Options.boolean("descending"),
  reduce: Options.choice("reduce", ["true", "false"]).pipe(
    Options.withDescription("run the view's reduce (default: yes when it has one)"),
    Options.optional
  ),
  group: Options.boolean("group"),
  groupLevel: wholeNumber("group-level").pipe(Options.optional),
  stale: Options.choice("stale", ["ok", "false", "update_after"]).pipe(Options.optional),
  includeDocs: Options.boolean("include-docs").pipe(Options.withDescription("add each row's document (map views)")),
  development: Options.boolean("development").pipe(
    Options.withAlias("D"),
    Options.withDescription("query the development copy of the design document")
  ),
  param: Options.text("param").pipe(
    Options.withDescription("any other query parameter as name=value, sent as given; repeatable"),
    Options.repeated
  )
}

const some = <A, B>(option: Option.Option<A>, f: (a: A) => B): B | undefined =>
  Option.match(option, { onNone: () => undefined, onSome: f })

const viewCommand = Command.make(
  "view",
  {
    ...connectionFlags,
    json: json.pipe(Options.withDescription("accepted for symmetry: rows are JSON lines already")),
    design: Args.text({ name: "design" }),
    name: Args.text({ name: "view" }),
    ...viewParams
  },
  (args) =>
    Effect.gen(function* () {
      const raw = args.param.join("&")
      if (args.param.some((p) => !p.includes("="))) {
        return yield* new UsageError({
          message: `--param takes name=value, got ${args.param.find((p) => !p.includes("="))}`
        })
      }
      const query: View.ViewQuery = {
        limit: Option.getOrUndefined(args.limit),
        skip: Option.getOrUndefined(args.skip),
        key: some(args.key, (k) => k as View.ViewKey),
        keys: some(args.keys, (k) => k as ReadonlyArray<View.ViewKey>),
        startkey: some(args.startkey, (k) => k as View.ViewKey),
        endkey: some(args.endkey, (k) => k as View.ViewKey),
        startkey_docid: Option.getOrUndefined(args.startkeyDocid),
        endkey_docid: Option.getOrUndefined(args.endkeyDocid),
        descending: args.descending ? true : undefined,
        reduce: Option.getOrUndefined(args.reduce),
        group: args.group ? true : undefined,
        group_level: Option.getOrUndefined(args.groupLevel),
        stale: Option.getOrUndefined(args.stale),
        include_docs: args.includeDocs ? true : undefined,
        useDevmode: args.development ? true : undefined,
        raw: raw === "" ? undefined : raw
      }
      if (Option.isSome(args.keys) && !Array.isArray(args.keys.value)) {
        return yield* new UsageError({ message: "--keys takes a JSON array of keys" })
      }
      const io = yield* CliIo
      yield* withViews(args, (view) => {
        const rows = view.query(args.design, args.name, query)
        return Effect.zipRight(
          // One write per chunk of rows: a pipe reader sees each row as soon as its chunk arrives.
          Stream.runForEach(Stream.chunks(rows), (chunk) =>
            Effect.sync(() => {
              let text = ""
              for (const row of chunk) {
                text += `${toJson({
                  id: row.docid,
                  key: row.key,
                  value: row.value,
                  ...(row.doc === undefined ? {} : { doc: row.doc.success ? row.doc.value : null })
                })}\n`
              }
              io.out(text)
            })
          ),
          Effect.flatMap(rows.meta, (meta) =>
            Option.isSome(meta) && meta.value.errors.length > 0
              ? Effect.zipRight(
                  Effect.forEach(meta.value.errors, (e) => printError(`view: the cluster reported ${toJson(e)}`)),
                  new Reported({ status: 1, message: "view: the cluster reported errors" })
                )
              : Effect.void
          )
        )
      })
    })
).pipe(Command.withDescription("query a view; rows are written as they arrive, one JSON object per line"))

const development = Options.boolean("development").pipe(
  Options.withAlias("D"),
  Options.withDescription("the development copy (dev_ prefix)")
)
const ddocName = Args.text({ name: "name" })

/** A design document from a file, or stdin for `-`. */
const readDesign = (path: string) =>
  Effect.gen(function* () {
    const io = yield* CliIo
    const text = yield* Effect.tryPromise({
      try: () => (path === "-" ? io.readStdin() : readFile(path)),
      catch: (error) =>
        new UsageError({ message: `ddoc put: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})` })
    })
    const parsed = yield* Effect.try({
      try: () => JSON.parse(text.toString("utf8")) as unknown,
      catch: () => new UsageError({ message: `ddoc put: ${path} is not JSON` })
    })
    const views = (parsed as { views?: unknown } | null)?.views
    if (typeof views !== "object" || views === null) {
      return yield* new UsageError({
        message: `ddoc put: ${path} has no "views" object ({"views": {"name": {"map": "…"}}})`
      })
    }
    return parsed as View.DesignDocument
  })

const ddocGet = Command.make("get", { ...connectionFlags, json, name: ddocName, development }, (args) =>
  withViews(args, (view) =>
    Effect.flatMap(view.getDesignDocument(args.name, { development: args.development }), (doc) =>
      line(toJson({ views: doc.views }))
    )
  )
).pipe(Command.withDescription("print a design document as JSON"))

const ddocPut = Command.make(
  "put",
  {
    ...connectionFlags,
    json,
    name: ddocName,
    file: Args.text({ name: "file" }).pipe(Args.withDescription("the design document's JSON; - for stdin")),
    development
  },
  (args) =>
    Effect.gen(function* () {
      const doc = yield* readDesign(args.file)
      yield* withViews(args, (view) => view.upsertDesignDocument(args.name, doc, { development: args.development }))
      const stored = `${args.development ? "dev_" : ""}${args.name}`
      yield* emit(args.json, { name: stored, views: Object.keys(doc.views) }, `stored design document ${stored}`)
    })
).pipe(Command.withDescription("create or replace a design document"))

const ddocRm = Command.make("rm", { ...connectionFlags, json, name: ddocName, development }, (args) =>
  Effect.zipRight(
    withViews(args, (view) => view.removeDesignDocument(args.name, { development: args.development })),
    emit(args.json, { name: args.name, development: args.development }, `removed design document ${args.name}`)
  )
).pipe(Command.withDescription("remove a design document"))

const ddocPublish = Command.make("publish", { ...connectionFlags, json, name: ddocName }, (args) =>
  Effect.zipRight(
    withViews(args, (view) => view.publishDesignDocument(args.name)),
    emit(args.json, { name: args.name }, `published dev_${args.name} as ${args.name}`)
  )
).pipe(Command.withDescription("copy the development design document to production"))

/**
 * `view` and `ddoc`.
 *
 * @since 0.1.0
 */
export const viewCommands = [
  viewCommand,
  Command.make("ddoc").pipe(
    Command.withDescription("design documents: get, put, rm, publish"),
    Command.withSubcommands([ddocGet, ddocPut, ddocRm, ddocPublish])
  )
] as const
