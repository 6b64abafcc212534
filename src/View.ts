/**
 * Map/reduce view queries of Couchbase Server as an Effect service: rows arrive as a
 * `Stream`, parsed incrementally from the HTTP body as its bytes arrive, with
 * back-pressure (a slow consumer slows the socket) and memory bounded by the largest
 * row, whatever the row count.
 *
 * Requests go to the nodes' views (capi) endpoints in turn, with Basic authentication
 * (the password stays `Redacted` until the header is built). Over a connection
 * ({@link makeFromConnection}, {@link layerFromConnection}) they travel on sockets of
 * the connection's Iops, so views run wherever its KV operations run; {@link make}
 * takes any `HttpClient` instead. Parameters are validated
 * and encoded exactly as the Python SDK 2.x does (see {@link ViewParams}); invalid
 * ones fail with an `ArgumentError` before anything is sent, and query strings longer
 * than 2048 characters go as a POST with the keys in the body.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Stream } from "effect"
 * import { Connection, Iops, View } from "effect-couchbase"
 *
 * // The document ids of the first 20 rows, read as the response body arrives.
 * const breweries = Effect.gen(function* () {
 *   const view = yield* View.View
 *   return yield* view.query("beer", "brewery_beers", { limit: 20 }).pipe(
 *     Stream.map((row) => row.docid),
 *     Stream.runCollect
 *   )
 * })
 *
 * // Views over the connection's cluster: its nodes, bucket and credentials.
 * const ViewLive = View.layerFromConnection().pipe(
 *   Layer.provide(Connection.layerConfig()),
 *   Layer.provide(Iops.layerNode())
 * )
 *
 * const main = breweries.pipe(Effect.provide(ViewLive))
 * ```
 *
 * @since 0.1.0
 */
// Module paths rather than the package's index: the index's declarations need the DOM
// library (Storage, Transferable), which a Node project's tsconfig does not have.
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import {
  Chunk,
  type Clock,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  Redacted,
  Ref,
  type Schema,
  Stream
} from "effect"
import { Connection, type GetError } from "./Connection.js"
import {
  AlreadyQueriedError,
  ArgumentError,
  HTTPError,
  NetworkError,
  type NotFoundError,
  ProtocolError,
  TimeoutError,
  type ValueFormatError,
  ViewEngineError
} from "./Errors.js"
import { IopsClientResponse } from "./internal/http/IopsClientResponse.js"
import { directHttpOf } from "./internal/http/IopsHttpClient.js"
import { bodyRows } from "./internal/view/bodyRows.js"
import { decodeRows } from "./internal/view/decodeRows.js"
import * as DesignDocuments from "./internal/view/designDocuments.js"
import { type EncodedViewQuery, encodeViewQuery } from "./internal/view/params.js"
import { type RawViewRow, RowParser } from "./internal/view/RowParser.js"
import { type MissingResult, missing, type ValueResult } from "./Result.js"

export {
  /**
   * A query as it goes on the wire: its query string, and the POST body when the
   * query string is too long for a GET.
   *
   * @since 0.1.0
   * @category models
   */
  type EncodedViewQuery,
  /**
   * Validates and encodes view query parameters exactly as the Python SDK 2.x does: the
   * same refusals (as an `ArgumentError`), the same query string byte for byte.
   *
   * @since 0.1.0
   * @category encoding
   */
  encodeViewQuery,
  /**
   * The longest query string sent with GET (2048); longer ones go as a POST.
   *
   * @since 0.1.0
   * @category constants
   */
  MAX_URI_LENGTH,
  /**
   * The highest key character for open-ended string ranges (the Python SDK's
   * `Query.STRING_RANGE_END`).
   *
   * @since 0.1.0
   * @category constants
   */
  STRING_RANGE_END
} from "./internal/view/params.js"

/**
 * A value that can be encoded as a JSON view key (what Python's `json.dumps` accepts).
 * A `Map` encodes as an object whose members keep the Map's order, even integer-like names.
 *
 * @since 0.1.0
 * @category models
 */
export type ViewKey =
  | null
  | boolean
  | number
  | bigint
  | string
  | ReadonlyArray<ViewKey>
  | { readonly [member: string]: ViewKey | undefined }
  | ReadonlyMap<string, ViewKey | undefined>

