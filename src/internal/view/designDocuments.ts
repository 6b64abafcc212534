/**
 * Design-document management over a node's views (capi) port, as Couchbase Server
 * serves it and as the Python SDK's `bucket_manager().design_*` and the official SDKs'
 * view index managers use it:
 *
 * - `GET /<bucket>/_design/<name>` → the document (`{"views": {…}}`);
 * - `PUT /<bucket>/_design/<name>` with the document → 201;
 * - `DELETE /<bucket>/_design/<name>` → 200;
 * - publishing = reading `dev_<name>`, storing it as `<name>`, deleting `dev_<name>`.
 *
 * Answers become typed errors: 404 is a `NotFoundError` whose key is the document's ID;
 * a 400 (an invalid document, a map function that does not compile) is an
 * `ArgumentError` carrying the engine's reason; anything else is an `HTTPError`.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Redacted } from "effect"
import { ArgumentError, HTTPError, NetworkError, NotFoundError, type TimeoutError } from "../../Errors.js"
import type { DesignDocument, DesignDocumentError, StoredDesignDocument } from "../../View.js"

/** What the calls need from the View service. */
export interface DesignDocumentsContext {
  readonly client: HttpClient.HttpClient
  readonly bucket: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
  /** A node's views base URL (without a trailing slash), in turn. */
  readonly baseUrl: Effect.Effect<string, NetworkError>
  /** Applies the views timeout to a request. */
  readonly withTimeout: <A, E>(effect: Effect.Effect<A, E>, what: string) => Effect.Effect<A, E | TimeoutError>
}

const DEV_PREFIX = "dev_"

/** The stored name of `name` in the given namespace (`dev_` once, never twice). */
export const designName = (name: string, development: boolean): string =>
  development && !name.startsWith(DEV_PREFIX) ? `${DEV_PREFIX}${name}` : name

const checkName = (op: string, name: unknown): ArgumentError | undefined =>
  typeof name !== "string" || name === "" || name.startsWith("_design/")
    ? new ArgumentError({ message: `${op}: a design document name is a non-empty string without "_design/"` })
    : undefined

const checkBody = (op: string, body: unknown): ArgumentError | undefined => {
  const views = (body as { readonly views?: unknown } | null)?.views
  if (typeof views !== "object" || views === null || Array.isArray(views)) {
    return new ArgumentError({ message: `${op}: a design document is { views: { <name>: { map, reduce? } } }` })
  }
  for (const [view, spec] of Object.entries(views)) {
    const { map, reduce } = (spec ?? {}) as { readonly map?: unknown; readonly reduce?: unknown }
    if (typeof map !== "string" || (reduce !== undefined && typeof reduce !== "string")) {
      return new ArgumentError({
        message: `${op}: view ${JSON.stringify(view)} needs a map function as a string (and a reduce as a string, if any)`
      })
    }
  }
  return undefined
}

/** One request to `/<bucket>/_design/<stored>`: the status and the body's text. */
const request = (
  ctx: DesignDocumentsContext,
  method: "GET" | "PUT" | "DELETE",
  stored: string,
  body?: unknown
): Effect.Effect<{ readonly status: number; readonly text: string }, NetworkError | TimeoutError> =>
  Effect.gen(function* () {
    const base = yield* ctx.baseUrl
    const url = `${base}/${encodeURIComponent(ctx.bucket)}/_design/${encodeURIComponent(stored)}`
    let req = HttpClientRequest.make(method)(url).pipe(HttpClientRequest.acceptJson)
    if (body !== undefined) req = HttpClientRequest.bodyText(req, JSON.stringify(body), "application/json")
    if (ctx.username !== "") req = HttpClientRequest.basicAuth(req, ctx.username, Redacted.value(ctx.password))
    const transport = (e: HttpClientError.HttpClientError) =>
      new NetworkError({ message: `${method} _design/${stored} on ${base} failed: ${e.message}`, cause: e })
    return yield* ctx.withTimeout(
      Effect.scoped(
        Effect.gen(function* () {
          const response = yield* ctx.client.execute(req)
          return { status: response.status, text: yield* response.text }
        })
      ).pipe(Effect.mapError(transport)),
      `${method} _design/${stored}`
    )
  })

