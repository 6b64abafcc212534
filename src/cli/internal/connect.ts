/**
 * How a client command finds its cluster: the flags `-U`, `-u`, `-P`, `-b` over the
 * library's own `COUCHBASE_*` environment variables (so a shell set up for an
 * application works for the command too), then the library's defaults
 * (`couchbase://localhost/default`, as `cbc` has).
 *
 * @since 0.1.0
 */
import { Options } from "@effect/cli"
import { Effect, Option, type Redacted, type Scope } from "effect"
import * as Connection from "../../Connection.js"
import * as Iops from "../../Iops.js"
import * as View from "../../View.js"
import { UsageError } from "./UsageError.js"

/**
 * The connection flags every client command takes.
 *
 * @since 0.1.0
 */
export const connectionFlags = {
  connectionString: Options.text("connection-string").pipe(
    Options.withAlias("U"),
    Options.withDescription(
      "couchbase://host1,host2/bucket?options (default: $COUCHBASE_CONNECTION_STRING, else localhost)"
    ),
    Options.optional
  ),
  username: Options.text("username").pipe(
    Options.withAlias("u"),
    Options.withDescription("user name (default: $COUCHBASE_USERNAME)"),
    Options.optional
  ),
  password: Options.redacted("password").pipe(
    Options.withAlias("P"),
    Options.withDescription("password (default: $COUCHBASE_PASSWORD)"),
    Options.optional
  ),
  bucket: Options.text("bucket").pipe(
    Options.withAlias("b"),
    Options.withDescription("bucket, if the connection string names none (default: $COUCHBASE_BUCKET)"),
    Options.optional
  )
}

/**
 * The values of {@link connectionFlags}.
 *
 * @since 0.1.0
 */
export interface ConnectionFlags {
  readonly connectionString: Option.Option<string>
  readonly username: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly bucket: Option.Option<string>
}

/**
 * The connection's options: the environment's, with the flags given on top.
 *
 * @since 0.1.0
 */
export const connectionOptions = (flags: ConnectionFlags): Effect.Effect<Connection.Options, UsageError> =>
  Connection.config.pipe(
    Effect.mapError(
      (error) =>
        new UsageError({ message: `the COUCHBASE_* environment is invalid: ${String(error).replace(/\s+/g, " ")}` })
    ),
    Effect.map((base) => ({
      ...base,
      ...Option.match(flags.connectionString, {
        onNone: () => ({}),
        onSome: (connectionString) => ({ connectionString })
      }),
      ...Option.match(flags.username, { onNone: () => ({}), onSome: (username) => ({ username }) }),
      ...Option.match(flags.password, { onNone: () => ({}), onSome: (password) => ({ password }) }),
      ...Option.match(flags.bucket, { onNone: () => ({}), onSome: (bucket) => ({ bucket }) })
    }))
  )

/**
 * A connection for one command, over Node's sockets; it closes with the scope.
 *
 * @since 0.1.0
 */
export const connect = (
  flags: ConnectionFlags
): Effect.Effect<Connection.Connection.Service, UsageError | Connection.MakeError, Scope.Scope> =>
  Effect.flatMap(connectionOptions(flags), (options) =>
    Connection.make({ ...options, quiet: false as const }).pipe(Effect.provide(Iops.layerNode()))
  )

/**
 * A connection and the view service of its cluster.
 *
 * @since 0.1.0
 */
export const connectWithViews = (flags: ConnectionFlags) =>
  Effect.flatMap(connect(flags), (cb) => Effect.map(View.makeFromConnection(cb), (view) => ({ cb, view })))