/**
 * A boolean parameter: a boolean, the strings `"true"`/`"false"`, or a number (0 is false).
 *
 * @since 0.1.0
 * @category models
 */
export type BoolParam = boolean | "true" | "false" | number | bigint

/**
 * An integer parameter: an integer (numbers are truncated) or a decimal string. Booleans are refused.
 *
 * @since 0.1.0
 * @category models
 */
export type IntParam = number | bigint | string

/**
 * A string parameter: a string, or a number that is written in decimal.
 *
 * @since 0.1.0
 * @category models
 */
export type StringParam = string | number | bigint

/**
 * `stale`: `"false"` (update first), `"ok"` (as is), `"update_after"`; `true` means `"ok"`, `false` means `"false"`.
 *
 * @since 0.1.0
 * @category models
 */
export type StaleParam = "ok" | "false" | "update_after" | "true" | boolean | number

/**
 * `on_error`: what the server does when a node fails: `"continue"` (its default) or `"stop"`.
 *
 * @since 0.1.0
 * @category models
 */
export type OnErrorParam = "continue" | "stop"

/**
 * The parameters of a view query, named as on the wire and in the Python SDK's
 * `Query`. Every property is optional; `undefined` means "not given".
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewParams {
  /** Return rows in descending key order. */
  readonly descending?: BoolParam | undefined
  /** Include rows whose key equals `endkey` (server default `true`). */
  readonly inclusive_end?: BoolParam | undefined
  /** Run the view's reduce function (server default `true` for views that have one). */
  readonly reduce?: BoolParam | undefined
  /** Group reduce results by the whole key. */
  readonly group?: BoolParam | undefined
  /** Query the whole cluster's data, including partitions that are not active. */
  readonly full_set?: BoolParam | undefined
  /** Ask the server for `debug_info`. */
  readonly debug?: BoolParam | undefined
  /** The first key of the range (JSON). */
  readonly startkey?: ViewKey | undefined
  /** The last key of the range (JSON). */
  readonly endkey?: ViewKey | undefined
  /** Only rows with exactly this key (JSON). */
  readonly key?: ViewKey | undefined
  /** Only rows with one of these keys (a JSON array), in this order. */
  readonly keys?: ReadonlyArray<ViewKey> | undefined
  /** With `startkey`: the first document ID among the rows of that key. */
  readonly startkey_docid?: StringParam | undefined
  /** With `endkey`: the last document ID among the rows of that key. */
  readonly endkey_docid?: StringParam | undefined
  /** Group reduce results by the first N elements of array keys. */
  readonly group_level?: IntParam | undefined
  /** Skip this many rows. */
  readonly skip?: IntParam | undefined
  /** Return at most this many rows. */
  readonly limit?: IntParam | undefined
  /** How long (ms) the node that merges the results waits for the others. */
  readonly connection_timeout?: IntParam | undefined
  /** Index freshness (see {@link StaleParam}). */
  readonly stale?: StaleParam | undefined
  /** What to do when a node fails (see {@link OnErrorParam}). */
  readonly on_error?: OnErrorParam | undefined
  /** Alias of `key`. */
  readonly mapkey_single?: ViewKey | undefined
  /** Alias of `keys`. */
  readonly mapkey_multi?: ReadonlyArray<ViewKey> | undefined
  /** `[startkey]` or `[startkey, endkey]`; an empty array clears both. */
  readonly mapkey_range?: ReadonlyArray<ViewKey | undefined> | undefined
  /** `[startkey_docid]` or `[startkey_docid, endkey_docid]`; an empty array clears both. */
  readonly dockey_range?: ReadonlyArray<StringParam | undefined> | undefined
  /** Send every value as a plain string, unvalidated beyond its type and not percent-encoded. */
  readonly passthrough?: boolean | undefined
  /** Refuse names this encoder does not know (the default); see {@link ViewParamsUnrecognized}. */
  readonly unrecognized_ok?: false | undefined
  /** A raw query string put in front of the encoded parameters (Python's `Query.from_string`). */
  readonly raw?: string | undefined
}