/** The server's reason in an error body (`{"error", "reason"}`), or the body itself. */
const reasonOf = (text: string): string => {
  try {
    const parsed = JSON.parse(text) as { readonly error?: unknown; readonly reason?: unknown }
    if (typeof parsed.reason === "string")
      return typeof parsed.error === "string" ? `${parsed.error}: ${parsed.reason}` : parsed.reason
  } catch {
    // Not JSON: the text is the reason.
  }
  return text.slice(0, 500)
}

const failure = (what: string, stored: string, status: number, text: string): DesignDocumentError => {
  const id = `_design/${stored}`
  if (status === 404)
    return new NotFoundError({ key: id, status, message: `${what}: design document ${id} does not exist` })
  if (status === 400) return new ArgumentError({ message: `${what}: ${id} was refused: ${reasonOf(text)}` })
  return new HTTPError({
    httpStatus: status,
    body: text,
    message: `${what}: HTTP ${status} for ${id}: ${reasonOf(text)}`
  })
}

/** Reads design document `name` (its development copy with `development`). */
export const getDesignDocument = (
  ctx: DesignDocumentsContext,
  name: string,
  development = false
): Effect.Effect<StoredDesignDocument, DesignDocumentError> =>
  Effect.suspend(() => {
    const invalid = checkName("getDesignDocument", name)
    if (invalid !== undefined) return Effect.fail(invalid)
    const stored = designName(name, development)
    return Effect.flatMap(request(ctx, "GET", stored), ({ status, text }) => {
      if (status !== 200) return Effect.fail(failure("getDesignDocument", stored, status, text))
      return Effect.try({
        try: () => {
          const body = JSON.parse(text) as DesignDocument
          return {
            name: stored.startsWith(DEV_PREFIX) ? stored.slice(DEV_PREFIX.length) : stored,
            development,
            views: body.views ?? {}
          }
        },
        catch: (cause) =>
          new HTTPError({
            httpStatus: status,
            body: text,
            message: `getDesignDocument: _design/${stored} is not JSON`,
            cause
          })
      })
    })
  })

/** Creates or replaces design document `name` (in development with `development`). */
export const upsertDesignDocument = (
  ctx: DesignDocumentsContext,
  name: string,
  body: DesignDocument,
  development = false
): Effect.Effect<void, DesignDocumentError> =>
  Effect.suspend(() => {
    const invalid = checkName("upsertDesignDocument", name) ?? checkBody("upsertDesignDocument", body)
    if (invalid !== undefined) return Effect.fail(invalid)
    const stored = designName(name, development)
    const views = Object.fromEntries(
      Object.entries(body.views).map(([view, { map, reduce }]) => [
        view,
        reduce === undefined ? { map } : { map, reduce }
      ])
    )
    return Effect.flatMap(request(ctx, "PUT", stored, { views }), ({ status, text }) =>
      status === 200 || status === 201
        ? Effect.void
        : Effect.fail(failure("upsertDesignDocument", stored, status, text))
    )
  })

/** Deletes design document `name` (its development copy with `development`). */
export const removeDesignDocument = (
  ctx: DesignDocumentsContext,
  name: string,
  development = false
): Effect.Effect<void, DesignDocumentError> =>
  Effect.suspend(() => {
    const invalid = checkName("removeDesignDocument", name)
    if (invalid !== undefined) return Effect.fail(invalid)
    const stored = designName(name, development)
    return Effect.flatMap(request(ctx, "DELETE", stored), ({ status, text }) =>
      status === 200 ? Effect.void : Effect.fail(failure("removeDesignDocument", stored, status, text))
    )
  })

/**
 * Publishes the development copy of `name` to production, then deletes the development
 * copy (as the Python SDK's `design_publish` does).
 */
export const publishDesignDocument = (
  ctx: DesignDocumentsContext,
  name: string
): Effect.Effect<void, DesignDocumentError> =>
  Effect.gen(function* () {
    const dev = yield* getDesignDocument(ctx, name, true)
    yield* upsertDesignDocument(ctx, dev.name, { views: dev.views }, false)
    yield* removeDesignDocument(ctx, dev.name, true)
  })
