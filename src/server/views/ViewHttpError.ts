/**
 * An error answer of the view API, in CouchDB's shape: an HTTP status and a body
 * `{"error": …, "reason": …}` (`query_parse_error`, `bad_request`, `not_found`,
 * `invalid_design_document`, `method_not_allowed`).
 *
 * @since 0.1.0
 */

/** An error answer of the view API. */
export class ViewHttpError {
  readonly _tag = "ViewHttpError" as const
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The `error` member: the kind of error. */
    readonly error: string,
    /** The `reason` member: what went wrong. */
    readonly reason: string
  ) {}

  /** The response body. */
  get body(): string {
    return JSON.stringify({ error: this.error, reason: this.reason })
  }
}

/** 400 `query_parse_error`: a query parameter is invalid. */
export const queryParseError = (reason: string): ViewHttpError => new ViewHttpError(400, "query_parse_error", reason)

/** 400 `bad_request`. */
export const badRequest = (reason: string): ViewHttpError => new ViewHttpError(400, "bad_request", reason)

/** 404 `not_found`. */
export const notFound = (reason: string): ViewHttpError => new ViewHttpError(404, "not_found", reason)

/** True for a {@link ViewHttpError}. */
export const isViewHttpError = (u: unknown): u is ViewHttpError => u instanceof ViewHttpError

/** A value printed as a node's messages print strings (Erlang's `~p`: quoted and escaped). */
export const erlangString = (s: string): string => JSON.stringify(s)