/**
 * {@link ViewParams} with `unrecognized_ok: true`: names the encoder does not know are
 * sent as given (`name=value`, the value a string or number, not percent-encoded).
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewParamsUnrecognized extends Omit<ViewParams, "unrecognized_ok"> {
  readonly unrecognized_ok: true
  readonly [name: string]: unknown
}

/**
 * Anything the encoder accepts: parameters, or a raw query string.
 *
 * @since 0.1.0
 * @category models
 */
export type ViewQueryInput = ViewParams | ViewParamsUnrecognized | string

/**
 * One row of a view result.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewRow<K = unknown, V = unknown, D = unknown> {
  /** The emitted key (the group key on reduce rows). */
  readonly key: K
  /** The emitted value (the reduction on reduce rows). */
  readonly value: V
  /** The ID of the document that emitted the row; `undefined` on reduce rows. */
  readonly docid: string | undefined
  /** With `include_docs`: the document as a `get` returns it (a miss when it was deleted since). */
  readonly doc?: ValueResult<D> | MissingResult | undefined
}

/**
 * Schemas for a typed query: each row's key, value and `include_docs` document are
 * decoded with them as the rows stream; a part without a Schema is left as it came. A
 * row that does not match ends the query with a `ValueFormatError` naming the row (its
 * position, document ID and key) and the part, after the rows before it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RowSchemas<K = unknown, V = unknown, D = unknown> {
  readonly key?: Schema.Schema<K, any> | undefined
  readonly value?: Schema.Schema<V, any> | undefined
  readonly doc?: Schema.Schema<D, any> | undefined
}

/**
 * What the response says besides its rows.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewMeta {
  /** `total_rows`: the rows of the whole view (absent on reduce queries). */
  readonly totalRows: number | undefined
  /** Errors the server reported in the body (`on_error: "continue"`). */
  readonly errors: ReadonlyArray<unknown>
  /** `debug_info`, when the query asked for `debug`. */
  readonly debug: unknown
}

/**
 * The collected result of a query.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewResult<K = unknown, V = unknown, D = unknown> {
  readonly rows: ReadonlyArray<ViewRow<K, V, D>>
  readonly totalRows: number | undefined
  readonly errors: ReadonlyArray<unknown>
  readonly debug?: unknown
}

/**
 * Options of a query that are not sent as parameters.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewQueryOptions {
  /** Fetch each row's document over KV (map rows only; refused with reduction). */
  readonly include_docs?: boolean | undefined
  /** Query the development copy of the design document (`dev_` prefix). */
  readonly useDevmode?: boolean | undefined
  /** Overrides the views timeout for this query. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A query: parameters and options, or a raw query string.
 *
 * @since 0.1.0
 * @category models
 */
export type ViewQuery = (ViewParams & ViewQueryOptions) | (ViewParamsUnrecognized & ViewQueryOptions) | string

/**
 * The errors the `include_docs` fetcher may fail with: exactly those of a quiet
 * `getMulti` (a missing document is a miss row, never an error).
 *
 * @since 0.1.0
 * @category errors
 */
export type IncludeDocsError = GetError<true>

/**
 * Every way a view query can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type ViewError =
  | ValueFormatError
  | HTTPError
  | ViewEngineError
  | ArgumentError
  | TimeoutError
  | NetworkError
  | ProtocolError
  | AlreadyQueriedError
  | IncludeDocsError

/**
 * The rows of one query. It is one-shot, like the Python SDK's `View`: running it a
 * second time fails with `AlreadyQueriedError` (call `query` again for a new request).
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewStream<K = unknown, V = unknown, D = unknown> extends Stream.Stream<ViewRow<K, V, D>, ViewError> {
  /** `total_rows`, `errors` and `debug_info`: `Some` once the rows have all been read. */
  readonly meta: Effect.Effect<Option.Option<ViewMeta>>
}

/**
 * Fetches documents by ID for `include_docs`, e.g. `connection.getMulti(keys, { quiet: true })`.
 *
 * @since 0.1.0
 * @category models
 */
export type IncludeDocsFetcher = (
  keys: ReadonlyArray<string>
) => Effect.Effect<ReadonlyMap<string, ValueResult | MissingResult>, IncludeDocsError>

/**
 * The View service.
 *
 * @since 0.1.0
 * @category tags
 */
export class View extends Context.Tag("effect-couchbase/View")<View, View.Service>() {}

/**
 * Types of the {@link View} service.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace View {
  /**
   * The operations of the View service.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /**
     * Streams the rows of view `view` of design document `design`; with `schemas`,
     * each row's key, value and document are decoded as it arrives (see {@link RowSchemas}).
     */
    readonly query: <K = unknown, V = unknown, D = unknown>(
      design: string,
      view: string,
      params?: ViewQuery,
      schemas?: RowSchemas<K, V, D>
    ) => ViewStream<K, V, D>
    /** Runs a query and collects its rows, `total_rows`, errors (with `on_error: "continue"`) and debug info. */
    readonly queryCollect: <K = unknown, V = unknown, D = unknown>(
      design: string,
      view: string,
      params?: ViewQuery,
      schemas?: RowSchemas<K, V, D>
    ) => Effect.Effect<ViewResult<K, V, D>, ViewError>
    /**
     * Reads design document `name` (its `dev_` copy with `development: true`); a
     * missing one is a `NotFoundError` whose key is its ID.
     */
    readonly getDesignDocument: (
      name: string,
      options?: DesignDocumentOptions
    ) => Effect.Effect<StoredDesignDocument, DesignDocumentError>
    /**
     * Creates or replaces design document `name` (in development with `development:
     * true`). A map or reduce function the view engine cannot compile is an
     * `ArgumentError` with the engine's message.
     */
    readonly upsertDesignDocument: (
      name: string,
      document: DesignDocument,
      options?: DesignDocumentOptions
    ) => Effect.Effect<void, DesignDocumentError>
    /** Deletes design document `name` (its `dev_` copy with `development: true`). */
    readonly removeDesignDocument: (
      name: string,
      options?: DesignDocumentOptions
    ) => Effect.Effect<void, DesignDocumentError>
    /** Copies the development version of `name` to production, then deletes the development copy. */
    readonly publishDesignDocument: (name: string) => Effect.Effect<void, DesignDocumentError>
  }
}

/**
 * A design document: its views, each a map function and optionally a reduce (a
 * built-in such as `_count`, `_sum`, `_stats`, or a JavaScript function), as source text.
 *
 * @since 0.1.0
 * @category models
 */
export interface DesignDocument {
  readonly views: Readonly<Record<string, { readonly map: string; readonly reduce?: string | undefined }>>
}

/**
 * A design document as read back: its name (without `_design/` or `dev_`) and whether
 * it is the development copy.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredDesignDocument extends DesignDocument {
  readonly name: string
  readonly development: boolean
}

/**
 * Which copy of a design document a call is about.
 *
 * @since 0.1.0
 * @category models
 */
export interface DesignDocumentOptions {
  /** The development copy (`dev_<name>`), as the Python SDK's `use_devmode`. Default false. */
  readonly development?: boolean | undefined
}

/**
 * The errors of design-document management.
 *
 * @since 0.1.0
 * @category errors
 */
export type DesignDocumentError = NotFoundError | ArgumentError | HTTPError | NetworkError | TimeoutError

/**
 * What the View service needs (the Connection provides it).
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewOptions {
  /** The views (capi) base URLs of the nodes, e.g. `http://127.0.0.1:8092`; read at each query. */
  readonly capiBaseUrls: Effect.Effect<ReadonlyArray<string>, ViewError>
  readonly bucket: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
  /** The views timeout (default 75 s): for the response to start, and for each wait on its body. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Fetches documents for `include_docs`; without it `include_docs` is refused. */
  readonly includeDocs?: IncludeDocsFetcher | undefined
  /** Documents per `include_docs` fetch (default 500). */
  readonly includeDocsBatchSize?: number | undefined
  /** The largest row accepted from the server, in bytes (default 64 MiB). */
  readonly maxRowBytes?: number | undefined
  /**
   * The clock the views timeout runs on while a query's rows are read (default: the
   * querying fiber's). A connection gives its own, whose waits are its Iops's timers.
   */
  readonly clock?: Clock.Clock | undefined
}

/**
 * The default views timeout.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_VIEWS_TIMEOUT: Duration.Duration = Duration.seconds(75)

// The HTTP error body kept in an HTTPError: enough to read the server's reason.
const MAX_ERROR_BODY = 64 * 1024

const CLIENT_OPTIONS: ReadonlySet<string> = new Set(["include_docs", "useDevmode", "timeout"])

/** `text` as a URL, or undefined (`URL.parse` needs Node 22). */
const parseUrl = (text: string): URL | undefined => {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

const isReduceRequested = (q: EncodedViewQuery): boolean =>
  q.handled.get("reduce") === "true" || q.handled.get("group") === "true" || q.handled.has("group_level")

const toRow = (raw: RawViewRow): ViewRow => ({
  key: raw.key,
  value: raw.value,
  docid: typeof raw.id === "string" ? raw.id : undefined
})

interface Prepared {
  readonly path: string
  readonly encoded: EncodedViewQuery
  readonly includeDocs: boolean
  readonly stopOnError: boolean
  readonly timeout: Duration.Duration
}

/**
 * Builds the View service from its dependencies.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ViewOptions): Effect.Effect<View.Service, never, HttpClient.HttpClient> =>
  Effect.flatMap(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: ViewOptions): Effect.Effect<View.Service> =>
  Effect.gen(function* () {
    const next = yield* Ref.make(0)
    const defaultTimeout = Duration.decode(options.timeout ?? DEFAULT_VIEWS_TIMEOUT)
    const batchSize = Math.max(1, options.includeDocsBatchSize ?? 500)

    const prepare = (
      design: string,
      view: string,
      params: ViewQuery | undefined
    ): Either.Either<Prepared, ArgumentError> => {
      if (typeof design !== "string" || design === "" || typeof view !== "string" || view === "") {
        return Either.left(new ArgumentError({ message: "a view query needs a design document name and a view name" }))
      }
      let queryParams: Parameters<typeof encodeViewQuery>[0] = params
      let includeDocs = false
      let useDevmode = false
      let timeout = defaultTimeout
      if (typeof params === "object" && params !== null) {
        const { include_docs, useDevmode: dev, timeout: t } = params
        if (include_docs !== undefined && typeof include_docs !== "boolean") {
          return Either.left(
            new ArgumentError({ message: `include_docs must be a boolean (got ${String(include_docs)})` })
          )
        }
        if (dev !== undefined && typeof dev !== "boolean") {
          return Either.left(new ArgumentError({ message: `useDevmode must be a boolean (got ${String(dev)})` }))
        }
        if (t !== undefined) {
          const decoded = Duration.decodeUnknown(t)
          if (Option.isNone(decoded) || Duration.lessThanOrEqualTo(decoded.value, Duration.zero)) {
            return Either.left(new ArgumentError({ message: `timeout must be a positive duration (got ${String(t)})` }))
          }
          timeout = decoded.value
        }
        includeDocs = include_docs === true
        useDevmode = dev === true
        const rest: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(params)) if (!CLIENT_OPTIONS.has(k)) rest[k] = v
        queryParams = rest as ViewParams
      }
      const encoded = encodeViewQuery(queryParams)
      if (Either.isLeft(encoded)) return Either.left(encoded.left)
      if (includeDocs && isReduceRequested(encoded.right)) {
        return Either.left(
          new ArgumentError({
            message:
              "include_docs is only applicable to map rows, but reduce, group or group_level was given: drop include_docs or query with reduce: false"
          })
        )
      }
      if (includeDocs && options.includeDocs === undefined) {
        return Either.left(new ArgumentError({ message: "include_docs needs a KV connection to fetch the documents" }))
      }
      // The Python SDK's _mk_devmode: a name already in development mode is kept.
      const ddoc = useDevmode && !design.startsWith("dev_") ? `dev_${design}` : design
      const path = `/${encodeURIComponent(options.bucket)}/_design/${encodeURIComponent(ddoc)}/_view/${encodeURIComponent(view)}`
      // Python: anything but an explicit "continue" raises on in-body errors.
      const stopOnError = encoded.right.given.get("on_error") !== "continue"
      return Either.right({ path, encoded: encoded.right, includeDocs, stopOnError, timeout })
    }

    const pickBaseUrl = Effect.gen(function* () {
      const urls = yield* options.capiBaseUrls
      if (urls.length === 0) {
        return yield* new NetworkError({ message: "no node of the cluster offers the views (capi) service" })
      }
      const i = yield* Ref.getAndUpdate(next, (n) => (n + 1) % 1_000_000_000)
      return urls[i % urls.length]!.replace(/\/+$/, "")
    })

    const transportError = (url: string) => (e: HttpClientError.HttpClientError) =>
      e._tag === "RequestError" && (e.reason === "InvalidUrl" || e.reason === "Encode")
        ? new ArgumentError({ message: `invalid view request to ${url}: ${e.message}`, cause: e })
        : new NetworkError({ message: `the view request to ${url} failed: ${e.message}`, cause: e })

    const transportErrorOrTimeout =
      (url: string) =>
      (e: HttpClientError.HttpClientError | TimeoutError): ArgumentError | NetworkError | TimeoutError =>
        e._tag === "TimeoutError" ? e : transportError(url)(e)

    const fetchDocs = (rows: Chunk.Chunk<ViewRow>): Effect.Effect<Chunk.Chunk<ViewRow>, IncludeDocsError> => {
      const ids = [...new Set(Chunk.toReadonlyArray(rows).flatMap((r) => (r.docid === undefined ? [] : [r.docid])))]
      if (ids.length === 0) return Effect.succeed(rows)
      const batches: Array<ReadonlyArray<string>> = []
      for (let i = 0; i < ids.length; i += batchSize) batches.push(ids.slice(i, i + batchSize))
      return Effect.forEach(batches, (keys) => options.includeDocs!(keys)).pipe(
        Effect.map((maps) => {
          const docs = new Map<string, ValueResult | MissingResult>()
          for (const m of maps) for (const [k, v] of m) docs.set(k, v)
          return Chunk.map(rows, (row) =>
            row.docid === undefined ? row : { ...row, doc: docs.get(row.docid) ?? missing(row.docid) }
          )
        })
      )
    }

    const run = (design: string, view: string, prepared: Prepared, onMeta: (meta: ViewMeta) => void) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          // The connection's own client is used directly (see `directHttpOf`): its
          // response and stall timeouts are Iops timers, which its clock's sleeps are too.
          // Any other client goes through the HttpClient interface, with the timeouts as
          // Effect timeouts in the reading fiber: on the given clock while it reads.
          const direct = directHttpOf(client)
          if (direct === undefined && options.clock !== undefined) yield* Effect.withClockScoped(options.clock)
          const base = yield* pickBaseUrl
          const address = parseUrl(base)
          if (address !== undefined) {
            yield* Effect.annotateCurrentSpan({
              "server.address": address.hostname.replace(/^\[(.*)\]$/, "$1"),
              "server.port": Number(address.port || (address.protocol === "https:" ? 443 : 80))
            })
          }
          const url = `${base}${prepared.path}${prepared.encoded.query === "" ? "" : `?${prepared.encoded.query}`}`
          const request = (
            prepared.encoded.body === undefined
              ? HttpClientRequest.get(url)
              : HttpClientRequest.post(url).pipe(HttpClientRequest.bodyText(prepared.encoded.body, "application/json"))
          ).pipe(
            HttpClientRequest.acceptJson,
            options.username === "" ? (r) => r : HttpClientRequest.basicAuth(options.username, options.password)
          )
          const timeoutMessage = `the view query ${design}/${view} on ${base} did not answer within ${Duration.format(prepared.timeout)}`
          const onTimeout = () => new TimeoutError({ message: timeoutMessage })
          const timeoutMs = Duration.toMillis(prepared.timeout)
          const response: HttpClientResponse.HttpClientResponse = yield* direct !== undefined
            ? direct.send(request, timeoutMs, onTimeout).pipe(Effect.mapError(transportErrorOrTimeout(base)))
            : HttpClient.withScope(client)
                .execute(request)
                .pipe(
                  Effect.mapError(transportError(base)),
                  Effect.timeoutFail({ duration: prepared.timeout, onTimeout })
                )
          // A body that stops arriving for the timeout is a TimeoutError (an error body too).
          const body: Stream.Stream<Uint8Array, NetworkError | ArgumentError | TimeoutError> =
            response instanceof IopsClientResponse
              ? response.bodyWithIdleTimeout(timeoutMs, onTimeout).pipe(Stream.mapError(transportErrorOrTimeout(base)))
              : Stream.timeoutFail(
                  response.stream.pipe(Stream.mapError(transportError(base))),
                  onTimeout,
                  prepared.timeout
                )
          if (response.status < 200 || response.status >= 300) {
            const text = yield* body.pipe(
              Stream.runFoldWhile(
                Buffer.alloc(0),
                (acc) => acc.length < MAX_ERROR_BODY,
                (acc, bytes) => Buffer.concat([acc, bytes])
              ),
              Effect.map((bytes) => bytes.subarray(0, MAX_ERROR_BODY).toString("utf8"))
            )
            return Stream.fail(
              new HTTPError({
                httpStatus: response.status,
                body: text,
                message: `the view query ${design}/${view} failed with HTTP ${response.status}: ${text.slice(0, 500)}`
              })
            )
          }
          const parser = new RowParser({ maxRowBytes: options.maxRowBytes })
          const protocolError = (e: { readonly message: string; readonly offset: number }) =>
            new ProtocolError({
              message: `malformed view response from ${base} at byte ${e.offset}: ${e.message}`,
              cause: e
            })
          // One step per network chunk: its complete rows, then the parse error if any
          // (so that the rows before a malformed spot are still delivered).
          const rows = bodyRows<ViewRow, ProtocolError, NetworkError | ArgumentError | TimeoutError>(body, {
            parser,
            toRow,
            malformed: protocolError
          })
          const end = Effect.suspend((): Effect.Effect<void, ProtocolError | ViewEngineError> => {
            const done = parser.finish()
            if (Either.isLeft(done)) return Effect.fail(protocolError(done.left))
            const meta: ViewMeta = {
              totalRows: done.right.totalRows,
              errors: done.right.errors,
              debug: done.right.debugInfo
            }
            onMeta(meta)
            if (meta.errors.length > 0 && prepared.stopOnError) {
              return Effect.fail(
                new ViewEngineError({
                  message: `the view ${design}/${view} reported ${meta.errors.length} error(s): ${JSON.stringify(meta.errors).slice(0, 500)} (set on_error: "continue" to receive the rows anyway)`,
                  cause: meta.errors
                })
              )
            }
            return Effect.void
          })
          const withDocs: Stream.Stream<ViewRow, ViewError> = prepared.includeDocs
            ? Stream.mapChunksEffect(rows, fetchDocs)
            : rows
          return Stream.concat(withDocs, Stream.execute(end))
        })
      )

    const query = <K, V, D>(
      design: string,
      view: string,
      params?: ViewQuery,
      schemas?: RowSchemas<K, V, D>
    ): ViewStream<K, V, D> => {
      let used = false
      let meta: Option.Option<ViewMeta> = Option.none()
      const rows = Stream.suspend((): Stream.Stream<ViewRow, ViewError> => {
        if (used) {
          return Stream.fail(
            new AlreadyQueriedError({
              message: `the query ${design}/${view} has already been run; call query again to run it anew`
            })
          )
        }
        used = true
        const prepared = prepare(design, view, params)
        if (Either.isLeft(prepared)) return Stream.fail(prepared.left)
        const raw = run(design, view, prepared.right, (m) => {
          meta = Option.some(m)
        })
        return schemas === undefined ? raw : decodeRows(raw, schemas, `${design}/${view}`)
      }).pipe(Stream.withSpan("View.query", { attributes: { design, view }, captureStackTrace: false }))
      return Object.assign(rows as Stream.Stream<ViewRow<K, V, D>, ViewError>, { meta: Effect.sync(() => meta) })
    }

    const queryCollect = <K, V, D>(design: string, view: string, params?: ViewQuery, schemas?: RowSchemas<K, V, D>) =>
      Effect.gen(function* () {
        const stream = query<K, V, D>(design, view, params, schemas)
        const rows = yield* Stream.runCollect(stream)
        const meta = Option.getOrElse(
          yield* stream.meta,
          (): ViewMeta => ({ totalRows: undefined, errors: [], debug: undefined })
        )
        const result: ViewResult<K, V, D> = {
          rows: Chunk.toReadonlyArray(rows),
          totalRows: meta.totalRows,
          errors: meta.errors,
          ...(meta.debug !== undefined ? { debug: meta.debug } : {})
        }
        return result
      }).pipe(Effect.withSpan("View.queryCollect", { attributes: { design, view }, captureStackTrace: false }))

    const ddocs: DesignDocuments.DesignDocumentsContext = {
      client,
      bucket: options.bucket,
      username: options.username,
      password: options.password,
      baseUrl: Effect.catchAll(pickBaseUrl, (e) =>
        Effect.fail(e._tag === "NetworkError" ? e : new NetworkError({ message: e.message, cause: e }))
      ),
      withTimeout: (effect, what) => {
        const timed = Effect.timeoutFail(effect, {
          duration: defaultTimeout,
          onTimeout: () =>
            new TimeoutError({ message: `${what} did not answer within ${Duration.format(defaultTimeout)}` })
        })
        return options.clock === undefined ? timed : Effect.withClock(timed, options.clock)
      }
    }
    const development = (o: DesignDocumentOptions | undefined) => o?.development === true

    return View.of({
      query,
      queryCollect,
      getDesignDocument: (name, o) => DesignDocuments.getDesignDocument(ddocs, name, development(o)),
      upsertDesignDocument: (name, document, o) =>
        DesignDocuments.upsertDesignDocument(ddocs, name, document, development(o)),
      removeDesignDocument: (name, o) => DesignDocuments.removeDesignDocument(ddocs, name, development(o)),
      publishDesignDocument: (name) => DesignDocuments.publishDesignDocument(ddocs, name)
    })
  })

/**
 * A layer of the View service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ViewOptions): Layer.Layer<View, never, HttpClient.HttpClient> =>
  Layer.effect(View, make(options))

/**
 * Options of {@link makeFromConnection}: what the connection does not already say.
 *
 * @since 0.1.0
 * @category models
 */
export interface ViewFromConnectionOptions {
  /** The views timeout; default the connection's `viewsTimeout` (75 s unless set). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Documents per `include_docs` fetch (default 500). */
  readonly includeDocsBatchSize?: number | undefined
  /** The largest row accepted from the server, in bytes (default 64 MiB). */
  readonly maxRowBytes?: number | undefined
}

/**
 * The `include_docs` fetcher of a connection: one quiet `getMulti` per batch, so a
 * document deleted since the index was built comes back as a miss, not an error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const includeDocsFrom =
  <Q extends boolean, D>(connection: Connection.Service<Q, D>): IncludeDocsFetcher =>
  (keys) =>
    connection.getMulti(keys, { quiet: true })

/**
 * Builds the View service over a connection: the capi URLs of the nodes of its
 * current cluster config (read at each query, so a rebalance is followed, and used in
 * turn), its bucket and credentials, its `viewsTimeout`, `include_docs` through its
 * `getMulti`, and its HTTP client, whose sockets and timers are those of the
 * connection's Iops. The service works as long as the connection is open.
 *
 * Queries use that client directly rather than through the `HttpClient` interface:
 * the body is read as it arrives and the views timeout runs on the Iops's timers,
 * which takes about half the client's work off a small query; there is no
 * `http.client` span per request (the `View.query` span names the node).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromConnection = <Q extends boolean, D>(
  connection: Connection.Service<Q, D>,
  options: ViewFromConnectionOptions = {}
): Effect.Effect<View.Service> => {
  const cluster = connection.cluster
  return makeWith(cluster.httpClient, {
    capiBaseUrls: cluster.capiBaseUrls,
    bucket: cluster.bucket,
    username: cluster.username ?? "",
    password: cluster.password ?? Redacted.make(""),
    timeout: options.timeout ?? cluster.viewsTimeout,
    includeDocs: includeDocsFrom(connection),
    includeDocsBatchSize: options.includeDocsBatchSize,
    maxRowBytes: options.maxRowBytes,
    clock: cluster.clock
  })
}

/**
 * A layer of the View service over the {@link Connection} in the context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromConnection = (options: ViewFromConnectionOptions = {}): Layer.Layer<View, never, Connection> =>
  Layer.effect(
    View,
    Effect.flatMap(Connection, (connection) => makeFromConnection(connection, options))
  )
